"""Did the fix work? A rerun started from a finding, followed until it ends and then compared
with what it should now agree with: the reference run of the pair (the fix changed B only),
or the rerun of the reference too (the fix changed both sides).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from reprodiag.core.compare.runs import IDENTICAL, VERDICT_LABELS, compare_runs
from reprodiag.core.runs.record import FINISHED, STATUS_LABELS, RunRecord
from reprodiag.core.wording import counted


@dataclass(kw_only=True)
class FixCheck:
    """A fix being tried: what it changes, the reruns, and the run they must match."""

    title: str  # the finding's title
    changes: dict
    records: list[RunRecord]
    reference: Optional[RunRecord]  # A's original run, when only B was rerun
    result: str = ""
    worked: Optional[bool] = None
    checked: list[str] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return all(r.ended for r in self.records)

    @property
    def changes_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.changes.items())

    def pairs(self) -> list[tuple[RunRecord, RunRecord]]:
        """(reference, fixed run) pairs to compare once every rerun has ended."""
        if self.reference is not None:
            return [(self.reference, r) for r in self.records]
        return [(self.records[i], self.records[i + 1]) for i in range(0, len(self.records) - 1, 2)]

    def conclude(self) -> str:
        """Compare, and say in one sentence whether the fix worked."""
        failed = [r for r in self.records if r.status != FINISHED]
        head = f"Rerun with fix ({self.changes_text}) for “{self.title}”"
        if failed:
            self.worked = None
            self.result = (f"{head}: a rerun did not finish ({STATUS_LABELS[failed[0].status]}"
                           f"{': ' + failed[0].reason if failed[0].reason else ''}), so the "
                           "fix could not be checked.")
            return self.result
        verdicts = [compare_runs(a, b) for a, b in self.pairs()]
        differing = [c for c in verdicts if c.verdict != IDENTICAL]
        self.worked = not differing
        if not differing:
            steps = min(c.common_steps for c in verdicts) if verdicts else 0
            self.result = (f"{head}: the fix worked — the runs are now bitwise identical over "
                           f"{counted(steps, 'step')} (rerun on this machine).")
        else:
            c = differing[0]
            where = c.first_gap_step if c.first_gap_step is not None else \
                c.first_bitwise_loss_diff_step
            at = f" from step {where}" if where is not None else ""
            self.result = (f"{head}: still differs — {VERDICT_LABELS[c.verdict]}{at}"
                           f"{' (' + c.stage.value + ')' if c.stage else ''}; the fix did not "
                           "remove the difference (rerun on this machine). Look at the next "
                           "finding, or use Explain this difference.")
        return self.result
