"""A snapshot as people read it: grouped text for the terminal, Markdown for GitHub.

Both renderers share `display_rows`, which folds the long families (ISA flags, CPU
vulnerabilities, packages) into summary lines and writes byte counts in GiB. Markdown is
meant to be pasted publicly: it leaves out the hostname and writes the home folder as ``~``.
"""

from __future__ import annotations

import os
import re
import time

from reprodiag.core.env.model import GROUPS, Fact, Snapshot

BYTE_KEYS = ("ram_total", "ram_available", "memory_total", "memory_used",
             "cgroup_memory_limit")
ML_PACKAGE = re.compile(
    r"^(torch|tensorflow|tf-|keras|jax|numpy|scipy|scikit-learn|triton|optree|onnx|nvidia-|mkl"
    r"|intel-openmp|tbb|ml-dtypes|tensorrt|cupy|numba|transformers)"
)
PRIVATE_KEYS = ("host.hostname",)
FOLDED = ("cpu.flags.", "cpu.flags_all", "cpu.vulnerability.", "pkg.")

Rows = list[tuple[str, str]]


def format_bytes(value: int) -> str:
    gib = value / 2**30
    return f"{gib:.1f} GiB" if gib >= 1 else f"{value / 2**20:.0f} MiB"


def fact_text(key: str, fact: Fact) -> str:
    if fact.ok and fact.value is None and key.startswith("var."):
        return "not set"
    if fact.ok and key.endswith(BYTE_KEYS) and isinstance(fact.value, int) and not isinstance(
        fact.value, bool
    ):
        return format_bytes(fact.value)
    return fact.text()


def _flag_rows(facts: dict[str, Fact]) -> Rows:
    flags = {k[len("cpu.flags."):]: f for k, f in facts.items() if k.startswith("cpu.flags.")}
    if not flags:
        return []
    present = [name for name, f in flags.items() if f.ok and f.value]
    absent = [name for name, f in flags.items() if f.ok and not f.value]
    return [("flags", ", ".join(present) or "none"), ("flags missing", ", ".join(absent) or "none")]


def _vulnerability_rows(facts: dict[str, Fact]) -> Rows:
    vulns = {k.rsplit(".", 1)[1]: f.text() for k, f in facts.items()
             if k.startswith("cpu.vulnerability.")}
    if not vulns:
        return []
    vulnerable = sorted(n for n, t in vulns.items() if t.lower().startswith("vulnerable"))
    mitigated = sum(1 for t in vulns.values() if t.lower().startswith("mitigation"))
    text = (f"{len(vulns) - len(vulnerable) - mitigated} not affected, {mitigated} mitigated, "
            f"{len(vulnerable)} vulnerable")
    return [("vulnerabilities", text + (f" ({', '.join(vulnerable)})" if vulnerable else ""))]


def _package_rows(facts: dict[str, Fact], all_packages: bool) -> Rows:
    packages = {k[len("pkg."):]: f for k, f in sorted(facts.items()) if k.startswith("pkg.")}
    if all_packages:
        return [(name, f.text()) for name, f in packages.items()]
    ml = [f"{name} {f.text()}" for name, f in packages.items() if ML_PACKAGE.match(name)]
    rows = [("installed", str(len(packages)))]
    if ml:
        rows.append(("ML-relevant", ", ".join(ml)))
    return rows


def display_rows(snapshot: Snapshot, all_packages: bool = False) -> list[tuple[str, Rows]]:
    """(group title, [(label, text)]) in display order, long families folded."""
    out = []
    for group, facts in snapshot.grouped().items():
        rows: Rows = [
            (key.split(".", 1)[1], fact_text(key, fact))
            for key, fact in facts.items() if not key.startswith(FOLDED)
        ]
        if group == "cpu":
            rows += _flag_rows(facts) + _vulnerability_rows(facts)
        if group == "pkg":
            rows += _package_rows(facts, all_packages)
        if rows:
            out.append((GROUPS.get(group, group), rows))
    return out


def _captured(snapshot: Snapshot) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(snapshot.captured_at))


def render_text(snapshot: Snapshot, all_packages: bool = False) -> str:
    """The grouped summary `reprodiag env` prints (every package with all_packages)."""
    lines = [
        "Environment snapshot",
        f"  python    {snapshot.python}",
        f"  captured  {_captured(snapshot)}",
        f"  deep      {'yes' if snapshot.deep else 'no (add --deep for framework settings)'}",
    ]
    for title, rows in display_rows(snapshot, all_packages):
        width = min(max(len(label) for label, _ in rows), 46)
        lines += ["", title]
        lines += [f"  {label.ljust(width)}  {text}" for label, text in rows]
    return "\n".join(lines) + "\n"


def _md_cell(text: str, home: str | None) -> str:
    if home and len(home) > 1:
        text = text.replace(home, "~")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def render_markdown(snapshot: Snapshot) -> str:
    """GitHub-ready Markdown: one table per group, the package list folded in <details>."""
    home = os.path.expanduser("~")
    public = Snapshot(
        facts={k: f for k, f in snapshot.facts.items() if k not in PRIVATE_KEYS},
        captured_at=snapshot.captured_at, deep=snapshot.deep, python=snapshot.python,
    )
    lines = [
        "### Environment (reprodiag)",
        "",
        (f"Python `{_md_cell(snapshot.python, home)}` · captured {_captured(snapshot)} · "
         f"deep: {'yes' if snapshot.deep else 'no'}"),
    ]
    for title, rows in display_rows(public):
        lines += ["", f"#### {title}", "", "| Fact | Value |", "|---|---|"]
        lines += [f"| {_md_cell(label, home)} | {_md_cell(text, home)} |" for label, text in rows]
    packages = _package_rows(public.facts, all_packages=True)
    if packages:
        lines += ["", f"<details><summary>All packages ({len(packages)})</summary>", "",
                  "| Package | Version |", "|---|---|"]
        lines += [f"| {name} | {_md_cell(version, home)} |" for name, version in packages]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
