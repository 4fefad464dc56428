"""The diagnosis of a pair of environments: ranked probable causes, each with its fixes.

Each finding is a card: its title and likelihood, the evidence, why it changes numbers, and
every fix as a block with a Copy button (the code, and the variables to export before
Python starts). Where the runs are canaries, "Rerun with fix" starts the fixed configs in
the Runs tab. The words are core.diagnose's; `markdown` is core's rendering for reports.
"""

from __future__ import annotations

import html
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from reprodiag.core.diagnose import render as diagnose_render
from reprodiag.core.diagnose.findings import Diagnosis, Finding, Fix
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import RunRecord
from reprodiag.gui.widgets.code_block import CodeBlock

CUSTOM = "custom"  # a user's own recorded training: it cannot be rerun as a canary


def rerun_configs(finding: Finding, fix: Fix, runs: dict[str, RunRecord]) -> list[RunConfig]:
    """The canary configs "Rerun with fix" starts, reference first per pair: B's config with
    the fix's changes, and A's too when the fix needs both sides. Empty when none applies."""
    changes = fix.rerun_config_changes
    if not changes:
        return []
    out: list[RunConfig] = []
    seen: set[tuple] = set()
    for a_id, b_id in finding.run_pairs:
        a, b = runs.get(a_id), runs.get(b_id)
        if a is None or b is None or CUSTOM in (a.config.model, b.config.model):
            continue
        pair = ((a.config.model_copy(update=changes),) if fix.rerun_sides == "both" else ()) \
            + (b.config.model_copy(update=changes),)
        if pair not in seen:
            seen.add(pair)
            out.extend(pair)
    return out


def _changes_text(changes: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in changes.items())


