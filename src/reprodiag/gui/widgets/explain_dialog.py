"""'Explain this difference': rerun a pair of canary configs one factor at a time.

core.diagnose.attribution.attribute runs in a background thread (it starts the worker
processes itself), reporting progress here through a queued signal; Cancel sets its cancel
event, which stops the running worker. The result is the factor x outcome matrix as a
heatmap (1 = the difference vanished, 0 = no effect, negative = it grew) and the findings.
"""

from __future__ import annotations

import html

import math
import threading
from collections.abc import Sequence
from typing import Optional

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from reprodiag.core.diagnose import attribution
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.wording import counted
from reprodiag.gui.state import AppState
from reprodiag.gui.widgets.dialogs import report
from reprodiag.gui.widgets.cells import table_item

CUSTOM = "custom"


def explainable(a: RunConfig | None, b: RunConfig | None) -> str:
    """Why a pair cannot be explained by rerunning it, or '' when it can."""
    if a is None or b is None:
        return "Select a pair of runs (a row with runs on both sides)"
    if CUSTOM in (a.model, b.model):
        return ("A recorded training of your own cannot be rerun; explain works on canary "
                "runs")
    return ""


def heat_color(value: float) -> QColor | None:
    """Green for 'the difference vanished' (1), grey for no effect (0), red for 'it grew'."""
    if not math.isfinite(value):
        return None
    if value > 0:
        return QColor(46, 160, 67, int(50 + 150 * min(value, 1.0)))
    if value < 0:
        return QColor(215, 58, 73, int(50 + 150 * min(-value, 1.0)))
    return QColor(128, 128, 128, 45)


class _Progress(QObject):
    """Lives on the GUI thread; emitted from the attribution thread (a queued connection)."""

    changed = Signal(int, int, str)


