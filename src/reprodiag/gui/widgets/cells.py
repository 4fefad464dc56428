"""Qt's item getters, for cells and tree nodes that exist.

`QTableWidget.item()`, `QTreeWidget.topLevelItem()` and friends return None for an empty
cell or an index out of range; the views here fill every cell they create, so a None is a
bug: these return the item or raise LookupError naming the place.
"""

from __future__ import annotations

from PySide6.QtWidgets import QTableWidget, QTableWidgetItem, QTreeWidget, QTreeWidgetItem


def table_item(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    item = table.item(row, column)
    if item is None:
        raise LookupError(f"{type(table).__name__}: no item in row {row}, column {column}")
    return item


def header_item(table: QTableWidget, column: int) -> QTableWidgetItem:
    item = table.horizontalHeaderItem(column)
    if item is None:
        raise LookupError(f"{type(table).__name__}: no header item in column {column}")
    return item


def top_item(tree: QTreeWidget, index: int) -> QTreeWidgetItem:
    item = tree.topLevelItem(index)
    if item is None:
        raise LookupError(f"{type(tree).__name__}: no top-level item {index}")
    return item


def child_item(node: QTreeWidgetItem, index: int) -> QTreeWidgetItem:
    item = node.child(index)
    if item is None:
        raise LookupError(f"{node.text(0)!r}: no child {index}")
    return item


def top_items(tree: QTreeWidget) -> list[QTreeWidgetItem]:
    return [top_item(tree, i) for i in range(tree.topLevelItemCount())]


def children(node: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    return [child_item(node, j) for j in range(node.childCount())]
