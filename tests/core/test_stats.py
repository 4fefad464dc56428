"""Seed statistics: the Student-t distribution against closed forms and published values,
Welch's test against R's textbook example, verdicts for edge cases, grouping of two bundles,
and one real multi-seed comparison through the CLI."""

import json
import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from reprodiag.core.compare.stats import (
    betainc,
    compare_sides,
    hedges_g,
    render_markdown,
    render_text,
    seed_groups,
    seed_stats,
    step_band,
    summarize,
    t_cdf,
    t_quantile,
    t_two_sided_p,
    to_json,
    welch_test,
)
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import Step
from reprodiag.core.runs.record import FAILED, FINISHED, RunRecord

# R's `sleep` data set: t.test(extra ~ group, data = sleep) is the classic Welch example.
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


# ---------------------------------------------------------------- distribution functions

@pytest.mark.parametrize("q, df, expected", [
    (0.975, 1, 12.706205), (0.975, 2, 4.302653), (0.975, 4, 2.776445), (0.975, 10, 2.228139),
    (0.975, 30, 2.042272), (0.95, 5, 2.015048), (0.995, 2, 9.924843), (0.999, 3, 10.214532),
    (0.975, 10**7, 1.959964),
])
def test_t_quantile_matches_published_tables(q, df, expected):
    assert t_quantile(q, df) == pytest.approx(expected, abs=2e-6)
    assert t_quantile(1 - q, df) == pytest.approx(-expected, abs=2e-6)


def test_t_quantile_inverts_the_cdf_for_fractional_df():
    for df in (1.5, 3.7, 17.776):
        for q in (0.6, 0.9, 0.975, 0.9999):
            assert t_cdf(t_quantile(q, df), df) == pytest.approx(q, abs=1e-12)
    assert t_quantile(0.5, 3) == 0.0
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)


@pytest.mark.parametrize("t", [-30.0, -2.5, -0.3, 0.0, 0.7, 1.0, 4.2, 250.0])
def test_t_cdf_matches_closed_forms(t):
    # df = 1 is the Cauchy distribution, df = 2 has an algebraic CDF
    assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-14)
    assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-14)


