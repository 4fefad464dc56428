"""Rank the suspects by how well each explains what the runs show.

For every run pair that differs, the runs say where they part (the stage), how big the
first difference is (its magnitude), and on which devices and framework they ran. A suspect
explains that only if the catalog says its cause can first show at that stage with that
magnitude, acts on that device and framework, and was not measured equal inside the runs
(an alibi). Its weight is its prior times that fit; hidden causes nothing recorded can show
(nondeterministic kernels, an unseeded input pipeline, data not fingerprinted) take part with
small priors, and so does "something not recorded". A finding's likelihood is its share of
the weight in the pair it explains best, so two causes that fit equally well share it and
neither reads "very likely".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from reprodiag.core.compare.layers import LayerRef
from reprodiag.core.compare.runs import RunComparison
from reprodiag.core.diagnose.evidence import Evidence
from reprodiag.core.diagnose.suspects import ENVIRONMENT, Suspect, Suspects
from reprodiag.core.knowledge import catalog
from reprodiag.core.knowledge.catalog import CPU, GPU, Entry
from reprodiag.core.knowledge.stages import (
    MAGNITUDE_MEANING,
    SIZE_ORDER,
    STAGE_MEANING,
    STAGE_WHERE,
    Magnitude,
    Stage,
)
from reprodiag.core.knowledge.values import version_tuple

# Fit factors: the cause can first show there; it rarely does; it cannot.
FITS, WEAK, CANNOT = 1.0, 0.35, 0.02
WRONG_SIZE = 0.05  # at a stage it can reach, but its first difference cannot be this big
SMALLER = 0.3  # ... smaller than it usually is: a weaker effect is possible
OTHER_LAYER = 0.1  # the first layer to differ is of a kind the cause does not act on
NOT_HERE = 0.03  # it does not act on the device or framework these runs used
ALIBI = 0.05  # measured equal inside both runs
UNEXPLAINED = 0.08  # weight of "a cause nothing recorded shows"
COMPUTED = frozenset({Stage.FORWARD, Stage.BACKWARD, Stage.UPDATE, Stage.ACCUMULATED})


@dataclass(frozen=True, kw_only=True)
class Observation:
    """What one differing run pair shows."""

    index: int
    pair: RunComparison
    stage: Optional[Stage]
    magnitude: Optional[Magnitude]
    devices: frozenset[str]
    framework: str
    recording: bool  # a user's own training recorded on either side
    batches_from_start: bool  # parted in the batches, at the very first step
    batch_unseen: bool  # the batch where the numbers part was not compared (sparse hashes)
    layer: Optional[LayerRef] = None  # the first layer to differ, where the runs first part


def observe(i: int, p: RunComparison) -> Observation:
    devices = set()
    for run in (p.ref, p.other):
        device = run.settings.get("device_type") or run.config.device
        devices |= {CPU, GPU} if device == "auto" else {str(device)}
    first = int(p.ref.steps.step[0]) if len(p.ref.steps) else 0
    return Observation(
        index=i, pair=p, stage=p.stage, magnitude=p.magnitude, devices=frozenset(devices),
        framework=p.ref.config.framework,
        recording="custom" in (p.ref.config.model, p.other.config.model),
        batches_from_start=p.stage == Stage.BATCHES and p.first_batch_diff_step in (None, first),
        batch_unseen=p.stage in COMPUTED and not p.batch_compared_at_parting,
        layer=_parting_layer(p))


def _parting_layer(p: RunComparison) -> Optional[LayerRef]:
    """The layer where the runs first part, when the layers show the very parting the stage
    names (not a later consequence of it) and it is a layer, not the batch."""
    lc = p.layers
    if lc is None or lc.parting is None or lc.parting.phase == "input":
        return None
    return lc.parting if lc.step == p.first_gap_step and p.stage in COMPUTED else None


@dataclass(frozen=True, kw_only=True)
class Fit:
    """How well a suspect explains an observation, and the sentence that says why."""

    factor: float
    reason: str

    @property
    def fits(self) -> bool:
        return self.factor >= WEAK


def fit(entry: Entry, suspect: Optional[Suspect], obs: Observation) -> Fit:
    """Whether `entry`'s cause can produce what the pair shows (its alibi, stage, size)."""
    where = _where(obs)
    if entry.devices and not (entry.devices & obs.devices):
        return Fit(factor=NOT_HERE, reason=f"does not fit: {entry.what} acts only on the "
                   f"{'/'.join(sorted(entry.devices)).upper()}, and these runs used the "
                   f"{'/'.join(sorted(obs.devices)).upper()}")
    if entry.frameworks and obs.framework not in entry.frameworks:
        return Fit(factor=NOT_HERE, reason=f"does not fit: {entry.what} does not act in "
                   f"{obs.framework}")
    if entry.id == "tf32" and not _tf32_possible(obs):
        return Fit(factor=NOT_HERE, reason="does not fit: TF32 acts only on a GPU of compute "
                   "capability 8.0 or later, and no run used one")
    alibi = _alibi(entry, suspect, obs)
    if alibi:
        return Fit(factor=ALIBI, reason=f"does not fit: {alibi}")
    stage = obs.stage
    if stage is None:
        return Fit(factor=CANNOT, reason="the runs do not part")
    if stage in COMPUTED and obs.batch_unseen and Stage.BATCHES in entry.stages:
        factor = {"dataset": 0.6, "data_order": 0.3}.get(entry.id, FITS)
        return Fit(factor=factor, reason=f"fits: {entry.what} changes the batches, and the "
                   f"batch at step {obs.pair.first_part_step}, where the runs part, was not "
                   "compared (batches are hashed on some steps only)")
    if stage in entry.stages:
        factor, how = FITS, "can make the runs part"
    elif stage in entry.weak_stages:
        factor, how = WEAK, "can, though rarely, make the runs part"
    else:
        order = list(Stage)
        reach = catalog_order(entry.stages | entry.weak_stages)
        if reach and order.index(stage) < order.index(reach[0]):
            return Fit(factor=CANNOT, reason=f"not judged: the runs already part at the "
                       f"{stage.value}, before {entry.what} can act; remove the earlier "
                       "difference and compare again")
        can = ", ".join(s.value for s in catalog_order(entry.stages)) or "nowhere in a run"
        return Fit(factor=CANNOT, reason=f"does not fit: {entry.what} can first show only "
                   f"at: {can}; {where}")
    if entry.id == "dataset" and stage == Stage.BATCHES and not obs.batches_from_start:
        factor, how = 0.6, "can (a part of the data) make the runs part"
    if entry.id == "data_order" and stage == Stage.BATCHES and not obs.batches_from_start:
        factor, how = 0.3, "would usually differ from the first batch on, yet can make the runs part"
    size = obs.magnitude
    if stage in COMPUTED and size is not None and size != Magnitude.BITWISE \
            and size not in entry.magnitudes:
        sizes = ", ".join(m.value for m in SIZE_ORDER if m in entry.magnitudes)
        if SIZE_ORDER.index(size) < min(SIZE_ORDER.index(m) for m in entry.magnitudes):
            return Fit(factor=factor * SMALLER, reason=f"fits weakly: {entry.what} usually "
                       f"changes numbers by {sizes}, more than the {size.value} seen here")
        return Fit(factor=factor * WRONG_SIZE, reason=f"does not fit: {entry.what} changes "
                   f"numbers by {sizes} at most, but the first difference is {size.value} "
                   f"({MAGNITUDE_MEANING[size]}); {where}")
    sized = (f", with a first difference of this size ({size.value})" if stage in COMPUTED
             and size and size != Magnitude.BITWISE else "")
    layer = obs.layer
    if layer is not None and entry.layer_kinds:
        kinds = "/".join(sorted(entry.layer_kinds))
        if layer.kind not in entry.layer_kinds:
            return Fit(factor=factor * OTHER_LAYER, reason=f"does not fit: {entry.what} first "
                       f"changes {kinds} layers, but the first layer to differ is "
                       f"{layer.label} ({layer.kind}, {layer.phase})")
        sized += f", in {layer.label} ({layer.kind}, {layer.phase}), a layer it acts on"
    return Fit(factor=factor, reason=f"fits: {entry.what} {how} {STAGE_WHERE[stage]}{sized}")


