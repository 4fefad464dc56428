"""The Compare tab's list of environments (bundles, this machine) and their runs, with check boxes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from reprodiag.core.env.model import Snapshot
from reprodiag.core.runs.record import STATUS_LABELS, RunRecord
from reprodiag.core.wording import counted
from reprodiag.gui import theme
from reprodiag.gui.widgets.cells import children, top_items

KEY_ROLE = Qt.ItemDataRole.UserRole


@dataclass(eq=False, kw_only=True)
class Source:
    """One environment in the Compare tab: a bundle, this machine's runs, or an imported
    environment report (no runs); or a load error. `origin` says where it came from.
    `name` is what it is called (the bundle's label, else its file name); `label` is that
    name told apart from the other sources' (compare_tab.distinct_labels)."""

    key: str
    label: str
    name: str = ""
    snapshot: Snapshot | None = None
    runs: list[RunRecord] = field(default_factory=list)
    path: Path | None = None
    error: str = ""
    origin: str = ""
    producer: dict[str, str] = field(default_factory=dict)  # the reprodiag that recorded it

    @property
    def ok(self) -> bool:
        return not self.error


class SourceTree(QTreeWidget):
    """Top level: environments; children: their runs. Check boxes choose what is compared."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setHeaderLabels(["Environment / run", "Steps"])
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setStretchLastSection(False)
        self.setToolTip("Tick the environments and runs to compare; the reference environment "
                        "is chosen below")
        self.itemChanged.connect(self._item_changed)
        self._updating = False

    def set_sources(self, sources: list[Source]) -> None:
        """Rebuild, keeping the check state of items that were already there."""
        before = self.check_states()
        self._updating = True
        self.clear()
        bold = QFont(self.font())
        bold.setBold(True)
        for src in sources:
            top = QTreeWidgetItem([src.label, ""])
            top.setData(0, KEY_ROLE, src.key)
            top.setFont(0, bold)
            if not src.ok:
                top.setFlags(top.flags() & ~Qt.ItemFlag.ItemIsUserCheckable)
                top.setText(0, f"✖ {src.label}")
                top.setForeground(0, theme.verdict_color("failed"))
                top.setToolTip(0, src.error)
                child = QTreeWidgetItem([src.error, ""])
                child.setToolTip(0, src.error)
                child.setForeground(0, theme.verdict_color("failed"))
                top.addChild(child)
                self.addTopLevelItem(top)
                top.setExpanded(True)
                continue
            where = src.origin or (str(src.path) if src.path
                                   else "runs of this session and the run library")
            env = "with" if src.snapshot is not None else "without"
            top.setToolTip(0, f"{where}\n{counted(len(src.runs), 'run')}, {env} environment "
                              "snapshot")
            top.setFlags(top.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            top.setCheckState(0, before.get(src.key, Qt.CheckState.Checked))
            top.setText(1, str(len(src.runs)))
            for run in src.runs:
                key = f"{src.key}\n{run.run_id}"
                item = QTreeWidgetItem([run.config.short_label(), str(len(run.steps))])
                item.setData(0, KEY_ROLE, key)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(0, before.get(key, Qt.CheckState.Checked))
                item.setToolTip(0, f"{run.config.short_label()}\n{STATUS_LABELS[run.status]}"
                                   f"{': ' + run.reason if run.reason else ''}\nrun id {run.run_id}")
                top.addChild(item)
            self.addTopLevelItem(top)
            top.setExpanded(True)
        self._updating = False

    def check_states(self) -> dict[str, Qt.CheckState]:
        out = {}
        for top in top_items(self):
            out[top.data(0, KEY_ROLE)] = top.checkState(0)
            for child in children(top):
                if child.data(0, KEY_ROLE):
                    out[child.data(0, KEY_ROLE)] = child.checkState(0)
        return out

    def is_checked(self, source_key: str, run_id: str | None = None) -> bool:
        key = source_key if run_id is None else f"{source_key}\n{run_id}"
        return self.check_states().get(key) == Qt.CheckState.Checked

    def set_checked(self, source_key: str, run_id: str | None, checked: bool) -> None:
        key = source_key if run_id is None else f"{source_key}\n{run_id}"
        state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        for top in top_items(self):
            for item in [top, *children(top)]:
                if item.data(0, KEY_ROLE) == key:
                    item.setCheckState(0, state)

    def _item_changed(self, _item, _column) -> None:
        if not self._updating:
            self.changed.emit()
