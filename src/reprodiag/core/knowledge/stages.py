"""The vocabulary the catalog and the diagnosis share: where two runs part, and by how much.

Stages follow a training step's pipeline, earliest first; a cause can first show only at
the stages its mechanism reaches (docs/numerics.md, "the diagnosis's alibi"). Magnitudes
classify a first difference by its relative size, so reduction-order rounding (a few units
in the last place) is told apart from TF32 (10-bit mantissa), half precision or a different
computation altogether.
"""

from __future__ import annotations

import math

from reprodiag.core.identifiers import Identifier


class Stage(Identifier):
    """Where two runs first part. The values are the stable identifiers JSON keeps."""

    DATASET = "dataset"
    INIT = "initial parameters"
    BATCHES = "batch order/content"
    FORWARD = "first forward pass"
    BACKWARD = "first backward pass"
    UPDATE = "first update"
    ACCUMULATED = "accumulated numerics"
    PREDICTIONS = "final predictions"
    FAILURE = "failure"


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)

# One sentence per stage, for people.
STAGE_MEANING: dict[Stage, str] = {
    Stage.DATASET: "the runs trained on different data",
    Stage.INIT: "the runs start from different initial parameters",
    Stage.BATCHES: "the runs are fed different batches",
    Stage.FORWARD: "same data and initial parameters, yet the very first loss differs",
    Stage.BACKWARD: "the first loss agrees but the first gradients differ",
    Stage.UPDATE: "the first loss (and gradient, where recorded) agree but the parameters "
                  "after the first update differ",
    Stage.ACCUMULATED: "the first step agrees entirely; the runs part later",
    Stage.PREDICTIONS: "every recorded step agrees but the final predictions differ",
    Stage.FAILURE: "a run failed or its loss became non-finite",
}


# Where a stage is, as the end of "the runs part ...".
STAGE_WHERE: dict[Stage, str] = {
    Stage.DATASET: "in their data",
    Stage.INIT: "in their initial parameters",
    Stage.BATCHES: "in their batches",
    Stage.FORWARD: "in the first forward pass",
    Stage.BACKWARD: "in the first backward pass",
    Stage.UPDATE: "in the first update",
    Stage.ACCUMULATED: "later in training",
    Stage.PREDICTIONS: "in the final predictions",
    Stage.FAILURE: "where a run fails",
}


class Magnitude(Identifier):
    """How big a first difference is, relative to the values compared."""

    BITWISE = "bitwise"
    LAST_BITS = "last bits"
    REDUCTION = "reduction order"
    TF32 = "TF32 scale"
    HALF = "half-precision scale"
    GROSS = "gross"


MAGNITUDE_MEANING: dict[Magnitude, str] = {
    Magnitude.BITWISE: "no difference at all",
    Magnitude.LAST_BITS: "a few units in the last place: one rounding done differently",
    Magnitude.REDUCTION: "rounding of a sum taken in another order (threads, kernels)",
    Magnitude.TF32: "~1e-4 to 1e-3 relative: float32 inputs rounded to a 10-bit mantissa (TF32)",
    Magnitude.HALF: "~1e-2 relative: half-precision (bfloat16/float16) rounding",
    Magnitude.GROSS: "far beyond rounding: a different computation, data or configuration",
}

# Rounding bounds scale with the type's machine epsilon: a few ULP is one rounding step;
# a reordered sum of n terms drifts by up to ~sqrt(n) ULP, and losses sum thousands.
EPSILON = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}
LAST_BITS_EPS = 8  # relative error, in epsilons, of "last bits" when no value was sampled
LAST_BITS_ULPS = 4  # ... and the largest ULP distance of sampled values (layer fingerprints)
REDUCTION_ULPS = 128
TF32_MAX = 3e-3  # TF32 rounds each product to ~5e-4 relative: errors of 1e-4 to 1e-3
HALF_MAX = 5e-2  # bfloat16's 8-bit mantissa: ~4e-3 a rounding, ~1e-2 after a few ops


def relative_difference(a: float, b: float) -> float:
    """|a - b| / max(|a|, |b|): symmetric, 0 for equal values, inf when one is non-finite."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


def classify(rel: float, dtype: str = "float32", ulps: float | None = None) -> Magnitude:
    """The magnitude class of a relative difference between values computed in `dtype`;
    `ulps`, the largest distance of sampled values in units in the last place, when known."""
    if rel == 0 and not ulps:
        return Magnitude.BITWISE
    if not math.isfinite(rel):
        return Magnitude.GROSS
    eps = EPSILON.get(dtype, EPSILON["float32"])
    last_bits = (ulps <= LAST_BITS_ULPS and rel <= REDUCTION_ULPS * eps) if ulps is not None \
        else rel <= LAST_BITS_EPS * eps
    if last_bits:
        return Magnitude.LAST_BITS
    if rel <= REDUCTION_ULPS * eps:
        return Magnitude.REDUCTION
    if rel <= TF32_MAX:
        return Magnitude.TF32
    if rel <= HALF_MAX:
        return Magnitude.HALF
    return Magnitude.GROSS


SIZE_ORDER: tuple[Magnitude, ...] = tuple(Magnitude)  # smallest first
ROUNDING = frozenset({Magnitude.LAST_BITS, Magnitude.REDUCTION})
BEYOND_ROUNDING = frozenset({Magnitude.TF32, Magnitude.HALF, Magnitude.GROSS})
ANY_MAGNITUDE = frozenset(Magnitude) - {Magnitude.BITWISE}
