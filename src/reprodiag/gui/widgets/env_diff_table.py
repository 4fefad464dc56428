"""Environment differences as a table: numerics-relevant first, tinted by severity."""

from __future__ import annotations

from PySide6.QtGui import QBrush, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from reprodiag.core.compare.envdiff import ABSENT
from reprodiag.core.env.render import fact_text
from reprodiag.gui import theme
from reprodiag.gui.widgets.cells import header_item
from reprodiag.gui.widgets.env_tree import SEVERITY_NAME


def _text(key: str, fact) -> str:
    """As the environment report writes it (GiB, 'not set'); 'absent' when a side lacks it."""
    return "absent" if fact == ABSENT else fact_text(key, fact)


class EnvDiffTable(QTableWidget):
    """Rows of core EnvDifference, in the order core ranks them."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, 4, parent)
        self.setHorizontalHeaderLabels(["Fact", "A", "B", "Impact"])
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.setColumnWidth(0, 230)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(False)
        self.setToolTip("Facts that differ between the two environments; red rows change "
                        "numerics, amber rows may change results")
        self.diffs: list = []

    def set_diffs(self, diffs: list, labels: tuple[str, str]) -> None:
        self.diffs = list(diffs)
        self.setHorizontalHeaderLabels(["Fact", labels[0], labels[1], "Impact"])
        for col, tip in enumerate(("The fact's key", labels[0], labels[1],
                                   "How much the fact can change numerical results")):
            header_item(self, col).setToolTip(tip)
        self.setRowCount(len(self.diffs))
        bold = QFont(self.font())
        bold.setBold(True)
        for row, d in enumerate(self.diffs):
            impact = "same" if d.same else SEVERITY_NAME.get(d.severity, "")
            cells = [d.key, _text(d.key, d.a), _text(d.key, d.b), impact]
            tint = QBrush(theme.severity_color(0 if d.same else d.severity))
            tip = f"{d.key}\n{d.why}"
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip if col in (0, 3) else f"{text}\n\n{tip}")
                item.setBackground(tint)
                if d.numerics and col == 0:
                    item.setFont(bold)
                self.setItem(row, col, item)
