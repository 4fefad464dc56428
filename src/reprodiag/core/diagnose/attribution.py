"""Attribution: rerun a pair of configs changing one factor at a time, and see what removes
the difference.

A is the reference config, B the config that shows the difference (B defaults to A itself:
then the difference explained is run-to-run nondeterminism). Both are run locally, in worker
processes; B is also run a second time: a config that does not repeat bitwise is the first
finding. Then, for each factor (deterministic ops, TF32 off, oneDNN off, one thread,
float64, initialisation on the CPU, CPU instead of GPU, same seed), the factor's setting is
applied to both sides and the new pair is compared step by step. A factor whose setting
differs between the sides and whose change makes the difference vanish is the cause; one
that was the same on both sides but still removes the difference (float64) tells what kind
of difference it is. Factors that cannot apply here are reported "n/a" with the reason,
without running anything.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reprodiag.core.compare.render import md_cell, jsonable, md_table, fmt_num, fmt_step
from reprodiag.core.compare.runs import (
    DIVERGED,
    EQUIVALENT,
    IDENTICAL,
    VERDICT_LABELS,
    RunComparison,
    compare_runs,
)
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import DIVERGED as RUN_DIVERGED
from reprodiag.core.runs.record import CANCELLED, FINISHED, RunRecord
from reprodiag.core.runs.run_session import RunSession
from reprodiag.errors import UserError
from reprodiag.core.wording import counted

VANISHES, SHRINKS, NO_EFFECT, GROWS = "vanishes", "shrinks", "no effect", "grows"
NOT_APPLICABLE, FAILED, NOT_RUN = "n/a", "failed", "not run"
SHRINK_RATIO = 0.1  # max |loss A - loss B| at most a tenth of the baseline's: "much smaller"
GROW_RATIO = 10.0
ATTRIBUTION_FORMAT = "reprodiag-attribution"
ATTRIBUTION_VERSION = 1

OnProgress = Callable[[int, int, str], None]  # (runs done, runs planned, what runs now)


# ---------------------------------------------------------------- the factors


@dataclass(frozen=True, kw_only=True)
class Factor:
    """One setting to change on both sides, what it means when that removes the difference."""

    key: str
    title: str
    meaning: str  # completes "it comes from ..."
    already: str  # why there is nothing to change when both sides have the setting
    change: Callable[[RunConfig, RunConfig], RunConfig]  # (side's config, reference) -> new
    reading: Callable[[RunRecord], Any]  # the setting as the run reports it
    not_applicable: Callable[[RunRecord, RunRecord], str | None]  # (A run, B run) -> why


def _setting(run: RunRecord, key: str, fallback: Any) -> Any:
    value = run.settings.get(key)
    return fallback if value is None else value


def _on_gpu(run: RunRecord) -> bool:
    return _setting(run, "device_type", run.config.device) == "gpu"


def _tf32_na(a: RunRecord, b: RunRecord) -> str | None:
    gpu_runs = [r for r in (a, b) if _on_gpu(r)]
    if not gpu_runs:
        return "TF32 is a GPU setting and both runs were on the CPU"
    capable = [r for r in gpu_runs if (cc := _capability(r)) is None or cc >= 8.0]
    if not capable:
        return f"the GPU (compute capability {_capability(gpu_runs[0])}) has no TF32"
    return None


def _capability(run: RunRecord) -> float | None:
    value = run.settings.get("compute_capability")
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _onednn_na(a: RunRecord, b: RunRecord) -> str | None:
    if a.config.framework != "tensorflow" and b.config.framework != "tensorflow":
        return "oneDNN (TF_ENABLE_ONEDNN_OPTS) is a TensorFlow switch; PyTorch does not read it"
    if all(_setting(r, "onednn_enabled", r.config.onednn) is False for r in (a, b)):
        return "oneDNN is already off on both sides"
    return None


def _init_na(a: RunRecord, b: RunRecord) -> str | None:
    frameworks = {a.config.framework, b.config.framework}
    if frameworks == {"torch"}:
        return ("the PyTorch canary always draws initial parameters on the CPU, then moves "
                "them to the device")
    if not (_on_gpu(a) or _on_gpu(b)):
        return "both runs drew their initial parameters on the CPU already"
    return ("the TensorFlow canary draws initial parameters on the run's device and has no "
            "switch to draw them on the CPU")


def _cpu_na(a: RunRecord, b: RunRecord) -> str | None:
    return None if _on_gpu(a) or _on_gpu(b) else "both runs were on the CPU already"


def _same_seed(config: RunConfig, ref: RunConfig) -> RunConfig:
    return config.model_copy(update={"seed": ref.seed if ref.seed is not None else 0})


def _set(**update: Any) -> Callable[[RunConfig, RunConfig], RunConfig]:
    return lambda config, ref: config.model_copy(update=update)


def _never(a: RunRecord, b: RunRecord) -> None:
    return None


FACTORS: tuple[Factor, ...] = (
    Factor(key="deterministic", title="deterministic ops on",
           meaning="the kernels used while determinism is off (atomic adds, autotuning, other "
                   "reduction orders)",
           already="deterministic ops are already on on both sides",
           change=_set(deterministic=True),
           reading=lambda r: _setting(r, "deterministic", r.config.deterministic),
           not_applicable=_never),
    Factor(key="tf32", title="TF32 off",
           meaning="TF32 matrix multiplications and convolutions on the GPU",
           already="TF32 is already off on both sides",
           change=_set(tf32=False), reading=lambda r: _setting(r, "tf32", r.config.tf32),
           not_applicable=_tf32_na),
    Factor(key="onednn", title="oneDNN off", meaning="TensorFlow's oneDNN CPU kernels",
           already="oneDNN is already off on both sides",
           change=_set(onednn=False),
           reading=lambda r: _setting(r, "onednn_enabled", r.config.onednn),
           not_applicable=_onednn_na),
    Factor(key="threads", title="threads = 1",
           meaning="the thread count, which changes the order of reductions",
           already="both sides already run with 1 thread",
           change=_set(threads=1), reading=lambda r: _setting(r, "threads", r.config.threads),
           not_applicable=_never),
    Factor(key="float64", title="float64",
           meaning="float32 rounding (not a different algorithm or data)",
           already="both sides already run in float64",
           change=_set(dtype="float64"), reading=lambda r: r.config.dtype,
           not_applicable=_never),
    Factor(key="init_cpu", title="initialisation drawn on CPU",
           meaning="the device whose random stream drew the initial parameters", already="",
           change=lambda config, ref: config, reading=lambda r: None,
           not_applicable=_init_na),
    Factor(key="cpu", title="CPU instead of GPU",
           meaning="the GPU's kernels or its random streams",
           already="both sides already run on the CPU",
           change=_set(device="cpu"),
           reading=lambda r: _setting(r, "device_type", r.config.device),
           not_applicable=_cpu_na),
    Factor(key="seed", title="same seed (as the reference)",
           meaning="the seed: the random initial parameters and batch order",
           already="both sides already use the same seed",
           change=_same_seed, reading=lambda r: _setting(r, "seed_effective", r.config.seed),
           not_applicable=_never),
)
FACTOR_KEYS: tuple[str, ...] = tuple(f.key for f in FACTORS)


def _factors(keys: Sequence[str] | None) -> list[Factor]:
    if keys is None:
        return list(FACTORS)
    unknown = [k for k in keys if k not in FACTOR_KEYS]
    if unknown:
        raise UserError(f"unknown factor {unknown[0]!r} (factors: {', '.join(FACTOR_KEYS)})")
    return [f for f in FACTORS if f.key in keys]


# ---------------------------------------------------------------- results


@dataclass(kw_only=True)
class Cell:
    """One factor's experiment: the changed pair, its comparison, and the outcome."""

    factor: Factor
    outcome: str = NOT_RUN
    reason: str = ""  # why n/a, failed or not run
    configs: tuple[RunConfig, RunConfig] | None = None
    comparison: RunComparison | None = None
    ratio: float = math.nan  # max |loss diff| of this pair / the baseline's
    baseline_values: tuple[Any, Any] | None = None  # the setting on A and B, when they differ

    @property
    def differs(self) -> bool:
        """True when the sides differed in this factor's setting (so it can be a cause)."""
        return self.baseline_values is not None

    @property
    def removes_difference(self) -> bool:
        return self.outcome in (VANISHES, SHRINKS)


