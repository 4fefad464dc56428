"""Step-by-step comparison of two canary runs: verdict, where they part, and by how much.

Runs are aligned on their common step numbers. Floats are compared bit for bit (a NaN equals
a NaN only with the same bits) for the "identical" verdict, and with numpy's
``|other - ref| <= atol + rtol * |ref|`` for "equivalent". Non-finite losses never raise or
warn: a finite value against a non-finite one is a difference, and the difference series
holds NaN there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reprodiag.core.compare.layers import LayerComparison, compare_layers
from reprodiag.core.identifiers import Identifier
from reprodiag.core.knowledge.stages import (
    MAGNITUDE_MEANING,
    Magnitude,
    Stage,
    classify,
    relative_difference,
)
from reprodiag.core.runs.config import RECORDING_FIELDS, RunConfig
from reprodiag.core.runs.record import (
    FAILED,
    FINISHED,
    STATUS_LABELS,
    RunRecord,
    RunStatus,
    hash_texts,
)
from reprodiag.core.wording import counted


class Verdict(Identifier):
    """How two runs of one config compare. The values are the stable identifiers JSON keeps."""

    IDENTICAL = "identical"  # every compared value bitwise equal
    EQUIVALENT = "equivalent"  # losses within the tolerance
    DIVERGED = "diverged"  # beyond the tolerance, or a run did not finish


# What the views show for a verdict (JSON keeps the values).
VERDICT_LABELS: dict[Verdict, str] = {
    Verdict.IDENTICAL: "identical",
    Verdict.EQUIVALENT: "equivalent",
    Verdict.DIVERGED: "diverged",
}

IDENTICAL = Verdict.IDENTICAL
EQUIVALENT = Verdict.EQUIVALENT
DIVERGED = Verdict.DIVERGED
VERDICTS: tuple[Verdict, ...] = tuple(Verdict)


@dataclass(kw_only=True)
class RunComparison:
    """The comparison of `other` against the reference run `ref`."""

    ref: RunRecord
    other: RunRecord
    verdict: Verdict
    stage: Stage | None
    explanation: str
    common_steps: int
    # The first difference in a computed value where the runs part (the step-0 loss, a
    # step-0 gradient norm, or the first loss that differs after that) and its size.
    first_gap_step: int | None = None
    first_gap_rel: float = float("nan")
    magnitude: Magnitude | None = None
    first_param_diff_step: int | None = None
    # The last common step before first_param_diff_step where both hashes are equal, and
    # whether steps between them went unhashed (then the parameters parted somewhere in
    # between, not necessarily at first_param_diff_step).
    last_param_match_step: int | None = None
    param_hashes_sparse: bool = False
    first_loss_diff_step: int | None = None
    first_bitwise_loss_diff_step: int | None = None
    first_grad_norm_diff_step: int | None = None
    first_batch_diff_step: int | None = None
    # The last common step before first_batch_diff_step where both batch hashes were taken and
    # equal: the batches parted somewhere after it (batch hashes are taken on some steps only).
    last_batch_match_step: int | None = None
    # Whether the batch fed at the step where the numbers first part was compared: a canary's
    # batch hash chains every batch, so any later step both hashed covers it; a recorder's
    # chains only the batches of hashed steps.
    batch_compared_at_parting: bool = True
    # The runs were recorded under different definitions of batch_hash and grad_norm
    # (RunRecord.recording_scheme: another reprodiag version, or a recorder against a
    # canary), so neither was compared.
    schemes_differ: bool = False
    max_abs_diff: float = float("nan")
    max_rel_diff: float = float("nan")
    final_abs_diff: float = float("nan")
    final_rel_diff: float = float("nan")
    same_length: bool = True
    nonfinite_steps: int = 0  # common steps where either loss is NaN/Inf (left out of the diffs)
    rtol: float = 1e-5
    atol: float = 1e-8
    problems: list[str] = field(default_factory=list)
    config_differences: list[tuple[str, Any, Any]] = field(default_factory=list)
    settings_differences: list[tuple[str, Any, Any]] = field(default_factory=list)
    # Where the runs part inside the model (core/compare/layers.py); None when a run has
    # no layer fingerprints.
    layers: LayerComparison | None = None

    @property
    def ref_status(self) -> RunStatus:
        return self.ref.status

    @property
    def other_status(self) -> RunStatus:
        return self.other.status

    @property
    def flagged(self) -> bool:
        """True when a run failed, diverged to NaN/Inf or did not finish."""
        return bool(self.problems)

    @property
    def param_parting_cell(self) -> str:
        """`param_parting` for a table cell: "b", "a to b" when hashes were sparse, "" if none."""
        if self.first_param_diff_step is None:
            return ""
        if self.param_hashes_sparse and self.last_param_match_step is not None:
            return f"{self.last_param_match_step} to {self.first_param_diff_step}"
        return str(self.first_param_diff_step)

    @property
    def param_parting(self) -> str:
        """Where the parameter hashes part, in words ("" when they never do)."""
        step, before = self.first_param_diff_step, self.last_param_match_step
        if step is None:
            return ""
        if not self.param_hashes_sparse:
            return f"step {step}"
        if before is None:
            return f"by step {step} (no earlier step hashed on both sides)"
        return f"between step {before} and {step}"

    @property
    def first_part_step(self) -> int | None:
        """The first step where the parameters, the loss or the gradient norm differ."""
        parted = [s for s in (self.first_param_diff_step, self.first_bitwise_loss_diff_step,
                              self.first_grad_norm_diff_step) if s is not None]
        return min(parted) if parted else None

    @property
    def partial(self) -> bool:
        """The runs have different lengths (one shorter, cancelled or failed): everything is
        compared over the steps both have."""
        return not self.same_length

    @property
    def title(self) -> str:
        """The pair's config, with both values where the configs differ ("seed=0 vs 1")."""
        return pair_title(self.ref.config, self.other.config)


