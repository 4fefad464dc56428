"""The fast tier's guard (tests/conftest.py): a test that runs a framework without the
`framework` mark fails, whether it imports the framework itself or a process it starts does."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent

CASES = textwrap.dedent("""
    import subprocess, sys

    def test_imports_torch_itself():
        import torch  # noqa: F401

    def test_a_child_imports_torch():
        subprocess.run([sys.executable, "-c", "import torch"], check=True)

    def test_a_child_imports_something_else():
        subprocess.run([sys.executable, "-c", "import json"], check=True)

    def test_finding_torch_without_importing_it_is_allowed():
        import importlib.util
        spec = importlib.util.find_spec("torch")  # how the environment probe reads its files
        assert spec is not None and spec.submodule_search_locations
        assert "torch" not in sys.modules

    def test_a_framework_that_is_not_installed_is_still_not_found():
        import importlib.util
        import pytest
        if importlib.util.find_spec("jax") is not None:
            pytest.skip("jax is installed here")
        with pytest.raises(ModuleNotFoundError):
            import jax  # noqa: F401
""")


def test_an_unmarked_test_that_runs_a_framework_fails_and_says_why(tmp_path):
    (tmp_path / "test_cases.py").write_text(CASES)
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-q",
                           "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    out = proc.stdout
    assert out.count("FAILED ") == 2 and "2 failed" in out, out[-3000:]
    assert "FAILED test_cases.py::test_imports_torch_itself" in out
    assert "FAILED test_cases.py::test_a_child_imports_torch" in out
    assert out.count("is not marked 'framework'") >= 2
