"""find_interpreters(): this Python first, then real venvs and conda-layout envs found on disk."""

import subprocess
import sys

from reprodiag.core.env import find_interpreters
from reprodiag.core.env.interpreters import KINDS


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
    kinds = [KINDS.index(i.kind) for i in found]
    assert kinds == sorted(kinds)


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


def test_default_target_is_this_python_unless_frozen(monkeypatch, tmp_path):
    import sys

    from reprodiag.core.env import interpreters

    assert interpreters.default_target() == sys.executable
    # The packaged app: its executable is not a Python, so another interpreter is chosen.
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "reprodiag"))
    chosen = interpreters.default_target()
    assert chosen != str(tmp_path / "reprodiag")
    assert "python" in chosen.lower()
