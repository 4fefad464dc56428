"""Renderings of a diagnosis: plain text (terminal), Markdown (an issue or report), JSON.

All three list the findings most likely first, each with its likelihood, evidence, why it
changes numbers, the fixes per framework (code and variables) and the source.
"""

from __future__ import annotations

from typing import Optional

from reprodiag.core.compare.render import md_cell, jsonable
from reprodiag.core.diagnose.findings import NOTE, Diagnosis, Finding, Fix

DIAGNOSIS_FORMAT = "reprodiag-diagnosis"
DIAGNOSIS_VERSION = 2

def fix_heading(fix: Fix) -> str:
    """Which framework a fix applies to, as shown above its code (also in the GUI findings view)."""
    return "reprodiag canary" if fix.framework == "any" and fix.code.startswith(
        "reprodiag ") else ("any framework" if fix.framework == "any" else fix.framework)


def likelihood_text(f: Finding) -> str:
    """"very likely, 0.91" for a cause; "note" for a note."""
    return "note" if f.kind == NOTE else f"{f.likelihood_word}, {f.likelihood:.2f}"


def _heading(i: int, f: Finding) -> str:
    return f"{i}. {f.title}  [{likelihood_text(f)}; id {f.id}]"


def to_text(diagnosis: Diagnosis, summary: Optional[str] = None) -> str:
    """The diagnosis for a terminal."""
    a, b = diagnosis.labels
    findings = diagnosis.findings
    out = ["reprodiag diagnosis", f"  A: {a}", f"  B: {b}"]
    if summary:
        out.append(summary)
    out.append("")
    if not diagnosis.causes:
        out.append(diagnosis.headline)
    out += [f"Note: {note}" for note in diagnosis.notes]
    if not findings:
        return "\n".join(out) + "\n"
    if not diagnosis.causes or diagnosis.notes:
        out.append("")
    for i, f in enumerate(findings, 1):
        out.append(_heading(i, f))
        out.append("   evidence:")
        out += [f"     - {line}" for line in f.evidence]
        out.append(f"   why: {f.why}")
        for fix in f.fixes:
            out.append(f"   fix ({fix_heading(fix)}):")
            out += [f"       {line}" if line else "" for line in fix.code.splitlines()]
            out += [f"       {line}" for line in fix.shell_exports.splitlines()]
            if fix.note:
                out.append(f"       # {fix.note}")
        if f.source:
            out.append(f"   source: {f.source}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def to_markdown(diagnosis: Diagnosis, summary: Optional[str] = None) -> str:
    """The diagnosis as Markdown, code in fenced blocks."""
    a, b = diagnosis.labels
    findings = diagnosis.findings
    out = [f"### reprodiag diagnosis: {md_cell(a)} (A) vs {md_cell(b)} (B)", ""]
    if summary:
        out += [f"**{md_cell(summary, 300)}**", ""]
    if not diagnosis.causes:
        out += [diagnosis.headline, ""]
    out += [f"> {md_cell(note, 600)}  " for note in diagnosis.notes]
    if diagnosis.notes:
        out.append("")
    for i, f in enumerate(findings, 1):
        out += [f"#### {i}. {md_cell(f.title, 200)} ({likelihood_text(f)})", ""]
        out += [f"- {md_cell(line, 500)}" for line in f.evidence]
        out += ["", f"*Why:* {md_cell(f.why, 1000)}", ""]
        for fix in f.fixes:
            out.append(f"*Fix ({fix_heading(fix)}):* {md_cell(fix.note, 500)}".rstrip())
            lang = "bash" if fix.framework == "any" else "python"
            if fix.code:
                out += ["", f"```{lang}", fix.code.rstrip(), "```"]
            if fix.env:
                out += ["", "```bash", fix.shell_exports, "```"]
            out.append("")
        if f.source:
            out += [f"*Source:* {md_cell(f.source, 300)}", ""]
    return "\n".join(out).rstrip() + "\n"


def to_json(diagnosis: Diagnosis, summary: Optional[str] = None) -> dict:
    """The diagnosis as plain JSON types (see DIAGNOSIS_FORMAT)."""
    return jsonable({"format": DIAGNOSIS_FORMAT, "format_version": DIAGNOSIS_VERSION,
                     "labels": list(diagnosis.labels), "summary": summary,
                     "notes": list(diagnosis.notes),
                     "findings": [f.to_json() for f in diagnosis.findings]})
