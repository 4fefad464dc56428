"""Notebook helpers for Colab (or any Python): record this environment into one bundle.

    import reprodiag.colab as rd
    bundle = rd.export(quick=True)   # canaries on every device, deep snapshot, download

The canaries run in worker processes as everywhere else; nothing here imports Qt or a
framework, so this works wherever reprodiag's core dependencies are: in Colab, reprodiag
itself comes embedded in the notebook the app saves (`colab_notebook.py`).
"""

from __future__ import annotations

import html
import re
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from reprodiag.core.runs.config import FRAMEWORKS, SET_DEVICES
from reprodiag.core.runs.protocol import Step
from reprodiag.core.runs.record import STATUS_LABELS, RunRecord
from reprodiag.errors import UserError

NOTEBOOK = "reprodiag_colab.ipynb"
TEXT_BAR_WIDTH = 24


def colab_notebook_path() -> Path:
    """The Colab notebook template shipped with reprodiag (installed, editable or frozen);
    `colab_notebook.notebook()` fills in its install cell."""
    from reprodiag.paths import resource

    return resource("colab") / NOTEBOOK


def default_label() -> str:
    """`colab` in Colab, else this machine's host name."""
    from reprodiag.core.env.system import is_colab

    return "colab" if is_colab() else socket.gethostname() or "here"


def default_bundle_name(label: str, when: Optional[float] = None) -> str:
    """A file name from the label and the local date and time, e.g. colab-20240601-1412."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.") or "reprodiag"
    stamp = time.strftime("%Y%m%d-%H%M", time.localtime(when))
    return f"{slug[:60]}-{stamp}.reprodiag.zip"


def export(
    out: Any = None,
    *,
    label: str = "",
    quick: bool = False,
    frameworks: Optional[Sequence[str]] = None,
    devices: Optional[Sequence[str]] = None,
    deep: bool = True,
    timeout: Optional[float] = 1800.0,
    show: bool = True,
    offer_download: bool = True,
) -> Path:
    """Run the standard canary set here, snapshot the environment, write one bundle.

    Runs every installed framework (or `frameworks`) on the CPU and, when there is one, the
    GPU (or `devices`), one progress bar per run. `quick` takes about a minute on a Colab
    CPU. The bundle goes to `out` (default: label + date in the working folder); a short
    summary is shown and, in Colab, the browser offers the file. Returns the bundle's path.
    """
    from reprodiag.core.runs.session import export_standard_set

    frameworks = _checked("frameworks", frameworks, FRAMEWORKS)
    devices = _checked("devices", devices, SET_DEVICES)
    label = label or default_label()
    target = Path(out).expanduser() if out else Path.cwd() / default_bundle_name(label)
    progress = NotebookProgress()
    try:
        result = export_standard_set(target, label=label, quick=quick, frameworks=frameworks,
                                     devices=devices, deep=deep, timeout=timeout,
                                     on_message=progress.on_message, on_note=progress.note)
    finally:
        progress.close()
    path = result.path
    if path is None:  # export_standard_set writes the bundle or raises
        raise RuntimeError(f"{target}: the bundle was not written")
    if show:
        show_summary(result.runs, result.snapshot, path)
    if offer_download:
        download(path)
    return path


def _checked(name: str, values: Optional[Sequence[str]],
             choices: tuple[str, ...]) -> Optional[list[str]]:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    bad = [v for v in values if v not in choices]
    if bad or not values:
        raise UserError(f"{name} must be a list drawn from {', '.join(choices)}, not {values!r}")
    return list(values)


def download(path: Any) -> None:
    """Offer the bundle for download in Colab; elsewhere say where it is."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such bundle")
    try:
        from google.colab import files
    except ImportError:
        print(f"reprodiag: bundle written to {path.resolve()}")
        return
    files.download(str(path))


# -- progress -------------------------------------------------------------------------------