class ExplainDialog(QDialog):
    """Progress, Cancel, then the heatmap and findings of one attribution experiment."""

    completed = Signal(object)  # AttributionResult

    def __init__(self, state: AppState, ref: RunConfig, other: RunConfig,
                 factors: Optional[Sequence[str]] = None, labels: tuple[str, str] = ("A", "B"),
                 parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.state = state
        self.ref, self.other = ref, other
        self.factors = list(factors) if factors is not None else None
        self.attribution_result: attribution.AttributionResult | None = None
        self.error = ""
        self.cancel_event = threading.Event()
        self.running = False
        self.setWindowTitle("Explain this difference")
        self.setToolTip("Reruns both configs here, changing one factor at a time on both "
                        "sides, to find the one whose change removes the difference")
        self.resize(860, 560)

        la, lb, target = (html.escape(t) for t in (*labels, state.target))
        sides = QLabel(f"A (reference, {la}): <b>{ref.short_label()}</b><br>"
                       f"B ({lb}): <b>{other.short_label()}</b><br>Both run here, on "
                       f"<code>{target}</code>; then one factor at a time is changed "
                       "on both sides.")
        sides.setWordWrap(True)
        sides.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        sides.setToolTip("The two canary configs whose difference is explained")
        self.progress = QProgressBar()
        self.progress.setToolTip("Worker runs done of those planned")
        self.progress.setFormat("%v / %m runs")
        self.status = QLabel("Starting…")
        self.status.setWordWrap(True)
        self.status.setToolTip("What runs now")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running worker and start no more; what was "
                                      "found so far is shown")
        self.cancel_button.clicked.connect(self.cancel)
        self.copy_button = QPushButton("Copy as Markdown")
        self.copy_button.setToolTip("Copy the result (findings and matrix) as Markdown, for "
                                    "a bug report")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_markdown)
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("Close this window (a running experiment is cancelled)")
        self.close_button.clicked.connect(self.close)

        self.table = QTableWidget(0, len(attribution.MATRIX_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(attribution.MATRIX_COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setToolTip("One row per factor, changed on both sides: green = the "
                              "difference vanished, grey = no effect, red = it grew, blank = "
                              "not run (hover a cell for why)")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.findings = QLabel()
        self.findings.setWordWrap(True)
        self.findings.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.findings.setToolTip("What the experiment found, most important first")

        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.cancel_button)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(sides)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.findings)
        layout.addLayout(buttons)

        self._progress = _Progress(self)
        self._progress.changed.connect(self._on_progress)

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        """Run the experiment in the background; the dialog stays responsive."""
        self.running = True
        self.cancel_event.clear()
        ref, other, python, factors = self.ref, self.other, self.state.target, self.factors
        emit, cancel = self._progress.changed.emit, self.cancel_event

        def work():
            return attribution.attribute(ref, other, python=python, factors=factors,
                                         on_progress=emit, cancel=cancel)

        # must finish: once cancelled it stops its worker, which must not outlive the window
        self.state.tasks.submit(work, self._done, self._failed, must_finish=True)

    def cancel(self) -> None:
        if self.running:
            self.cancel_event.set()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling…")

    def _on_progress(self, done: int, planned: int, text: str) -> None:
        self.progress.setMaximum(max(planned, 1))
        self.progress.setValue(done)
        self.status.setText(text)

    def _done(self, result: attribution.AttributionResult) -> None:
        self.running = False
        self.attribution_result = result
        self.cancel_button.setEnabled(False)
        self.copy_button.setEnabled(True)
        self.status.setText(counted(result.runs, "worker run")
                            + (" (cancelled)" if result.cancelled else ", finished"))
        self.show_result(result)
        self.completed.emit(result)

    def _failed(self, message: str) -> None:
        self.running = False
        self.error = message
        self.cancel_button.setEnabled(False)
        self.status.setText(f"Could not explain: {message}")
        report(self.parentWidget() or self, f"explain: {message}")

    # ------------------------------------------------------------------ result
    def show_result(self, result: attribution.AttributionResult) -> None:
        m = result.matrix()
        self.table.setRowCount(len(m.rows) + 1)
        self.table.setVerticalHeaderLabels([attribution.BASELINE_ROW, *m.rows])
        for c, text in enumerate(m.baseline):
            item = QTableWidgetItem(text)
            item.setToolTip("The pair as given, before any factor is changed")
            self.table.setItem(0, c, item)
        for r, (cell, texts, heats) in enumerate(zip(result.cells, m.text, m.heat), start=1):
            tip = (f"{cell.factor.title}: if this removes the difference, it comes from "
                   f"{cell.factor.meaning}" + (f"\n{cell.reason}" if cell.reason else ""))
            for c, (text, heat) in enumerate(zip(texts, heats)):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                color = heat_color(float(heat))
                if color is not None:
                    item.setBackground(color)
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()
        self.findings.setText("\n".join(f"• {line}" for line in result.findings()))

    def outcome(self, key: str) -> str:
        """The outcome cell of a factor, as shown (for tests and scripting)."""
        if self.attribution_result is None:
            return ""
        m = self.attribution_result.matrix()
        return table_item(self.table, m.keys.index(key) + 1, 0).text()

    def copy_markdown(self) -> None:
        if self.attribution_result is not None:
            text = attribution.render_markdown(self.attribution_result)
            QGuiApplication.clipboard().setText(text)

    def closeEvent(self, event) -> None:
        self.cancel()
        super().closeEvent(event)

    def reject(self) -> None:  # Esc
        self.cancel()
        super().reject()


def open_explain(parent: QWidget, state: AppState, ref: RunConfig, other: RunConfig,
                 factors: Optional[Sequence[str]] = None,
                 labels: tuple[str, str] = ("A", "B")) -> ExplainDialog:
    """Show a dialog that explains the difference between two canary configs, and start it."""
    dialog = ExplainDialog(state, ref, other, factors, labels, parent.window())
    window = parent.window()
    keep = getattr(window, "add_explanation", None)
    if keep is not None:
        dialog.completed.connect(keep)
    dialog.show()
    dialog.start()
    return dialog
