"""Where two runs part inside the model: the first captured step where a layer differs, the
layer that parts first, and by how much.

Each run captured, on some steps, a fingerprint of the batch, of every layer's output (in
execution order) and of every parameter gradient (in reverse execution order): see
core/runs/layers.py. At the first step both runs captured where any record differs, the
*parting layer* is the first record in that order that differs while the one before it --
its input: the batch, or the previous layer's output -- matched (NVIDIA's rule for a
nondeterministic op: the first one whose output differs from equal inputs). Its size is
estimated from the fingerprints (norms and the 16 sampled values) and named by class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from reprodiag.core.knowledge.stages import MAGNITUDE_MEANING, Magnitude, classify
from reprodiag.core.runs.layers import LayerCapture, LayerRecord
from reprodiag.core.runs.record import RunRecord
from reprodiag.core.wording import counted

# The magnitude classes are the catalog's (core/knowledge/stages.py), by their names.
BITWISE, LAST_BITS, REDUCTION, TF32_SCALE, HALF_SCALE, GROSS = (m.value for m in Magnitude)
MAGNITUDES = tuple(m.value for m in Magnitude)
MAGNITUDE_WHY = {m.value: MAGNITUDE_MEANING[m] for m in Magnitude}


def magnitude_class(rel_error: float, ulps: float, equal: bool, dtype: str = "float32") -> str:
    """The class of a difference from its relative error and largest sampled ULP distance;
    records that differ by no measurable amount (hashes only) are last bits."""
    if equal:
        return BITWISE
    if rel_error == 0 and not ulps:
        return LAST_BITS
    return classify(rel_error, dtype, ulps=ulps).value


@dataclass(frozen=True, kw_only=True)
class LayerRef:
    """Which tensor: a layer (`name`, `kind`), the phase and the tensor's name in it."""

    name: str
    kind: str
    phase: str  # input, forward or backward
    tensor: str

    @property
    def label(self) -> str:
        return self.name if self.tensor == "out" else f"{self.name} {self.tensor}"


@dataclass(frozen=True, kw_only=True)
class LayerRow:
    """One record compared on one step: both sides' fingerprints (None where a side lacks
    it) and the size of their difference (0 and BITWISE when they match)."""

    layer: LayerRef
    equal: bool
    rel_error: float
    ulps: float
    magnitude: str
    a: LayerRecord | None
    b: LayerRecord | None


@dataclass(frozen=True, kw_only=True)
class LayerNonFinite:
    """The first tensor holding NaN/Inf values: which side(s), on which step, where."""

    layer: LayerRef
    step: int
    sides: str  # "A", "B" or "A and B"


@dataclass(kw_only=True)
class LayerComparison:
    """The layer-by-layer comparison of two runs (see the module docstring)."""

    steps: list[int]  # steps both runs captured
    step: int | None  # the first of them where any record differs; None: none differs
    parting: LayerRef | None  # the first record that differs while its input matched
    rel_error: float = 0.0
    ulps: float = 0.0
    magnitude: str = BITWISE
    input_matched: bool = True  # False when the parting record is the batch itself
    nonfinite: LayerNonFinite | None = None
    rows: list[LayerRow] = field(default_factory=list)  # the parting record and all after it
    # rel_error of every record (rows, in the first capture's order) on every step in
    # `steps` (columns): 0 where equal, NaN where a side lacks it.
    grid_layers: list[LayerRef] = field(default_factory=list)
    grid: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    summary: str = ""

    @property
    def differs(self) -> bool:
        return self.step is not None


# ---------------------------------------------------------------- one pair of records