@dataclass(kw_only=True)
class FactorMatrix:
    """Factors x outcome metrics, for the CLI table and the GUI heatmap.

    `values` holds raw values (str, int or None, float), `text` their display strings,
    `baseline` the display row (same columns) of the pair as given. `heat` (rows x columns)
    scores each cell: 1 = the difference vanished, 0 = no effect, negative = it grew,
    NaN = not run.
    """

    keys: list[str]
    rows: list[str]
    columns: tuple[str, ...]
    values: list[list[Any]]
    text: list[list[str]]
    baseline: list[str]
    heat: np.ndarray


MATRIX_COLUMNS = ("outcome", "verdict", "first difference step", "max |loss diff|",
                  "ratio to baseline")
BASELINE_ROW = "baseline (as given)"
_OUTCOME_HEAT = {VANISHES: 1.0, SHRINKS: 0.5, NO_EFFECT: 0.0, GROWS: -0.5}


@dataclass(kw_only=True)
class AttributionResult:
    """What the one-factor-at-a-time experiment found (see the module docstring)."""

    ref_config: RunConfig
    other_config: RunConfig
    baseline: RunComparison | None = None
    repeat: RunComparison | None = None  # B against B run again; None when not run
    cells: list[Cell] = field(default_factory=list)
    cancelled: bool = False
    runs: int = 0  # worker runs that ran to their end

    @property
    def repeats_bitwise(self) -> bool | None:
        """Whether B's config repeats bitwise on this machine; None when not checked."""
        return None if self.repeat is None else self.repeat.verdict == IDENTICAL

    @property
    def has_difference(self) -> bool | None:
        return None if self.baseline is None else self.baseline.verdict != IDENTICAL

    @property
    def causes(self) -> list[Cell]:
        """Cells whose change removes the difference, best first: vanishing before shrinking,
        factors that differ between the sides before those set alike, then by ratio."""
        hits = [c for c in self.cells if c.removes_difference]
        return sorted(hits, key=lambda c: (c.outcome != VANISHES, not c.differs,
                                           c.ratio if math.isfinite(c.ratio) else 1.0))

    @property
    def primary(self) -> Cell | None:
        """The factor most likely responsible, or None."""
        causes = self.causes
        return causes[0] if causes else None

    def findings(self) -> list[str]:
        """Sentences, most important first: nondeterminism, then what removes the difference."""
        out = []
        r = self.repeat
        if r is not None and r.verdict != IDENTICAL:  # B does not repeat bitwise
            out.append(f"Run-to-run nondeterminism: the same config "
                       f"({self.other_config.short_label()}) run twice on this machine "
                       f"differs (first at step "
                       f"{fmt_step(_first_part(r))}, max |loss diff| {fmt_num(r.max_abs_diff)}); "
                       "the factor results below include that noise.")
        if self.baseline is None:
            out.append("Cancelled before the two sides were run." if self.cancelled
                       else "Not run.")
            return out
        if not self.has_difference:
            out.append(f"A and B give bitwise identical runs over {self.baseline.common_steps} "
                       "steps: there is no difference to attribute.")
            return out
        for c in self.causes:
            values = c.baseline_values
            where = (f"the sides differ here: A {_plain(values[0])}, B {_plain(values[1])}"
                     if values is not None else
                     "set alike on both sides, so it hides the difference rather than causes it")
            verb = ("vanishes" if c.outcome == VANISHES else "shrinks" if not math.isfinite(
                c.ratio) else f"shrinks to {fmt_num(c.ratio)} of the baseline's")
            out.append(f"With {c.factor.title} the difference {verb} ({where}): "
                       f"it comes from {c.factor.meaning}.")
        if not self.causes:
            tried = [c.factor.title for c in self.cells if c.comparison is not None]
            out.append("No single factor removes the difference"
                       + (f" (tried: {', '.join(tried)})" if tried else "")
                       + ": it may come from several at once, or from the environment "
                       "(versions, CPU instruction set, GPU model).")
        if self.cancelled:
            out.append("Cancelled: some factors were not run.")
        return out

    def matrix(self) -> FactorMatrix:
        """The factor x outcome matrix (rows in FACTORS order)."""
        base = self.baseline
        steps = self.other_config.steps
        values: list[list[Any]] = []
        text: list[list[str]] = []
        heat = []
        for c in self.cells:
            cmp = c.comparison
            verdict = cmp.verdict if cmp else None
            first, max_diff = _first_part(cmp), cmp.max_abs_diff if cmp else math.nan
            values.append([c.outcome, verdict, first, max_diff, c.ratio])
            shown = c.outcome if c.comparison or not c.reason else f"{c.outcome} ({c.reason})"
            text.append([shown, VERDICT_LABELS[verdict] if verdict else "-",
                         fmt_step(first) if cmp else "-", fmt_num(max_diff), fmt_num(c.ratio)])
            heat.append(_heat(c, base, steps))
        baseline_row = ["-", VERDICT_LABELS[base.verdict] if base else "-",
                        fmt_step(_first_part(base)) if base else "-",
                        fmt_num(base.max_abs_diff) if base else "-",
                        "1" if base and base.max_abs_diff > 0 else "-"]
        return FactorMatrix(
            keys=[c.factor.key for c in self.cells], rows=[c.factor.title for c in self.cells],
            columns=MATRIX_COLUMNS, values=values, text=text, baseline=baseline_row,
            heat=np.array(heat, dtype=float).reshape(len(self.cells), len(MATRIX_COLUMNS)),
        )


