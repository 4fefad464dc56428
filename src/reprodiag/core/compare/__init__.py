"""Compare two bundles: pair their runs, compare each pair step by step, diff the environments.

A bundle here is anything with ``.label``, ``.snapshot`` (a Snapshot or None) and ``.runs``
(a list of RunRecord) -- what `core.bundle.read_bundle` returns, or a live session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reprodiag.core.compare.envdiff import EnvDifference, diff_env
from reprodiag.core.compare.runs import (
    DIVERGED,
    EQUIVALENT,
    IDENTICAL,
    RunComparison,
    Verdict,
    abs_diff_series,
    compare_runs,
    pair_runs,
)
from reprodiag.core.naming import side_names
from reprodiag.core.runs.record import RunRecord

__all__ = [
    "BundleComparison",
    "EnvDifference",
    "RunComparison",
    "abs_diff_series",
    "compare_bundles",
    "compare_runs",
    "diff_env",
    "pair_runs",
]


@dataclass(kw_only=True)
class BundleComparison:
    """Everything the compare views and reports show about two bundles A and B."""

    labels: tuple[str, str]
    pairs: list[RunComparison] = field(default_factory=list)
    unpaired_a: list[RunRecord] = field(default_factory=list)
    unpaired_b: list[RunRecord] = field(default_factory=list)
    env: list[EnvDifference] = field(default_factory=list)
    has_snapshot: tuple[bool, bool] = (False, False)
    # The reprodiag versions that wrote each side ("" when not known: a live session, a report).
    producers: tuple[str, str] = ("", "")

    @property
    def tooling_differences(self) -> list[str]:
        """What differs in how the two sides were recorded -- reprodiag versions, recording
        schemes -- and which comparisons that makes unreliable; stated before anything else."""
        out = []
        va, vb = self.producers
        if va and vb and va != vb:
            out.append(f"recorded with reprodiag {va} ({self.labels[0]}) and {vb} "
                       f"({self.labels[1]}): canary code and data may differ between versions, "
                       "so a difference may be reprodiag's own; record both sides with one "
                       "version (the Colab notebook the app saves carries the app's)")
        schemes = sorted({(p.ref.recording_scheme or "0.1.0", p.other.recording_scheme or "0.1.0")
                          for p in self.pairs if p.schemes_differ})
        for sa, sb in schemes:
            out.append(f"runs recorded under different schemes ({sa} vs {sb}): batch hashes and "
                       "gradient norms are not compared for them, only losses and parameters")
        return out

    @property
    def env_compared(self) -> bool:
        return all(self.has_snapshot)

    @property
    def env_differences(self) -> list[EnvDifference]:
        """Facts both sides captured and that differ."""
        return [d for d in self.env if not d.same and not d.unknown]

    @property
    def env_unknown(self) -> list[EnvDifference]:
        """Facts captured on one side only: unknown on the other, not compared."""
        return [d for d in self.env if d.unknown]

    @property
    def numerics_env_differences(self) -> list[EnvDifference]:
        return [d for d in self.env_differences if d.numerics]

    @property
    def overall_verdict(self) -> Verdict | None:
        """The worst verdict over all pairs (diverged > equivalent > identical); None if none."""
        verdicts = {p.verdict for p in self.pairs}
        for v in (DIVERGED, EQUIVALENT, IDENTICAL):
            if v in verdicts:
                return v
        return None


def _left_over(runs: list[RunRecord], used: list[RunRecord]) -> list[RunRecord]:
    """The runs not in `used`, by identity, counting a run listed twice twice."""
    remaining = [id(r) for r in used]
    out = []
    for run in runs:
        if id(run) in remaining:
            remaining.remove(id(run))
        else:
            out.append(run)
    return out


def compare_bundles(a: Any, b: Any, *, rtol: float = 1e-5, atol: float = 1e-8) -> BundleComparison:
    """Pair the runs of `a` and `b`, compare each pair (A is the reference), diff the snapshots."""
    runs_a = list(getattr(a, "runs", None) or [])
    runs_b = list(getattr(b, "runs", None) or [])
    pairs = pair_runs(runs_a, runs_b)
    snap_a, snap_b = getattr(a, "snapshot", None), getattr(b, "snapshot", None)
    return BundleComparison(
        labels=side_names(a, b),
        pairs=[compare_runs(x, y, rtol=rtol, atol=atol) for x, y in pairs],
        unpaired_a=_left_over(runs_a, [x for x, _ in pairs]),
        unpaired_b=_left_over(runs_b, [y for _, y in pairs]),
        env=diff_env(snap_a, snap_b) if snap_a is not None and snap_b is not None else [],
        has_snapshot=(snap_a is not None, snap_b is not None),
        producers=(_producer(a), _producer(b)),
    )


def _producer(bundle: Any) -> str:
    producer = getattr(bundle, "producer", None)
    version = producer.get("version") if isinstance(producer, dict) else None
    return str(version) if version else ""
