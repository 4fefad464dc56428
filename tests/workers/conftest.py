"""Fixtures for the worker tests: cached real canary runs, and canary_common loaded by path.

Each distinct config runs once per test session (`canary` caches by config): the tests
compare runs with each other, and TensorFlow alone takes seconds to import.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
from canary_harness import CanaryRun, run_canary

from reprodiag import paths
from reprodiag.core.runs.config import RunConfig


@pytest.fixture(scope="session")
def canary():
    """canary(**config fields) -> CanaryRun, each distinct config run once per session.

    `fresh=True` runs again even if the same config ran before (for repeatability tests).
    """
    cache: dict[tuple, CanaryRun] = {}

    def get(fresh: bool = False, **fields) -> CanaryRun:
        config = RunConfig(**fields)
        key = tuple(sorted(config.model_dump().items()))
        if fresh or key not in cache:
            result = run_canary(config)
            if not fresh:
                cache[key] = result
            return result
        return cache[key]

    return get


@pytest.fixture(scope="session")
def common():
    """canary_common loaded from its file, as the worker scripts load it."""
    path = paths.worker_script("canary_common.py")
    spec = importlib.util.spec_from_file_location("canary_common", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["canary_common"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
