"""Verdicts and run statuses are enums whose values are the stable identifiers JSON and bundles
keep; the views show their display labels."""

from __future__ import annotations

import json

from reprodiag.core.compare.runs import VERDICT_LABELS, Verdict
from reprodiag.core.runs.record import STATUS_LABELS, RunStatus
from reprodiag.core.knowledge.stages import Stage


def test_the_identifiers_are_stable():
    assert [v.value for v in Verdict] == ["identical", "equivalent", "diverged"]
    assert [s.value for s in RunStatus] == ["pending", "running", "finished", "diverged",
                                            "failed", "cancelled"]


def test_every_member_has_a_label_and_reads_as_its_identifier():
    for enum, labels in ((Verdict, VERDICT_LABELS), (RunStatus, STATUS_LABELS)):
        assert set(labels) == set(enum) and all(labels.values())
        for member in enum:
            assert member == member.value and str(member) == f"{member}" == member.value
            assert json.loads(json.dumps({"x": member})) == {"x": member.value}
    assert str(Stage.INIT) == Stage.INIT.value  # the same pattern as the stages


def test_a_diverged_run_is_labelled_by_what_happened():
    """'diverged' as a run status means a non-finite loss, not two runs that part."""
    assert STATUS_LABELS[RunStatus.DIVERGED] != VERDICT_LABELS[Verdict.DIVERGED]
