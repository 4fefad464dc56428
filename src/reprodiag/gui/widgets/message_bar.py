"""An in-window message line: errors and notes appear here instead of dialogs or crashes."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

INFO_TIMEOUT_MS = 8000
_STYLES = {
    "error": "background: rgba(220, 50, 50, 0.16); border: 1px solid rgba(220, 50, 50, 0.6);",
    "warning": "background: rgba(230, 160, 0, 0.16); border: 1px solid rgba(230, 160, 0, 0.6);",
    "info": "background: rgba(40, 120, 220, 0.12); border: 1px solid rgba(40, 120, 220, 0.5);",
}


class MessageBar(QFrame):
    """Shows the latest message with its level; info messages fade after a few seconds."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss this message")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 3, 4, 3)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.level = ""
        self.history: list[tuple[str, str]] = []
        self.hide()

    def show_message(self, text: str, level: str = "info") -> None:
        self.level = level
        self.history.append((level, text))
        prefix = {"error": "Error: ", "warning": "Warning: "}.get(level, "")
        self.label.setText(prefix + text)
        self.setStyleSheet(f"#messageBar {{ {_STYLES.get(level, _STYLES['info'])} "
                           "border-radius: 4px; }")
        self.show()
        if level == "info":
            self._timer.start(INFO_TIMEOUT_MS)
        else:
            self._timer.stop()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
