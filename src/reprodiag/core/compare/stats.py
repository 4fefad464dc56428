"""Statistics across seeds: is the gap between two sides larger than seed-to-seed noise?

Runs of one config over several seeds give a spread of final losses and metrics; a gap
between two sides (Colab vs local) only matters when it is larger than that spread. Per side:
n, mean, standard deviation and a 95% confidence interval (Student t); between sides: Welch's
two-sample t-test (unequal variances) and Hedges' g. The Student-t distribution is computed
here from the regularized incomplete beta function (no scipy). `step_band` gives the
per-step mean and std across seeds for band plots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reprodiag.core.compare.render import md_cell, jsonable, md_table, fmt_num
from reprodiag.core.compare.runs import pair_runs
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import FINISHED, STATUS_LABELS, RunRecord

CONFIDENCE = 0.95
ALPHA = 0.05
STATS_FORMAT = "reprodiag-seed-stats"
STATS_VERSION = 1
_DASH = "-"

# ---------------------------------------------------------------- the Student-t distribution


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if not (a > 0 and b > 0) or not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc needs a, b > 0 and 0 <= x <= 1 (got {a}, {b}, {x})")
    if x in (0.0, 1.0):
        return x
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    # The continued fraction converges fast on this side of the mean; use symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), by the modified Lentz method."""
    tiny, eps = 1e-300, 1e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                    -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with `df` (> 0, not necessarily whole) degrees of freedom."""
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    tail = 0.5 * t_two_sided_p(t, df)
    return 1.0 - tail if t > 0 else tail


def t_quantile(q: float, df: float) -> float:
    """The t with P(T <= t) = q (0 < q < 1), by bisection on `t_cdf`."""
    if not 0.0 < q < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0 < q < 1 and df > 0 (got {q}, {df})")
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < q:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if t_cdf(mid, df) < q else (lo, mid)
    return 0.5 * (lo + hi)


# ---------------------------------------------------------------- one sample, two samples


@dataclass(kw_only=True)
class Summary:
    """n, mean, sample standard deviation and a confidence interval of one measure."""

    n: int
    mean: float = math.nan
    std: float = math.nan  # ddof = 1; NaN for n < 2
    ci_low: float = math.nan
    ci_high: float = math.nan
    values: list[float] = field(default_factory=list)


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Mean, std (n - 1) and the t confidence interval of the mean; NaN where n is too small."""
    vals = [float(v) for v in values]
    n = len(vals)
    if n == 0:
        return Summary(n=0)
    if max(vals) == min(vals):  # exact: no rounding noise from summing equal values
        mean, std = vals[0], 0.0
    else:
        mean = math.fsum(vals) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1))
    if n < 2:
        return Summary(n=1, mean=mean, values=vals)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
    return Summary(n=n, mean=mean, std=std, ci_low=mean - half, ci_high=mean + half,
                   values=vals)


@dataclass(kw_only=True)
class WelchTest:
    """Welch's t-test of B against A: difference of means (B - A), t, df, p and Hedges' g."""

    diff: float
    t: float
    df: float
    p: float
    g: float
    ci_low: float  # confidence interval of the difference
    ci_high: float


def welch_test(a: Summary, b: Summary, confidence: float = CONFIDENCE) -> WelchTest:
    """Welch's two-sample t-test; needs n >= 2 on both sides (ValueError otherwise)."""
    if a.n < 2 or b.n < 2:
        raise ValueError("Welch's t-test needs at least 2 values on each side")
    diff = b.mean - a.mean
    va, vb = a.std ** 2 / a.n, b.std ** 2 / b.n
    se = math.sqrt(va + vb)
    g = hedges_g(a, b)
    if se == 0.0:  # no spread on either side: any gap at all is beyond the noise
        t = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        return WelchTest(diff=diff, t=t, df=math.nan, p=1.0 if diff == 0 else 0.0, g=g,
                         ci_low=diff, ci_high=diff)
    df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1))
    t = diff / se
    half = t_quantile(0.5 + confidence / 2.0, df) * se
    return WelchTest(diff=diff, t=t, df=df, p=t_two_sided_p(t, df), g=g, ci_low=diff - half,
                     ci_high=diff + half)


