"""Diagnosis: ranked probable causes of a difference between two sides, each with its fix.

`diagnose(a, b)` takes anything bundle-like (``.label``, ``.snapshot``, ``.runs``; a
`core.bundle.Bundle` or a live session), compares the runs and the environments, and runs
the rules of `rules.py` over both. `align` builds the commands that make B match A.
"""

from __future__ import annotations

from typing import Any, Optional

from reprodiag.core.compare import BundleComparison, compare_bundles
from reprodiag.core.diagnose.align import AlignPlan, align, render_align_markdown, render_align_text
from reprodiag.core.diagnose.evidence import Evidence, Side, comparable_sides
from reprodiag.core.diagnose.findings import Finding, Fix, likelihood_word, merge
from reprodiag.core.diagnose.rules import run_rules
from reprodiag.core.env.model import Snapshot
from reprodiag.core.runs.record import RunRecord

__all__ = [
    "AlignPlan",
    "Finding",
    "Fix",
    "Side",
    "align",
    "comparable_sides",
    "diagnose",
    "diagnose_comparison",
    "likelihood_word",
    "render_align_markdown",
    "render_align_text",
]


def diagnose(a: Any, b: Any, *, rtol: float = 1e-5, atol: float = 1e-8) -> list[Finding]:
    """Findings for side A (the reference) against side B, most likely cause first."""
    a, b = comparable_sides(a, b)
    bc = compare_bundles(a, b, rtol=rtol, atol=atol)
    return diagnose_comparison(bc, snapshots=(a.snapshot, b.snapshot), runs=(a.runs, b.runs))


def diagnose_comparison(
    bc: BundleComparison,
    *,
    snapshots: tuple[Optional[Snapshot], Optional[Snapshot]] = (None, None),
    runs: Optional[tuple[list[RunRecord], list[RunRecord]]] = None,
) -> list[Finding]:
    """Findings for an existing comparison; snapshots add facts the diff alone lacks (e.g.
    the same A100 on both sides), runs the repeats within one side."""
    if runs is None:
        runs = ([p.ref for p in bc.pairs] + list(bc.unpaired_a),
                [p.other for p in bc.pairs] + list(bc.unpaired_b))
    evidence = Evidence(bc, snapshots, runs)
    return merge(run_rules(evidence))
