"""Runs tab: configure a canary, run it (twice, or on CPU and GPU), watch it live, compare.

A view of the window's run session (core.runs.run_session, through gui/session_signals.py):
the session queues the runs (one at a time: canaries measure numerics, and parallel runs
would disturb each other's threads and step times), starts their workers through the
launcher, numbers them, keeps the reference and the verdicts against it, and saves finished
runs to the run library (they come back at the next start). One 40 Hz timer pulls new steps
into the plots and the run list (a row counts the steps its curve has drawn); a record
its worker's reader thread is filling is read under its lock.
"""

from __future__ import annotations

import functools
import html
import os

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from reprodiag.core.bundle import Bundle, read_bundle, write_bundle
from reprodiag.core.compare.runs import EQUIVALENT, IDENTICAL, VERDICT_LABELS
from reprodiag.core.env.interpreters import snapshot_frameworks
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import FAILED, RunRecord
from reprodiag.core.runs.run_session import RUN_LIBRARY, Standing
from reprodiag.core.runs.session import available_devices
from reprodiag.core.wording import counted
from reprodiag.errors import UserError
from reprodiag.gui import theme
from reprodiag.gui.plots.curves import CurveSpec, CurvesView, DiffSpec, first_difference_step
from reprodiag.gui.state import AppState
from reprodiag.gui.widgets.config_form import ConfigForm
from reprodiag.gui.widgets.dialogs import BUNDLE_FILTER, ask_open_paths, ask_save_path, report
from reprodiag.gui.widgets.explain_dialog import explainable, open_explain
from reprodiag.gui.widgets.run_table import RunTable

REFRESH_MS = 25  # one timer, up to 40 Hz (>= 30 fps under load), for every live curve and row


# The verdict cell of a run that is not compared: text and tooltip.
VERDICT_CELLS = {
    Standing.REFERENCE: ("reference", "The run the others are compared with"),
    Standing.NO_REFERENCE: ("", "Choose a reference run to get a verdict"),
    Standing.OTHER_CONFIG: ("other config", "Only runs whose config matches the reference's "
                                            "(apart from device and threads) are compared with it"),
    Standing.WAITING: ("…", "The verdict comes when both runs have ended"),
    Standing.NO_STEPS: ("—", "No steps to compare"),
}


def verdict_summary(cmp) -> str:
    """'identical', 'equivalent (first diff at step 12)', 'diverged at step 37: accumulated
    numerics' (the verdict's label, where the runs part)."""
    step = first_difference_step(cmp)
    label = VERDICT_LABELS[cmp.verdict]
    if cmp.verdict == IDENTICAL:
        return label
    if cmp.verdict == EQUIVALENT:
        return label + (f" (first diff at step {step})" if step is not None else "")
    where = f" at step {step}" if step is not None else ""
    return f"{label}{where}" + (f": {cmp.stage}" if cmp.stage else "")


