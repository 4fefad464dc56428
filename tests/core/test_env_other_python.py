"""capture(python=...) of another interpreter: a bare venv without reprodiag, and bad paths."""

import ast
import glob
import os
import shutil
import subprocess
import sys

import pytest

from reprodiag.core.env import capture
from reprodiag.errors import UserError
from reprodiag.paths import worker_script


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("envs") / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True,
                   timeout=120)
    return folder


def _python(venv):
    return str(venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))


def test_bare_venv_is_captured_by_running_the_probe_there(bare_venv):
    here = capture()
    there = capture(python=_python(bare_venv))
    assert there.python == _python(bare_venv)
    assert there.value("host.python.env") == "venv"
    assert there.value("host.python.env_name") == "bare"
    assert there.value("host.python.executable") == _python(bare_venv)
    packages = {k for k in there.facts if k.startswith("pkg.")}
    assert "pkg.reprodiag" not in packages and "pkg.reprodiag" in here.facts
    assert packages != {k for k in here.facts if k.startswith("pkg.")}
    assert there.get("framework.torch.version").unavailable == "not installed"
    # Machine facts are the same machine's.
    assert there.value("cpu.logical_cores") == here.value("cpu.logical_cores")


def test_env_folder_stands_for_its_interpreter(bare_venv):
    assert capture(python=str(bare_venv)).value("host.python.env_name") == "bare"


def test_deep_capture_of_an_env_without_frameworks_adds_nothing(bare_venv):
    snap = capture(python=_python(bare_venv), deep=True, timeout=60)
    assert snap.deep
    assert not any(k.startswith("numerics.") or k.endswith(".probe") for k in snap.facts)


def test_a_script_that_is_not_python_is_a_user_error(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(UserError, match="is not a Python interpreter") as info:
        capture(python=str(fake))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("make", ["missing", "folder", "not_executable"])
def test_bad_paths_are_user_errors(tmp_path, make):
    path = tmp_path / "python"
    if make == "folder":
        path.mkdir()
    elif make == "not_executable":
        path.write_text("print('hi')\n")
    with pytest.raises(UserError, match="is not a Python interpreter"):
        capture(python=str(path))


def _oldest_python3():
    """A Python 3.8 on this machine (pyenv), to check the probe's stdlib-only promise."""
    root = os.path.expanduser(os.environ.get("PYENV_ROOT", "~/.pyenv"))
    for path in sorted(glob.glob(os.path.join(root, "versions", "3.8*", "bin", "python"))):
        return path
    return shutil.which("python3.8")


def test_probe_runs_on_python_3_8():
    python = _oldest_python3()
    if python is None:
        pytest.skip("no Python 3.8 on this machine")
    snap = capture(python=python)
    assert snap.value("host.python.version").startswith("3.8.")


def test_worker_scripts_parse_as_python_3_8():
    for name in ("env_probe.py", "probe_torch.py", "probe_tf.py"):
        ast.parse(worker_script(name).read_text(), feature_version=(3, 8))


def test_conda_env_reports_its_non_python_packages(tmp_path):
    env = tmp_path / "envs" / "gpu"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True,
                   timeout=120)
    meta = env / "conda-meta"  # what conda writes: one <name>-<version>-<build>.json each
    meta.mkdir()
    for name in ("cudatoolkit-11.8.0-h6a678d5_0.json", "python-3.11.7-h955ad1f_0.json"):
        (meta / name).write_text("{}")
    snap = capture(python=_python(env))
    assert snap.value("host.python.env") == "conda"
    assert snap.value("host.python.env_name") == "gpu"
    assert snap.value("pkg.conda.cudatoolkit") == "11.8.0"
    assert snap.value("pkg.conda.python") == "3.11.7"
