"""A snapshot as a tree grouped like the model (Host, CPU, GPU, ...), with a filter.

Keys sharing a prefix (``cpu.flags.*``, ``framework.torch.*``, ``gpu.0.*``) nest under one
node; long families are folded. Numerics-relevant facts are bold with a severity dot, and
their tooltip says why they matter (core.knowledge.facts.describe). Values read as in the text
report (core.env.render.fact_text).
"""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from reprodiag.core.knowledge.facts import describe
from reprodiag.core.env.model import GROUPS, Snapshot
from reprodiag.core.env.render import FOLDED, fact_text
from reprodiag.core.wording import counted
from reprodiag.gui import theme
from reprodiag.gui.widgets.cells import children, top_items

COLLAPSED_GROUPS = ("pkg", "var")  # long lists: opened on demand or by the filter
OPEN_FOLDERS = ("framework", "numerics")  # groups whose sub-folders start expanded
NEST_MIN = 3  # a prefix shared by this many facts becomes its own node
KEY_ROLE = Qt.ItemDataRole.UserRole
SEVERITY_DOT = {3: "#D62728", 2: "#E69F00"}
SEVERITY_NAME = {3: "changes numerics", 2: "may change results", 1: "informational"}


def dot_icon(color: str) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(QColor(0, 0, 0, 0))
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(color))
    p.setPen(QColor(color))
    p.drawEllipse(2, 2, 8, 8)
    p.end()
    return QIcon(pix)


class EnvTree(QTreeWidget):
    """Shows one Snapshot; `apply_filter` hides facts whose key and value miss the text."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["Fact", "Value", "Why it matters"])
        self.headerItem().setToolTip(2, "For facts that can change numerical results: how")
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.header().setStretchLastSection(True)
        self.setColumnWidth(0, 300)
        self.setColumnWidth(1, 380)
        self.setToolTip("The environment snapshot; hover a bold fact to see why it matters")
        self.snapshot: Snapshot | None = None
        self._icons = {s: dot_icon(c) for s, c in SEVERITY_DOT.items()}
        self._filter = ""
        self._numerics_only = False
        self._facts: list[QTreeWidgetItem] = []

    def set_snapshot(self, snapshot: Snapshot | None) -> None:
        self.snapshot = snapshot
        self.clear()
        self._facts = []
        if snapshot is None:
            return
        bold = QFont(self.font())
        bold.setBold(True)
        for group, facts in snapshot.grouped().items():
            top = QTreeWidgetItem([GROUPS.get(group, group), counted(len(facts), "fact")])
            top.setFont(0, bold)
            top.setForeground(1, QBrush(theme.muted_text()))
            self.addTopLevelItem(top)
            rests = {key: key.split(".", 1)[-1] for key in facts}
            heads = Counter(r.split(".", 1)[0] for r in rests.values() if "." in r)
            nodes: dict[str, QTreeWidgetItem] = {}
            for key, fact in facts.items():
                rest = rests[key]
                head = rest.split(".", 1)[0]
                parent, label = top, rest
                if "." in rest and heads[head] >= NEST_MIN:
                    if head not in nodes:
                        nodes[head] = QTreeWidgetItem([head, counted(heads[head], "fact")])
                        nodes[head].setForeground(1, QBrush(theme.muted_text()))
                        top.addChild(nodes[head])
                    parent, label = nodes[head], rest.split(".", 1)[1]
                parent.addChild(self._fact_item(key, label, fact, bold))
            top.setExpanded(group not in COLLAPSED_GROUPS)
            for head, node in nodes.items():  # numerics details open, machine details folded
                node.setExpanded(group in OPEN_FOLDERS and not f"{group}.{head}.".startswith(FOLDED))
        self.apply_filter(self._filter, self._numerics_only)

    def _fact_item(self, key: str, label: str, fact, bold: QFont) -> QTreeWidgetItem:
        meta = describe(key)
        text = fact_text(key, fact)
        item = QTreeWidgetItem([label, text, meta.why if meta.numerics else ""])
        item.setData(0, KEY_ROLE, key)
        tip = (f"{key}\n{SEVERITY_NAME.get(meta.severity, '')}"
               f"{' · numerics-relevant' if meta.numerics else ''}\n{meta.why}")
        item.setToolTip(0, tip)
        item.setToolTip(1, f"{text}\n\n{tip}")
        item.setToolTip(2, tip)
        item.setForeground(2, QBrush(theme.muted_text()))
        if meta.numerics:
            item.setFont(0, bold)
            if meta.severity in self._icons:
                item.setIcon(0, self._icons[meta.severity])
        if not fact.ok:
            item.setForeground(1, QBrush(theme.muted_text()))
        self._facts.append(item)
        return item

    def apply_filter(self, text: str, numerics_only: bool = False) -> int:
        """Hide facts not matching; returns how many facts stay visible."""
        self._filter, self._numerics_only = text, numerics_only
        needle = text.strip().lower()
        visible = 0
        for item in self._facts:
            key = item.data(0, KEY_ROLE)
            hit = not needle or needle in key.lower() or needle in item.text(1).lower()
            hit = hit and (not numerics_only or describe(key).numerics)
            item.setHidden(not hit)
            visible += hit
        for top in top_items(self):
            self._hide_empty(top, expand=bool(needle or numerics_only))
        return visible

    def _hide_empty(self, node: QTreeWidgetItem, expand: bool) -> bool:
        """Hide folders with no visible fact; returns whether `node` stays visible."""
        if node.data(0, KEY_ROLE):
            return not node.isHidden()
        shown = False
        for child in children(node):
            shown = self._hide_empty(child, expand) or shown
        node.setHidden(not shown)
        if expand and shown:
            node.setExpanded(True)
        return shown

    def fact_count(self) -> int:
        return len(self._facts)

    def visible_facts(self) -> list[str]:
        return [i.data(0, KEY_ROLE) for i in self._facts if not i.isHidden()]