def catalog_order(stages: frozenset[Stage]) -> list[Stage]:
    return [s for s in Stage if s in stages]


def _where(obs: Observation) -> str:
    stage = obs.stage
    if stage is None:
        return "the runs do not part"
    text = f"here {STAGE_MEANING[stage]}"
    if stage in COMPUTED and obs.magnitude is not None:
        text += f" (first difference {obs.magnitude.value}, at step {obs.pair.first_gap_step})"
    return text


def _tf32_possible(obs: Observation) -> bool:
    if GPU not in obs.devices:
        return False
    caps = [version_tuple(run.settings.get("compute_capability"))
            for run in (obs.pair.ref, obs.pair.other)]
    known = [c for c in caps if c]
    return not known or any(c >= (8, 0) for c in known)


def _alibi(entry: Entry, suspect: Optional[Suspect], obs: Observation) -> str:
    """Why an environment-only difference did not act on these runs: the settings that
    measure it in force were equal in both (empty when they were not, or are unknown)."""
    if suspect is None or suspect.sources != {ENVIRONMENT} or not entry.in_force:
        return ""
    sa, sb = obs.pair.ref.settings, obs.pair.other.settings
    keys = [k for k in entry.in_force if k in sa or k in sb]
    if not keys or any(sa.get(k) != sb.get(k) for k in keys):
        return ""
    values = ", ".join(f"{k}={sa.get(k)}" for k in keys[:3])
    return (f"inside both runs {entry.what} was the same ({values}), so the environment "
            "difference did not reach them")


