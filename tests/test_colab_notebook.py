"""The notebook generator: the saved notebook carries this reprodiag (code and data, not the GUI)
in one labelled cell, deterministically and within 2 MB; the cell runs as plain Python; the
`colab-notebook` command writes it or says in one line why not."""

from __future__ import annotations

import ast
import base64
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

import reprodiag
from reprodiag import colab_notebook as cn
from reprodiag.errors import UserError
from reprodiag.paths import package_dir

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def package() -> cn.EmbeddedPackage:
    return cn.embedded_package()


def install_cell(nb: dict) -> dict:
    (cell,) = [c for c in nb["cells"] if c["id"] == cn.INSTALL_CELL_ID]
    return cell


def archive_in(cell_source: str) -> bytes:
    """The archive as the cell passes it (parsed, not executed)."""
    call = ast.parse(cell_source).body[-1].value
    archive = next(k.value for k in call.keywords if k.arg == "archive")
    return base64.b64decode(ast.literal_eval(archive))


def test_archive_holds_the_package_without_the_gui(package):
    names = set(package.names)
    for needed in ("reprodiag/__init__.py", "reprodiag/colab.py", "reprodiag/paths.py",
                   "reprodiag/core/runs/session.py", "reprodiag/core/bundle/writer.py",
                   "reprodiag/workers/canary_torch.py", "reprodiag/workers/canary_tf.py",
                   "reprodiag/workers/env_probe.py", "reprodiag/record/torch_recorder.py",
                   "reprodiag/data/digits.csv.gz", "reprodiag/data/DIGITS_LICENSE.txt"):
        assert needed in names
    assert not [n for n in names if n.startswith("reprodiag/gui/") or "__pycache__" in n
                or n.endswith(".pyc") or "/icons/" in n]
    with zipfile.ZipFile(io.BytesIO(package.archive)) as z:
        assert z.namelist() == list(package.names) == sorted(package.names)
        assert z.read("reprodiag/__init__.py") == (package_dir() / "__init__.py").read_bytes()
        assert {i.date_time for i in z.infolist()} == {cn.ZIP_TIME}
    assert package.version == reprodiag.__version__


def test_archive_depends_on_content_only(package, tmp_path):
    """A copy with new times, a GUI module, caches and hidden files zips to the same bytes."""
    copy = tmp_path / "reprodiag"
    shutil.copytree(package_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "gui" / "extra.py").write_text("x = 1\n")
    (copy / "core" / "__pycache__").mkdir(exist_ok=True)
    (copy / "core" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (copy / ".hidden.py").write_text("x = 1\n")
    assert cn.embedded_package(copy).archive == package.archive
    assert cn.embedded_package().archive == package.archive


def test_a_folder_without_sources_is_refused(tmp_path):
    """A frozen app built without the package's sources cannot embed them: one line saying so."""
    shutil.copytree(package_dir() / "workers", tmp_path / "workers")
    with pytest.raises(UserError, match="no reprodiag sources"):
        cn.package_files(tmp_path)


def test_notebook_is_the_template_with_one_labelled_install_cell(package):
    nb = cn.notebook(package)
    template = cn.template()
    assert [c["id"] for c in nb["cells"]] == [c["id"] for c in template["cells"]]
    for cell, original in zip(nb["cells"], template["cells"]):
        if cell["id"] != cn.INSTALL_CELL_ID:
            assert cell == original
    source = "".join(install_cell(nb)["source"])
    assert source.startswith(f"#@title 1. Install reprodiag {reprodiag.__version__} (embedded")
    assert install_cell(nb)["metadata"]["cellView"] == "form"
    assert archive_in(source) == package.archive
    assert source.count(package.sha256) == 1
    nbformat.validate(nbformat.reads(json.dumps(nb), as_version=4))


def test_notebook_is_small_and_deterministic(package):
    text = cn.notebook_text(package)
    assert len(text.encode("utf-8")) <= cn.MAX_NOTEBOOK_BYTES
    assert cn.notebook_text() == text


def test_runtime_dependencies_are_pyproject_s():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert sorted(cn.RUNTIME_DEPENDENCIES) == sorted(project["dependencies"])


def test_install_cell_runs_as_plain_python(tmp_path):
    """Unpacked beside the notebook, it wins over the reprodiag this interpreter already has."""
    cell = "".join(install_cell(cn.notebook())["source"])
    check = ("\nimport reprodiag.colab, reprodiag.paths as p\n"
             "print(p.worker_script('canary_torch.py'), p.data_file('digits.csv.gz').is_file())\n")
    (tmp_path / "cell.py").write_text(cell + check, encoding="utf-8")
    proc = subprocess.run([sys.executable, "cell.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = tmp_path / f"reprodiag-{reprodiag.__version__}"
    assert proc.stdout.splitlines() == [
        f"reprodiag {reprodiag.__version__} (embedded in this notebook) is ready in {folder}",
        f"{folder / 'reprodiag' / 'workers' / 'canary_torch.py'} True"]


def test_a_damaged_cell_stops_before_unpacking(tmp_path):
    cell = "".join(install_cell(cn.notebook())["source"])
    sha = cn.embedded_package().sha256
    (tmp_path / "cell.py").write_text(cell.replace(sha, "0" * 64), encoding="utf-8")
    proc = subprocess.run([sys.executable, "cell.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and "the embedded reprodiag is damaged" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["cell.py"]


def test_cli_writes_a_valid_notebook(tmp_path):
    out = tmp_path / "reprodiag_colab.ipynb"
    proc = subprocess.run([sys.executable, "-m", "reprodiag", "colab-notebook", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    nb = nbformat.read(out, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4 and out.read_text(encoding="utf-8") == cn.notebook_text()


@pytest.mark.parametrize("where", ["missing/x.ipynb", "."])
def test_cli_bad_path_is_one_line_and_exit_2(tmp_path, where):
    proc = subprocess.run([sys.executable, "-m", "reprodiag", "colab-notebook", "--out",
                           str(tmp_path / where)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("reprodiag: error: ")
    assert not list(tmp_path.iterdir())
