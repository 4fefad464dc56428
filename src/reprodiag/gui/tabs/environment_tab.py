"""Environment tab: the target interpreter's snapshot (or a loaded bundle's), grouped and filterable.

Captures run in the background (core.env.capture; a deep capture imports the frameworks in
worker processes, never here). Copy as Markdown, Export JSON and Save as bundle act on the
snapshot shown.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from reprodiag.core import env as core_env
from reprodiag.core.env.model import Snapshot
from reprodiag.core.wording import counted
from reprodiag.gui.state import AppState
from reprodiag.gui.widgets.dialogs import BUNDLE_FILTER, ask_save_path, report
from reprodiag.gui.widgets.env_tree import EnvTree

if TYPE_CHECKING:
    from reprodiag.core.bundle import Bundle

TARGET = "__target__"


class EnvironmentTab(QWidget):
    """Interpreter picker and capture actions, a source picker, the fact tree and exports."""

    title = "Environment"
    interpreter_chosen = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        # key -> (label, snapshot) of bundles and imported reports, shown on demand
        self.others: dict[str, tuple[str, Snapshot]] = {}
        self._kinds: dict[str, str] = {}  # key -> "Bundle" or "Report"
        self._capture_serial = 0
        self.capturing = False

        self.interpreter = QComboBox()
        self.interpreter.setToolTip("The Python interpreter to diagnose: this one, virtual "
                                    "envs and conda envs found in the usual places")
        self.interpreter.setMinimumContentsLength(40)
        self.interpreter.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.interpreter.activated.connect(self._interpreter_picked)
        browse = QPushButton("Browse…")
        browse.setToolTip("Pick another Python interpreter (a venv's bin/python, a conda "
                          "env's python)")
        browse.clicked.connect(self._browse)
        self.capture_button = QPushButton("Re-capture")
        self.capture_button.setToolTip("Capture the target's environment again (quick: no "
                                       "framework import)")
        self.capture_button.clicked.connect(lambda: self.capture(deep=False))
        self.deep_button = QPushButton("Deep capture")
        self.deep_button.setToolTip("Also import torch/TensorFlow in worker processes of the "
                                    "target to read runtime facts (TF32, threads, oneDNN, "
                                    "cuDNN); takes a few seconds")
        self.deep_button.clicked.connect(lambda: self.capture(deep=True))
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(90)
        self.busy.setMaximumHeight(14)
        self.busy.setToolTip("Capturing…")
        self.busy.hide()
        self.status = QLabel()
        self.status.setToolTip("When and how the snapshot shown was captured")

        row1 = QHBoxLayout()
        label = QLabel("Target interpreter:")
        label.setToolTip(self.interpreter.toolTip())
        row1.addWidget(label)
        row1.addWidget(self.interpreter, 1)
        for w in (browse, self.capture_button, self.deep_button, self.busy):
            row1.addWidget(w)

        self.source = QComboBox()
        self.source.setToolTip("Which snapshot to show: the target interpreter's, or one "
                               "from a loaded bundle")
        self.source.setMinimumContentsLength(22)
        self.source.currentIndexChanged.connect(lambda _i: self._show_current())
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter facts (key or value)…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setToolTip("Show only facts whose key or value contains this text")
        self.filter.textChanged.connect(lambda _t: self._apply_filter())
        self.numerics_only = QCheckBox("Numerics only")
        self.numerics_only.setToolTip("Show only facts that can change numerical results")
        self.numerics_only.toggled.connect(lambda _b: self._apply_filter())
        copy_md = QPushButton("Copy as Markdown")
        copy_md.setToolTip("Copy the snapshot as Markdown (for a GitHub issue)")
        copy_md.clicked.connect(self.copy_markdown)
        export_json = QPushButton("Export JSON…")
        export_json.setToolTip("Save the snapshot as a JSON file")
        export_json.clicked.connect(self._ask_export_json)
        save_bundle = QPushButton("Save as bundle…")
        save_bundle.setToolTip("Save the snapshot as a .reprodiag.zip bundle (to compare it "
                               "with another machine)")
        save_bundle.clicked.connect(self._ask_save_bundle)

        row2 = QHBoxLayout()
        show = QLabel("Show:")
        show.setToolTip(self.source.toolTip())
        row2.addWidget(show)
        row2.addWidget(self.source)
        row2.addWidget(self.filter, 1)
        row2.addWidget(self.numerics_only)
        for w in (copy_md, export_json, save_bundle):
            row2.addWidget(w)

        self.tree = EnvTree()
        legend = QLabel("<span style='color:#D62728'>●</span> changes numerics &nbsp; "
                        "<span style='color:#E69F00'>●</span> may change results &nbsp; "
                        "<b>bold</b>: numerics-relevant — hover a fact to see why it matters")
        legend.setToolTip("How facts are marked")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.tree, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(legend)
        bottom.addStretch(1)
        bottom.addWidget(self.status)
        layout.addLayout(bottom)

        self.source.addItem("Target interpreter", TARGET)
        self._set_interpreters([])
        state.snapshot_changed.connect(lambda _s: self._show_current())
        if state.snapshot is not None:  # captured before this tab was first shown
            self._show_current()

    # ------------------------------------------------------------------ interpreters
    def discover_interpreters(self) -> None:
        """Look for venvs and conda envs in the background and fill the picker."""
        self.state.tasks.submit(core_env.find_interpreters, self._set_interpreters,
                                lambda msg: report(self, f"interpreter search: {msg}", "warning"))

    def _set_interpreters(self, found: list) -> None:
        current = self.state.target
        self.interpreter.clear()
        seen = set()
        for interp in found:
            path = str(interp.path)
            if path in seen:
                continue
            seen.add(path)
            self.interpreter.addItem(f"{interp.label} — {path}", path)
            self.interpreter.setItemData(self.interpreter.count() - 1,
                                         f"{interp.kind}: {path}", Qt.ItemDataRole.ToolTipRole)
        if current not in seen:
            self.interpreter.insertItem(0, current, current)
        self.interpreter.setCurrentIndex(max(0, self.interpreter.findData(current)))

    def _interpreter_picked(self, index: int) -> None:
        path = self.interpreter.itemData(index)
        if path:
            self.set_target(path)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a Python interpreter",
                                              os.path.dirname(self.state.target))
        if path:
            self.set_target(path)

    def set_target(self, python: str) -> None:
        """Switch the target interpreter and capture it in the background."""
        if self.interpreter.findData(python) < 0:
            self.interpreter.addItem(python, python)
        self.interpreter.setCurrentIndex(self.interpreter.findData(python))
        if python != self.state.target:
            self.state.set_target(python)
            self.interpreter_chosen.emit(python)
            self.capture(deep=False)

    # ------------------------------------------------------------------ capture
    def capture(self, deep: bool = False) -> None:
        self._capture_serial += 1
        serial, python = self._capture_serial, self.state.target
        self.capturing = True
        self.busy.show()
        self.status.setText(f"{'Deep capture' if deep else 'Capturing'} of {python}…")
        self.deep_button.setEnabled(False)

        def done(snapshot: Snapshot) -> None:
            if serial == self._capture_serial:
                self._capture_finished()
                self.state.set_snapshot(snapshot)

        def failed(message: str) -> None:
            if serial == self._capture_serial:
                self._capture_finished()
                self.status.setText("Capture failed")
                report(self, f"capture of {python} failed: {message}")

        self.state.tasks.submit(lambda: core_env.capture(python=python, deep=deep), done, failed)

    def _capture_finished(self) -> None:
        self.capturing = False
        self.busy.hide()
        self.deep_button.setEnabled(True)

    # ------------------------------------------------------------------ sources
    def add_bundle(self, bundle: Bundle, label: str | None = None) -> None:
        """Offer a loaded bundle's snapshot in the Show picker (keyed by its resolved path,
        as in the Compare tab, whose label for it is `label`)."""
        if bundle.snapshot is not None:
            label = label or bundle.label or bundle.path.name
            self._add_other(str(Path(bundle.path).resolve()), "Bundle", label, bundle.snapshot)

    def add_snapshot(self, key: str, label: str, snapshot: Snapshot) -> None:
        """Offer an imported environment report's snapshot in the Show picker."""
        self._add_other(key, "Report", label, snapshot)

    def _add_other(self, key: str, kind: str, label: str, snapshot: Snapshot) -> None:
        if key not in self.others:
            self.source.addItem(f"{kind}: {label}", key)
        self.others[key] = (label, snapshot)
        self._kinds[key] = kind

    def relabel(self, labels: dict[str, str]) -> None:
        """Name the bundles and reports as the Compare tab does (key -> label)."""
        for key, label in labels.items():
            index = self.source.findData(key)
            if key in self.others and index >= 0 and self.others[key][0] != label:
                self.others[key] = (label, self.others[key][1])
                self.source.setItemText(index, f"{self._kinds[key]}: {label}")
                if index == self.source.currentIndex():
                    self._show_current()

    def show_source(self, key: str) -> None:
        """Show a bundle (by its path) or report (by its key) in the fact tree."""
        index = self.source.findData(key)
        if index < 0 and key not in self.others:
            index = self.source.findData(str(Path(key).resolve()))
        self.source.setCurrentIndex(max(0, index))

    def shown_snapshot(self) -> tuple[Snapshot | None, str]:
        """The snapshot in view and a label for it."""
        key = self.source.currentData()
        if key in self.others:
            label, snapshot = self.others[key]
            return snapshot, label
        return self.state.snapshot, socket.gethostname() or "environment"

    def _show_current(self) -> None:
        snapshot, label = self.shown_snapshot()
        self.tree.set_snapshot(snapshot)
        self._apply_filter()
        if snapshot is None:
            self.status.setText("Capturing…" if self.capturing else "No snapshot yet")
            return
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snapshot.captured_at))
        kind = "deep" if snapshot.deep else "quick"
        self.status.setText(f"{label}: {counted(self.tree.fact_count(), 'fact')}, {kind} capture of "
                            f"{snapshot.python or 'unknown interpreter'} at {when}")

    def _apply_filter(self) -> None:
        self.tree.apply_filter(self.filter.text(), self.numerics_only.isChecked())

    # ------------------------------------------------------------------ exports
    def _require_snapshot(self) -> Snapshot | None:
        snapshot, _ = self.shown_snapshot()
        if snapshot is None:
            report(self, "no snapshot yet: wait for the capture to finish", "warning")
        return snapshot

    def copy_markdown(self) -> None:
        snapshot = self._require_snapshot()
        if snapshot is not None:
            QGuiApplication.clipboard().setText(core_env.render_markdown(snapshot))
            report(self, "snapshot copied as Markdown", "info")

    def _ask_export_json(self) -> None:
        if self._require_snapshot() is None:
            return
        path = ask_save_path(self, "Export snapshot as JSON", "environment.json",
                             "JSON (*.json)")
        if path:
            self.export_json(path)

    def export_json(self, path: str) -> None:
        snapshot = self._require_snapshot()
        if snapshot is None:
            return
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(snapshot.dumps())
        except OSError as exc:
            report(self, f"cannot write {path}: {exc.strerror}")
        else:
            report(self, f"snapshot saved to {path}", "info")

    def _ask_save_bundle(self) -> None:
        if self._require_snapshot() is None:
            return
        path = ask_save_path(self, "Save snapshot as bundle", "environment.reprodiag.zip",
                             BUNDLE_FILTER)
        if path:
            self.save_bundle(path)

    def save_bundle(self, path: str, on_done=None) -> None:
        from reprodiag.core.bundle import write_bundle  # the bundle code, only when saving

        snapshot, label = self.shown_snapshot()
        if snapshot is None:
            return

        def done(written):
            report(self, f"snapshot saved to {written}", "info")
            if on_done is not None:
                on_done(written)

        self.state.tasks.submit(
            lambda: write_bundle(path, snapshot=snapshot, runs=[], label=label), done,
            lambda msg: report(self, msg), must_finish=True)
