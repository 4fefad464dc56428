"""The Colab side, for real: the notebook reprodiag saves runs cell by cell in a Jupyter kernel of
a fresh virtual environment that holds reprodiag's dependencies and torch but no reprodiag
(and no path to this repository), and the bundle it writes compares identical with a local
export of the same canaries. The helpers it uses show progress, a summary and the path."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import nbformat
import pytest

import reprodiag
import reprodiag.colab as rd
from reprodiag.colab_notebook import write_notebook
from reprodiag.core.bundle import read_bundle
from reprodiag.core.runs.protocol import Done, Hello, Step
from reprodiag.core.runs.record import STEP_COLUMNS, RunRecord
from reprodiag.errors import UserError
from venv_helpers import new_venv, run

TEMPLATE = rd.colab_notebook_path()
KERNEL = "reprodiag-fresh"
# The kernel's environment: this one's versions of reprodiag's dependencies (same numerics,
# found in pip's cache), the test torch, and ipykernel. reprodiag itself comes from the notebook.
KERNEL_PACKAGES = ("numpy", "psutil", "nvidia-ml-py", "pydantic", "platformdirs", "ipykernel")
TORCH = "torch==2.13.0"
# Injected after the notebook's "parameters" cell (the papermill convention). Frameworks stay
# at the notebook's default (every installed one): the kernel has no TensorFlow, so the
# notebook must skip it with a note and run the four quick torch canaries on the CPU.
TEST_PARAMETERS = "QUICK = True"


def notebook_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def kernel_venv(tmp_path_factory) -> Path:
    """Made once per test session: no reprodiag in it."""
    pins = [f"{name}=={version(name)}" for name in KERNEL_PACKAGES]
    return new_venv(tmp_path_factory.mktemp("kernel"), [*pins, TORCH])


def kernel_environment() -> dict[str, str]:
    """This process's variables without any path to the repository or its venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    return {**env, "PYTHONNOUSERSITE": "1"}


def with_parameters(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell(TEST_PARAMETERS, id="injected-parameters")
    nb.cells.insert(at + 1, cell)
    return nb


def execute_in_kernel(nb: nbformat.NotebookNode, venv: Path, folder: Path):
    """Run every cell in order in a kernel of `venv`'s Python, working in `folder`."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    kernels = folder.parent / "kernels"
    (kernels / KERNEL).mkdir(parents=True)
    spec = {"argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f",
                     "{connection_file}"], "display_name": KERNEL, "language": "python"}
    (kernels / KERNEL / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    km = AsyncKernelManager(kernel_name=KERNEL,
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(nb, km=km, timeout=900, resources={"metadata": {"path": str(folder)}})
    return client.execute(env=kernel_environment())


def output_text(nb: nbformat.NotebookNode) -> str:
    """What the cells printed and displayed, as text."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts += [str(v) for k, v in out.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


@pytest.fixture(scope="module")
def notebook_run(tmp_path_factory, kernel_venv):
    """The notebook saved by the app's generator, executed once in the fresh kernel."""
    folder = tmp_path_factory.mktemp("colab")
    saved = write_notebook(folder / "reprodiag_colab.ipynb")
    found = run([kernel_venv / "bin" / "python", "-c",
                 "import importlib.util as u; print(u.find_spec('reprodiag'))"],
                cwd=folder, env=kernel_environment())
    assert found.stdout.strip() == "None", found.stdout + found.stderr
    nb = execute_in_kernel(with_parameters(nbformat.read(saved, as_version=4)), kernel_venv,
                           folder)
    bundles = sorted(folder.glob("*.reprodiag.zip"))
    assert len(bundles) == 1, [p.name for p in folder.iterdir()]
    return {"bundle": read_bundle(bundles[0]), "output": output_text(nb), "path": bundles[0],
            "folder": folder, "python": kernel_venv / "bin" / "python"}


@pytest.fixture(scope="module")
def local_export(tmp_path_factory) -> Path:
    """This machine's export of the same canaries (torch, CPU, quick), by the CLI."""
    out = tmp_path_factory.mktemp("local") / "local.reprodiag.zip"
    proc = run([sys.executable, "-m", "reprodiag", "export", "--quick", "--frameworks", "torch",
                "--devices", "cpu", "--no-deep", "--label", "local", "--out", out], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_template_and_saved_notebook_are_nbformat_4(tmp_path):
    saved = write_notebook(tmp_path / "saved.ipynb")
    for path in (TEMPLATE, saved):
        nb = notebook_json(path)
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
        assert kinds[0] == "markdown" and kinds.count("code") >= 4
        code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        assert "rd.export(" in code and "rd.download(" in code and "pip install -q reprodiag" not in code
        nbformat.validate(nbformat.read(path, as_version=4))


@pytest.mark.framework
@pytest.mark.slow
def test_saved_notebook_runs_in_a_clean_kernel_and_writes_the_standard_set(notebook_run):
    bundle, out = notebook_run["bundle"], notebook_run["output"]
    folder = notebook_run["folder"]
    assert f"reprodiag {reprodiag.__version__} (embedded in this notebook) is ready in " \
           f"{folder / ('reprodiag-' + reprodiag.__version__)}" in out
    assert "tensorflow is not installed here: its canaries are skipped" in out
    assert "no NVIDIA GPU here: the canaries run on the CPU only" in out
    assert bundle.label == "colab" and notebook_run["path"].name.startswith("colab-")
    assert bundle.producer_version == reprodiag.__version__
    assert bundle.snapshot is not None and bundle.snapshot.deep
    assert bundle.snapshot.value("framework.torch.version", "").startswith("2.13")
    runs = bundle.runs
    assert [r.config.model for r in runs] == ["mlp", "mlp", "cnn", "segnet"]
    assert {(r.config.framework, r.config.device) for r in runs} == {("torch", "cpu")}
    assert all(r.status == "finished" and len(r.steps) == r.config.steps for r in runs)
    assert {r.recording_scheme for r in runs} == {"canary/3"}
    assert {r.python for r in runs} == {str(notebook_run["python"])}  # the kernel's interpreter
    assert "finished" in out and "mean_iou" in out  # progress and summary
    assert f"bundle written to {notebook_run['path']}" in out  # the download step, outside Colab


@pytest.mark.framework
@pytest.mark.slow
def test_colab_bundle_compares_identical_with_a_local_export(notebook_run, local_export):
    proc = run([sys.executable, "-m", "reprodiag", "compare", local_export, notebook_run["path"],
                "--json"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["overall_verdict"] == "identical"
    assert len(report["pairs"]) == 4 and report["unpaired"] == {"a": [], "b": []}
    assert {p["verdict"] for p in report["pairs"]} == {"identical"}


@pytest.mark.framework
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
    for msg in [Hello(worker="canary_torch", protocol=1, pid=1, python="3"), *steps,
                Done(summary=source.summary)]:
        live.apply(msg)
        progress.on_message(live, msg)
    progress.close()
    shown = stream.getvalue()
    total = source.config.steps
    assert f"{total}/{total} finished" in shown and shown.endswith("\n")


def test_colab_and_the_notebook_generator_import_neither_qt_nor_a_framework():
    code = ("import sys, reprodiag.colab as rd, reprodiag.colab_notebook as cn; "
            "assert rd.colab_notebook_path().is_file(); cn.notebook(); "
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
