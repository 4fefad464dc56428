"""Paste an environment report (collect_env, tf_env.txt, pip freeze, ...) as an environment.

The text is parsed by core.env.foreign.import_report; a report it cannot read gives one
line, shown in the dialog so the person can fix the paste and try again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from reprodiag.core.env.foreign import MAX_BYTES, decode_report, import_report, report_kind
from reprodiag.core.env.model import Snapshot
from reprodiag.errors import UserError
from reprodiag.gui.widgets.dialogs import ask_open_path

DEFAULT_NAME = "pasted report"
INTRO = ("Paste what the other machine printed for <code>python -m torch.utils.collect_env"
         "</code>, a <code>tf_env.txt</code>, TensorFlow's issue-template System "
         "information, or <code>pip freeze</code> / <code>pip list</code> / <code>conda list"
         "</code>. It becomes an environment in the Compare tab, diffed against the others "
         "on the facts the report gives.")
REPORT_FILTER = "Text reports (*.txt *.md *.log *.json);;All files (*)"


class PasteReportDialog(QDialog):
    """A text box for the report and a name; Add parses it, errors stay in the dialog."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setWindowTitle("Paste environment report")
        self.setToolTip("Add another machine's environment from a report it printed")
        self.resize(720, 520)
        self.snapshot: Snapshot | None = None
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        intro.setToolTip(self.toolTip())
        self.name = QLineEdit(DEFAULT_NAME)
        self.name.setToolTip("The name this environment gets in the Compare tab")
        name_label = QLabel("Name:")
        name_label.setToolTip(self.name.toolTip())
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("Paste the report here…")
        self.text.setToolTip("The report's text, as the other machine printed it")
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828;")
        self.error.setToolTip("Why the text could not be read as a report")
        self.error.hide()
        self.file_button = QPushButton("Load file…")
        self.file_button.setToolTip("Read the report from a text file into the box")
        self.file_button.clicked.connect(self._ask_file)
        self.add_button = QPushButton("Add to comparison")
        self.add_button.setToolTip("Read the report and add it as an environment in the "
                                   "Compare tab")
        self.add_button.setDefault(True)
        self.add_button.clicked.connect(self.accept)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Close without adding anything")
        self.cancel_button.clicked.connect(self.reject)

        name_row = QHBoxLayout()
        name_row.addWidget(name_label)
        name_row.addWidget(self.name, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.file_button)
        buttons.addStretch(1)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(name_row)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.error)
        layout.addLayout(buttons)

    @property
    def label(self) -> str:
        return self.name.text().strip() or DEFAULT_NAME

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def _ask_file(self) -> None:
        path = ask_open_path(self, "Load report", REPORT_FILTER)
        if path:
            self.load_file(path)

    def load_file(self, path: str) -> None:
        """Put a report file's text into the box (any common encoding)."""
        p = Path(path)
        try:
            with open(p, "rb") as fh:
                data = fh.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                raise UserError(f"{p.name}: larger than {MAX_BYTES // 2**20} MB, too big for "
                                "an environment report")
            self.text.setPlainText(decode_report(data, p.name))
        except UserError as exc:
            self.show_error(str(exc))
            return
        except OSError as exc:
            self.show_error(f"{p.name}: cannot be read ({exc.strerror or exc})")
            return
        if self.name.text().strip() in ("", DEFAULT_NAME):
            self.name.setText(p.name)
        self.error.hide()

    def accept(self) -> None:
        try:
            self.snapshot = import_report(self.text.toPlainText(), name=self.label)
        except UserError as exc:
            self.snapshot = None
            self.show_error(str(exc))
            return
        self.error.hide()
        super().accept()

    def kind(self) -> str:
        return (report_kind(self.snapshot) or "report") if self.snapshot is not None else ""
