"""The run list: one row per run with plot check box, colour, status, progress, elapsed, verdict."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from reprodiag.core.runs.record import DIVERGED, FAILED, STATUS_LABELS, RunRecord
from reprodiag.gui import theme
from reprodiag.gui.widgets.cells import header_item, table_item

COLUMNS = ("Run", "Source", "Status", "Progress", "Elapsed", "Verdict vs reference")
RUN, SOURCE, STATUS, PROGRESS, ELAPSED, VERDICT = range(len(COLUMNS))
HEADER_TIPS = (
    "Tick a run to draw it in the plots; the colour is its curve's",
    "Where the run comes from: this session, the run library, or an imported bundle",
    "pending, running, finished, diverged (loss became NaN/Inf), failed or cancelled",
    "Recorded steps out of the configured steps",
    "Wall-clock time of the run",
    ("How the run compares with the reference run: identical (bitwise), equivalent "
    "(within tolerance) or diverged, with the first differing step"),
)


def swatch(color: QColor) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(color)
    return QIcon(pix)


class RunTable(QTableWidget):
    """Rows keyed by run id; the tab tells it what to show, it holds no run logic."""

    shown_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        for i, tip in enumerate(HEADER_TIPS):
            header_item(self, i).setToolTip(tip)
        header = self.horizontalHeader()
        header.setSectionResizeMode(RUN, QHeaderView.ResizeMode.Stretch)
        for col in (SOURCE, STATUS, PROGRESS, ELAPSED):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(VERDICT, QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setToolTip("Runs of this session, the run library and imported bundles; "
                        "select rows to save them as a bundle or remove them")
        self._ids: list[str] = []
        self.itemChanged.connect(self._item_changed)

    def row_of(self, run_id: str) -> int:
        return self._ids.index(run_id)

    def ids(self) -> list[str]:
        return list(self._ids)

    def add(self, record: RunRecord, name: str, source: str, color: QColor, shown: bool) -> None:
        row = self.rowCount()
        self.blockSignals(True)
        self.insertRow(row)
        self._ids.append(record.run_id)
        item = QTableWidgetItem(swatch(color), name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if shown else Qt.CheckState.Unchecked)
        item.setToolTip(f"{name}\nrun id {record.run_id}\n{record.config.short_label()}")
        self.setItem(row, RUN, item)
        self.setItem(row, SOURCE, QTableWidgetItem(source))
        for col in (STATUS, ELAPSED, VERDICT):
            self.setItem(row, col, QTableWidgetItem(""))
        bar = QProgressBar()
        bar.setRange(0, 1000)
        bar.setTextVisible(True)
        bar.setMaximumHeight(18)
        self.setCellWidget(row, PROGRESS, bar)
        self.blockSignals(False)
        self.update_run(record)

    def remove(self, run_id: str) -> None:
        row = self.row_of(run_id)
        self.removeRow(row)
        del self._ids[row]

    def update_run(self, record: RunRecord, steps: int | None = None) -> None:
        """Show the record's state; `steps`: the step count to show (what its curve holds),
        else the record's."""
        steps = len(record.steps) if steps is None else steps
        row = self.row_of(record.run_id)
        self.blockSignals(True)
        status = table_item(self, row, STATUS)
        status.setText(STATUS_LABELS[record.status])
        status.setToolTip(record.reason or STATUS_LABELS[record.status])
        if record.status in (FAILED, DIVERGED):
            status.setForeground(theme.verdict_color("failed"))
        bar = self._bar(row)
        bar.setValue(int(min(1.0, steps / max(1, record.config.steps)) * 1000))
        bar.setFormat(f"{steps}/{record.config.steps}")
        table_item(self, row, ELAPSED).setText(f"{record.elapsed:.1f} s")
        self.blockSignals(False)

    def _bar(self, row: int) -> QProgressBar:
        bar = self.cellWidget(row, PROGRESS)
        if not isinstance(bar, QProgressBar):  # add() puts one in every row
            raise LookupError(f"no progress bar in row {row}")
        return bar

    def set_verdict(self, run_id: str, text: str, tooltip: str = "", verdict: str = "") -> None:
        item = table_item(self, self.row_of(run_id), VERDICT)
        self.blockSignals(True)
        item.setText(text)
        item.setToolTip(tooltip or text)
        item.setForeground(theme.verdict_color(verdict))
        self.blockSignals(False)

    def verdict_text(self, run_id: str) -> str:
        return table_item(self, self.row_of(run_id), VERDICT).text()

    def is_shown(self, run_id: str) -> bool:
        return table_item(self, self.row_of(run_id), RUN).checkState() == Qt.CheckState.Checked

    def set_shown(self, run_id: str, shown: bool) -> None:
        table_item(self, self.row_of(run_id), RUN).setCheckState(
            Qt.CheckState.Checked if shown else Qt.CheckState.Unchecked)

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        return [self._ids[r] for r in rows]

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == RUN:
            self.shown_changed.emit()