def _plain(value: Any) -> str:
    return "unset" if value is None else str(value)


def _first_part(cmp: RunComparison | None) -> int | None:
    """The first step at which parameters, loss or gradient norm differ bitwise."""
    if cmp is None:
        return None
    steps = [s for s in (cmp.first_param_diff_step, cmp.first_bitwise_loss_diff_step,
                         cmp.first_grad_norm_diff_step) if s is not None]
    return min(steps) if steps else None


def _heat(cell: Cell, base: RunComparison | None, steps: int) -> list[float]:
    cmp = cell.comparison
    if cmp is None or base is None:
        return [math.nan] * len(MATRIX_COLUMNS)
    score = _OUTCOME_HEAT.get(cell.outcome, math.nan)
    b, c = _first_part(base), _first_part(cmp)
    if c is None:
        later = 1.0
    elif b is None:
        later = -1.0
    else:
        later = float(np.clip((c - b) / max(1, steps - b), -1.0, 1.0))
    if cmp.verdict == IDENTICAL:
        size = 1.0
    elif math.isfinite(cell.ratio) and cell.ratio > 0:
        size = float(np.clip(-math.log10(cell.ratio) / 3.0, -1.0, 1.0))  # 1 = 1000x smaller
    else:
        size = math.nan
    return [score, score, later, size, size]