def _float32_order(values: np.ndarray) -> np.ndarray:
    """float32 bit patterns mapped to integers that increase with the value (+0 == -0)."""
    bits = values.astype(np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def _value_equal(a: LayerRecord, b: LayerRecord) -> bool:
    """Same values in another dtype (a float32 run against a float64 one: the hashes differ
    by dtype alone): shape, norm, max |x|, non-finite count and every sampled value equal.
    In one dtype the hash decides."""
    return (a.dtype != b.dtype and a.shape == b.shape and a.norm == b.norm
            and a.max_abs == b.max_abs and a.nonfinite == b.nonfinite and a.sample == b.sample)


def difference(a: LayerRecord, b: LayerRecord) -> tuple[bool, float, float]:
    """(equal, relative error, largest float32 ULP distance among the samples) of two
    fingerprints. The relative error is the larger of the norms' and the sampled values'
    largest difference over the tensor's RMS value; a differing shape or non-finite count
    is infinitely far."""
    if a.hash == b.hash or _value_equal(a, b):
        return True, 0.0, 0.0
    if a.shape != b.shape or a.nonfinite != b.nonfinite or len(a.sample) != len(b.sample):
        return False, math.inf, math.inf
    rel = abs(a.norm - b.norm) / max(a.norm, b.norm) if max(a.norm, b.norm) > 0 else 0.0
    sa, sb = a.sample_array(), b.sample_array()
    same = (sa == sb) | (np.isnan(sa) & np.isnan(sb))
    if not np.isfinite(sa[~same]).all() or not np.isfinite(sb[~same]).all():
        return False, math.inf, math.inf
    count = math.prod(a.shape) - a.nonfinite
    rms = max(a.norm, b.norm) / math.sqrt(count) if count else 0.0
    if (~same).any():
        gap = float(np.max(np.abs(sa - sb)[~same]))
        rel = max(rel, gap / rms if rms > 0 else math.inf)
        ulps = float(np.max(np.abs(_float32_order(sa[~same]) - _float32_order(sb[~same]))))
    else:
        ulps = 0.0
    return False, rel, ulps


def _ref(record: LayerRecord) -> LayerRef:
    return LayerRef(name=record.name, kind=record.kind, phase=record.phase, tensor=record.tensor)


def _same_structure(a: Sequence[LayerRecord], b: Sequence[LayerRecord]) -> bool:
    """The same layers in the same order, whatever their names: Keras numbers the layers of
    each model built in one process (dense, dense_1, ... then dense_2, dense_3)."""
    return len(a) == len(b) and all(
        (ra.phase, ra.kind, ra.tensor, ra.shape) == (rb.phase, rb.kind, rb.tensor, rb.shape)
        for ra, rb in zip(a, b))


def layer_rows(a: LayerCapture, b: LayerCapture) -> list[LayerRow]:
    """Both captures of one step, record by record: A's order, then records only B has.
    Records are matched by name; by position when the names differ but the layers do not."""
    theirs = {r.key: r for r in b.records}
    ours = {r.key for r in a.records}
    if ours != set(theirs) and _same_structure(a.records, b.records):
        return [_row(ra, rb) for ra, rb in zip(a.records, b.records)]
    rows = []
    for ra in a.records:
        rb = theirs.get(ra.key)
        rows.append(_row(ra, rb))
    rows.extend(_row(None, rb) for rb in b.records if rb.key not in ours)
    return rows


def _row(a: LayerRecord | None, b: LayerRecord | None) -> LayerRow:
    if a is None or b is None:
        only = a if a is not None else b
        assert only is not None
        return LayerRow(layer=_ref(only), equal=False, rel_error=math.inf, ulps=math.inf,
                        magnitude=GROSS, a=a, b=b)
    equal, rel, ulps = difference(a, b)
    return LayerRow(layer=_ref(a), equal=equal, rel_error=rel, ulps=ulps,
                    magnitude=magnitude_class(rel, ulps, equal), a=a, b=b)


# ---------------------------------------------------------------- two runs

def _first_nonfinite(captures: list[LayerCapture]) -> tuple[int, int, LayerRecord] | None:
    """(step, position, record) of a run's first record holding a non-finite value."""
    for capture in captures:
        for position, record in enumerate(capture.records):
            if record.nonfinite:
                return capture.step, position, record
    return None


def _nonfinite(ref: RunRecord, other: RunRecord) -> LayerNonFinite | None:
    """The earliest record (by step, then position) holding non-finite values on either
    side; both sides are named when the other has them in the same record on that step."""
    hits = {side: _first_nonfinite(run.layers) for side, run in (("A", ref), ("B", other))}
    found = {side: hit for side, hit in hits.items() if hit is not None}
    if not found:
        return None
    step, _position, record = min(found.values(), key=lambda hit: (hit[0], hit[1]))
    sides = [side for side, hit in found.items() if hit[0] == step and hit[2].key == record.key]
    return LayerNonFinite(layer=_ref(record), step=step, sides=" and ".join(sides))


def compare_layers(ref: RunRecord, other: RunRecord) -> LayerComparison | None:
    """The layer comparison of two runs, or None when either captured no layers (bundles
    from before layer capture, a run with it turned off, a model it could not hook)."""
    if not ref.layers or not other.layers:
        return None
    theirs = {c.step: c for c in other.layers}
    common = [c for c in ref.layers if c.step in theirs]
    steps = [c.step for c in common]
    result = LayerComparison(steps=steps, step=None, parting=None,
                             nonfinite=_nonfinite(ref, other))
    grid_index: dict[tuple[str, str, str], int] = {}
    columns = []
    for capture in common:
        rows = layer_rows(capture, theirs[capture.step])
        for row in rows:
            key = (row.layer.phase, row.layer.name, row.layer.tensor)
            if key not in grid_index:
                grid_index[key] = len(result.grid_layers)
                result.grid_layers.append(row.layer)
        columns.append({grid_index[(r.layer.phase, r.layer.name, r.layer.tensor)]: r.rel_error
                        for r in rows})
        if result.step is None:
            parting = next((i for i, row in enumerate(rows) if not row.equal), None)
            if parting is not None:
                row = rows[parting]
                result.step, result.parting, result.rows = capture.step, row.layer, rows[parting:]
                result.rel_error, result.ulps, result.magnitude = row.rel_error, row.ulps, row.magnitude
                result.input_matched = row.layer.phase != "input"
    result.grid = np.full((len(result.grid_layers), len(steps)), np.nan)
    for j, column in enumerate(columns):
        for i, value in column.items():
            result.grid[i, j] = value
    result.summary = _summary(result)
    return result


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2g}"


def _summary(lc: LayerComparison) -> str:
    nonfinite = ""
    if lc.nonfinite is not None:
        nf = lc.nonfinite
        nonfinite = (f"; first non-finite values: {nf.layer.label} ({nf.layer.kind}, "
                     f"{nf.layer.phase}) at step {nf.step} in {nf.sides}")
    if not lc.steps:
        return "no step captured by both runs" + nonfinite
    if lc.parting is None:
        return (f"no layer differs on the {counted(len(lc.steps), 'step')} both runs captured"
                + nonfinite)
    p = lc.parting
    if p.phase == "input":
        return f"the input batch differs at step {lc.step} ({p.label})" + nonfinite
    size = lc.magnitude if lc.magnitude == GROSS and math.isinf(lc.rel_error) else (
        f"{lc.magnitude}: relative error {_fmt(lc.rel_error)}, {_fmt(lc.ulps)} ULPs")
    return (f"layers part at step {lc.step} in {p.label} ({p.kind}, {p.phase}) with equal "
            f"inputs; {size}" + nonfinite)