def pair_title(a: RunConfig, b: RunConfig) -> str:
    """A compact label for a pair of configs: A's label with B's values where they differ
    ("torch mlp cpu seed=0 vs 1")."""
    if a == b:
        return a.short_label()
    da, db = a.model_dump(), b.model_dump()
    differ = [k for k in da if da[k] != db[k] and k not in RECORDING_FIELDS]
    if not differ:
        return a.short_label()
    parts: list[str] = [a.framework, a.model, a.device] if not {
        "framework", "model", "device"} & set(differ) else []
    if "seed" not in differ:  # the seed tells a side's runs apart
        parts.append(f"seed={_short(a.seed)}")
    parts += [f"{k}={_short(da[k])} vs {_short(db[k])}" for k in differ]
    return " ".join(parts)


def _short(value: Any) -> str:
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(
        value)


def float_bits(values: np.ndarray) -> np.ndarray:
    """float64 values as their bit patterns, for bitwise comparison (a NaN equals the same NaN)."""
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def _taken_values_differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per step, whether two values were both taken and differ bitwise. NaN is "not taken":
    a gradient norm is recorded on hashed steps only (and never by Keras), and two runs may
    hash at different steps. A NaN norm that was taken goes uncounted too; the loss and the
    parameters show such a step, one step later at most."""
    taken = ~(np.isnan(a) | np.isnan(b))
    return taken & (float_bits(a) != float_bits(b))


def _align(ref: RunRecord, other: RunRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Common step numbers and the row indices of each run holding them."""
    steps_a = np.asarray(ref.steps.step, dtype=np.int64)
    steps_b = np.asarray(other.steps.step, dtype=np.int64)
    common, ia, ib = np.intersect1d(steps_a, steps_b, return_indices=True)
    return common, ia, ib


