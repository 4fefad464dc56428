"""'Make it match': what to run on side B so that its environment matches side A's.

Shows core.diagnose.align's plan -- pinned installs, variables to export, the determinism
block per framework -- each as a block with a Copy button; `markdown` is core's rendering
of the same plan for reports.
"""

from __future__ import annotations

import html
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from reprodiag.core.diagnose import AlignPlan, render_align_markdown
from reprodiag.gui.widgets.code_block import CodeBlock


def _label(text: str, tip: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setToolTip(tip)
    return label


class AlignView(QScrollArea):
    """The align plan of the compared pair of environments, block by block."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setToolTip("Commands that make the compared environment match the reference: "
                        "package versions, variables, and a determinism block for the code")
        self.plan: Optional[AlignPlan] = None
        self.markdown = ""
        self.blocks: dict[str, CodeBlock] = {}
        self.clear_plan("Compare two environments with snapshots to see how to make one "
                        "match the other.")

    def clear_plan(self, note: str) -> None:
        self.plan, self.markdown, self.blocks = None, "", {}
        self._fill([_label(note, self.toolTip())])

    def set_plan(self, plan: AlignPlan) -> None:
        self.plan = plan
        self.markdown = render_align_markdown(plan)
        la, lb = (html.escape(x) for x in plan.labels)
        widgets: list[QWidget] = [_label(f"Make <b>{lb}</b> (B) match <b>{la}</b> (A): run "
                                         "these on B's side.", self.toolTip())]
        self.blocks = {}
        if plan.packages:
            rows = "".join(f"<tr><td><code>{html.escape(n)}</code></td>"
                           f"<td>{html.escape(str(b or 'absent'))}</td>"
                           f"<td>{html.escape(str(a or 'absent'))}</td></tr>"
                           for n, a, b in plan.packages)
            widgets.append(_label("<table cellspacing='0' cellpadding='2'><tr><th align=left>"
                                  "package</th><th align=left>B now</th><th align=left>"
                                  f"A (target)</th></tr>{rows}</table>",
                                  "Numerics-relevant packages whose versions differ"))
        if plan.pip_lines or plan.conda_lines:
            self.blocks["install"] = CodeBlock("Install A's versions in B's environment:",
                                               "\n".join(plan.conda_lines + plan.pip_lines),
                                               "install commands")
        if plan.env_exports:
            self.blocks["exports"] = CodeBlock("Set before Python starts:",
                                               "\n".join(plan.export_lines),
                                               "variable exports")
        for fw, code in plan.code.items():
            self.blocks[f"code.{fw}"] = CodeBlock(
                f"{fw} code, at the top of the training script on both sides:", code,
                f"{fw} determinism code")
        widgets += list(self.blocks.values())
        if plan.empty:
            widgets.append(_label("No numerics-relevant package or variable differs.",
                                  self.toolTip()))
        if plan.notes:
            items = "".join(f"<li>{html.escape(n)}</li>" for n in plan.notes)
            widgets.append(_label(f"<ul style='margin-left:-20px'>{items}</ul>",
                                  "What the plan cannot do by itself"))
        self._fill(widgets)

    def _fill(self, widgets: list[QWidget]) -> None:
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(4)
        for w in widgets:
            layout.addWidget(w)
        layout.addStretch(1)
        old = self.takeWidget()
        self.setWidget(content)
        if old is not None:
            old.deleteLater()
