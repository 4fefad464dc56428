"""Shared test set-up: the tests folder is importable, for small helper modules; and the
test tiers.

A test that runs real PyTorch or TensorFlow -- in a canary worker, a deep probe, a recorder,
a CLI subprocess or its own process -- is marked `framework`; `./dev.sh test -m "not
framework and not slow"` is the fast tier (CONTRIBUTING.md). The marks cannot drift: while a
test that is not marked runs (with the fixtures it is the first to need), importing a
framework fails, in this process and in every Python process it starts (tests/tiers/
sitecustomize.py, put first on their PYTHONPATH), with a line saying to mark it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from tiers.sitecustomize import _NoFrameworkImport  # noqa: E402

TIERS = TESTS / "tiers"
UNMARKED = "REPRODIAG_UNMARKED_TEST"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if item.get_closest_marker("framework"):
        yield
        return
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", UNMARKED)}
    os.environ[UNMARKED] = item.nodeid
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(TIERS), saved["PYTHONPATH"])))
    finder = _NoFrameworkImport(item.nodeid)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
