"""Loads tests/data/make_hostile_bundles.py (a script, not a package module) for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[1] / "data" / "make_hostile_bundles.py"
NAME = "make_hostile_bundles"


def generator() -> ModuleType:
    """The corpus generator module (loaded once per process)."""
    if NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(NAME, SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[NAME] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
    return sys.modules[NAME]
