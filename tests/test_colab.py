"""The Colab side: the shipped notebook runs (install and shell lines left out) in a fresh
interpreter and writes a bundle; the helpers it uses show progress, a summary and the path."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import reprodiag.colab as rd
from reprodiag.core.bundle import read_bundle
from reprodiag.core.runs.protocol import Done, Hello, Step
from reprodiag.core.runs.record import STEP_COLUMNS, RunRecord
from reprodiag.errors import UserError

NOTEBOOK = rd.colab_notebook_path()
# Injected after the notebook's "parameters" cell (the papermill convention): torch only keeps
# the test to four quick canary runs.
TEST_PARAMETERS = 'FRAMEWORKS = ["torch"]'


def notebook() -> dict:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


def notebook_script(nb: dict) -> str:
    """The code cells as one script: shell lines (`!pip ...`) dropped, test parameters added."""
    parts = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        parts.append("\n".join(line for line in lines if not line.lstrip().startswith("!")))
        if "parameters" in cell["metadata"].get("tags", []):
            parts.append(TEST_PARAMETERS)
    return "\n\n".join(parts) + "\n"


@pytest.fixture(scope="module")
def notebook_run(tmp_path_factory):
    """The notebook's code run once in a fresh interpreter, in an empty folder."""
    folder = tmp_path_factory.mktemp("colab")
    script = folder / "notebook.py"
    script.write_text(notebook_script(notebook()), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=folder, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bundles = sorted(folder.glob("*.reprodiag.zip"))
    assert len(bundles) == 1, [p.name for p in folder.iterdir()]
    return {"bundle": read_bundle(bundles[0]), "stdout": proc.stdout, "path": bundles[0]}


def test_notebook_is_nbformat_4():
    nb = notebook()
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] >= 5
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    ids = [cell["id"] for cell in nb["cells"]]
    assert len(set(ids)) == len(ids)
    for cell in nb["cells"]:
        assert cell["cell_type"] in ("markdown", "code")
        assert isinstance(cell["metadata"], dict) and isinstance(cell["source"], list)
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    kinds = [c["cell_type"] for c in nb["cells"]]
    assert kinds[0] == "markdown" and kinds.count("code") >= 3
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "!pip install" in code and "rd.export(" in code and "rd.download(" in code
    try:
        import nbformat
    except ImportError:
        return
    nbformat.validate(nbformat.reads(NOTEBOOK.read_text(encoding="utf-8"), as_version=4))


@pytest.mark.slow
def test_notebook_writes_a_bundle_of_the_standard_set(notebook_run):
    bundle = notebook_run["bundle"]
    assert bundle.label == "colab"
    assert notebook_run["path"].name.startswith("colab-")
    assert bundle.snapshot is not None and bundle.snapshot.deep
    runs = bundle.runs
    assert [r.config.model for r in runs] == ["mlp", "mlp", "cnn", "segnet"]
    assert {r.config.framework for r in runs} == {"torch"}
    assert all(r.status == "finished" and len(r.steps) == r.config.steps for r in runs)
    out = notebook_run["stdout"]
    assert "finished" in out and "mean_iou" in out  # progress and summary
    assert f"bundle written to {notebook_run['path']}" in out  # the download step, outside Colab


@pytest.mark.slow
def test_summary_and_progress_from_real_runs(notebook_run):
    bundle = notebook_run["bundle"]
    text = rd.summary_text(bundle.runs, bundle.snapshot, bundle.path)
    assert all(r.display_name() in text for r in bundle.runs)
    assert "PyTorch: " in text
    html = rd.summary_html(bundle.runs, bundle.snapshot, "<a&b>.zip")
    assert "&lt;a&amp;b&gt;.zip" in html and html.count("<tr>") == 1 + len(bundle.runs)

    stream = io.StringIO()
    progress = rd.NotebookProgress(stream, use_tqdm=False)
    source = bundle.runs[0]
    live = RunRecord(config=source.config, label=source.label)
    steps = [Step(**dict(zip(STEP_COLUMNS, row))) for row in source.steps.rows()]
    for msg in [Hello("canary_torch", 1, 1, "3"), *steps, Done(source.summary)]:
        live.apply(msg)
        progress.on_message(live, msg)
    progress.close()
    shown = stream.getvalue()
    total = source.config.steps
    assert f"{total}/{total} finished" in shown and shown.endswith("\n")


def test_colab_imports_neither_qt_nor_a_framework():
    code = ("import sys, reprodiag.colab as rd; assert rd.colab_notebook_path().is_file(); "
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    top = {m.split(".")[0] for m in out.stdout.split()}
    assert not top & {"torch", "tensorflow", "keras", "PySide6", "pyqtgraph", "shiboken6"}


def test_bundle_names_are_safe_file_names():
    name = rd.default_bundle_name("my lab/box: GPU #2", when=0)
    assert name.endswith(".reprodiag.zip") and "/" not in name and " " not in name
    assert name.startswith("my-lab-box-GPU-2-")
    assert rd.default_bundle_name("///", when=0).startswith("reprodiag-")


def test_bad_choices_fail_before_any_run(tmp_path):
    with pytest.raises(UserError, match="frameworks"):
        rd.export(tmp_path / "x", frameworks=["jax"])
    with pytest.raises(UserError, match="devices"):
        rd.export(tmp_path / "x", devices=["tpu"])
    assert not list(tmp_path.iterdir())


def test_download_outside_colab_prints_the_path(tmp_path, capsys):
    path = tmp_path / "b.reprodiag.zip"
    path.write_bytes(b"")
    rd.download(path)
    assert str(Path(path).resolve()) in capsys.readouterr().out
    with pytest.raises(UserError, match="no such bundle"):
        rd.download(tmp_path / "missing.reprodiag.zip")
