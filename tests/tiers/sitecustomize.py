"""Loaded through PYTHONPATH by every Python process a test not marked `framework` starts
(tests/conftest.py): importing a framework there fails, with the line saying why."""

import importlib.abc
import importlib.machinery
import os
import sys

FRAMEWORK_MODULES = ("torch", "tensorflow", "keras", "jax")


class _NoFrameworkImport(importlib.abc.MetaPathFinder):
    def __init__(self, test: str):
        self.test = test

    def find_spec(self, name, path=None, target=None):
        # a framework that is not installed stays "not found", as it would be
        if (name.split(".")[0] in FRAMEWORK_MODULES
                and importlib.machinery.PathFinder.find_spec(name, path) is not None):
            raise ImportError(f"{self.test} imports {name} but is not marked "
                              "'framework': add @pytest.mark.framework")
        return None


_test = os.environ.get("REPRODIAG_UNMARKED_TEST")
if _test:
    sys.meta_path.insert(0, _NoFrameworkImport(_test))