def hash_parting(a: np.ndarray, b: np.ndarray) -> tuple[int | None, int | None]:
    """For two aligned hash columns: (first index where both runs have a hash and they
    differ, last index before it where both have one and it is equal); each None when there
    is none.

    An empty hash means "not taken on this step" (hashing every k-th step), so a step is
    compared only where both sides hashed it. Columns of bytes and of str (a hash bytes
    cannot hold) compare as str.
    """
    if a.dtype.kind != b.dtype.kind:
        a, b = np.array(hash_texts(a), dtype=object), np.array(hash_texts(b), dtype=object)
    blank = b"" if a.dtype.kind == "S" else ""
    both = (a != blank) & (b != blank)
    differ = both & (a != b)
    hits = np.flatnonzero(differ)
    first = int(hits[0]) if hits.size else None
    agreed = np.flatnonzero(both[:first] if first is not None else both)
    return first, (int(agreed[-1]) if agreed.size else None)


def _step_at(steps: np.ndarray, index: int | None) -> int | None:
    return None if index is None else int(steps[index])


def first_step(steps: np.ndarray, mask: np.ndarray) -> int | None:
    """The step number at the first True of `mask`, or None."""
    hits = np.flatnonzero(mask)
    return int(steps[hits[0]]) if hits.size else None