class NotebookProgress:
    """One progress bar per run, fed by the launcher's on_message callback.

    tqdm (`tqdm.auto`: a widget in notebooks) when installed, else a one-line text bar.
    Callbacks come from the run's reader thread, hence the lock.
    """

    def __init__(self, stream=None, *, use_tqdm: bool = True):
        self.stream = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()
        self._bars: dict[str, Any] = {}
        self._make = (_tqdm_factory() if use_tqdm else None) or self._text_bar

    def note(self, text: str) -> None:
        print(f"reprodiag: {text}", file=self.stream, flush=True)

    def on_message(self, record: RunRecord, msg: object) -> None:
        with self._lock:
            bar = self._bars.get(record.run_id)
            if bar is None:
                self._close_all()  # runs come one after another: a new run ends the last bar
                bar = self._bars[record.run_id] = self._make(record.config.steps,
                                                             record.display_name())
            if isinstance(msg, Step):
                bar.update(msg.step + 1 - bar.n)
            if record.ended:
                reason = f": {record.reason}" if record.reason else ""
                bar.set_postfix_str(STATUS_LABELS[record.status] + reason)
                bar.close()
                del self._bars[record.run_id]

    def close(self) -> None:
        with self._lock:
            self._close_all()

    def _close_all(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()

    def _text_bar(self, total: int, desc: str) -> TextBar:
        return TextBar(total, desc, self.stream)


def _tqdm_factory():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return lambda total, desc: tqdm(total=total, desc=desc, unit="step", leave=True)


class TextBar:
    """A minimal tqdm stand-in: `name [#####-----] 30/60`, redrawn in place with \\r."""

    def __init__(self, total: int, desc: str, stream):
        self.total, self.desc, self.stream = max(1, total), desc, stream
        self.n = 0
        self.postfix = ""
        self._drawn = -1
        self._closed = False
        self._draw()

    def update(self, k: int = 1) -> None:
        self.n = min(self.total, self.n + k)
        if self.n * 20 // self.total != self._drawn:
            self._draw()

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self) -> None:
        self._drawn = self.n * 20 // self.total
        filled = TEXT_BAR_WIDTH * self.n // self.total
        tail = f" {self.postfix}" if self.postfix else ""
        self.stream.write(f"\r  {self.desc} [{'#' * filled}{'-' * (TEXT_BAR_WIDTH - filled)}] "
                          f"{self.n}/{self.total}{tail}")
        self.stream.flush()


# -- summary --------------------------------------------------------------------------------

SUMMARY_COLUMNS = ("run", "status", "steps", "final loss", "result", "ms/step")


def summary_rows(runs: list[RunRecord]) -> list[tuple[str, ...]]:
    """One row of text per run, in SUMMARY_COLUMNS order."""
    rows: list[tuple[str, ...]] = []
    for run in runs:
        metric = run.summary.get("metric")
        result = (f"{run.summary.get('metric_name', 'metric')} {metric:.4f}"
                  if isinstance(metric, (int, float)) else run.reason)
        loss = f"{float(run.steps.loss[-1]):.6g}" if len(run.steps) else "-"
        times = run.steps.step_time
        ms = f"{1000 * float(times.mean()):.2f}" if len(times) else "-"
        rows.append((run.display_name(), STATUS_LABELS[run.status], str(len(run.steps)), loss,
                     result, ms))
    return rows


def environment_lines(snapshot) -> list[str]:
    """The few facts that tell environments apart at a glance."""
    if snapshot is None:
        return []
    facts = (("Python", "host.python.version"), ("PyTorch", "framework.torch.version"),
             ("TensorFlow", "framework.tensorflow.version"), ("GPU", "gpu.0.name"),
             ("CPU", "cpu.model"))
    return [f"{name}: {snapshot.value(key)}" for name, key in facts if snapshot.value(key)]


def summary_text(runs: list[RunRecord], snapshot, path: Any) -> str:
    rows = [SUMMARY_COLUMNS, *summary_rows(runs)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(SUMMARY_COLUMNS))]
    lines = [f"reprodiag bundle {path}"] + ["  " + line for line in environment_lines(snapshot)]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def summary_html(runs: list[RunRecord], snapshot, path: Any) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in SUMMARY_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                   for row in summary_rows(runs))
    env = "<br>".join(esc(line) for line in environment_lines(snapshot))
    return (f"<p><b>reprodiag bundle</b> <code>{esc(str(path))}</code><br>{env}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def show_summary(runs: list[RunRecord], snapshot, path: Any) -> None:
    """An HTML table in IPython/Jupyter/Colab, plain text elsewhere."""
    display = _ipython_display()
    if display is not None:
        display(summary_html(runs, snapshot, path))
    else:
        print(summary_text(runs, snapshot, path))


def _ipython_display():
    """A function showing HTML when running under IPython, else None (IPython not imported)."""
    if "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        return None
    if get_ipython() is None:
        return None
    return lambda text: display(HTML(text))