class RunsTab(QWidget):
    """Config form and actions, the run list, and the live plots."""

    title = "Runs"

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.session = state.session
        self.events = state.session_signals
        self._dirty: set[str] = set()  # rows to update at the next tick (ended, started, ...)
        self._live: set[str] = set()  # queued or running, as far as this view has heard

        self.target_label = QLabel()
        self.target_label.setToolTip("Runs use the target interpreter chosen in the "
                                     "Environment tab")
        self.target_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Said before Run is pressed: a target without the framework can only fail.
        self.framework_note = QLabel()
        self.framework_note.setWordWrap(True)
        self.framework_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.framework_note.setStyleSheet("background: rgba(230, 160, 0, 0.16); padding: 4px; "
                                          "border: 1px solid rgba(230, 160, 0, 0.6);")
        self.framework_note.hide()

        self.form = ConfigForm()
        self.repeats = QSpinBox()
        self.repeats.setRange(1, 20)
        self.repeats.setToolTip("How many runs of this config 'Run' starts")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run the canary with this config (Ctrl+R)")
        self.run_button.setShortcut("Ctrl+R")
        self.cpu_gpu_button = QPushButton("Run on CPU and GPU")
        self.twice_button = QPushButton("Run twice")
        self.twice_button.setToolTip("Run the same config twice to check run-to-run "
                                     "determinism; the first run becomes the reference")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the selected running/pending runs, or all of them "
                                      "when none is selected (Esc)")
        self.cancel_button.setShortcut("Esc")
        self.run_button.clicked.connect(self._on_run)
        self.cpu_gpu_button.clicked.connect(self._on_cpu_gpu)
        self.twice_button.clicked.connect(self._on_twice)
        self.cancel_button.clicked.connect(self.cancel)

        form_box = QGroupBox("Canary configuration")
        form_layout = QVBoxLayout(form_box)
        form_layout.addWidget(self.form)
        rep = QHBoxLayout()
        rep_label = QLabel("Repeats:")
        rep_label.setToolTip(self.repeats.toolTip())
        rep.addWidget(rep_label)
        rep.addWidget(self.repeats)
        rep.addStretch(1)
        form_layout.addLayout(rep)
        buttons = QVBoxLayout()
        row1 = QHBoxLayout()
        row1.addWidget(self.run_button)
        row1.addWidget(self.twice_button)
        row2 = QHBoxLayout()
        row2.addWidget(self.cpu_gpu_button)
        row2.addWidget(self.cancel_button)
        buttons.addLayout(row1)
        buttons.addLayout(row2)
        form_layout.addLayout(buttons)
        form_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(form_box)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setMinimumWidth(300)

        self.table = RunTable()
        self.table.shown_changed.connect(self._update_plots)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.reference = QComboBox()
        self.reference.setToolTip("The run every other run is compared against")
        self.reference.setMinimumContentsLength(24)
        self.reference.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.reference.currentIndexChanged.connect(self._reference_picked)
        self.save_button = QPushButton("Save selected as bundle…")
        self.save_button.setToolTip("Write the selected finished runs and the target's "
                                    "environment snapshot into a .reprodiag.zip bundle")
        self.save_button.clicked.connect(self._ask_save_bundle)
        self.import_button = QPushButton("Import runs from bundle…")
        self.import_button.setToolTip("Add the runs of a bundle (e.g. from Colab) to this list, "
                                      "to use one as the reference")
        self.import_button.clicked.connect(self._ask_import)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected ended runs from this list "
                                      "(they stay in the run library)")
        self.remove_button.clicked.connect(lambda: self.remove_runs(self.table.selected_ids()))

        list_bar = QHBoxLayout()
        ref_label = QLabel("Reference:")
        ref_label.setToolTip(self.reference.toolTip())
        list_bar.addWidget(ref_label)
        list_bar.addWidget(self.reference, 1)
        list_bar.addWidget(self.save_button)
        list_bar.addWidget(self.import_button)
        list_bar.addWidget(self.remove_button)
        list_box = QWidget()
        list_layout = QVBoxLayout(list_box)
        list_layout.setContentsMargins(0, 0, 0, 0)
        list_layout.addLayout(list_bar)
        list_layout.addWidget(self.table, 1)

        self.view = CurvesView(show_step_time=True,
                               diff_hint="Run twice, or pick a reference run, to see how other "
                                         "runs differ from it step by step.")
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(list_box)
        right.addWidget(self.view)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 5)
        right.setSizes([220, 540])
        right.setChildrenCollapsible(False)
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(scroll)
        main.addWidget(right)
        main.setStretchFactor(0, 0)
        main.setStretchFactor(1, 1)
        main.setChildrenCollapsible(False)
        main.setSizes([330, 950])
        # the main window keeps their sizes between sessions
        self.splitters = {"runs/form": main, "runs/plots": right}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.target_label)
        layout.addWidget(self.framework_note)
        layout.addWidget(main, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._tick)
        state.target_changed.connect(lambda _p: self._update_target())
        state.snapshot_changed.connect(lambda _s: self._update_gpu_button())
        state.snapshot_changed.connect(lambda _s: self._update_framework_note())
        self.form.changed.connect(self._update_framework_note)
        self.events.runs_added.connect(self._on_added)
        self.events.run_started.connect(self._on_started)
        self.events.run_updated.connect(self._on_updated)
        self.events.run_ended.connect(self._on_ended)
        self.events.save_failed.connect(lambda _r, msg: report(self, f"run not saved: {msg}"))
        self.events.runs_removed.connect(self._on_removed)
        self.events.reference_changed.connect(self._on_reference_changed)
        self._update_target()
        self._update_gpu_button()
        self._update_framework_note()
        self._on_added(self.session.records())  # runs started before this tab was built
        self._update_buttons()

    # ------------------------------------------------------------------ starting runs
    def start_runs(self, configs: list[RunConfig], reference_first: bool = False
                   ) -> list[RunRecord]:
        """Queue runs of these configs on the target interpreter; returns their records."""
        records = self.session.start(configs, python=self.state.target,
                                     reference_first=reference_first)
        self._update_buttons()
        return records

    def _form_config(self, **overrides) -> RunConfig | None:
        try:
            return self.form.config(**overrides)
        except UserError as exc:
            report(self, str(exc))
            return None

    def _on_run(self) -> None:
        cfg = self._form_config()
        if cfg is not None:
            self.start_runs([cfg] * self.repeats.value())

    def _on_twice(self) -> None:
        cfg = self._form_config()
        if cfg is not None:
            self.start_runs([cfg, cfg], reference_first=True)

    def _on_cpu_gpu(self) -> None:
        cpu, gpu = self._form_config(device="cpu"), self._form_config(device="gpu")
        if cpu is not None and gpu is not None:
            self.start_runs([cpu, gpu], reference_first=True)

    def cancel(self) -> None:
        """Cancel the selected active runs, or every active run when none is selected."""
        active = self.session.active_ids()
        self.session.cancel([rid for rid in self.table.selected_ids() if rid in active] or active)

    @property
    def active(self) -> bool:
        """Runs are queued or running, as far as this view has heard (the news of a run's
        end comes from a worker thread a moment after the session knows)."""
        return bool(self._live)

    # ------------------------------------------------------------------ session events
    def _on_added(self, records: list[RunRecord]) -> None:
        active = set(self.session.active_ids())
        self._live |= {r.run_id for r in records if r.run_id in active}
        for record in records:
            if record.run_id in self.session and record.run_id not in self.table.ids():
                self.table.add(record, self.numbered_name(record.run_id),
                               self.session.source(record.run_id), self.color(record.run_id),
                               self.session.source(record.run_id) != RUN_LIBRARY)
        self._fill_reference()
        self._update_plots()
        self._update_verdicts()
        self._update_buttons()

    def _on_started(self, record: RunRecord) -> None:
        self._dirty.add(record.run_id)
        self._timer.start()

    def _on_updated(self, record: RunRecord) -> None:
        self._dirty.add(record.run_id)  # status news shows at the next tick
        if not self._timer.isActive():
            self._timer.start()

    def _on_ended(self, record: RunRecord) -> None:
        self._live.discard(record.run_id)
        self._dirty.add(record.run_id)
        self._tick()  # its row and curve show the end at once
        if record.status == FAILED and record.run_id in self.session:
            report(self, f"{self.numbered_name(record.run_id)} failed: {record.reason}")
        self._update_verdicts()
        self._update_buttons()

    def _on_removed(self, run_ids: list[str]) -> None:
        for rid in run_ids:
            if rid in self.table.ids():
                self.table.remove(rid)
        self._fill_reference()
        self._update_plots()
        self._update_verdicts()

    def _on_reference_changed(self, _run_id: str | None) -> None:
        self._fill_reference()
        self._update_plots()
        self._update_verdicts()

    def _tick(self) -> None:
        """The one refresh timer: curves, then rows of runs that changed or are running --
        on the same tick, each row with the step count its curve has just drawn (rows set
        what did not change cheaply: Qt skips equal values)."""
        running = set(self.session.running_ids())
        self._dirty |= running
        self.view.refresh()
        ids = set(self.table.ids())
        for record in map(self.session.get, self._dirty & ids):
            if record is not None:
                with record.lock:  # status, reason and end time agree
                    self.table.update_run(record, self.view.steps_pulled(record.run_id))
        self._dirty.clear()
        if not self.active and not running:
            self.view.refresh(force=True)
            self._timer.stop()
        elif not self._timer.isActive():
            self._timer.start()

    # ------------------------------------------------------------------ list and plots
    def numbered_name(self, run_id: str) -> str:
        """'#3 torch mlp cpu seed=0', with the run's label in front when it has one."""
        return self.session.numbered_name(run_id)

    def color(self, run_id: str):
        return theme.numbered_color(self.session.numbers, run_id)

    def add_records(self, records: list[RunRecord], source: str) -> int:
        """List ended runs (library, bundle); runs already listed are skipped. Returns the count."""
        return len(self.session.add(records, source))

    def remove_runs(self, run_ids: list[str]) -> None:
        """Take ended runs off the list (the run library keeps them)."""
        self.session.remove(run_ids)

    def _update_plots(self) -> None:
        session = self.session
        shown = [(rid, record) for rid in self.table.ids() if self.table.is_shown(rid)
                 and (record := session.get(rid)) is not None]
        # Legends name runs by number only; the run list beside them is the full legend.
        self.view.set_curves([CurveSpec(rid, f"#{session.number(rid)}", record,
                                        self.color(rid)) for rid, record in shown])
        ref = session.get(session.reference_id)
        diffs = []
        if ref is not None:
            for rid, record in shown:
                if session.comparable(rid):
                    diffs.append(DiffSpec(rid, f"#{session.number(rid)} vs "
                                               f"#{session.number(ref.run_id)}",
                                          ref, record, self.color(rid)))
        self.view.set_diffs(diffs)
        if self.table.ids() and not shown:
            self.view.loss_panel.set_hint("Tick runs in the list to plot them.")

    def _fill_reference(self) -> None:
        self.reference.blockSignals(True)
        self.reference.clear()
        self.reference.addItem("(none)", None)
        for rid in self.table.ids():
            self.reference.addItem(self.numbered_name(rid), rid)
        ref_id = self.session.reference_id
        index = self.reference.findData(ref_id) if ref_id else 0
        self.reference.setCurrentIndex(max(0, index))
        self.reference.blockSignals(False)

    def _reference_picked(self, index: int) -> None:
        self.set_reference(self.reference.itemData(index))

    def set_reference(self, run_id: str | None) -> None:
        self.session.set_reference(run_id)

    def _update_verdicts(self) -> None:
        for rid in self.table.ids():
            standing = self.session.standing(rid)
            cmp = self.session.comparison(rid) if standing is Standing.COMPARED else None
            if cmp is not None:
                self.table.set_verdict(rid, verdict_summary(cmp), cmp.explanation, cmp.verdict)
            else:
                self.table.set_verdict(rid, *VERDICT_CELLS[standing])

    # ------------------------------------------------------------------ bundles
    def _ask_save_bundle(self) -> None:
        ids = self.table.selected_ids()
        if not ids:
            report(self, "select the runs to save first (click rows in the run list)", "warning")
            return
        path = ask_save_path(self, "Save runs as bundle", "runs.reprodiag.zip", BUNDLE_FILTER)
        if path:
            self.save_bundle(path, ids)

    def save_bundle(self, path: str, run_ids: list[str], on_done=None) -> None:
        """Write the given ended runs with the target's snapshot into a bundle (background)."""
        if any(not self.session.settled(r) for r in run_ids if r in self.session):
            report(self, "a selected run is still running; wait for it or cancel it")
            return
        records = [r for r in map(self.session.get, run_ids) if r is not None]
        snapshot, python = self.state.snapshot, self.state.target
        label = os.path.basename(path).split(".")[0]

        def work():
            from reprodiag.core.env import capture

            snap = snapshot if snapshot is not None else capture(python=python)
            return write_bundle(path, snapshot=snap, runs=records, label=label)

        def done(written):
            report(self, f"saved {counted(len(records), 'run')} to {written}", "info")
            if on_done is not None:
                on_done(written)

        self.state.tasks.submit(work, done, lambda msg: report(self, msg), must_finish=True)

    def _ask_import(self) -> None:
        for path in ask_open_paths(self, "Import runs from bundle"):
            self.state.tasks.submit(functools.partial(read_bundle, path), self.import_bundle,
                                    lambda msg: report(self, msg))

    def import_bundle(self, bundle: Bundle) -> None:
        label = bundle.label or bundle.path.name
        added = self.add_records(bundle.runs, f"bundle: {label}")
        if added and self.session.reference_id is None:
            self.set_reference(bundle.runs[0].run_id)
        report(self, f"imported {counted(added, 'run')} from {bundle.path.name}", "info")

    def load_library(self) -> None:
        """List the run library's runs (in the background; unticked, so plots stay clear)."""
        library = self.state.library
        if library is None:
            return

        def done(records):
            self.add_records(records, RUN_LIBRARY)
            if library.problems:
                report(self, f"{len(library.problems)} library runs could not be read: "
                             f"{library.problems[0]}", "warning")

        self.state.tasks.submit(library.list, done, lambda msg: report(self, msg))

    # ------------------------------------------------------------------ context menu
    def _context_menu(self, pos) -> None:
        row = self.table.rowAt(pos.y())
        if row < 0:
            return
        rid = self.table.ids()[row]
        menu = QMenu(self)
        menu.addAction("Use as reference", lambda: self.set_reference(rid))
        explain = menu.addAction("Explain the difference to the reference…",
                                 lambda: self.explain(rid))
        why = self.explain_unavailable(rid)
        explain.setEnabled(not why)
        explain.setToolTip(why or "Rerun this run and the reference here, one factor at a "
                                  "time, to find what makes them differ")
        menu.setToolTipsVisible(True)
        menu.addAction("Show log", lambda: self._show_log(rid))
        menu.addAction("Remove from list", lambda: self.remove_runs([rid]))
        if self.state.library is not None and self.session.settled(rid):
            menu.addAction("Delete from run library", lambda: self._delete_from_library(rid))
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def explain_unavailable(self, rid: str) -> str:
        """Why this run cannot be explained against the reference, or ''."""
        ref, run = self.session.get(self.session.reference_id), self.session.get(rid)
        if ref is None or run is None or rid == ref.run_id:
            return "Choose another run as the reference first"
        return explainable(ref.config, run.config)

    def explain(self, rid: str, factors: list[str] | None = None):
        """Explain the difference of run `rid` to the reference (a dialog reruns both)."""
        why = self.explain_unavailable(rid)
        ref, run = self.session.get(self.session.reference_id), self.session.get(rid)
        if why or ref is None or run is None:  # explain_unavailable says why
            report(self, f"cannot explain: {why}", "warning")
            return None
        return open_explain(self, self.state, ref.config, run.config, factors,
                            (self.numbered_name(ref.run_id), self.numbered_name(rid)))

    def _show_log(self, rid: str) -> None:
        record = self.session.get(rid)
        if record is None:
            return
        lines = record.log[-8:] or ["(no log lines)"]
        report(self, f"{self.numbered_name(rid)}: " + " | ".join(lines), "info")

    def _delete_from_library(self, rid: str) -> None:
        self.state.tasks.submit(lambda: self.session.delete_from_library(rid), None,
                                lambda msg: report(self, msg), must_finish=True)

    # ------------------------------------------------------------------ buttons
    def _update_target(self) -> None:
        self.target_label.setText(f"Target interpreter: <b>{html.escape(self.state.target)}</b>")

    def framework_missing(self) -> str:
        """Why runs of the form's framework will fail on the target, or '' (also while the
        target's snapshot is being captured)."""
        target, snap = self.state.target, self.state.snapshot
        if not target:
            return ("No Python interpreter was found on this machine: choose one that has "
                    "PyTorch or TensorFlow in the Environment tab (Browse…).")
        if snap is None:
            return ""
        names = {"torch": "PyTorch", "tensorflow": "TensorFlow"}
        installed = snapshot_frameworks(snap)
        if not installed:
            return ("The target interpreter has neither PyTorch nor TensorFlow, so runs will "
                    "fail: choose one that has either in the Environment tab, or install one "
                    f"into it: {target} -m pip install torch")
        wanted = self.form.values().get("framework")
        if wanted in names and wanted not in installed:
            return (f"The target interpreter has no {names[wanted]}, so this run will fail: "
                    f"choose {names[installed[0]]} in the form, or another interpreter in the "
                    "Environment tab.")
        return ""

    def _update_framework_note(self) -> None:
        text = self.framework_missing()
        self.framework_note.setText(html.escape(text))
        self.framework_note.setVisible(bool(text))

    def gpu_unavailable_reason(self) -> str:
        """Why 'Run on CPU and GPU' is off, or '' when the target's snapshot shows a GPU."""
        snap = self.state.snapshot
        if snap is None:
            return "Waiting for the environment capture of the target interpreter"
        if "gpu" not in available_devices(snap):
            return "No GPU: the environment snapshot of the target reports no NVIDIA GPU"
        return ""

    def _update_gpu_button(self) -> None:
        reason = self.gpu_unavailable_reason()
        self.cpu_gpu_button.setEnabled(not reason)
        self.cpu_gpu_button.setToolTip(
            reason or "Run this config once on the CPU and once on the GPU; the CPU run "
                      "becomes the reference")

    def _update_buttons(self) -> None:
        self.cancel_button.setEnabled(self.active)