def hedges_g(a: Summary, b: Summary) -> float:
    """(mean B - mean A) / pooled std, with the exact small-sample correction J(na + nb - 2)."""
    dof = a.n + b.n - 2
    diff = b.mean - a.mean
    pooled = math.sqrt(((a.n - 1) * a.std ** 2 + (b.n - 1) * b.std ** 2) / dof)
    if pooled == 0.0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    j = math.exp(math.lgamma(dof / 2) - 0.5 * math.log(dof / 2) - math.lgamma((dof - 1) / 2))
    return j * diff / pooled


# ---------------------------------------------------------------- runs of one side


@dataclass(kw_only=True)
class SideStats:
    """One side's runs over seeds: final loss and metric summaries, and the runs left out."""

    final_loss: Summary
    metric: Summary
    metric_name: str = "metric"
    seeds: list[int | None] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # "<run>: <why>" for runs left out

    @property
    def n(self) -> int:
        return self.final_loss.n


def _final_loss(run: RunRecord) -> float:
    value = run.summary.get("final_loss")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return float(run.steps.loss[-1]) if len(run.steps) else math.nan


def _metric(run: RunRecord) -> float:
    value = run.summary.get("metric")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return math.nan


def seed_stats(runs: Sequence[RunRecord], confidence: float = CONFIDENCE) -> SideStats:
    """Statistics of the finished runs of one side; failed or NaN runs are listed as excluded."""
    kept: list[RunRecord] = []
    excluded: list[str] = []
    for run in runs:
        if run.status != FINISHED:
            why = run.reason or run.status
            excluded.append(f"{run.display_name()} [{run.run_id}]: {STATUS_LABELS[run.status]} ({why})")
        elif not (math.isfinite(_final_loss(run)) and math.isfinite(_metric(run))):
            excluded.append(f"{run.display_name()} [{run.run_id}]: no final loss or metric")
        else:
            kept.append(run)
    names = {str(r.summary.get("metric_name")) for r in kept if r.summary.get("metric_name")}
    return SideStats(
        final_loss=summarize([_final_loss(r) for r in kept], confidence),
        metric=summarize([_metric(r) for r in kept], confidence),
        metric_name=" / ".join(sorted(names)) or "metric",
        seeds=[r.config.seed for r in kept],
        excluded=excluded,
    )


