"""`pip install reprodiag` with no extras, for real: a fresh virtual environment holding only the
core dependencies runs the headless commands, imports the Colab helpers without Qt, and -- with
torch added and nothing else -- exports a valid bundle (the issue's "done when")."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from reprodiag.core.bundle import read_bundle
from venv_helpers import PIP_TIMEOUT_S, new_venv, run

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CORE_DEPS = ["numpy", "psutil", "nvidia-ml-py", "pydantic", "platformdirs"]
TORCH = "torch==2.13.0"


def package_copy(folder: Path) -> Path:
    """What pip needs to build reprodiag, copied so the build leaves the repository alone."""
    dest = folder / "reprodiag-src"
    dest.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("src", "resources"):
        shutil.copytree(REPO / name, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    return dest


def make_venv(folder: Path, extra: list[str]) -> Path:
    """A new venv with the core dependencies, `extra`, and reprodiag itself (--no-deps)."""
    venv = new_venv(folder, [*CORE_DEPS, *extra])
    own = run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps",
               package_copy(folder)], timeout=PIP_TIMEOUT_S)
    assert own.returncode == 0, own.stderr[-2000:]
    return venv


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory) -> Path:
    return make_venv(tmp_path_factory.mktemp("core"), [])


@pytest.fixture(scope="module")
def two_bundles(tmp_path_factory) -> tuple[Path, Path]:
    """Two bundles of the same tiny canary, written by the development environment."""
    d = tmp_path_factory.mktemp("bundles")
    paths = []
    for name in ("a", "b"):
        out = d / f"{name}.reprodiag.zip"
        proc = run([sys.executable, "-m", "reprodiag", "run", "--steps", "5", "--threads", "1",
                    "--out", out])
        assert proc.returncode == 0, proc.stderr
        paths.append(out)
    return paths[0], paths[1]


def test_core_venv_has_neither_gui_nor_frameworks(core_venv):
    code = ("import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None "
            "for m in ('PySide6', 'pyqtgraph', 'torch', 'tensorflow', 'reprodiag')}))")
    found = json.loads(run([core_venv / "bin" / "python", "-c", code]).stdout)
    assert found == {"PySide6": False, "pyqtgraph": False, "torch": False, "tensorflow": False,
                     "reprodiag": True}


def test_env_json_runs(core_venv):
    proc = run([core_venv / "bin" / "reprodiag", "env", "--json"])
    assert proc.returncode == 0, proc.stderr
    snapshot = json.loads(proc.stdout)
    text = json.dumps(snapshot)
    assert "host.python.version" in text and "cpu.model" in text


@pytest.mark.framework
def test_compare_runs(core_venv, two_bundles):
    proc = run([core_venv / "bin" / "reprodiag", "compare", *two_bundles])
    assert proc.returncode == 0, proc.stderr
    assert "identical" in proc.stdout


def test_colab_and_recorders_import_without_qt(core_venv):
    code = ("import sys, reprodiag.colab as rd, reprodiag.record; "
            "assert rd.colab_notebook_path().is_file(), rd.colab_notebook_path(); "
            "assert not {'PySide6', 'torch'} & set(sys.modules); print(rd.colab_notebook_path())")
    proc = run([core_venv / "bin" / "python", "-c", code])
    assert proc.returncode == 0, proc.stderr
    assert str(core_venv) in proc.stdout  # the installed copy, not the repository's


def test_a_wheel_install_saves_the_same_notebook(core_venv, tmp_path):
    """The notebook embeds the installed package: a wheel install gives the editable's bytes."""
    from reprodiag.colab_notebook import notebook_text

    out = tmp_path / "from-wheel.ipynb"
    proc = run([core_venv / "bin" / "reprodiag", "colab-notebook", "--out", out], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf-8") == notebook_text()


def test_export_without_any_framework_says_so_in_one_line(core_venv, tmp_path):
    out = tmp_path / "x.reprodiag.zip"
    proc = run([core_venv / "bin" / "reprodiag", "export", "--quick", "--no-deep", "--out", out])
    assert proc.returncode == 2 and not out.exists()
    assert proc.stderr.splitlines()[-1] == (
        "reprodiag: error: no framework to run: torch and tensorflow not installed in the target "
        "interpreter; install one (pip install torch) or pass --python PATH")


def test_app_without_gui_extra_says_how_to_get_it(core_venv):
    proc = run([core_venv / "bin" / "reprodiag"])
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and 'reprodiag[gui]' in proc.stderr


@pytest.mark.framework
def test_export_with_only_torch_writes_a_valid_bundle(tmp_path):
    venv = make_venv(tmp_path, [TORCH])
    out = tmp_path / "torch-only.reprodiag.zip"
    proc = run([venv / "bin" / "reprodiag", "export", "--quick", "--out", out], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tensorflow is not installed here: its canaries are skipped" in proc.stderr
    bundle = read_bundle(out)
    assert {r.config.framework for r in bundle.runs} == {"torch"}
    assert len(bundle.runs) == 4 and all(r.status == "finished" for r in bundle.runs)
    assert bundle.snapshot.value("framework.torch.version", "").startswith("2.13")
    assert not bundle.snapshot.value("framework.tensorflow.version")
