"""Diagnosis: ranked probable causes of a difference between two sides, each with its fix.

`diagnose(a, b)` takes anything bundle-like (``.label``, ``.snapshot``, ``.runs``; a
`core.bundle.Bundle` or a live session), compares the runs and the environments, turns every
difference into a suspect, ranks the suspects by how well each explains what the runs show
(rules.py, reasoning.py, ranking.py; the knowledge in core/knowledge), and returns a
`Diagnosis`. `align` builds the commands that make B match A.
"""

from __future__ import annotations

from typing import Any, Optional

from reprodiag.core.compare import BundleComparison, compare_bundles
from reprodiag.core.diagnose.align import AlignPlan, align, render_align_markdown, render_align_text
from reprodiag.core.diagnose.evidence import Evidence, Side, comparable_sides
from reprodiag.core.diagnose.findings import Diagnosis, Finding, Fix, likelihood_word, merge
from reprodiag.core.diagnose.rules import notes, run_rules
from reprodiag.core.env.model import Snapshot
from reprodiag.core.runs.record import RunRecord

__all__ = [
    "AlignPlan",
    "Diagnosis",
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


def diagnose(a: Any, b: Any, *, rtol: float = 1e-5, atol: float = 1e-8) -> Diagnosis:
    """The diagnosis of side B against side A (the reference), most likely cause first."""
    a, b = comparable_sides(a, b)
    bc = compare_bundles(a, b, rtol=rtol, atol=atol)
    return diagnose_comparison(bc, snapshots=(a.snapshot, b.snapshot), runs=(a.runs, b.runs))


def diagnose_comparison(
    bc: BundleComparison,
    *,
    snapshots: tuple[Optional[Snapshot], Optional[Snapshot]] = (None, None),
    runs: Optional[tuple[list[RunRecord], list[RunRecord]]] = None,
) -> Diagnosis:
    """The diagnosis of an existing comparison; snapshots add facts the diff alone lacks
    (e.g. the same A100 on both sides), runs the repeats within one side."""
    if runs is None:
        runs = ([p.ref for p in bc.pairs] + list(bc.unpaired_a),
                [p.other for p in bc.pairs] + list(bc.unpaired_b))
    evidence = Evidence(comparison=bc, snapshots=snapshots, runs=runs)
    findings = merge(run_rules(evidence))
    said = notes(evidence)
    diagnosis = Diagnosis(labels=bc.labels, findings=findings, notes=said)
    if not diagnosis.causes:
        said.append(next_steps(evidence))
        if not bc.pairs and (runs[0] or runs[1]) and not bc.env_differences:
            diagnosis.headline = ("Nothing to compare run by run: no run of one side pairs "
                                  "with a run of the other, and the environments do not "
                                  "differ in anything that changes numbers.")
    return diagnosis


def next_steps(ev: Evidence) -> str:
    """What to record next when nothing that changes numbers differs."""
    if not ev.pairs:
        return ("Record canary runs on both sides (reprodiag export) so that the runs, not "
                "only the environments, can be compared.")
    return ("To test for run-to-run nondeterminism, record two runs of one config on each "
            "side; `reprodiag explain` reruns a config changing one factor at a time.")
