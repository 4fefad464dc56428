"""Export report: one Markdown file (GitHub-issue ready) with the plot images beside it, and HTML.

The text comes from core renderers (compare.render.to_markdown, diagnose's findings and
align plan, seed statistics, attribution, env.render_markdown) and the verdicts core
computed; this module only arranges them and exports the plots as PNG. Reports go to public
bug trackers, so by default user, host and home-folder names are replaced (core.anonymise).
The HTML version is Qt's rendering of the same Markdown, so the two never disagree.
"""

from __future__ import annotations

import math
import platform
import time
from pathlib import Path

from PySide6.QtGui import QTextDocument

import reprodiag
from reprodiag.core.anonymise import anonymise_report
from reprodiag.core.compare import render as compare_render
from reprodiag.core.diagnose import attribution
from reprodiag.core.env import render_markdown
from reprodiag.core.runs.record import STATUS_LABELS
from reprodiag.gui.plots.curves import CurvesView
from reprodiag.gui.tabs.runs_tab import verdict_summary


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _images(view: CurvesView, folder: Path, prefix: str) -> list[str]:
    """Export the view's plots that have curves; Markdown image lines, paths relative."""
    if not view.curve_keys:
        return []
    lines = []
    for name, panel in view.panels().items():
        target = folder / f"{prefix}-{name}.png"
        panel.export(target)
        lines.append(f"![{panel.title}]({folder.name}/{target.name})")
    return lines


def _final_loss(record) -> str:
    value = record.summary.get("final_loss")
    if not isinstance(value, (int, float)) and len(record.steps):
        value = float(record.steps.loss[-1])
    return f"{value:.6g}" if isinstance(value, (int, float)) and math.isfinite(value) else "—"


def _runs_section(runs_tab, folder: Path) -> list[str]:
    session = runs_tab.session
    if not session.records():
        return []
    out = ["## Runs on this machine", "",
           f"Target interpreter: `{runs_tab.state.target}`", "",
           "| # | run | status | steps | final loss | verdict vs reference |", "|---|---|---|---|---|---|"]
    for record in session.records():
        rid = record.run_id
        cmp = session.comparison(rid)
        verdict = ("reference" if rid == session.reference_id
                   else verdict_summary(cmp) if cmp is not None else "—")
        out.append(f"| {session.number(rid)} | {_cell(record.display_name())} | "
                   f"{STATUS_LABELS[record.status]} | {len(record.steps)}/{record.config.steps} | "
                   f"{_final_loss(record)} | {_cell(verdict)} |")
    out.append("")
    out += _images(runs_tab.view, folder, "runs")
    return out + [""]


def build_markdown(window, folder: Path) -> str:
    """The report text; plot images are written into `folder` as it goes."""
    out = ["# reprodiag report", "",
           (f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} by reprodiag "
           f"{reprodiag.__version__} (Python {platform.python_version()}, {platform.system()})."),
           ""]
    compare = window.compare_tab
    if compare.comparisons:
        out += ["## Comparison", ""]
        for bc in compare.comparisons:
            out += [compare_render.to_markdown(bc), ""]
        for part in (compare.findings.markdown, compare.align_view.markdown,
                     compare.seed_view.markdown):
            if part:
                out += [part, ""]
        out += _images(compare.view, folder, "compare") + [""]
    explanations = [r for r in getattr(window, "explanations", []) if r.baseline is not None]
    if explanations:
        out += ["## Explained differences", ""]
        out += [attribution.render_markdown(r) for r in explanations]
    out += _runs_section(window.runs_tab, folder)
    snapshot, label = window.env_tab.shown_snapshot()
    if snapshot is not None:
        out += [f"## Environment: {_cell(label)}", "", render_markdown(snapshot)]
    if len(out) <= 4:
        out.append("Nothing to report yet: load bundles or run a canary first.")
    return "\n".join(out).rstrip() + "\n"


def markdown_to_html(markdown: str, title: str) -> str:
    doc = QTextDocument()
    doc.setMarkdown(markdown, QTextDocument.MarkdownFeature.MarkdownDialectGitHub)
    doc.setMetaInformation(QTextDocument.MetaInformation.DocumentTitle, title)
    return doc.toHtml()


def shown_snapshots(window) -> list:
    """Every environment snapshot the report can quote (whose names anonymising hides)."""
    snapshots = [s.snapshot for s in window.compare_tab.sources if s.snapshot is not None]
    snapshots.append(window.env_tab.shown_snapshot()[0])
    snapshots.append(window.state.snapshot)
    return [s for s in snapshots if s is not None]


def anonymised(markdown: str, snapshots: list) -> str:
    """The Markdown with names replaced; image lines are kept as written, since they link
    to the files beside the report (whose folder may carry a name)."""
    lines = markdown.split("\n")
    hidden = anonymise_report(lines, *snapshots)
    return "\n".join(line if line.startswith("![") else new for line, new in zip(lines, hidden))


def write_report(window, path: str | Path, anonymise: bool = True) -> tuple[Path, Path]:
    """Write NAME.md, NAME.html and NAME_files/*.png; returns the two document paths.
    `anonymise` replaces user, host and home-folder names with placeholders."""
    md_path = Path(path)
    if md_path.suffix.lower() != ".md":
        md_path = md_path.with_suffix(".md")
    folder = md_path.with_name(md_path.stem + "_files")
    folder.mkdir(parents=True, exist_ok=True)
    markdown = build_markdown(window, folder)
    if anonymise:
        markdown = anonymised(markdown, shown_snapshots(window))
    md_path.write_text(markdown, encoding="utf-8")
    html_path = md_path.with_suffix(".html")
    html_path.write_text(markdown_to_html(markdown, "reprodiag report"), encoding="utf-8")
    return md_path, html_path