def _abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| where both are finite, NaN elsewhere (no warnings)."""
    finite = np.isfinite(a) & np.isfinite(b)
    out = np.full(a.shape, np.nan)
    np.subtract(a, b, out=out, where=finite)
    np.abs(out, out=out, where=finite)
    return out


def _rel_diff(a: np.ndarray, b: np.ndarray, absdiff: np.ndarray) -> np.ndarray:
    """|a - b| / max(|a|, |b|): symmetric and bounded; 0 where both are 0, NaN if non-finite."""
    finite = np.isfinite(absdiff)
    scale = np.maximum(np.abs(a), np.abs(b))
    out = np.where(finite, 0.0, np.nan)
    np.divide(absdiff, scale, out=out, where=finite & (scale > 0))
    return out


def _nanmax(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else float("nan")


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """numpy.isclose(b, a) for finite pairs; equal non-finite values (NaN, same Inf) match."""
    finite = np.isfinite(a) & np.isfinite(b)
    bound = atol + rtol * np.abs(np.where(finite, a, 0.0))
    close = np.zeros(a.shape, dtype=bool)
    np.less_equal(_abs_diff(b, a), bound, out=close, where=finite)
    return close | (np.isnan(a) & np.isnan(b)) | (a == b)


def abs_diff_series(ref: RunRecord, other: RunRecord) -> tuple[np.ndarray, np.ndarray]:
    """Common step numbers and |loss difference| there (NaN where either loss is non-finite)."""
    common, ia, ib = _align(ref, other)
    a = ref.steps.array("loss")[ia]
    b = other.steps.array("loss")[ib]
    return common, _abs_diff(a, b)


def _run_problems(tag: str, run: RunRecord) -> list[str]:
    name = run.display_name()
    if run.status == FINISHED:
        return []
    if run.status == FAILED:
        return [f"{tag} ({name}) failed: {run.reason or 'no reason given'}"]
    nonfinite = np.flatnonzero(~np.isfinite(run.steps.array("loss")))
    if nonfinite.size:
        step = int(run.steps.step[nonfinite[0]])
        return [f"{tag} ({name}) diverged: loss became non-finite at step {step}"]
    detail = f": {run.reason}" if run.reason else ""
    return [f"{tag} ({name}) did not finish (status {STATUS_LABELS[run.status]}){detail}"]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k in sorted(value, key=str):
            out.update(_flatten(value[k], f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _dict_differences(a: dict, b: dict) -> list[tuple[str, Any, Any]]:
    """(key, a value, b value) for keys whose values differ; missing values are None."""
    fa, fb = _flatten(a), _flatten(b)
    return [(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


def compare_runs(ref: RunRecord, other: RunRecord, *, rtol: float = 1e-5,
                 atol: float = 1e-8) -> RunComparison:
    """Compare `other` against `ref` step by step and say where and how they part.

    Runs of different lengths (one shorter, cancelled or failed) are compared over the steps
    both have; their final predictions only when both finished the same steps."""
    common, ia, ib = _align(ref, other)
    loss_a = ref.steps.array("loss")[ia]
    loss_b = other.steps.array("loss")[ib]
    grad_a = ref.steps.array("grad_norm")[ia]
    grad_b = other.steps.array("grad_norm")[ib]
    param_at, param_agreed = hash_parting(ref.steps.param_hash[ia], other.steps.param_hash[ib])
    loss_bits_differ = float_bits(loss_a) != float_bits(loss_b)
    schemes_differ = ref.recording_scheme != other.recording_scheme
    if schemes_differ:
        batch_at, batch_agreed = None, None
        grad_bits_differ = np.zeros(len(common), dtype=bool)
    else:
        batch_at, batch_agreed = hash_parting(ref.steps.batch_hash[ia],
                                              other.steps.batch_hash[ib])
        grad_bits_differ = _taken_values_differ(grad_a, grad_b)
    loss_not_close = ~_close(loss_a, loss_b, rtol, atol)

    absdiff = _abs_diff(loss_a, loss_b)
    reldiff = _rel_diff(loss_a, loss_b, absdiff)
    same_length = bool(np.array_equal(ref.steps.step, other.steps.step))
    both_finished = ref.status == other.status == FINISHED and same_length
    probe_a, probe_b = ref.summary.get("probe_hash"), other.summary.get("probe_hash")
    probe_differs = (both_finished and isinstance(probe_a, str) and isinstance(probe_b, str)
                     and probe_a != probe_b)

    first_param = _step_at(common, param_at)
    first_bitwise_loss = first_step(common, loss_bits_differ)
    first_grad = first_step(common, grad_bits_differ)
    first_batch = _step_at(common, batch_at)
    last_batch_match = _step_at(common, batch_agreed) if batch_at is not None else None
    dataset_differs = ref.dataset_hash != other.dataset_hash
    init_differs = ref.init_param_hash != other.init_param_hash

    steps_identical = (param_at is None and batch_at is None
                       and not (loss_bits_differ.any() or grad_bits_differ.any()))
    if not common.size and (len(ref.steps) or len(other.steps)):
        verdict = DIVERGED  # nothing to compare: one run has no step at all
    elif steps_identical and not dataset_differs and not init_differs and not probe_differs:
        verdict = IDENTICAL
    elif not loss_not_close.any():
        verdict = EQUIVALENT
    else:
        verdict = DIVERGED

    parted = [s for s in (first_param, first_bitwise_loss, first_grad) if s is not None]
    first_part = min(parted) if parted else None
    both_hashed = (ref.steps.hashed("batch_hash")[ia] & other.steps.hashed("batch_hash")[ib]
                   if not schemes_differ else np.zeros(len(common), dtype=bool))
    batch_seen = _batch_seen(both_hashed, common, first_part,
                             chained=ref.recording_scheme.startswith("canary"))
    stage = _stage(verdict, common, dataset_differs, init_differs, first_batch,
                   last_batch_match, first_part, first_bitwise_loss, first_grad, first_param,
                   probe_differs)
    gap_step, gap_rel = _first_gap(stage, common, loss_a, loss_b, grad_a, grad_b,
                                   first_bitwise_loss)
    dtype = str(ref.settings.get("param_dtype") or ref.config.dtype)
    magnitude = classify(gap_rel, dtype) if gap_step is not None else None
    layers = compare_layers(ref, other)
    refined = _layer_stage(layers, common, stage)
    if refined is not None and layers is not None and layers.step is not None:
        stage, gap_step, gap_rel = refined, layers.step, layers.rel_error
        magnitude = Magnitude(layers.magnitude)
        if stage in (Stage.FORWARD, Stage.BACKWARD, Stage.ACCUMULATED):
            first_part = layers.step if first_part is None else min(first_part, layers.step)
    explanation = _explain(verdict, stage, common, first_batch if stage == Stage.BATCHES
                           else first_part, magnitude, len(ref.steps), len(other.steps))
    if refined is not None and layers is not None and layers.parting is not None:
        p = layers.parting
        inputs = "equal inputs" if layers.input_matched else "the batch itself differing"
        explanation += (f" The first layer to differ is {p.label} ({p.kind}, {p.phase}) at "
                        f"step {layers.step}, with {inputs}.")
    last = len(common) - 1
    return RunComparison(
        ref=ref,
        other=other,
        verdict=verdict,
        stage=stage,
        explanation=explanation,
        common_steps=len(common),
        first_gap_step=gap_step,
        first_gap_rel=gap_rel,
        magnitude=magnitude,
        first_param_diff_step=first_param,
        last_param_match_step=_step_at(common, param_agreed) if param_at is not None else None,
        # sparse: common steps between the last agreeing hash (or the start) and the first
        # differing one went unhashed on a side
        param_hashes_sparse=param_at is not None
        and param_at - (-1 if param_agreed is None else param_agreed) > 1,
        first_loss_diff_step=first_step(common, loss_not_close),
        first_bitwise_loss_diff_step=first_bitwise_loss,
        first_grad_norm_diff_step=first_grad,
        first_batch_diff_step=first_batch,
        last_batch_match_step=last_batch_match,
        batch_compared_at_parting=batch_seen,
        schemes_differ=schemes_differ,
        max_abs_diff=_nanmax(absdiff),
        max_rel_diff=_nanmax(reldiff),
        final_abs_diff=float(absdiff[last]) if last >= 0 else float("nan"),
        final_rel_diff=float(reldiff[last]) if last >= 0 else float("nan"),
        same_length=same_length,
        nonfinite_steps=int(np.count_nonzero(~(np.isfinite(loss_a) & np.isfinite(loss_b)))),
        rtol=rtol,
        atol=atol,
        problems=_run_problems("A", ref) + _run_problems("B", other),
        config_differences=_dict_differences(ref.config.model_dump(), other.config.model_dump()),
        settings_differences=_dict_differences(ref.settings, other.settings),
        layers=layers,
    )


def _batch_seen(both_hashed: np.ndarray, common: np.ndarray, step: int | None,
                chained: bool) -> bool:
    """Whether the batch of `step` was compared (see RunComparison)."""
    if step is None:
        return True
    at = common == step
    if chained:
        return bool((both_hashed & (common >= step)).any())
    return bool((both_hashed & at).any())


def _stage(verdict: str, common: np.ndarray, dataset_differs: bool, init_differs: bool,
           first_batch: int | None, last_batch_match: int | None, first_part: int | None,
           first_bitwise_loss: int | None, first_grad: int | None, first_param: int | None,
           probe_differs: bool) -> Stage | None:
    """The earliest stage of the pipeline at which the runs part (None when they do not).

    Batches count as parting first when their hashes differ and nothing parted before the
    last step where they still agreed: with hashes taken on some steps only, the batch that
    differs may be the very one where the numbers part."""
    start = int(common[0]) if common.size else None
    if verdict == IDENTICAL:
        return None
    if dataset_differs:
        return Stage.DATASET
    if init_differs:
        return Stage.INIT
    if first_batch is not None and (first_part is None or first_batch <= first_part or (
            last_batch_match is None or last_batch_match < first_part)):
        return Stage.BATCHES
    if start is not None and first_bitwise_loss == start:
        return Stage.FORWARD
    if start is not None and first_grad == start:
        return Stage.BACKWARD
    if start is not None and first_param == start:
        return Stage.UPDATE
    if first_part is not None:
        return Stage.ACCUMULATED
    if probe_differs:
        return Stage.PREDICTIONS
    return None


def _layer_stage(layers: LayerComparison | None, common: np.ndarray,
                 stage: Stage | None) -> Stage | None:
    """The stage the layer fingerprints show, when it is earlier than (or as early as, and
    so more precise than) the one the losses and hashes show; None otherwise."""
    if layers is None or layers.parting is None or layers.step is None or not common.size:
        return None
    if stage is None or stage in (Stage.DATASET, Stage.INIT):
        return None
    if layers.parting.phase == "input":
        found = Stage.BATCHES
    elif layers.step == int(common[0]):
        found = Stage.FORWARD if layers.parting.phase == "forward" else Stage.BACKWARD
    else:
        found = Stage.ACCUMULATED
    order = list(Stage)
    return found if order.index(found) <= order.index(stage) else None


def _first_gap(stage: Stage | None, common: np.ndarray, loss_a: np.ndarray, loss_b: np.ndarray,
               grad_a: np.ndarray, grad_b: np.ndarray,
               first_bitwise_loss: int | None) -> tuple[int | None, float]:
    """Where and by how much (relative) the first computed value differs: the step-0
    gradient norm for a backward parting, else the first loss that differs bitwise."""
    if stage == Stage.BACKWARD:
        return int(common[0]), relative_difference(float(grad_a[0]), float(grad_b[0]))
    if first_bitwise_loss is None or stage in (None, Stage.DATASET, Stage.INIT):
        return None, float("nan")
    i = int(np.searchsorted(common, first_bitwise_loss))
    return first_bitwise_loss, relative_difference(float(loss_a[i]), float(loss_b[i]))


def _explain(verdict: str, stage: Stage | None, common: np.ndarray, step: int | None,
             magnitude: Magnitude | None, len_a: int, len_b: int) -> str:
    """One or two sentences: where the runs part and what the size of the gap says."""
    lengths = (f" (the runs have {len_a} and {len_b} steps; compared over the "
               f"{len(common)} both have)" if len_a != len_b else "")
    if stage is None:
        if not common.size:
            return "The runs have no step in common, so they cannot be compared step by step."
        if verdict == IDENTICAL:
            return (f"The runs are bitwise identical over {counted(len(common), 'common step')}"
                    f"{lengths}.")
        return f"The runs agree within tolerance over {counted(len(common), 'common step')}{lengths}."
    at = f" at step {step}" if step is not None else ""
    text = {
        Stage.DATASET: "The two runs trained on different data (the dataset hashes differ), so "
                       "their results are not comparable step by step.",
        Stage.INIT: "The runs start from different initial parameters: the seed, the random "
                    "stream, the dtype or the model that drew the weights differs.",
        Stage.BATCHES: f"The runs are fed different batches{at}: the data, the batch size, "
                       "shuffling or augmentation differ.",
        Stage.FORWARD: "Same data and same initial parameters, yet the very first loss "
                       "differs: the forward pass computes differently.",
        Stage.BACKWARD: "The first loss agrees but the first gradients differ: the backward "
                        "pass computes differently.",
        Stage.UPDATE: "The first loss (and gradient, where recorded) agree but the parameters "
                      "after the first update differ: the update itself differs, or rounding "
                      "in the backward pass.",
        Stage.ACCUMULATED: f"Same data, parameters and first step; the runs part{at}.",
        Stage.PREDICTIONS: "Every recorded step is bitwise equal, but the final predictions on "
                           "the probe set differ: inference kernels compute differently.",
        Stage.FAILURE: "A run failed.",
    }[stage]
    if magnitude is not None and stage not in (Stage.DATASET, Stage.INIT, Stage.BATCHES):
        text += f" The first difference is {magnitude.value}: {MAGNITUDE_MEANING[magnitude]}."
    return text + lengths


def pair_runs(runs_a: list[RunRecord],
              runs_b: list[RunRecord]) -> list[tuple[RunRecord, RunRecord]]:
    """Pair runs of two sides; each run used once.

    Tiers, strictest first: the same config; the same config but for placement (device,
    threads); the same framework and model (the settings that differ -- seed, dtype,
    determinism -- are then what the comparison is about, and are reported with it).
    Pairs come in the order of `runs_a`; among equal candidates the earliest in `runs_b` wins.
    """
    used_b: set[int] = set()
    partner: dict[int, int] = {}
    for same in (lambda x, y: x.config == y.config,
                 lambda x, y: x.config.pairing_key() == y.config.pairing_key(),
                 lambda x, y: (x.config.framework, x.config.model)
                 == (y.config.framework, y.config.model)):
        for i, a in enumerate(runs_a):
            if i in partner:
                continue
            for j, b in enumerate(runs_b):
                if j not in used_b and same(a, b):
                    partner[i] = j
                    used_b.add(j)
                    break
    return [(runs_a[i], runs_b[partner[i]]) for i in sorted(partner)]
