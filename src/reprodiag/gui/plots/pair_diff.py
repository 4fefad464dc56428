"""|loss difference| and first-difference step of two growing runs, updated from new steps only.

Workers report steps in increasing order, so each update aligns just the rows that arrived
since the last one: live difference curves cost O(new steps), not O(run length). The result
is what core.compare gives for the whole runs (abs_diff_series; the first bitwise loss
difference, else the first parameter difference, of compare_runs). Runs whose step numbers do
not increase (never seen from a worker) are compared whole on each update instead.
"""

from __future__ import annotations

import numpy as np

from reprodiag.core.compare import abs_diff_series, compare_runs
from reprodiag.core.compare.runs import first_step, float_bits, hash_parting
from reprodiag.core.runs.record import RunRecord, reading
from reprodiag.gui.plots.buffers import GrowingSeries


def first_difference_step(cmp) -> int | None:
    """Where the loss curves first differ bitwise (else where parameters first differ)."""
    if cmp.first_bitwise_loss_diff_step is not None:
        return cmp.first_bitwise_loss_diff_step
    return cmp.first_param_diff_step


def _column(record: RunRecord, name: str, lo: int, hi: int, dtype=None) -> np.ndarray:
    """Rows lo:hi of a step column as an array (the column may be a list or an array)."""
    return np.asarray(getattr(record.steps, name)[lo:hi], dtype=dtype)


def _increasing(steps: np.ndarray, after: float) -> bool:
    return bool(steps.size == 0 or (steps[0] > after and np.all(steps[1:] > steps[:-1])))


class PairDiff:
    """The common steps of `ref` and `other` so far, |loss difference| there (NaN where a
    loss is not finite) and where the runs first differ."""

    def __init__(self, ref: RunRecord, other: RunRecord):
        self.ref, self.other = ref, other
        self.steps = GrowingSeries()
        self.diff = GrowingSeries()
        self.first_loss_step: int | None = None  # first bitwise loss difference
        self.first_param_step: int | None = None
        self._rows = (0, 0)  # rows of each run aligned for good
        self._last = (-np.inf, -np.inf)  # the step number of each run's last aligned row
        self._lengths = (-1, -1)
        self._whole = False  # fall back to comparing whole runs
        self.rebuilds = 0  # how often the series were recomputed whole (not just extended)

    @property
    def first_difference_step(self) -> int | None:
        return self.first_loss_step if self.first_loss_step is not None else self.first_param_step

    def update(self) -> bool:
        """Take in the steps recorded since the last call; True when either run grew.
        (Under both records' locks: their workers' reader threads may be appending.)"""
        with reading((self.ref, self.other)):
            lengths = (len(self.ref.steps), len(self.other.steps))
            if lengths == self._lengths:
                return False
            self._lengths = lengths
            if not self._whole:
                self._whole = not self._extend(*lengths)
            if self._whole:
                self._compare_whole()
            return True

    def _extend(self, na: int, nb: int) -> bool:
        """Align the new rows; False when a run's step numbers do not increase."""
        (a0, b0), (last_a, last_b) = self._rows, self._last
        sa = _column(self.ref, "step", a0, na, np.int64)
        sb = _column(self.other, "step", b0, nb, np.int64)
        if not (_increasing(sa, last_a) and _increasing(sb, last_b)):
            return False
        if not (sa.size and sb.size):
            return True
        # steps up to the smaller of the two last steps can meet no later step of either run
        cutoff = min(sa[-1], sb[-1])
        ka, kb = int(np.searchsorted(sa, cutoff, "right")), int(np.searchsorted(sb, cutoff, "right"))
        common, ia, ib = np.intersect1d(sa[:ka], sb[:kb], assume_unique=True, return_indices=True)
        self._rows = (a0 + ka, b0 + kb)
        self._last = (sa[ka - 1] if ka else last_a, sb[kb - 1] if kb else last_b)
        if not common.size:
            return True
        loss_a = _column(self.ref, "loss", a0, a0 + ka, np.float64)[ia]
        loss_b = _column(self.other, "loss", b0, b0 + kb, np.float64)[ib]
        finite = np.isfinite(loss_a) & np.isfinite(loss_b)
        diff = np.full(common.shape, np.nan)
        np.subtract(loss_a, loss_b, out=diff, where=finite)
        np.abs(diff, out=diff, where=finite)
        self.steps.extend(common.astype(np.float64))
        self.diff.extend(diff)
        if self.first_loss_step is None:
            self.first_loss_step = first_step(common, float_bits(loss_a) != float_bits(loss_b))
        if self.first_param_step is None:
            hashes_a = _column(self.ref, "param_hash", a0, a0 + ka)[ia]
            hashes_b = _column(self.other, "param_hash", b0, b0 + kb)[ib]
            first, _ = hash_parting(hashes_a, hashes_b)  # only where both sides hashed
            self.first_param_step = None if first is None else int(common[first])
        return True

    def _compare_whole(self) -> None:
        self.rebuilds += 1
        steps, diff = abs_diff_series(self.ref, self.other)
        self.steps.clear()
        self.steps.extend(steps.astype(np.float64))
        self.diff.clear()
        self.diff.extend(diff)
        cmp = compare_runs(self.ref, self.other)
        self.first_loss_step = cmp.first_bitwise_loss_diff_step
        self.first_param_step = cmp.first_param_diff_step