def classify(base: RunComparison, cell: RunComparison, steps: int) -> tuple[str, float]:
    """The outcome of a factor's pair against the baseline pair, and the ratio of their
    max |loss diff| (NaN when the baseline's is 0 or not finite)."""
    ratio = math.nan
    if math.isfinite(base.max_abs_diff) and base.max_abs_diff > 0:
        ratio = cell.max_abs_diff / base.max_abs_diff
    elif base.max_abs_diff == 0 and cell.max_abs_diff > 0:
        ratio = math.inf
    if cell.verdict == IDENTICAL:
        return VANISHES, ratio
    rank = {IDENTICAL: 0, EQUIVALENT: 1, DIVERGED: 2}
    margin = max(1, steps // 10)
    b, c = _first_part(base), _first_part(cell)
    later = b is not None and (c is None or c >= b + margin)
    earlier = c is not None and (b is None or c + margin <= b)
    if rank[cell.verdict] < rank[base.verdict] or ratio <= SHRINK_RATIO or later:
        return SHRINKS, ratio
    if rank[cell.verdict] > rank[base.verdict] or ratio >= GROW_RATIO or earlier:
        return GROWS, ratio
    return NO_EFFECT, ratio


# ---------------------------------------------------------------- running


class _Cancelled(Exception):
    pass


class _Runner:
    """Runs configs one at a time in worker processes, with progress, cancel and reuse."""

    def __init__(self, python: str | None, timeout: float | None,
                 cancel: threading.Event | None, on_progress: OnProgress | None):
        self.python = python
        self.session = RunSession(timeout=timeout)
        self.cancel = cancel or threading.Event()
        self.on_progress = on_progress
        self.done = 0
        self.planned = 0
        self.cache: dict[RunConfig, RunRecord] = {}  # the first run of each config

    def progress(self, text: str) -> None:
        if self.on_progress is not None:
            self.on_progress(self.done, max(self.planned, self.done), text)

    def run(self, config: RunConfig, what: str) -> RunRecord:
        """One finished (or failed) run; raises _Cancelled when cancel is set."""
        if self.cancel.is_set():
            raise _Cancelled
        self.progress(f"{what}: {config.short_label()}")
        # the run session the window and `reprodiag run` use: Ctrl-C and cancel end the worker
        record = self.session.run([config], python=self.python, label=what,
                                  cancel=self.cancel)[0]
        if record.status == CANCELLED:
            raise _Cancelled
        self.done += 1
        self.cache.setdefault(config, record)
        return record


def _ended_well(run: RunRecord) -> bool:
    return run.status in (FINISHED, RUN_DIVERGED)


def attribute(ref: RunConfig, other: RunConfig | None = None, *, python: str | None = None,
              factors: Sequence[str] | None = None, on_progress: OnProgress | None = None,
              cancel: threading.Event | None = None, timeout: float | None = None,
              rtol: float = 1e-5, atol: float = 1e-8) -> AttributionResult:
    """Run the one-factor-at-a-time experiment for reference `ref` (A) and `other` (B).

    `other` None explains run-to-run differences of `ref` itself. `factors` picks factor keys
    (default: all of FACTOR_KEYS). Runs use the interpreter `python` (default: this one).
    `on_progress(done, planned, text)` is called before each run and once at the end; setting
    `cancel` stops the running worker and launches no more (the result is marked cancelled).
    A baseline run that fails raises UserError with its reason.
    """
    chosen = _factors(factors)
    same = other is None or other == ref
    other = ref if other is None else other
    result = AttributionResult(ref_config=ref, other_config=other)
    runner = _Runner(python, timeout, cancel, on_progress)
    runner.planned = _estimate(ref, other, chosen, same)
    try:
        baseline = _run_baseline(result, runner, same, rtol, atol)
        if result.has_difference:
            _run_factors(result, baseline, runner, chosen, rtol, atol)
    except _Cancelled:
        result.cancelled = True
    finally:
        result.runs = runner.done
    _finish_cells(result, chosen)
    if not result.cancelled:
        runner.planned = runner.done
    runner.progress("cancelled" if result.cancelled else "finished")
    return result


def _run_baseline(result: AttributionResult, runner: _Runner, same: bool,
                  rtol: float, atol: float) -> RunComparison:
    a = _require(runner.run(result.ref_config, "A (reference)"), "A")
    b = _require(runner.run(result.other_config, "A again" if same else "B (as given)"), "B")
    baseline = result.baseline = compare_runs(a, b, rtol=rtol, atol=atol)
    if same:  # the baseline already is the determinism check
        result.repeat = baseline
    else:
        b2 = _require(runner.run(result.other_config, "B again (determinism check)"), "B")
        result.repeat = compare_runs(b, b2, rtol=rtol, atol=atol)
    return baseline


def _require(run: RunRecord, side: str) -> RunRecord:
    if not _ended_well(run):
        raise UserError(f"the {side} run ({run.config.short_label()}) {run.status}: "
                        f"{run.reason or 'no reason given'}")
    return run


def _plan_cells(ref: RunConfig, other: RunConfig, chosen: list[Factor], a_run: RunRecord,
                b_run: RunRecord) -> list[Cell]:
    """A cell per factor: n/a with the reason, or the changed pair of configs to run."""
    cells = []
    for factor in chosen:
        va, vb = factor.reading(a_run), factor.reading(b_run)
        cell = Cell(factor=factor, outcome=NOT_RUN,
                    baseline_values=(va, vb) if va != vb else None)
        cells.append(cell)
        why = factor.not_applicable(a_run, b_run)
        new_a, new_b = factor.change(ref, ref), factor.change(other, ref)
        if why is None and (new_a, new_b) == (ref, other):
            why = factor.already
        if why is None:
            cell.configs = (new_a, new_b)
        else:
            cell.outcome, cell.reason = NOT_APPLICABLE, why
    return cells


def _sources(configs: tuple[RunConfig, RunConfig], ref: RunConfig, other: RunConfig,
             reuse: bool) -> tuple[bool, bool]:
    """Whether A and B of a cell may reuse an earlier run of their config.

    A reuses the reference run when unchanged, and any run once the determinism check
    passed. B is always run fresh when it has A's config: the comparison then measures
    whether that config repeats, instead of comparing a run with itself.
    """
    new_a, new_b = configs
    return reuse or new_a == ref, new_a != new_b and (reuse or new_b == other)


def _runs_needed(cells: list[Cell], cached: set[RunConfig], ref: RunConfig, other: RunConfig,
                 reuse: bool) -> int:
    """How many worker runs the planned cells take, given the configs already run."""
    cached, needed = set(cached), 0
    for configs in (c.configs for c in cells if c.configs is not None):
        for config, ok in zip(configs, _sources(configs, ref, other, reuse)):
            needed += not (ok and config in cached)
            cached.add(config)
    return needed


def _estimate(ref: RunConfig, other: RunConfig, chosen: list[Factor], same: bool) -> int:
    """Runs expected before anything ran: configs stand in for the runs' reported settings."""
    cells = _plan_cells(ref, other, chosen, RunRecord(config=ref), RunRecord(config=other))
    return (2 if same else 3) + _runs_needed(cells, {ref, other}, ref, other, True)


def _run_factors(result: AttributionResult, baseline: RunComparison, runner: _Runner,
                 chosen: list[Factor], rtol: float, atol: float) -> None:
    ref, other = result.ref_config, result.other_config
    a_run, b_run = baseline.ref, baseline.other
    result.cells = _plan_cells(ref, other, chosen, a_run, b_run)
    reuse = bool(result.repeats_bitwise)
    runner.planned = runner.done + _runs_needed(result.cells, set(runner.cache), ref, other,
                                                reuse)
    for cell in result.cells:
        if cell.configs is None:
            continue
        ok_a, ok_b = _sources(cell.configs, ref, other, reuse)
        title = cell.factor.title
        ra = _get(runner, cell.configs[0], f"{title}: A", ok_a)
        rb = _get(runner, cell.configs[1], f"{title}: B", ok_b)
        if not (_ended_well(ra) and _ended_well(rb)):
            bad = ra if not _ended_well(ra) else rb
            cell.outcome, cell.reason = FAILED, f"{bad.status}: {bad.reason or 'no reason'}"
            continue
        cell.comparison = compare_runs(ra, rb, rtol=rtol, atol=atol)
        cell.outcome, cell.ratio = classify(baseline, cell.comparison, other.steps)


def _get(runner: _Runner, config: RunConfig, what: str, reuse: bool) -> RunRecord:
    if reuse and config in runner.cache:
        return runner.cache[config]
    return runner.run(config, what)


def _finish_cells(result: AttributionResult, chosen: list[Factor]) -> None:
    """Give every chosen factor a cell, in FACTORS order; those never reached say why."""
    if result.baseline is not None and not result.has_difference:
        why = "A and B are already identical"
    else:
        why = "cancelled"
    have = {c.factor.key for c in result.cells}
    result.cells += [Cell(factor=f) for f in chosen if f.key not in have]
    for cell in result.cells:
        if cell.outcome == NOT_RUN and not cell.reason:
            cell.reason = why
    order = {f.key: i for i, f in enumerate(FACTORS)}
    result.cells.sort(key=lambda c: order[c.factor.key])


# ---------------------------------------------------------------- renderings


def _headline(result: AttributionResult) -> str:
    if result.baseline is None:
        return "A and B were not compared (cancelled)." if result.cancelled else "Not run."
    b = result.baseline
    return (f"Baseline: {b.verdict}" + (f", {b.stage}" if b.stage else "")
            + f" (first difference at step {fmt_step(_first_part(b))}, "
            f"max |loss diff| {fmt_num(b.max_abs_diff)}, {counted(b.common_steps, 'step')})")


def _determinism_line(result: AttributionResult) -> str:
    if result.repeat is None:
        return "Determinism check: not run."
    if result.repeats_bitwise:
        return "Determinism check: B run twice is bitwise identical."
    return (f"Determinism check: B run twice differs ({result.repeat.verdict}, first at step "
            f"{fmt_step(_first_part(result.repeat))}).")


def render_text(result: AttributionResult) -> str:
    """A plain-text report: sides, baseline, determinism check, findings, the matrix."""
    m = result.matrix()
    out = ["reprodiag attribution (one factor at a time)",
           f"  A (reference): {result.ref_config.short_label()}",
           f"  B (explained): {result.other_config.short_label()}",
           _headline(result), _determinism_line(result), ""]
    out += [f"* {line}" for line in result.findings()]
    out.append("")
    header = ["factor", *m.columns]
    table = [header, [BASELINE_ROW, *m.baseline]] + [[r, *t] for r, t in zip(m.rows, m.text)]
    widths = [min(60, max(len(row[i]) for row in table)) for i in range(len(header))]
    for row in table:
        cells = [c if len(c) <= w else c[: w - 3] + "..." for c, w in zip(row, widths)]
        out.append("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    out += [f"  ! {c.factor.title} failed: {c.reason}" for c in result.cells if c.outcome == FAILED]
    out.append(f"{result.runs} worker runs" + (" (cancelled)" if result.cancelled else ""))
    return "\n".join(out) + "\n"


def render_markdown(result: AttributionResult) -> str:
    """A Markdown section for a report or a GitHub issue."""
    m = result.matrix()
    out = ["### reprodiag attribution (one factor at a time)", "",
           f"A (reference): `{md_cell(result.ref_config.short_label())}`  ",
           f"B (explained): `{md_cell(result.other_config.short_label())}`", "",
           md_cell(_headline(result), 400) + "  ", md_cell(_determinism_line(result), 400), ""]
    out += [f"- {md_cell(line, 600)}" for line in result.findings()]
    out.append("")
    rows = [[BASELINE_ROW] + [md_cell(c) for c in m.baseline]]
    rows += [[md_cell(r)] + [md_cell(c, 200) for c in t] for r, t in zip(m.rows, m.text)]
    out += md_table(["factor", *m.columns], rows)
    out += ["", f"{result.runs} worker runs" + (" (cancelled)." if result.cancelled else ".")]
    return "\n".join(out) + "\n"


def _comparison_json(cmp: RunComparison | None) -> dict[str, Any] | None:
    if cmp is None:
        return None
    return {"verdict": cmp.verdict, "stage": cmp.stage, "first_diff_step": _first_part(cmp),
            "first_param_diff_step": cmp.first_param_diff_step,
            "first_loss_diff_step": cmp.first_loss_diff_step,
            "max_abs_diff": cmp.max_abs_diff, "final_abs_diff": cmp.final_abs_diff,
            "common_steps": cmp.common_steps}


def to_json(result: AttributionResult) -> dict[str, Any]:
    """Plain JSON data (NaN and Infinity as null)."""
    primary = result.primary
    return jsonable({
        "format": ATTRIBUTION_FORMAT, "version": ATTRIBUTION_VERSION,
        "ref_config": result.ref_config.model_dump(),
        "other_config": result.other_config.model_dump(),
        "baseline": _comparison_json(result.baseline),
        "repeat": _comparison_json(result.repeat),
        "repeats_bitwise": result.repeats_bitwise,
        "primary_factor": primary.factor.key if primary else None,
        "findings": result.findings(),
        "cancelled": result.cancelled, "runs": result.runs,
        "factors": [{"key": c.factor.key, "title": c.factor.title, "outcome": c.outcome,
                     "reason": c.reason, "ratio": c.ratio,
                     "baseline_values": (list(c.baseline_values)
                                         if c.baseline_values is not None else None),
                     "configs": [x.model_dump() for x in c.configs] if c.configs else None,
                     "comparison": _comparison_json(c.comparison)} for c in result.cells],
    })