class _FindingCard(QFrame):
    """One finding: heading, evidence, why, fixes with Copy buttons, rerun buttons."""

    def __init__(self, number: int, finding: Finding, reruns: list[tuple[Fix, list[RunConfig]]],
                 on_rerun, parent: QWidget | None = None):
        super().__init__(parent)
        self.finding = finding
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setToolTip(f"Finding {finding.id}: {finding.title}")
        heading = QLabel(f"<b>{number}. {html.escape(finding.title)}</b> "
                         f"({html.escape(diagnose_render.likelihood_text(finding))})")
        heading.setWordWrap(True)
        heading.setToolTip("The probable cause and how likely it is (0..1): its share of what "
                           "explains the runs' difference; a note says how the sides were "
                           "recorded")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(heading, 1)
        self.rerun_buttons: list[QPushButton] = []
        for fix, configs in reruns:
            text = "Rerun with fix" if len(reruns) == 1 else \
                f"Rerun with {_changes_text(fix.rerun_config_changes)}"
            button = QPushButton(text)
            names = "\n".join(f"  {c.short_label()}" for c in configs)
            first = " (the first is the reference)" if fix.rerun_sides == "both" else ""
            button.setToolTip(f"Run these canaries on this machine{first} with "
                              f"{_changes_text(fix.rerun_config_changes)}, show them here "
                              f"beside the reference and say whether the fix worked:\n{names}")
            both = fix.rerun_sides == "both"
            button.clicked.connect(
                lambda _c=False, cs=configs, r=both, f=fix: on_rerun(cs, r, finding, f))
            top.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
            self.rerun_buttons.append(button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(3)
        layout.addLayout(top)
        body = "".join(f"<li>{html.escape(line)}</li>" for line in finding.evidence)
        evidence = QLabel(f"<ul style='margin-left:-20px'>{body}</ul>"
                          f"<i>Why:</i> {html.escape(finding.why)}")
        evidence.setWordWrap(True)
        evidence.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        evidence.setToolTip("What was seen on the two sides, and why it changes the numbers")
        layout.addWidget(evidence)
        self.blocks: list[tuple[Fix, CodeBlock]] = []
        for fix in finding.fixes:
            heading_text = diagnose_render.fix_heading(fix)
            title = f"<b>Fix ({html.escape(heading_text)})</b>"
            if fix.note:
                title += f": {html.escape(fix.note)}"
            shell = fix.framework == "any"
            if fix.code:
                self._add(layout, fix, CodeBlock(title, fix.code, f"{heading_text} fix "
                                                 + ("commands" if shell else "code")))
                title = ""
            if fix.env or fix.unset:
                self._add(layout, fix, CodeBlock(title or "Before Python starts:",
                                                 fix.shell_exports,
                                                 f"{heading_text} fix variables (export lines)"))
            elif not fix.code:
                note = QLabel(title)
                note.setWordWrap(True)
                note.setToolTip("A fix that is a step to take, not code to paste")
                layout.addWidget(note)
        if finding.source:
            source = QLabel(f"<i>Source:</i> {html.escape(finding.source)}")
            source.setWordWrap(True)
            source.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            source.setToolTip("Where this cause and its fix are documented")
            layout.addWidget(source)

    def _add(self, layout: QVBoxLayout, fix: Fix, block: CodeBlock) -> None:
        layout.addWidget(block)
        self.blocks.append((fix, block))


class FindingsView(QScrollArea):
    """Cards of the findings, most likely first; `rerun_requested` carries the RunConfigs to
    start and whether the first is the reference (the fix changes both sides)."""

    rerun_requested = Signal(list, bool, object, object)  # configs, both sides, finding, fix

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setToolTip("Probable causes of the difference, most likely first, with the code "
                        "or variables that remove each one")
        self.findings: list[Finding] = []
        self.markdown = ""
        self.cards: list[_FindingCard] = []
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setToolTip(self.toolTip())
        self.fix_check = QLabel()
        self.fix_check.setWordWrap(True)
        self.fix_check.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fix_check.setToolTip("The last fix tried with Rerun with fix, and whether the "
                                  "reruns now agree with the reference")
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notes.setToolTip("What was compared and what was not (shorter runs, facts only "
                              "one side captured), and what to record next")
        self._fill([])

    def set_findings(self, diagnosis: Diagnosis,
                     runs: Optional[dict[str, RunRecord]] = None) -> None:
        """Show the diagnosis; `runs` (run id -> record) lets canary findings be rerun."""
        self.findings = list(diagnosis.findings)
        self.markdown = diagnose_render.to_markdown(diagnosis)
        self.notes.setText("<br>".join(f"<i>Note:</i> {html.escape(n)}" for n in diagnosis.notes))
        runs = runs or {}
        cards = []
        for i, finding in enumerate(self.findings, 1):
            reruns, seen = [], []
            for fix in finding.fixes:
                key = (fix.rerun_config_changes, fix.rerun_sides)
                configs = rerun_configs(finding, fix, runs)
                if configs and key not in seen:
                    seen.append(key)
                    reruns.append((fix, configs))
            cards.append(_FindingCard(i, finding, reruns, self.rerun_requested.emit))
        if not diagnosis.causes:
            self.note.setText(diagnosis.headline)
        self._fill(cards)

    def set_fix_check(self, text: str, worked: Optional[bool] = None) -> None:
        """Show how the last fix tried is doing: running, worked, or still differs."""
        mark = "" if worked is None else "✔ " if worked else "✘ "
        self.fix_check.setText(f"<b>{mark}{html.escape(text)}</b>" if text else "")
        self._fill(self.cards)

    def clear_findings(self, note: str) -> None:
        self.findings, self.markdown = [], ""
        self.note.setText(note)
        self.notes.setText("")
        self._fill([])

    def _fill(self, cards: list[_FindingCard]) -> None:
        self.cards = cards
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(6)
        if self.fix_check.text():
            layout.addWidget(self.fix_check)
        if not [c for c in cards if c.finding.kind != "note"]:
            layout.addWidget(self.note)
        if self.notes.text():
            layout.addWidget(self.notes)
        for card in cards:
            layout.addWidget(card)
        layout.addStretch(1)
        old = self.takeWidget()
        self.setWidget(content)
        if old is not None:
            for label in (self.note, self.notes, self.fix_check):
                if label.parent() is old:
                    label.setParent(None)
            old.deleteLater()

    def fix_blocks(self) -> list[tuple[Fix, CodeBlock]]:
        """Every fix block shown, in order (for tests and keyboard users' tab order)."""
        return [pair for card in self.cards for pair in card.blocks]
