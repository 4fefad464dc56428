"""What the rules look at: the run pairs of a comparison, both snapshots and both run lists.

`Evidence` wraps a BundleComparison with lookups the rules share (facts by side, differing
env facts by pattern, a pair's config and settings differences, where a pair ran), and
formats the evidence lines that quote both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from reprodiag.core.compare import BundleComparison, EnvDifference
from reprodiag.core.compare.runs import IDENTICAL, RunComparison
from reprodiag.core.env.model import Snapshot
from reprodiag.core.knowledge.stages import Stage
from reprodiag.core.knowledge.values import show, version_tuple
from reprodiag.core.naming import side_names
from reprodiag.core.runs.record import RunRecord
from reprodiag.core.wording import counted

__all__ = ["Evidence", "Side", "comparable_sides", "predict_onednn", "ran_on", "show",
           "version_tuple"]

FRAMEWORKS = ("torch", "tensorflow")
# CPU features for which TensorFlow turns oneDNN on by itself on Linux x86 (port.cc).
ONEDNN_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")


@dataclass(kw_only=True)
class Side:
    """A bundle-like side: a label, an environment snapshot (or None), runs (maybe none) and
    the reprodiag that recorded it (`producer`, e.g. {"version": "0.1.0"}; empty if unknown)."""

    label: str
    snapshot: Optional[Snapshot] = None
    runs: list[RunRecord] = field(default_factory=list)
    producer: dict[str, str] = field(default_factory=dict)


def comparable_sides(a: Any, b: Any) -> tuple[Side, Side]:
    """Both sides as `Side`s; when one snapshot is an imported report (collect_env, pip
    freeze, ...), the other is narrowed to the facts that report could tell, so facts the
    report never covers do not show as differences."""
    from reprodiag.core.env.foreign import comparable

    sa, sb = getattr(a, "snapshot", None), getattr(b, "snapshot", None)
    if sa is not None and sb is not None:
        sa, sb = comparable(sa, sb), comparable(sb, sa)
    label_a, label_b = side_names(a, b)
    return (_side(a, sa, label_a), _side(b, sb, label_b))


def _side(bundle: Any, snapshot: Optional[Snapshot], label: str) -> Side:
    producer = getattr(bundle, "producer", None)
    return Side(label=label, snapshot=snapshot,
                runs=list(getattr(bundle, "runs", None) or []),
                producer=dict(producer) if isinstance(producer, dict) else {})


@dataclass(kw_only=True)
class Evidence:
    """A comparison of side A (the reference) and side B, with everything the rules read."""

    comparison: BundleComparison
    snapshots: tuple[Optional[Snapshot], Optional[Snapshot]] = (None, None)
    runs: tuple[list[RunRecord], list[RunRecord]] = field(default_factory=lambda: ([], []))

    @property
    def labels(self) -> tuple[str, str]:
        return self.comparison.labels

    @property
    def pairs(self) -> list[RunComparison]:
        return self.comparison.pairs

    @property
    def differing_pairs(self) -> list[RunComparison]:
        return [p for p in self.pairs if p.verdict != IDENTICAL]

    # ------------------------------------------------------------ environment

    def value(self, side: int, key: str, default: Any = None) -> Any:
        snap = self.snapshots[side]
        return default if snap is None else snap.value(key, default)

    def env_diffs(self, pattern: str) -> list[EnvDifference]:
        """Differing facts whose key matches `pattern` (re.fullmatch), in diff order."""
        if not pattern:
            return []
        rx = re.compile(pattern)
        return [d for d in self.comparison.env if not d.same and rx.fullmatch(d.key)]

    def env_line(self, d: EnvDifference) -> str:
        la, lb = self.labels
        return f"{d.key}: {d.a_text} ({la}) vs {d.b_text} ({lb})"

    def gpu_facts(self, side: int, name: str) -> list[Any]:
        """`gpu.<i>.<name>` values of one side's snapshot, in device order."""
        snap = self.snapshots[side]
        if snap is None:
            return []
        keys = [k for k in snap.facts if re.fullmatch(rf"gpu\.\d+\.{re.escape(name)}", k)]
        keys.sort(key=lambda k: int(k.split(".")[1]))
        return [snap.value(k) for k in keys if snap.value(k) is not None]

    def gpu_count(self, side: int) -> int:
        count = self.value(side, "gpu.count", 0)
        return count if isinstance(count, int) and not isinstance(count, bool) else 0

    def capabilities(self, side: int) -> list[tuple[int, ...]]:
        """Compute capabilities of one side: its snapshot's GPUs and its GPU runs."""
        found = [version_tuple(c) for c in self.gpu_facts(side, "compute_capability")]
        for p in self.pairs:
            run = p.ref if side == 0 else p.other
            found.append(version_tuple(run.settings.get("compute_capability")))
        return [c for c in found if c]

    @property
    def has_gpu(self) -> bool:
        """A GPU on either side (in a snapshot or used by a run)."""
        return any(self.gpu_count(s) > 0 for s in (0, 1)) or any(
            ran_on(p, "gpu") for p in self.pairs)

    @property
    def frameworks(self) -> list[str]:
        """Frameworks involved: those of the run pairs, else those installed on either side."""
        seen: list[str] = [p.ref.config.framework for p in self.pairs]
        if not seen:
            seen = [fw for fw in FRAMEWORKS
                    if any(self.value(s, f"framework.{fw}.version") for s in (0, 1))]
        ordered = [fw for fw in FRAMEWORKS if fw in seen]
        return ordered or list(FRAMEWORKS)

    # ------------------------------------------------------------ runs

    def pair_ids(self, p: RunComparison) -> tuple[str, str]:
        return (p.ref.run_id, p.other.run_id)

    def run_diffs(self, p: RunComparison, config: tuple[str, ...],
                  settings: tuple[str, ...]) -> list[str]:
        """Evidence lines for the named config fields and settings in force that differ."""
        la, lb = self.labels
        lines = [f"run config {k}: {show(a)} ({la}) vs {show(b)} ({lb}) [{p.title}]"
                 for k, a, b in p.config_differences if k in config]
        in_force = [f"{k} {show(a)} vs {show(b)}" for k, a, b in p.settings_differences
                    if k in settings]
        if in_force:
            lines.append(f"in force during the run ({la} vs {lb}): {'; '.join(in_force)}"
                         f" [{p.title}]")
        return lines

    def stage_line(self, p: RunComparison, *, titled: bool = True) -> str:
        """Where a pair parts, quoting the step numbers and values (after the pair's title)."""
        head = f"{p.title}: " if titled else ""
        if p.verdict == IDENTICAL:
            over = counted(p.common_steps, "common step" if p.partial else "step")
            return f"{head}the runs are bitwise identical ({over})"
        if p.stage is None:
            return f"{head}{p.verdict}: {p.explanation}"
        if p.stage == Stage.BATCHES:
            step = p.first_batch_diff_step
        elif p.stage in (Stage.FORWARD, Stage.BACKWARD, Stage.UPDATE):
            step = int(p.ref.steps.step[0]) if len(p.ref.steps) else 0
        else:
            step = min((s for s in (p.first_param_diff_step, p.first_bitwise_loss_diff_step,
                                    p.first_grad_norm_diff_step) if s is not None), default=None)
        if p.stage == Stage.ACCUMULATED and step is not None \
                and step == p.first_param_diff_step and p.param_hashes_sparse:
            where = f"{p.param_parting} (parameters hashed on only some steps)"
        elif p.stage == Stage.BATCHES and step is not None and p.first_part_step is not None \
                and p.first_part_step < step:
            after = p.last_batch_match_step
            where = (f"at step {p.first_part_step}, where the loss parts; the batch hashes, "
                     f"taken on some steps only, differ by step {step}"
                     + (f" and still agreed at step {after}" if after is not None else ""))
        elif p.stage in (Stage.DATASET, Stage.INIT):
            where = "from the start"
        else:
            where = f"at step {step}" if step is not None else "in the final predictions"
        text = f"{head}{p.verdict}, the runs part {where} ({p.stage.value})"
        if p.stage == Stage.INIT:
            text += (f"; initial parameter hash {p.ref.init_param_hash or '?'} vs "
                     f"{p.other.init_param_hash or '?'}")
        elif p.stage == Stage.DATASET:
            text += f"; data fingerprint {p.ref.dataset_hash} vs {p.other.dataset_hash}"
        elif p.stage == Stage.BATCHES and step is not None:
            text += f"; batch hash at step {step}: {_at(p.ref, 'batch_hash', step)} vs " \
                    f"{_at(p.other, 'batch_hash', step)}"
        elif p.stage == Stage.FORWARD and len(p.ref.steps) and len(p.other.steps):
            text += (f"; step-0 loss {float(p.ref.steps.loss[0])!r} vs "
                     f"{float(p.other.steps.loss[0])!r}")
        elif p.stage in (Stage.BACKWARD, Stage.UPDATE, Stage.ACCUMULATED) and len(p.ref.steps):
            text += f"; step-0 loss {float(p.ref.steps.loss[0])!r} on both sides"
        if p.magnitude is not None and p.first_gap_step is not None \
                and p.stage not in (Stage.DATASET, Stage.INIT, Stage.BATCHES):
            text += (f"; the first difference (step {p.first_gap_step}) is "
                     f"{p.first_gap_rel:.2g} relative: {p.magnitude.value}")
        lc = p.layers
        if lc is not None and lc.parting is not None and lc.step == p.first_gap_step \
                and lc.parting.phase != "input":
            text += (f"; the first layer to differ: {lc.parting.label} ({lc.parting.kind}, "
                     f"{lc.parting.phase}) with equal inputs")
        if p.verdict == "diverged" and p.common_steps:
            last = p.common_steps - 1
            text += (f"; last common loss {_loss(p.ref, last)} vs {_loss(p.other, last)}")
        return text


