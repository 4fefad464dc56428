"""Where shipped resources and worker scripts live: installed, editable or frozen.

Worker scripts are run *by path* with the target interpreter, so they are located as
files, never imported as modules of this package.
"""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def package_dir() -> Path:
    """The reprodiag package folder (inside a PyInstaller bundle when frozen)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "reprodiag"
    return _PACKAGE_DIR


def worker_script(name: str) -> Path:
    """Path of a worker script, e.g. worker_script("canary_torch.py")."""
    return package_dir() / "workers" / name


def data_file(name: str) -> Path:
    """Path of a small data file shipped in the package (e.g. the digits)."""
    return package_dir() / "data" / name
