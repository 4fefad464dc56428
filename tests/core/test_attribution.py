"""One-factor-at-a-time attribution: real torch runs on the CPU (1 thread vs 2 threads must
point at threads), cancel that leaves no worker behind, and the outcome rules on exactly
built comparisons."""

import json
import math
import threading

import numpy as np
import psutil
import pytest

from reprodiag.core.compare.runs import DIVERGED, EQUIVALENT, IDENTICAL, RunComparison
from reprodiag.core.diagnose.attribution import (
    FACTOR_KEYS,
    FACTORS,
    GROWS,
    NO_EFFECT,
    NOT_APPLICABLE,
    NOT_RUN,
    SHRINKS,
    VANISHES,
    attribute,
    classify,
    render_markdown,
    render_text,
    to_json,
)
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import RunRecord
from reprodiag.errors import UserError

STEPS = 10


@pytest.fixture(scope="module")
def threads_pair():
    """The full experiment for torch mlp, 1 thread (reference) vs 2 threads, with progress."""
    calls = []
    result = attribute(RunConfig(threads=1, steps=STEPS), RunConfig(threads=2, steps=STEPS),
                       on_progress=lambda done, total, text: calls.append((done, total, text)))
    return result, calls


def _cell(result, key):
    return next(c for c in result.cells if c.factor.key == key)


@pytest.mark.framework
@pytest.mark.slow
def test_threads_is_the_factor(threads_pair):
    result, _ = threads_pair
    assert result.repeats_bitwise is True
    assert result.has_difference and result.baseline.verdict != IDENTICAL
    primary = result.primary
    assert primary.factor.key == "threads" and primary.outcome == VANISHES
    assert primary.baseline_values == (1, 2)
    assert primary.comparison.verdict == IDENTICAL
    assert _cell(result, "deterministic").outcome != VANISHES
    assert _cell(result, "deterministic").comparison is not None
    # anything else that removes the difference was set alike on both sides
    assert all(not c.differs for c in result.causes[1:])
    assert "threads = 1" in result.findings()[0]


@pytest.mark.framework
@pytest.mark.slow
def test_factors_that_cannot_apply_are_not_run(threads_pair):
    result, _ = threads_pair
    assert [c.factor.key for c in result.cells] == list(FACTOR_KEYS)
    for key, words in (("tf32", "GPU setting"), ("onednn", "TensorFlow"),
                       ("init_cpu", "always draws"), ("cpu", "CPU already"),
                       ("seed", "same seed")):
        cell = _cell(result, key)
        assert cell.outcome == NOT_APPLICABLE and words in cell.reason
        assert cell.comparison is None and cell.configs is None


@pytest.mark.framework
@pytest.mark.slow
def test_matrix_and_renderings(threads_pair):
    result, _ = threads_pair
    m = result.matrix()
    assert m.rows == [f.title for f in FACTORS] and m.heat.shape == (len(FACTORS), 5)
    row = m.keys.index("threads")
    assert m.values[row][0] == VANISHES and m.values[row][1] == IDENTICAL
    assert m.values[row][2] is None  # never parts
    assert np.all(m.heat[row] == 1.0)
    tf32 = m.keys.index("tf32")
    assert np.all(np.isnan(m.heat[tf32])) and m.text[tf32][0].startswith("n/a (TF32")
    assert m.baseline[1] == result.baseline.verdict
    text = render_text(result)
    assert "B (explained): torch mlp cpu seed=0 threads=2" in text
    assert "Determinism check: B run twice is bitwise identical." in text
    assert any(line.strip().startswith("threads = 1") and "vanishes" in line
               for line in text.splitlines())
    md = render_markdown(result)
    assert "| factor | outcome | verdict |" in md and "| threads = 1 | vanishes |" in md
    data = json.loads(json.dumps(to_json(result), allow_nan=False))
    assert data["primary_factor"] == "threads" and data["repeats_bitwise"] is True
    assert data["runs"] == result.runs
    assert [f["key"] for f in data["factors"]] == list(FACTOR_KEYS)