def _two_sided_even_df(t: float, df: int) -> float:
    """P(|T| >= t) for even df by the finite series in theta = atan(t / sqrt(df))."""
    theta = math.atan(abs(t) / math.sqrt(df))
    series = sum(math.comb(2 * k, k) / 4 ** k * math.cos(theta) ** (2 * k)
                 for k in range(df // 2))
    return 1.0 - math.sin(theta) * series


@pytest.mark.parametrize("t, df", [(0.5, 4), (2.0, 6), (3.1, 8), (10.0, 8), (1.2, 20)])
def test_two_sided_p_matches_the_even_df_series(t, df):
    assert t_two_sided_p(t, df) == pytest.approx(_two_sided_even_df(t, df), rel=1e-9)


def test_t_cdf_published_values_and_limits():
    assert t_cdf(2.0, 5) == pytest.approx(0.9490303, abs=1e-7)
    assert t_two_sided_p(2.776445, 4) == pytest.approx(0.05, abs=1e-6)
    assert t_two_sided_p(math.inf, 3) == 0.0
    assert t_two_sided_p(0.0, 3) == 1.0
    assert t_two_sided_p(40.0, 30) < 1e-25  # the tail keeps its relative precision


def test_betainc_known_values_and_bounds():
    assert betainc(2, 3, 0.5) == pytest.approx(11 / 16, abs=1e-15)
    for x in (0.01, 0.3, 0.5, 0.97):
        assert betainc(0.5, 0.5, x) == pytest.approx(2 / math.pi * math.asin(math.sqrt(x)),
                                                     abs=1e-14)
        assert betainc(3, 1, x) == pytest.approx(x ** 3, abs=1e-14)
    assert betainc(4, 5, 0.0) == 0.0 and betainc(4, 5, 1.0) == 1.0
    for bad in ((0, 1, 0.5), (1, 1, 1.5), (1, -2, 0.5)):
        with pytest.raises(ValueError):
            betainc(*bad)


# ---------------------------------------------------------------- summaries and Welch's test

def test_summary_ci_matches_r_one_sample_t_test():
    s = summarize(SLEEP_1)
    assert (s.n, s.mean) == (10, pytest.approx(0.75))
    assert s.std == pytest.approx(1.789010, abs=1e-6)
    assert (s.ci_low, s.ci_high) == (pytest.approx(-0.5297804, abs=1e-7),
                                     pytest.approx(2.0297804, abs=1e-7))
    one = summarize([3.0])
    assert one.n == 1 and one.mean == 3.0 and math.isnan(one.std) and math.isnan(one.ci_low)


def test_welch_matches_r_sleep_example():
    # R: t = -1.8608, df = 17.776, p-value = 0.07939, 95% CI -3.3654832 0.2054832
    w = welch_test(summarize(SLEEP_2), summarize(SLEEP_1))
    assert w.diff == pytest.approx(-1.58)
    assert w.t == pytest.approx(-1.860813, abs=1e-6)
    assert w.df == pytest.approx(17.77647, abs=1e-5)
    assert w.p == pytest.approx(0.07939414, abs=1e-7)
    assert (w.ci_low, w.ci_high) == (pytest.approx(-3.3654832, abs=1e-7),
                                     pytest.approx(0.2054832, abs=1e-7))
    # Hedges' g: d = 1.58 / pooled sd 1.898625, J(18) = Gamma(9) / (3 Gamma(8.5)) = 0.957647
    assert w.g == pytest.approx(-0.957647 * 1.58 / 1.898625, abs=1e-5)


def test_welch_clear_difference_and_symmetry():
    a, b = summarize([1, 2, 3, 4, 5]), summarize([11, 12, 13, 14, 15])
    w = welch_test(a, b)
    assert (w.t, w.df) == (pytest.approx(10.0), pytest.approx(8.0))
    assert w.p == pytest.approx(_two_sided_even_df(10.0, 8), rel=1e-9)
    back = welch_test(b, a)
    assert back.t == pytest.approx(-w.t) and back.p == pytest.approx(w.p)
    assert hedges_g(b, a) == pytest.approx(-hedges_g(a, b))


def test_welch_zero_variance():
    same = welch_test(summarize([2.5] * 3), summarize([2.5] * 4))
    assert (same.p, same.g, same.diff) == (1.0, 0.0, 0.0)
    apart = welch_test(summarize([2.5] * 3), summarize([2.75] * 3))
    assert apart.p == 0.0 and apart.g == math.inf and apart.diff == 0.25
    one_sided = welch_test(summarize([1.0, 1.0, 1.0]), summarize([1.0, 2.0, 3.0]))
    assert math.isfinite(one_sided.t) and 0 < one_sided.p < 1
    with pytest.raises(ValueError):
        welch_test(summarize([1.0]), summarize([1.0, 2.0]))


# ---------------------------------------------------------------- runs and verdicts

def _run(final_loss, metric, *, seed=0, status=FINISHED, **config):
    return RunRecord(config=RunConfig(seed=seed, **config), status=status,
                     summary={"final_loss": final_loss, "metric": metric,
                              "metric_name": "accuracy"})


def _side(losses, metrics, **config):
    return [_run(x, m, seed=i, **config) for i, (x, m) in enumerate(zip(losses, metrics))]


def test_seed_stats_leaves_out_failed_and_nan_runs():
    runs = _side([0.5, 0.6, 0.7], [0.9, 0.8, 0.85])
    runs.append(_run(None, None, seed=7, status=FAILED))
    runs.append(_run(float("nan"), 0.9, seed=8))
    stats = seed_stats(runs)
    assert stats.n == 3 and stats.final_loss.mean == pytest.approx(0.6)
    assert stats.metric_name == "accuracy" and stats.seeds == [0, 1, 2]
    assert len(stats.excluded) == 2 and "failed" in stats.excluded[0]


def test_verdict_within_noise():
    v = compare_sides(_side([0.50, 0.56, 0.47, 0.53], [0.90, 0.86, 0.91, 0.88]),
                      _side([0.51, 0.55, 0.48, 0.52], [0.89, 0.87, 0.90, 0.88]))
    assert v.beyond_noise is False
    assert v.sentence.startswith("Within seed-to-seed noise")
    assert all(m.test is not None and m.test.p > 0.5 for m in v.measures)


def test_verdict_beyond_noise_names_the_measure_and_numbers():
    v = compare_sides(_side([0.50, 0.52, 0.51, 0.49], [0.90, 0.91, 0.89, 0.90]),
                      _side([0.80, 0.82, 0.79, 0.81], [0.90, 0.90, 0.91, 0.89]))
    assert v.beyond_noise is True
    loss, metric = v.measures
    assert loss.beyond_noise and not metric.beyond_noise
    assert v.sentence.startswith("Larger than seed-to-seed noise: final loss")
    assert "Welch t" in v.sentence and "Hedges' g" in v.sentence and "p = " in v.sentence


def test_verdict_needs_two_runs_per_side():
    v = compare_sides(_side([0.5], [0.9]), _side([0.5, 0.6, 0.7], [0.9, 0.8, 0.7]))
    assert v.beyond_noise is None
    assert "A has 1, B has 3" in v.sentence
    assert all(m.test is None for m in v.measures)


def test_the_alpha_asked_for_is_the_alpha_reported():
    # NoiseVerdict was once built positionally and the alpha landed in `numbers`.
    a = _side([0.50, 0.52, 0.51, 0.49], [0.90, 0.91, 0.89, 0.90])
    b = _side([0.80, 0.82, 0.79, 0.81], [0.90, 0.90, 0.91, 0.89])
    v = compare_sides(a, b, alpha=0.01)
    assert v.alpha == 0.01 and v.numbers == ""
    assert compare_sides(a[:1], b, alpha=0.01).alpha == 0.01


def test_verdict_notes_repeats_of_one_seed():
    a = [_run(0.5, 0.9, seed=3), _run(0.5, 0.9, seed=3)]
    v = compare_sides(a, _side([0.5, 0.6], [0.9, 0.8]))
    assert "run-to-run nondeterminism" in v.sentence


def _with_steps(losses, steps=None, status=FINISHED):
    run = RunRecord(config=RunConfig(), status=status)
    for i, loss in zip(steps or range(len(losses)), losses):
        run.steps.append(Step(step=i, loss=loss, grad_norm=1.0, param_hash="p", batch_hash="b",
                              lr=0.1, step_time=0.01))
    return run


def test_step_band_over_common_steps():
    runs = [_with_steps([1.0, 2.0, 3.0]), _with_steps([3.0, 2.0, float("nan"), 9.0]),
            _with_steps([5.0, 5.0], status=FAILED)]
    steps, mean, std = step_band(runs)
    assert steps.tolist() == [0, 1, 2]
    assert mean[:2].tolist() == [2.0, 2.0] and math.isnan(mean[2])
    assert std[:2] == pytest.approx([math.sqrt(2), 0.0]) and math.isnan(std[2])
    steps, mean, std = step_band(runs[:1])
    assert mean.tolist() == [1.0, 2.0, 3.0] and np.isnan(std).all()
    assert step_band([])[0].size == 0


def test_seed_groups_match_across_placement_and_list_the_rest():
    a = SimpleNamespace(label="here", runs=_side([0.5, 0.6, 0.55], [0.9, 0.8, 0.85], threads=1)
                        + _side([0.4, 0.45], [0.9, 0.9], dtype="float64"))
    b = SimpleNamespace(label="there", runs=_side([0.5, 0.6, 0.56], [0.9, 0.8, 0.85], threads=2)
                        + _side([1.0, 1.1], [0.5, 0.6], model="cnn"))
    groups = seed_groups(a, b)
    assert len(groups) == 3
    g = groups[0]
    assert (g.a.n, g.b.n) == (3, 3) and g.differences == [("threads", 1, 2)]
    assert g.config_a.seed is None and g.verdict.beyond_noise is False
    # groups pair at least on framework and model: A's float64 mlp and B's cnn stay alone
    assert groups[1].b is None and groups[1].config_a.dtype == "float64"
    assert groups[2].a is None and groups[2].config_b.model == "cnn"
    text = render_text(groups, ("here", "there"))
    assert "threads: 1 vs 2" in text and "Within seed-to-seed noise" in text
    assert "(only in A)" in text and "(only in B)" in text
    md = render_markdown(groups, ("here", "there"))
    assert "| final loss | A | 3 |" in md
    data = json.loads(json.dumps(to_json(groups, ("here", "there")), allow_nan=False))
    assert data["groups"][0]["verdict"]["beyond_noise"] is False
    assert data["groups"][1]["b"] is None


# ---------------------------------------------------------------- real runs, through the CLI

@pytest.mark.framework
@pytest.mark.slow
def test_real_seeds_threads_one_vs_two_is_within_noise(tmp_path):
    cli = [sys.executable, "-m", "reprodiag"]
    for name, threads in (("one", "1"), ("two", "2")):
        subprocess.run([*cli, "run", "--seeds", "0", "1", "2", "--threads", threads,
                        "--steps", "8", "--out", str(tmp_path / f"{name}.reprodiag.zip"),
                        "--label", name], check=True, capture_output=True, timeout=600)
    bundles = [str(tmp_path / f"{n}.reprodiag.zip") for n in ("one", "two")]
    out = subprocess.run([*cli, "stats", *bundles, "--json"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    (group,) = data["groups"]
    assert group["differences"] == [["threads", 1, 2]]
    assert group["a"]["seeds"] == [0, 1, 2] and group["b"]["final_loss"]["n"] == 3
    assert group["a"]["final_loss"]["std"] > 0  # seeds really change the result
    assert group["verdict"]["beyond_noise"] is False
    text = subprocess.run([*cli, "stats", *bundles], capture_output=True, text=True,
                          timeout=120).stdout
    assert "Within seed-to-seed noise" in text and "A: one" in text
