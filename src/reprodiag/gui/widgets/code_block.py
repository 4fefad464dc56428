"""A titled, read-only block of code or shell lines with a Copy button.

Fixes, install commands and variable exports are meant to be pasted elsewhere; every such
block in the window is one of these, so copying works the same everywhere.
"""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from reprodiag.gui.widgets.dialogs import report

MAX_LINES = 14  # taller blocks scroll


class CodeBlock(QWidget):
    """`title` above `text` in a monospaced box; Copy puts `text` on the clipboard."""

    def __init__(self, title: str, text: str, what: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.text = text.rstrip("\n")
        self.what = what
        self.title = QLabel(title)
        self.title.setWordWrap(True)
        self.title.setToolTip(f"{what[:1].upper()}{what[1:]}")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip(f"Copy the {what} to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        self.copy_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.view = QPlainTextEdit(self.text)
        self.view.setReadOnly(True)
        self.view.setToolTip(f"The {what}; select part of it, or use Copy for all of it")
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.view.setFrameShape(QFrame.Shape.StyledPanel)
        lines = min(max(1, self.text.count("\n") + 1), MAX_LINES)
        metrics = self.view.fontMetrics()
        scrollbar = self.view.horizontalScrollBar().sizeHint().height()
        self.view.setFixedHeight(lines * metrics.lineSpacing() + 2 * self.view.frameWidth()
                                 + int(2 * self.view.document().documentMargin()) + scrollbar)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title, 1)
        top.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.view)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text)
        report(self, f"{self.what} copied to the clipboard", "info")
