"""find_interpreters(): interpreters with a framework first, then this Python, real venvs and
conda-layout envs found on disk; never the packaged app's executable; one clear line for a
--python that is no Python."""

import os
import subprocess
import sys

import pytest
from frozen_helpers import REAL_PYTHON, FrozenApp

from reprodiag.core.env import find_interpreters
from reprodiag.core.env.interpreters import (
    FRAMEWORKS,
    KINDS,
    default_target,
    resolve_interpreter,
    verify_interpreter,
)
from reprodiag.core.runs.config import FRAMEWORKS as RUN_FRAMEWORKS
from reprodiag.errors import UserError


def _make_venv(folder):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True,
                   timeout=120)
    return folder / "bin" / "python"


def test_finds_venvs_and_conda_envs_in_the_usual_places(tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    named = _make_venv(home / ".virtualenvs" / "alpha")
    local = _make_venv(project / ".venv")
    conda_env = home / "miniforge3" / "envs" / "ml"
    conda_python = _make_venv(conda_env)  # a real interpreter in a conda env's layout
    (conda_env / "conda-meta").mkdir()
    (conda_env / "conda-meta" / "python-3.10.14-hd12c33a_0_cpython.json").write_text("{}")

    found = find_interpreters(cwd=project, home=home)
    by_path = {i.path: i for i in found}
    assert found[0].kind == "current" and found[0].path == sys.executable
    assert by_path[str(named)].kind == "venv" and "alpha" in by_path[str(named)].label
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert version in by_path[str(named)].label  # from pyvenv.cfg
    assert by_path[str(local)].label.startswith("project/.venv")
    assert by_path[str(conda_python)].kind == "conda"
    assert by_path[str(conda_python)].label == "ml (conda, Python 3.10.14)"
    assert all(i.kind in KINDS for i in found)
    assert len(by_path) == len(found)  # no duplicates
    order = [(not i.frameworks, KINDS.index(i.kind)) for i in found]
    assert order == sorted(order)


def test_a_folder_without_an_interpreter_is_not_listed(tmp_path):
    (tmp_path / ".virtualenvs" / "broken").mkdir(parents=True)
    (tmp_path / ".virtualenvs" / "broken" / "pyvenv.cfg").write_text("version = 3.11.0\n")
    found = find_interpreters(cwd=tmp_path, home=tmp_path)
    assert not any("broken" in i.path for i in found)


def test_pyenv_versions_are_listed_newest_first_and_too_old_ones_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("PYENV_ROOT", raising=False)
    for version in ("3.7.1", "3.12.0", "3.9.2"):
        bin_dir = tmp_path / ".pyenv" / "versions" / version / "bin"
        bin_dir.mkdir(parents=True)
        # Listing reads no interpreter: an executable file in pyenv's layout is enough.
        (bin_dir / "python").write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
        (bin_dir / "python").chmod(0o755)
    labels = [i.label for i in find_interpreters(cwd=tmp_path, home=tmp_path)
              if i.label.startswith("pyenv")]
    assert labels == ["pyenv 3.12.0", "pyenv 3.9.2"]


def _with_framework(env_python, framework: str) -> None:
    """Put an (empty) package of that name into the env's site-packages, as pip would."""
    env_dir = env_python.parent.parent
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    package = env_dir / "lib" / version / "site-packages" / framework
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")


def _isolate(monkeypatch, home):
    """Look only in `home` (and the system paths): no pyenv, conda or venv variables."""
    for name in ("PYENV_ROOT", "VIRTUAL_ENV", "WORKON_HOME", "CONDA_PREFIX", "CONDA_EXE",
                 "MAMBA_ROOT_PREFIX", "CONDA_ENVS_PATH", "CONDA_ENVS_DIRS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)


def test_the_framework_list_is_the_run_config_s():
    assert FRAMEWORKS == RUN_FRAMEWORKS


def test_interpreters_with_a_framework_come_first_and_say_which(tmp_path, monkeypatch):
    _isolate(monkeypatch, tmp_path)
    plain = _make_venv(tmp_path / ".venvs" / "plain")
    ml = _make_venv(tmp_path / "venvs" / "ml")
    _with_framework(ml, "torch")
    _with_framework(ml, "tensorflow")
    found = find_interpreters(cwd=tmp_path, home=tmp_path)
    by_path = {i.path: i for i in found}
    assert by_path[str(ml)].frameworks == ("torch", "tensorflow")
    assert by_path[str(ml)].label.endswith(", torch, tensorflow)")
    assert by_path[str(plain)].frameworks == ()
    with_fw = [bool(i.frameworks) for i in found]
    assert with_fw == sorted(with_fw, reverse=True)  # every one with a framework first


def test_conda_envs_named_by_conda_s_variables_are_found(tmp_path, monkeypatch):
    _isolate(monkeypatch, tmp_path)
    root = tmp_path / "opt" / "forge"
    env_dir = root / "envs" / "gpu"
    python = _make_venv(env_dir)
    (env_dir / "conda-meta").mkdir()
    (env_dir / "pyvenv.cfg").unlink()  # a conda env has no pyvenv.cfg
    monkeypatch.setenv("CONDA_EXE", str(root / "bin" / "conda"))
    other = tmp_path / "elsewhere" / "envs"
    extra = _make_venv(other / "cpu")
    (other / "cpu" / "conda-meta").mkdir()
    monkeypatch.setenv("CONDA_ENVS_PATH", str(other))
    found = {i.path: i for i in find_interpreters(cwd=tmp_path, home=tmp_path)}
    assert found[str(python)].kind == "conda" and found[str(python)].label.startswith("gpu")
    assert found[str(extra)].kind == "conda"


def test_default_target_prefers_an_interpreter_with_a_framework(tmp_path, monkeypatch):
    _isolate(monkeypatch, tmp_path)
    assert default_target() == sys.executable  # the test venv has torch and TensorFlow
    ml = _make_venv(tmp_path / ".virtualenvs" / "ml")
    _with_framework(ml, "tensorflow")
    # This Python without its site-packages: a Python with no framework.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "-packages" not in p])
    assert default_target() == str(ml)


def test_the_packaged_app_is_never_listed_nor_this_python(tmp_path, monkeypatch):
    _isolate(monkeypatch, tmp_path)
    app = FrozenApp.make(tmp_path)
    app.enter(monkeypatch)
    # the app on PATH as python3, and as a project's .venv/bin/python
    link_dir = tmp_path / "bin"
    link_dir.mkdir()
    (link_dir / "python3").symlink_to(app.executable)
    monkeypatch.setenv("PATH", f"{link_dir}{os.pathsep}{os.environ['PATH']}")
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("version = 3.11.7\n")
    (venv / "bin" / "python").symlink_to(app.executable)
    found = find_interpreters(cwd=tmp_path, home=tmp_path)
    real = {os.path.realpath(i.path) for i in found}
    assert str(app.executable) not in real
    assert not any(i.kind == "current" or "this Python" in i.label for i in found)
    chosen = default_target()
    assert os.path.realpath(chosen) != str(app.executable) and "python" in chosen


@pytest.mark.parametrize("which", ["self", "other build"])
def test_the_packaged_app_as_python_is_one_clear_error(tmp_path, monkeypatch, which):
    app = FrozenApp.make(tmp_path)
    if which == "self":
        app.enter(monkeypatch)
    with pytest.raises(UserError, match="is a packaged app .* not a Python interpreter"):
        resolve_interpreter(str(app.executable))


def test_a_program_that_is_not_python_is_refused_before_it_runs_anything(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(UserError, match="does not run Python 3 code"):
        verify_interpreter(str(fake))
    assert verify_interpreter(REAL_PYTHON) == os.path.abspath(REAL_PYTHON)


@pytest.mark.parametrize("command", ["run", "env", "export"])
def test_cli_python_that_is_the_frozen_app_exits_2_with_one_line(tmp_path, command):
    app = FrozenApp.make(tmp_path)
    args = ["--out", str(tmp_path / "x.reprodiag.zip")] if command != "env" else []
    proc = subprocess.run([REAL_PYTHON, "-m", "reprodiag", command, "--python",
                           str(app.executable), *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a Python interpreter" in lines[0], proc.stderr
