"""Where one run pair parts inside the model: captured layers x steps, coloured by log10 of
the relative difference, the parting layer marked, both sides' numbers for the current cell.

Everything shown comes from core.compare.layers (the RunComparison's `layers`); this widget
only lays it out.
"""

from __future__ import annotations

import html
import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from reprodiag.core.compare.layers import MAGNITUDE_WHY, LayerComparison, LayerRow, layer_rows
from reprodiag.core.compare.runs import RunComparison
from reprodiag.core.runs.layers import LayerRecord
from reprodiag.gui.widgets.cells import table_item

LOG_FLOOR, LOG_CEIL = -9.0, 0.0  # colour scale of log10(relative difference)
EQUAL_TEXT, MISSING_TEXT = "=", ""


def difference_color(rel: float) -> QColor:
    """Equal: pale green; missing: none; otherwise yellow (1e-9) to red (1 and beyond)."""
    if math.isnan(rel):
        return QColor(0, 0, 0, 0)
    if rel == 0:
        return QColor(120, 190, 140, 90)
    position = 1.0 if math.isinf(rel) else min(1.0, max(0.0, (math.log10(rel) - LOG_FLOOR)
                                                        / (LOG_CEIL - LOG_FLOOR)))
    return QColor.fromHsvF((1 - position) * 55 / 360, 0.55 + 0.45 * position, 0.98 - 0.3 * position)


def cell_text(rel: float) -> str:
    """The exponent of the difference ('-7' for 3e-7), '=' when equal, 'inf' for gross."""
    if math.isnan(rel):
        return MISSING_TEXT
    if rel == 0:
        return EQUAL_TEXT
    return "inf" if math.isinf(rel) else f"{math.floor(math.log10(rel)):d}"


def _side(record: LayerRecord | None) -> str:
    if record is None:
        return "not captured"
    shape = "x".join(str(d) for d in record.shape) or "scalar"
    bad = f", {record.nonfinite} non-finite" if record.nonfinite else ""
    return (f"norm {record.norm:.9g}, max |x| {record.max_abs:.7g}{bad}<br>"
            f"{record.dtype} {shape}, hash {html.escape(record.hash)}")


def row_html(row: LayerRow, step: int, labels: tuple[str, str]) -> str:
    """Both sides' numbers of one cell, and the size of their difference."""
    layer = row.layer
    size = "bitwise equal" if row.equal else (
        f"{row.magnitude}: relative error {row.rel_error:.3g}, "
        f"{'inf' if math.isinf(row.ulps) else f'{row.ulps:.0f}'} float32 ULPs")
    return (f"<b>{html.escape(layer.label)}</b> ({layer.kind}, {layer.phase}) at step {step}<br>"
            f"{html.escape(size)}<br><i>{html.escape(MAGNITUDE_WHY[row.magnitude])}</i><br><br>"
            f"<b>A</b> {html.escape(labels[0])}: {_side(row.a)}<br>"
            f"<b>B</b> {html.escape(labels[1])}: {_side(row.b)}")


