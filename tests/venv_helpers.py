"""Fresh virtual environments for the slow tests that install packages for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PIP_TIMEOUT_S = 900


def run(argv, timeout=600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def new_venv(folder: Path, packages: list[str]) -> Path:
    """A new venv in `folder`/venv holding `packages`; skips the test where pip cannot get them."""
    venv = folder / "venv"
    created = run([sys.executable, "-m", "venv", venv], timeout=120)
    assert created.returncode == 0, created.stderr
    deps = run([venv / "bin" / "python", "-m", "pip", "install", "-q", *packages],
               timeout=PIP_TIMEOUT_S)
    if deps.returncode != 0:
        pytest.skip(f"cannot install the dependencies here: {deps.stderr.strip()[-300:]}")
    return venv