def _loss(run: RunRecord, row: int) -> str:
    return f"{float(run.steps.loss[row]):.4g}" if row < len(run.steps) else "?"


def _at(run: RunRecord, column: str, step: int) -> str:
    """A hash cell of the step numbered `step` as text, "?" when the run has no such step."""
    rows = np.flatnonzero(run.steps.step == step)
    return run.steps.hash_at(column, int(rows[0])) if rows.size else "?"


def ran_on(p: RunComparison, kind: str) -> bool:
    """Whether either run of the pair ran on `kind` ("cpu" or "gpu")."""
    for run in (p.ref, p.other):
        device = run.settings.get("device_type") or run.config.device
        if device == kind or device == "auto":
            return True
    return False


def predict_onednn(ev: Evidence, side: int) -> tuple[Optional[bool], str]:
    """Whether TensorFlow's oneDNN CPU kernels are on for a side, and why (TF's port.cc)."""
    measured = ev.value(side, "numerics.tensorflow.onednn")
    if isinstance(measured, bool):
        return measured, "measured by importing TensorFlow"
    version = version_tuple(ev.value(side, "framework.tensorflow.version")
                            or ev.value(side, "pkg.tensorflow"))
    if version is None:
        return None, "TensorFlow not installed"
    var = ev.value(side, "var.TF_ENABLE_ONEDNN_OPTS")
    tf = ".".join(map(str, version))
    if version < (2, 5):
        return False, f"TensorFlow {tf} has no oneDNN opts"
    if isinstance(var, str) and var.strip().lower() in ("0", "false", "1", "true"):
        on = var.strip().lower() in ("1", "true")
        return on, f"TF_ENABLE_ONEDNN_OPTS={var}"
    if version < (2, 9):
        return False, f"TensorFlow {tf}: off unless TF_ENABLE_ONEDNN_OPTS=1"
    system, arch = ev.value(side, "host.system"), str(ev.value(side, "host.arch") or "")
    if arch not in ("x86_64", "AMD64", "amd64", "i686"):
        model = str(ev.value(side, "cpu.model") or "").lower()
        return ("neoverse-v1" in model or "neoverse v1" in model), f"{system} {arch} CPU"
    if system == "Windows":
        return True, f"TensorFlow {tf} on Windows x86 (on by default)"
    if system != "Linux":
        return False, f"TensorFlow {tf} on {system} (no oneDNN build)"
    have = [f for f in ONEDNN_FLAGS if ev.value(side, f"cpu.flags.{f}") is True]
    if have:
        return True, f"TensorFlow {tf} on Linux x86, CPU has {', '.join(have)}"
    if not any(ev.value(side, f"cpu.flags.{f}") is not None for f in ONEDNN_FLAGS):
        return None, "CPU flags not recorded"
    return False, f"TensorFlow {tf} on Linux x86, CPU lacks {'/'.join(ONEDNN_FLAGS)}"