class LayersView(QWidget):
    """The layers x steps grid of the chosen run pair, with a detail panel."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setToolTip("Where the runs part inside the model: each captured layer output "
                        "and gradient on each captured step, coloured by how much the two "
                        "runs differ there")
        self.pairs: list[tuple[str, RunComparison]] = []
        self.comparison: LayerComparison | None = None
        self.labels = ("A", "B")
        self._rows: dict[int, dict[tuple[str, str, str], LayerRow]] = {}
        self.pair_box = QComboBox()
        self.pair_box.setToolTip("The run pair whose layers are shown")
        self.pair_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.pair_box.currentIndexChanged.connect(self._show_pair)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.grid = QTableWidget()
        self.grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.grid.verticalHeader().setDefaultSectionSize(20)
        self.grid.horizontalHeader().setDefaultSectionSize(44)
        self.grid.setToolTip("Cell: log10 of the relative difference ('=' equal, 'inf' gross);"
                             " ◆ marks the parting layer")
        self.grid.currentCellChanged.connect(lambda r, c, _r, _c: self._show_cell(r, c))
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.detail.setMinimumWidth(220)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Run pair:"))
        bar.addWidget(self.pair_box)
        bar.addStretch(1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.grid)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        self.set_pairs([], ("A", "B"))

    def set_pairs(self, pairs: list[tuple[str, RunComparison]], labels: tuple[str, str]) -> None:
        """The run pairs to choose from, (title, comparison); the first differing pair with
        layers is shown."""
        self.pairs, self.labels = pairs, labels
        self.pair_box.blockSignals(True)
        self.pair_box.clear()
        for title, _p in pairs:
            self.pair_box.addItem(title)
        self.pair_box.blockSignals(False)
        with_layers = [i for i, (_t, p) in enumerate(pairs) if p.layers is not None]
        differing = [i for i, (_t, p) in enumerate(pairs) if p.layers is not None
                     and (p.layers.differs or p.layers.nonfinite is not None)]
        first = (differing or with_layers or [0])[0]
        if pairs:
            self.pair_box.setCurrentIndex(first)
        self._show_pair(first if pairs else -1)

    def select_runs(self, ref_id: str, other_id: str) -> None:
        """Show the pair of these two runs, if it is listed."""
        for i, (_title, p) in enumerate(self.pairs):
            if (p.ref.run_id, p.other.run_id) == (ref_id, other_id):
                self.pair_box.setCurrentIndex(i)
                return

    def _show_pair(self, index: int) -> None:
        self.grid.clear()
        self._rows = {}
        self.detail.setText("")
        if not 0 <= index < len(self.pairs):
            self.comparison = None
            self.grid.setRowCount(0)
            self.grid.setColumnCount(0)
            self.summary.setText("Compare two environments whose runs captured layers to see "
                                 "where inside the model they part.")
            return
        pair = self.pairs[index][1]
        lc = self.comparison = pair.layers
        if lc is None:
            self.grid.setRowCount(0)
            self.grid.setColumnCount(0)
            self.summary.setText("No layer fingerprints in this pair: a run was recorded "
                                 "without them (an older reprodiag, --no-layers, or a model "
                                 "that could not be hooked; see its log).")
            return
        theirs = {c.step: c for c in pair.other.layers}
        for capture in pair.ref.layers:
            if capture.step in theirs:
                self._rows[capture.step] = {(r.layer.phase, r.layer.name, r.layer.tensor): r
                                            for r in layer_rows(capture, theirs[capture.step])}
        self._fill(lc)

    def _fill(self, lc: LayerComparison) -> None:
        self.summary.setText(f"<b>{html.escape(lc.summary[:1].upper() + lc.summary[1:])}</b>")
        grid = self.grid
        grid.setRowCount(len(lc.grid_layers))
        grid.setColumnCount(len(lc.steps))
        grid.setHorizontalHeaderLabels([str(s) for s in lc.steps])
        parting_key = None if lc.parting is None else (lc.parting.phase, lc.parting.name,
                                                       lc.parting.tensor)
        bold = QFont()
        bold.setBold(True)
        for i, layer in enumerate(lc.grid_layers):
            key = (layer.phase, layer.name, layer.tensor)
            mark = "◆ " if key == parting_key else ""
            text = (f"batch {layer.tensor}" if layer.phase == "input" else
                    f"{'→' if layer.phase == 'forward' else '←'} {layer.label} · {layer.kind}")
            header = QTableWidgetItem(mark + text)
            if mark:
                header.setFont(bold)
            header.setToolTip(f"{layer.label}: {layer.kind}, {layer.phase}")
            grid.setVerticalHeaderItem(i, header)
            for j, step in enumerate(lc.steps):
                rel = float(lc.grid[i, j])
                item = QTableWidgetItem(cell_text(rel))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                background = difference_color(rel)
                item.setBackground(QBrush(background))
                if background.alpha() == 255 and background.lightness() < 110:
                    item.setForeground(QBrush(QColor("white")))
                row = self._rows.get(step, {}).get(key)
                if row is not None:
                    item.setToolTip(row_html(row, step, self.labels))
                if key == parting_key and step == lc.step:
                    item.setFont(bold)
                    item.setText("◆ " + item.text())
                grid.setItem(i, j, item)
        if parting_key is not None and lc.step is not None:
            row_index = next(i for i, layer in enumerate(lc.grid_layers)
                             if (layer.phase, layer.name, layer.tensor) == parting_key)
            column = lc.steps.index(lc.step)
            grid.setCurrentCell(row_index, column)
            grid.scrollToItem(table_item(grid, row_index, column),
                              QAbstractItemView.ScrollHint.PositionAtCenter)
        elif lc.steps and lc.grid_layers:
            grid.setCurrentCell(0, 0)

    def _show_cell(self, row: int, column: int) -> None:
        lc = self.comparison
        if lc is None or not (0 <= row < len(lc.grid_layers) and 0 <= column < len(lc.steps)):
            self.detail.setText("")
            return
        layer, step = lc.grid_layers[row], lc.steps[column]
        found = self._rows.get(step, {}).get((layer.phase, layer.name, layer.tensor))
        self.detail.setText(row_html(found, step, self.labels) if found is not None
                            else f"{html.escape(layer.label)} was not captured at step {step}.")