# ---------------------------------------------------------------- hidden causes


def hidden(ev: Evidence, obs: Observation, suspects: Suspects,
           present: dict[str, Suspect]) -> dict[str, float]:
    """Causes no recorded difference shows but the runs could still have, with their priors."""
    out: dict[str, float] = {}
    p = obs.pair
    if "run_to_run" not in present and not _repeats_agree(suspects, obs):
        if GPU in obs.devices:
            out["run_to_run"] = 0.5
        else:
            out["run_to_run"] = 0.08 if obs.framework == "tensorflow" else 0.04
    if "data_order" not in present:
        out["data_order"] = 0.3 if obs.recording else 0.03
    if obs.layer is not None and obs.layer.kind == "dropout":
        out["rng_stream"] = 0.5
    if obs.recording and "dataset" not in present and not (p.ref.dataset_hash
                                                           and p.other.dataset_hash):
        out["dataset"] = 0.35
    if "seed" not in present and "unrecorded_init" not in present:
        out["unrecorded_init"] = 0.4 if obs.recording else 0.02
    return out


def _repeats_agree(suspects: Suspects, obs: Observation) -> bool:
    """Both sides repeated this pair's config and each repeat agreed bitwise."""
    sides = {r.side for r in suspects.repeats if r.agrees
             and r.comparison.ref.config in (obs.pair.ref.config, obs.pair.other.config)}
    return sides == {0, 1}


def unexplained_weight(ev: Evidence) -> float:
    """The weight of a cause nothing recorded shows: more where less was recorded."""
    weight = UNEXPLAINED
    if not ev.comparison.env_compared:
        weight += 0.1
    if ev.comparison.env_unknown:
        weight += 0.04
    return weight


def entry_of(entry_id: str) -> Entry:
    return catalog.entry(entry_id)
