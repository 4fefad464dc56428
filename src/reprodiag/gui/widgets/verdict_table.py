"""Per-pair results of a comparison: verdict, first differing step, stage, size of the gap."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from reprodiag.core.compare.render import fmt_num, fmt_step
from reprodiag.core.compare.runs import VERDICT_LABELS, Verdict
from reprodiag.gui import theme
from reprodiag.gui.widgets.cells import header_item, table_item
from reprodiag.gui.widgets.run_table import swatch

COLUMNS = ("#", "Run", "Compared with", "Verdict", "1st param diff", "1st loss diff",
           "Stage", "Max |Δ loss|")
VERDICT = COLUMNS.index("Verdict")
UNPAIRED = "unpaired"  # the verdict cell of a run with no partner
TIPS = (
    "The config's number: its colour and label in the plots",
    "The canary config of the pair",
    "The environment compared with the reference",
    "identical: bitwise equal; equivalent: within tolerance; diverged: the runs part",
    ("The first step after which the parameters differ (bitwise); \"a to b\" when parameters "
     "were hashed only every few steps: equal at step a, different at step b"),
    "The first step whose loss differs (bitwise); the marker in the difference plot",
    ("Where in the pipeline the runs part: dataset, initial parameters, batches, first "
     "forward or backward pass, first update, accumulated numerics or final predictions"),
    "Largest absolute loss difference over the common steps",
)


def _step(value) -> str:
    return fmt_step(value, dash="—")


def _num(value: float) -> str:
    return fmt_num(value, dash="—")


class VerdictTable(QTableWidget):
    """Rows from core BundleComparison objects (pairs, then unpaired runs)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        for i, tip in enumerate(TIPS):
            header_item(self, i).setToolTip(tip)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setToolTip("One row per pair of runs with the same config; hover a verdict for "
                        "the explanation")
        self.rows: list[tuple] = []
        self.row_runs: list[tuple] = []  # per row: (reference run or None, other run or None)

    def set_comparisons(self, comparisons: list, number_of, color_of) -> None:
        """Rows for every pair and unpaired run; number_of/color_of give a run's plot key."""
        self.rows, self.row_runs = [], []
        for bc in comparisons:
            for p in bc.pairs:
                self.row_runs.append((p.ref, p.other))
                self.rows.append((p.ref, p.title, bc.labels[1], p.verdict,
                                  p.param_parting_cell or "—",
                                  _step(p.first_bitwise_loss_diff_step), p.stage or "—",
                                  _num(p.max_abs_diff), p.explanation, p.problems))
            self.row_runs += [(run, None) for run in bc.unpaired_a]
            self.row_runs += [(None, run) for run in bc.unpaired_b]
            for run in bc.unpaired_a:
                self.rows.append((run, run.config.short_label(), bc.labels[1], UNPAIRED,
                                  "—", "—", "—", "—",
                                  f"Only in {bc.labels[0]}: no run with this config in "
                                  f"{bc.labels[1]}", []))
            for run in bc.unpaired_b:
                self.rows.append((run, run.config.short_label(), bc.labels[1], UNPAIRED,
                                  "—", "—", "—", "—",
                                  f"Only in {bc.labels[1]}: no run with this config in "
                                  f"{bc.labels[0]}", []))
        self.setRowCount(len(self.rows))
        bold = QFont(self.font())
        bold.setBold(True)
        for r, (run, *cells, explanation, problems) in enumerate(self.rows):
            verdict = cells[VERDICT - 1]
            tip = explanation + ("\n" + "\n".join(problems) if problems else "")
            number = QTableWidgetItem(swatch(color_of(run)), str(number_of(run)))
            number.setToolTip(tip)
            self.setItem(r, 0, number)
            for c, text in enumerate(cells, start=1):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                if c == VERDICT:  # the label shown, the identifier kept (verdict())
                    item.setText(VERDICT_LABELS[verdict] if isinstance(verdict, Verdict) else verdict)
                    item.setData(Qt.ItemDataRole.UserRole, verdict)
                    item.setForeground(theme.verdict_color(verdict))
                    item.setFont(bold)
                self.setItem(r, c, item)

    def verdict(self, row: int) -> str:
        """The row's verdict identifier (a Verdict value, or "unpaired")."""
        return str(table_item(self, row, VERDICT).data(Qt.ItemDataRole.UserRole))

    def selected_row(self) -> int | None:
        rows = sorted({index.row() for index in self.selectedIndexes()})
        return rows[0] if rows else None
