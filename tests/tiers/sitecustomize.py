"""Loaded through PYTHONPATH by every Python process a test not marked `framework` starts
(tests/conftest.py): importing a framework there fails, with the line saying why."""

import importlib.abc
import importlib.machinery
import os
import sys

FRAMEWORK_MODULES = ("torch", "tensorflow", "keras", "jax")


class _Refused(importlib.abc.Loader):
    """Loads nothing: says which test imported the framework and what to do."""

    def __init__(self, message: str):
        self.message = message

    def create_module(self, spec):
        raise ImportError(self.message)

    def exec_module(self, module):
        raise ImportError(self.message)


class _NoFrameworkImport(importlib.abc.MetaPathFinder):
    def __init__(self, test: str):
        self.test = test

    def find_spec(self, name, path=None, target=None):
        # A framework that is not installed stays "not found", as it would be. One that is
        # installed is found (importlib.util.find_spec, as the environment probe uses to read
        # torch/version.py without importing torch, still works); loading it fails.
        if name.split(".")[0] not in FRAMEWORK_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None:
            spec.loader = _Refused(f"{self.test} imports {name} but is not marked "
                                   "'framework': add @pytest.mark.framework")
        return spec


_test = os.environ.get("REPRODIAG_UNMARKED_TEST")
if _test:
    sys.meta_path.insert(0, _NoFrameworkImport(_test))