@pytest.mark.framework
@pytest.mark.slow
def test_progress_counts_every_run(threads_pair):
    result, calls = threads_pair
    dones = [d for d, _, _ in calls]
    assert dones == sorted(dones) and dones[-1] == result.runs
    assert all(d <= t for d, t, _ in calls)
    assert calls[-1][1] == result.runs and calls[-1][2] == "finished"
    assert calls[0][2].startswith("A (reference)")


@pytest.mark.framework
@pytest.mark.slow
def test_unseeded_runs_are_nondeterministic_and_seeding_fixes_it():
    result = attribute(RunConfig(seed=None, steps=3, threads=1), factors=["seed", "threads"])
    assert result.repeats_bitwise is False and result.repeat is result.baseline
    assert result.findings()[0].startswith("Run-to-run nondeterminism")
    seed = _cell(result, "seed")
    assert seed.outcome == VANISHES and seed.differs  # two random seeds, then seed 0 twice
    assert seed.configs == (RunConfig(seed=0, steps=3, threads=1),) * 2
    assert seed.comparison.ref is not seed.comparison.other  # B was run again, not reused
    assert _cell(result, "threads").reason == "both sides already run with 1 thread"
    assert result.primary is seed and result.runs == 4


@pytest.mark.framework
def test_cancel_stops_the_running_worker():
    cancel = threading.Event()
    started = []

    def progress(done, total, text):
        started.append(text)
        if len(started) == 2:  # B has been planned: cancel while it starts
            cancel.set()

    result = attribute(RunConfig(threads=1, steps=5), RunConfig(threads=2, steps=5),
                       factors=["threads", "float64"], on_progress=progress, cancel=cancel)
    assert result.cancelled and result.baseline is None and result.runs == 1
    assert [c.outcome for c in result.cells] == [NOT_RUN, NOT_RUN]
    assert all(c.reason == "cancelled" for c in result.cells)
    assert psutil.Process().children(recursive=True) == []
    assert "Cancelled" in " ".join(result.findings())


def test_unknown_factor_is_one_line():
    with pytest.raises(UserError, match="unknown factor 'gpu'"):
        attribute(RunConfig(), factors=["gpu"])


# ---------------------------------------------------------------- outcome rules

def _cmp(verdict, first=None, max_abs=math.nan):
    run = RunRecord(config=RunConfig(steps=100))
    return RunComparison(ref=run, other=run, verdict=verdict, stage=None, explanation="",
                         common_steps=100, first_param_diff_step=first, max_abs_diff=max_abs)


@pytest.mark.parametrize("cell, outcome, ratio", [
    (_cmp(IDENTICAL, None, 0.0), VANISHES, 0.0),
    (_cmp(DIVERGED, 5, 0.05), SHRINKS, 0.05),  # ten times smaller and more
    (_cmp(DIVERGED, 40, 0.5), SHRINKS, 0.5),  # parts much later
    (_cmp(EQUIVALENT, 5, 0.5), SHRINKS, 0.5),  # now within tolerance
    (_cmp(DIVERGED, 7, 0.6), NO_EFFECT, 0.6),
    (_cmp(DIVERGED, 5, 20.0), GROWS, 20.0),
    (_cmp(DIVERGED, 0, 1.0), NO_EFFECT, 1.0),  # earlier, but by less than a tenth of the run
])
def test_classify_against_a_diverged_baseline(cell, outcome, ratio):
    got, got_ratio = classify(_cmp(DIVERGED, 5, 1.0), cell, 100)
    assert (got, got_ratio) == (outcome, pytest.approx(ratio))


def test_classify_when_the_baseline_losses_agree():
    base = _cmp(EQUIVALENT, 0, 0.0)  # parameters part, losses equal
    assert classify(base, _cmp(IDENTICAL, None, 0.0), 100)[0] == VANISHES
    outcome, ratio = classify(base, _cmp(EQUIVALENT, 0, 0.0), 100)
    assert outcome == NO_EFFECT and math.isnan(ratio)
    assert classify(base, _cmp(DIVERGED, 0, 0.1), 100) == (GROWS, math.inf)
