"""The diagnosis of a pair of environments: ranked probable causes, each with its fix.

Shows core.diagnose's own Markdown rendering (the same text the CLI and the report give),
so the window never words a finding differently.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtWidgets import QTextBrowser, QWidget

from reprodiag.core.diagnose import render as diagnose_render


class FindingsView(QTextBrowser):
    """Read-only rich text of the findings; code blocks can be selected and copied."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setOpenExternalLinks(True)
        self.setToolTip("Probable causes of the difference, most likely first, with the code "
                        "or variables that remove each one")
        self.findings: list = []
        self.markdown = ""

    def set_findings(self, findings: list, labels: tuple[str, str]) -> None:
        self.findings = list(findings)
        self.markdown = diagnose_render.to_markdown(self.findings, labels)
        title, _, body = self.markdown.partition("\n")  # the panel's own title names the sides
        self.setMarkdown(body if title.startswith("#") else self.markdown)

    def clear_findings(self, note: str) -> None:
        self.findings, self.markdown = [], ""
        self.setPlainText(note)