def step_band(runs: Sequence[RunRecord], column: str = "loss"
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps all finished runs share, and the mean and std (n - 1) of `column` across them.

    For band plots (mean +- std over seeds). Std is NaN with fewer than 2 runs; a step where
    a run's value is not finite is NaN in both.
    """
    kept = [r for r in runs if r.status == FINISHED and len(r.steps)]
    if not kept:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty, empty
    common = np.asarray(kept[0].steps.step, dtype=np.int64)
    for run in kept[1:]:
        common = np.intersect1d(common, np.asarray(run.steps.step, dtype=np.int64))
    rows = []
    for run in kept:
        index = np.searchsorted(np.asarray(run.steps.step, dtype=np.int64), common)
        rows.append(run.steps.array(column)[index])
    values = np.vstack(rows)
    finite = np.isfinite(values).all(axis=0)
    mean = np.full(common.shape, np.nan)
    std = np.full(common.shape, np.nan)
    mean[finite] = values[:, finite].mean(axis=0)
    if len(kept) > 1:
        std[finite] = values[:, finite].std(axis=0, ddof=1)
    return common, mean, std


# ---------------------------------------------------------------- two sides


@dataclass(kw_only=True)
class MeasureTest:
    """One measure (final loss or the metric) compared between the sides."""

    measure: str
    a: Summary
    b: Summary
    test: WelchTest | None
    beyond_noise: bool | None  # None: no test possible
    sentence: str  # the numbers, with the measure's verdict
    numbers: str = ""  # the numbers only


@dataclass(kw_only=True)
class NoiseVerdict:
    """Whether the gap between two sides is larger than seed-to-seed noise, with the numbers.

    Each measure is tested at alpha / (number of measures) (Bonferroni), so that looking at
    two measures does not double the chance of a false alarm.
    """

    measures: list[MeasureTest]
    beyond_noise: bool | None  # None: no verdict (too few runs)
    sentence: str  # the numbers, with the measure's verdict
    numbers: str = ""  # the numbers only
    alpha: float = ALPHA


def _g(value: float, digits: int = 6) -> str:
    """A number with enough digits to tell means of close sides apart."""
    return fmt_num(value) if not math.isfinite(value) or value == 0 else f"{value:.{digits}g}"


def _p_text(p: float) -> str:
    return f"p = {p:.2g}" if p < 0.01 else f"p = {p:.3f}"


def _numbers(name: str, a: Summary, b: Summary, test: WelchTest | None) -> str:
    sides = (f"A {_g(a.mean)} ± {fmt_num(a.std)}, B {_g(b.mean)} ± {fmt_num(b.std)}, "
             f"n = {a.n} + {b.n}")
    if test is None:
        return f"{name}: {sides}; no test (a side has fewer than 2 runs)"
    if math.isnan(test.df):
        return (f"{name}: B - A = {_g(test.diff)} ({sides}; no seed changes the value on "
                "either side)")
    return (f"{name}: B - A = {_g(test.diff)} ({sides}; Welch t = {test.t:.2f}, "
            f"df = {test.df:.1f}, {_p_text(test.p)}, Hedges' g = {test.g:.2f})")


def compare_sides(a_runs: Sequence[RunRecord], b_runs: Sequence[RunRecord], *,
                  alpha: float = ALPHA) -> NoiseVerdict:
    """Test final loss and the metric of side B against side A over their seeds."""
    return verdict_of(seed_stats(a_runs), seed_stats(b_runs), alpha=alpha)


def verdict_of(a: SideStats, b: SideStats, *, alpha: float = ALPHA) -> NoiseVerdict:
    """The noise verdict for two sides' statistics (see `compare_sides`)."""
    pairs = (("final loss", a.final_loss, b.final_loss), (a.metric_name, a.metric, b.metric))
    each = alpha / len(pairs)
    measures = []
    for name, sa, sb in pairs:
        test = welch_test(sa, sb) if sa.n >= 2 and sb.n >= 2 else None
        noise = None if test is None else bool(test.p < each)
        numbers = _numbers(name, sa, sb, test)
        word = "" if noise is None else (": larger than seed noise" if noise
                                         else ": within seed noise")
        measures.append(MeasureTest(measure=name, a=sa, b=sb, test=test, beyond_noise=noise,
                                    sentence=numbers + word, numbers=numbers))
    if a.n < 2 or b.n < 2:
        sentence = (f"No verdict: each side needs at least 2 finished runs with different seeds "
                    f"(A has {a.n}, B has {b.n}); run each side with --seeds 0 1 2 3 4.")
        return NoiseVerdict(measures=measures, beyond_noise=None, sentence=sentence, alpha=alpha)
    beyond = [m for m in measures if m.beyond_noise]
    if beyond:
        head = "Larger than seed-to-seed noise"
        detail = "; ".join(m.numbers for m in beyond)
    else:
        head = "Within seed-to-seed noise"
        detail = ("no measure differs by more than changing the seed does "
                  f"(each tested at alpha = {each:.3g})")
    sentence = f"{head}: {detail}." + _repeat_caveat(a, b)
    return NoiseVerdict(measures=measures, beyond_noise=bool(beyond), sentence=sentence,
                        alpha=alpha)


def _repeat_caveat(a: SideStats, b: SideStats) -> str:
    single = [side for side, s in (("A", a), ("B", b)) if len(set(s.seeds)) < 2]
    if not single:
        return ""
    return (f" Note: the runs of {' and '.join(single)} all use one seed, so their spread is "
            "run-to-run nondeterminism, not seed-to-seed variation.")


# ---------------------------------------------------------------- groups of two bundles


@dataclass(kw_only=True)
class GroupStats:
    """Runs of one config (all but the seed) on side A, the matching group on side B."""

    config_a: RunConfig | None
    config_b: RunConfig | None
    a: SideStats | None
    b: SideStats | None
    verdict: NoiseVerdict | None
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def title(self) -> str:
        config = self.config_a or self.config_b
        return _without_seed(config.short_label()) if config is not None else ""


def _without_seed(label: str) -> str:
    return " ".join(part for part in label.split() if not part.startswith("seed="))


def _grouped(runs: Sequence[RunRecord]) -> dict[RunConfig, list[RunRecord]]:
    """Runs by config without its seed (placement included), in first-seen order."""
    groups: dict[RunConfig, list[RunRecord]] = {}
    for run in runs:
        groups.setdefault(run.config.model_copy(update={"seed": None}), []).append(run)
    return groups


def seed_groups(bundle_a: Any, bundle_b: Any, *, alpha: float = ALPHA) -> list[GroupStats]:
    """Group each bundle's runs by config ignoring the seed; match the groups across bundles.

    Groups are matched like runs (`pair_runs`): same config, then same config but for
    placement (device, threads), then same framework and model. Unmatched groups come last,
    with their own side's statistics and no verdict.
    """
    groups_a = _grouped(list(getattr(bundle_a, "runs", None) or []))
    groups_b = _grouped(list(getattr(bundle_b, "runs", None) or []))
    stand_in_a = [RunRecord(config=c) for c in groups_a]
    stand_in_b = [RunRecord(config=c) for c in groups_b]
    out: list[GroupStats] = []
    matched_b: set[RunConfig] = set()
    matched_a: set[RunConfig] = set()
    for ra, rb in pair_runs(stand_in_a, stand_in_b):
        ca, cb = ra.config, rb.config
        matched_a.add(ca)
        matched_b.add(cb)
        sa, sb = seed_stats(groups_a[ca]), seed_stats(groups_b[cb])
        da, db = ca.model_dump(), cb.model_dump()
        diffs = [(k, da[k], db[k]) for k in da if da[k] != db[k]]
        out.append(GroupStats(config_a=ca, config_b=cb, a=sa, b=sb,
                              verdict=verdict_of(sa, sb, alpha=alpha), differences=diffs))
    out += [GroupStats(config_a=c, config_b=None, a=seed_stats(runs), b=None, verdict=None)
            for c, runs in groups_a.items() if c not in matched_a]
    out += [GroupStats(config_a=None, config_b=c, a=None, b=seed_stats(runs), verdict=None)
            for c, runs in groups_b.items() if c not in matched_b]
    return out


# ---------------------------------------------------------------- renderings


def _ci(s: Summary) -> str:
    return _DASH if s.n < 2 else f"[{_g(s.ci_low)}, {_g(s.ci_high)}]"


def _rows(g: GroupStats) -> list[list[str]]:
    """(measure, side, n, mean, std, 95% CI) rows of one group."""
    rows = []
    for side, stats in (("A", g.a), ("B", g.b)):
        if stats is None:
            continue
        for name, s in (("final loss", stats.final_loss), (stats.metric_name, stats.metric)):
            rows.append([name, side, str(s.n), _g(s.mean), fmt_num(s.std), _ci(s)])
    rows.sort(key=lambda r: 0 if r[0] == "final loss" else 1)
    return rows


def _heading(g: GroupStats) -> str:
    if g.config_a is None or g.config_b is None:
        side = "A" if g.config_b is None else "B"
        return f"{g.title} (only in {side})"
    changes = "; ".join(f"{k}: {a} vs {b}" for k, a, b in g.differences)
    title_b = _without_seed(g.config_b.short_label())
    return g.title if not changes else f"{g.title}  vs  {title_b}  ({changes})"


def _notes(g: GroupStats) -> list[str]:
    out = []
    for side, stats in (("A", g.a), ("B", g.b)):
        out += [f"left out of {side}: {text}" for text in (stats.excluded if stats else [])]
    return out


_HEADER = ["measure", "side", "n", "mean", "std", "95% CI"]


def render_text(groups: list[GroupStats], labels: tuple[str, str] = ("A", "B")) -> str:
    """A plain-text table per config group, with the verdict sentence."""
    out = ["reprodiag seed statistics", f"  A: {labels[0]}", f"  B: {labels[1]}", ""]
    if not groups:
        out.append("No runs to compare.")
    for g in groups:
        out.append(_heading(g))
        table = [_HEADER] + _rows(g)
        widths = [max(len(r[i]) for r in table) for i in range(len(_HEADER))]
        out += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
        if g.verdict is not None:
            out.append(f"  verdict: {g.verdict.sentence}")
            out += [f"    {m.sentence}" for m in g.verdict.measures]
        out += [f"  ! {note}" for note in _notes(g)]
        out.append("")
    return "\n".join(out) + "\n"


def render_markdown(groups: list[GroupStats], labels: tuple[str, str] = ("A", "B")) -> str:
    """A Markdown section: one table per config group and its verdict."""
    out = [f"### Seed statistics: {md_cell(labels[0])} (A) vs {md_cell(labels[1])} (B)", ""]
    if not groups:
        out.append("No runs to compare.")
    for g in groups:
        out += [f"**{md_cell(_heading(g), 300)}**", ""]
        out += md_table(_HEADER, [[md_cell(c) for c in r] for r in _rows(g)])
        out.append("")
        if g.verdict is not None:
            out.append(f"Verdict: {md_cell(g.verdict.sentence, 1000)}")
            out += [f"- {md_cell(m.sentence, 400)}" for m in g.verdict.measures]
        out += [f"- :warning: {md_cell(note, 300)}" for note in _notes(g)]
        out.append("")
    return "\n".join(out) + "\n"


def _summary_json(s: Summary) -> dict[str, Any]:
    return {"n": s.n, "mean": s.mean, "std": s.std, "ci": [s.ci_low, s.ci_high],
            "values": s.values}


def _side_json(s: SideStats | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"final_loss": _summary_json(s.final_loss), "metric": _summary_json(s.metric),
            "metric_name": s.metric_name, "seeds": s.seeds, "excluded": s.excluded}


def _verdict_json(v: NoiseVerdict | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {"beyond_noise": v.beyond_noise, "sentence": v.sentence, "alpha": v.alpha,
            "measures": [{"measure": m.measure, "beyond_noise": m.beyond_noise,
                          "sentence": m.sentence,
                          "test": None if m.test is None else vars(m.test)}
                         for m in v.measures]}


def to_json(groups: list[GroupStats], labels: tuple[str, str] = ("A", "B")) -> dict[str, Any]:
    """Plain JSON data (NaN and Infinity as null)."""
    return jsonable({
        "format": STATS_FORMAT, "version": STATS_VERSION, "labels": list(labels),
        "confidence": CONFIDENCE,
        "groups": [{"title": g.title,
                    "config_a": g.config_a.model_dump() if g.config_a else None,
                    "config_b": g.config_b.model_dump() if g.config_b else None,
                    "differences": [list(d) for d in g.differences],
                    "a": _side_json(g.a), "b": _side_json(g.b),
                    "verdict": _verdict_json(g.verdict)} for g in groups],
    })
