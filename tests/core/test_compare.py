"""Run comparison, pairing, bundle comparison and its renderings, on records built from real
protocol lines with exactly constructed values."""

import hashlib
import json
import math
import struct
from types import SimpleNamespace

import numpy as np
import pytest

from reprodiag.core.compare import compare_bundles
from reprodiag.core.compare.render import to_json, to_markdown, to_text
from reprodiag.core.compare.runs import abs_diff_series, compare_runs, pair_runs
from reprodiag.core.env.model import Fact, Snapshot
from reprodiag.core.knowledge.stages import Stage
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import LogLine, Step, parse_line
from reprodiag.core.runs.record import DIVERGED, FAILED, FINISHED, RunRecord

# NaN/Inf are data here: any numpy warning is a bug.
pytestmark = pytest.mark.filterwarnings("error")

BASE = [2.3, 2.1, 1.9, 1.7, 1.55, 1.4, 1.3, 1.2, 1.15, 1.1]


def _feed(record: RunRecord, obj: dict) -> None:
    msg = parse_line(json.dumps(obj))
    assert not isinstance(msg, LogLine), obj
    record.apply(msg)


def _param_hashes(init, batches, losses, grads):
    """Parameters after step i depend on the start and every batch, loss and gradient so far."""
    h = hashlib.sha256(init.encode())
    out = []
    for b, loss, g in zip(batches, losses, grads):
        h.update(f"{b}|{loss!r}|{g!r}".encode())
        out.append(h.hexdigest()[:16])
    return out


def make_run(losses, *, config=None, steps=None, grads=None, batches=None, params=None,
             dataset="data-1", init="init-1", probe="probe-1", settings=None, end="done",
             scheme="canary/3"):
    """A RunRecord filled from the worker lines a real run with these values would print."""
    steps = list(range(len(losses))) if steps is None else steps
    grads = [0.5 * x for x in losses] if grads is None else grads
    batches = [f"batch-{s}" for s in steps] if batches is None else batches
    params = _param_hashes(init, batches, losses, grads) if params is None else params
    record = RunRecord(config=config or RunConfig(steps=len(losses)))
    record.start()
    hello = {"type": "hello", "protocol": 1, "worker": "canary_test", "pid": 7, "python": "3.11.9"}
    if scheme is not None:  # None: a worker of reprodiag 0.1.0 (no recording_scheme)
        hello["recording_scheme"] = scheme
    _feed(record, hello)
    _feed(record, {"type": "env", "settings": settings or {"num_threads": 1},
                   "dataset_hash": dataset, "init_param_hash": init, "n_params": 42})
    for s, loss, g, p, b in zip(steps, losses, grads, params, batches):
        _feed(record, {"type": "step", "step": s, "loss": loss, "grad_norm": g, "param_hash": p,
                       "batch_hash": b, "lr": 0.05, "step_time": 0.001})
    if end == "done":
        summary = {"final_loss": losses[-1] if losses else None, "steps": len(losses)}
        if probe is not None:
            summary["probe_hash"] = probe
        _feed(record, {"type": "done", "summary": summary})
    elif end == "error":
        _feed(record, {"type": "error", "message": "worker stopped", "kind": "crash"})
    return record


def _up(x: float, ulps: int = 1) -> float:
    for _ in range(ulps):
        x = math.nextafter(x, math.inf)
    return x


# ---------------------------------------------------------------- verdicts and stages

def test_identical_runs():
    c = compare_runs(make_run(BASE), make_run(BASE))
    assert c.verdict == "identical" and c.stage is None
    assert c.common_steps == len(BASE) and c.same_length
    assert (c.first_param_diff_step, c.first_loss_diff_step,
            c.first_bitwise_loss_diff_step) == (None, None, None)
    assert c.max_abs_diff == 0.0 and c.final_abs_diff == 0.0 and c.max_rel_diff == 0.0
    assert not c.flagged and c.ref_status == c.other_status == FINISHED
    assert "identical" in c.explanation


def test_equivalent_within_tolerance():
    other = BASE[:3] + [x * (1 + 1e-7) for x in BASE[3:]]
    c = compare_runs(make_run(BASE), make_run(other))
    assert c.verdict == "equivalent"
    assert c.stage == Stage.ACCUMULATED and "step 3" in c.explanation
    assert c.first_bitwise_loss_diff_step == 3 and c.first_param_diff_step == 3
    assert c.first_loss_diff_step is None
    diffs = np.abs(np.array(other) - np.array(BASE))
    assert c.max_abs_diff == diffs.max()
    assert c.final_abs_diff == diffs[-1]
    assert c.final_rel_diff == diffs[-1] / max(abs(other[-1]), abs(BASE[-1]))


def test_divergence_step_bitwise_and_beyond_tolerance():
    other = list(BASE)
    other[2] = _up(BASE[2])  # one ulp: a bitwise difference well within tolerance
    other[5:] = [x + 0.01 for x in BASE[5:]]
    c = compare_runs(make_run(BASE), make_run(other))
    assert c.verdict == "diverged" and c.stage == Stage.ACCUMULATED
    assert c.first_bitwise_loss_diff_step == 2
    assert c.first_param_diff_step == 2
    assert c.first_loss_diff_step == 5
    assert c.final_abs_diff == abs(other[-1] - BASE[-1])
    expected_rel = max(abs(o - b) / max(abs(o), abs(b)) for o, b in zip(other, BASE))
    assert c.max_rel_diff == expected_rel


def test_tolerances_are_the_callers():
    other = [x + 1e-3 for x in BASE]
    assert compare_runs(make_run(BASE), make_run(other)).verdict == "diverged"
    loose = compare_runs(make_run(BASE), make_run(other), rtol=0.0, atol=2e-3)
    assert loose.verdict == "equivalent" and (loose.rtol, loose.atol) == (0.0, 2e-3)


def test_parameters_part_before_the_loss():
    grads = [0.5 * x for x in BASE]
    other_grads = list(grads)
    other_grads[4] = _up(grads[4])  # backward pass differs at step 4, loss only from step 5
    other = BASE[:5] + [_up(x) for x in BASE[5:]]
    c = compare_runs(make_run(BASE), make_run(other, grads=other_grads))
    assert c.first_param_diff_step == 4 and c.first_grad_norm_diff_step == 4
    assert c.first_bitwise_loss_diff_step == 5
    assert c.stage == Stage.ACCUMULATED and "step 4" in c.explanation
    assert c.verdict == "equivalent"


def test_different_dataset_comes_first():
    c = compare_runs(make_run(BASE), make_run(BASE[:1] + [x + 1 for x in BASE[1:]],
                                                  dataset="data-2", init="init-2"))
    assert c.stage == Stage.DATASET and c.verdict == "diverged"


def test_different_initial_parameters():
    c = compare_runs(make_run(BASE), make_run([x + 0.2 for x in BASE], init="init-2"))
    assert c.stage == Stage.INIT and c.verdict == "diverged"
    assert c.first_param_diff_step == 0 and c.first_loss_diff_step == 0


def test_init_hash_alone_breaks_identity():
    c = compare_runs(make_run(BASE), make_run(BASE, params=make_run(BASE).steps.hash_list("param_hash"),
                                              init="init-2"))
    assert c.verdict == "equivalent" and c.stage == Stage.INIT


def test_batch_order_difference():
    batches = [f"batch-{s}" for s in range(len(BASE))]
    swapped = batches[:3] + [batches[4], batches[3]] + batches[5:]
    other = BASE[:3] + [1.75, 1.5] + [x + 0.02 for x in BASE[5:]]
    c = compare_runs(make_run(BASE), make_run(other, batches=swapped))
    assert c.stage == Stage.BATCHES and c.first_batch_diff_step == 3
    assert c.first_param_diff_step == 3 and c.first_loss_diff_step == 3
    assert "step 3" in c.explanation and c.verdict == "diverged"


def test_runs_of_different_recording_schemes_compare_on_loss_and_parameters_only():
    # an old (0.1.0) bundle hashed each batch's content, a new one chains indices; its grad
    # norm was summed differently: neither may pass for a difference
    old = make_run(BASE, batches=[f"content-{s}" for s in range(len(BASE))], scheme=None)
    new = make_run(BASE, grads=[_up(0.5 * x) for x in BASE],
                   params=_param_hashes("init-1", [f"content-{s}" for s in range(len(BASE))],
                                        BASE, [0.5 * x for x in BASE]))
    assert old.recording_scheme == "" and new.recording_scheme == "canary/3"
    c = compare_runs(old, new)
    assert c.schemes_differ and c.verdict == "identical" and c.stage is None
    assert c.first_batch_diff_step is None and c.first_grad_norm_diff_step is None
    text = to_text(compare_bundles(SimpleNamespace(label="old", runs=[old], snapshot=None),
                                   SimpleNamespace(label="new", runs=[new], snapshot=None)))
    assert "not compared: recorded under different definitions (reprodiag 0.1.0 vs canary/3)" in text

    # the same scheme on both sides: the batch and gradient-norm differences count
    same = compare_runs(make_run(BASE, batches=[f"content-{s}" for s in range(len(BASE))]), new)
    assert not same.schemes_differ and same.first_batch_diff_step == 0
    assert same.first_grad_norm_diff_step == 0 and same.verdict != "identical"


def test_batch_difference_after_parameters_parted_is_not_the_cause():
    batches = [f"batch-{s}" for s in range(len(BASE))]
    later = batches[:6] + ["other"] * 4
    other = BASE[:2] + [_up(x) for x in BASE[2:]]
    c = compare_runs(make_run(BASE), make_run(other, batches=later))
    assert c.first_batch_diff_step == 6 and c.first_param_diff_step == 2
    assert c.stage == Stage.ACCUMULATED


def test_first_forward_pass_difference():
    other = [_up(x) for x in BASE]
    c = compare_runs(make_run(BASE), make_run(other))
    assert c.stage == Stage.FORWARD and c.first_bitwise_loss_diff_step == 0
    assert c.verdict == "equivalent"


def test_probe_hash_alone_breaks_identity():
    c = compare_runs(make_run(BASE), make_run(BASE, probe="probe-2"))
    assert c.verdict == "equivalent" and c.stage == Stage.PREDICTIONS
    assert "probe" in c.explanation
    # A missing probe hash on one side is not a difference.
    assert compare_runs(make_run(BASE), make_run(BASE, probe=None)).verdict == "identical"


# ---------------------------------------------------------------- non-finite values and lengths

def test_nan_in_one_run():
    other = BASE[:6] + [float("nan")] * 4
    ref, run = make_run(BASE), make_run(other)
    assert run.status == DIVERGED
    c = compare_runs(ref, run)
    assert c.verdict == "diverged" and c.first_loss_diff_step == 6
    assert c.first_bitwise_loss_diff_step == 6 and c.stage == Stage.ACCUMULATED
    assert c.max_abs_diff == 0.0  # only finite pairs count; they agree exactly
    assert math.isnan(c.final_abs_diff) and math.isnan(c.final_rel_diff)
    assert c.nonfinite_steps == 4
    assert c.flagged and any("diverged" in p and "step 6" in p for p in c.problems)
    steps, diff = abs_diff_series(ref, run)
    assert list(steps) == list(range(10))
    assert np.all(diff[:6] == 0.0) and np.all(np.isnan(diff[6:]))


def test_same_nan_at_the_same_step_is_identical():
    losses = BASE[:4] + [float("inf"), float("nan")]
    c = compare_runs(make_run(losses), make_run(losses))
    assert c.verdict == "identical"
    assert c.flagged and len(c.problems) == 2
    assert math.isnan(c.final_abs_diff) and c.max_abs_diff == 0.0


def _run_from_steps(losses):
    """Apply Step messages directly: JSON cannot carry a NaN with a non-default payload."""
    record = RunRecord(config=RunConfig(steps=len(losses)))
    for i, loss in enumerate(losses):
        record.apply(Step(step=i, loss=loss, grad_norm=1.0, param_hash="p", batch_hash="b",
                          lr=0.05, step_time=0.0))
    return record


def test_nan_payload_must_match_bitwise():
    quiet_nan = float("nan")
    other_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0]
    assert math.isnan(other_nan)
    same = compare_runs(_run_from_steps([1.0, quiet_nan]), _run_from_steps([1.0, quiet_nan]))
    assert same.verdict == "identical"
    c = compare_runs(_run_from_steps([1.0, quiet_nan]), _run_from_steps([1.0, other_nan]))
    assert c.verdict == "equivalent" and c.first_bitwise_loss_diff_step == 1
    assert c.first_loss_diff_step is None


def test_opposite_infinities_diverge():
    c = compare_runs(_run_from_steps([1.0, math.inf]), _run_from_steps([1.0, -math.inf]))
    assert c.verdict == "diverged" and c.first_loss_diff_step == 1
    assert math.isnan(c.max_rel_diff) is False and c.max_abs_diff == 0.0


def test_different_lengths():
    short = make_run(BASE[:6], config=RunConfig(steps=len(BASE)), end="error")
    assert short.status == FAILED
    c = compare_runs(make_run(BASE), short)
    # Shorter is not diverged: compared over the steps both have, where they agree.
    assert c.verdict == "identical" and not c.same_length and c.partial
    assert c.common_steps == 6 and c.stage is None
    assert c.first_loss_diff_step is None and c.first_param_diff_step is None
    assert "10 and 6 steps" in c.explanation and "compared over the 6 both have" in c.explanation
    assert c.flagged and any("failed" in p for p in c.problems)


def test_final_predictions_are_compared_only_for_runs_that_both_finished_alike():
    shorter = make_run(BASE[:6], config=RunConfig(steps=len(BASE)), probe="probe-2")
    c = compare_runs(make_run(BASE), shorter)
    assert c.verdict == "identical" and c.stage is None
    cancelled = make_run(BASE[:6], config=RunConfig(steps=len(BASE)), end=None)
    cancelled.finish("cancelled")
    assert compare_runs(make_run(BASE), cancelled).verdict == "identical"
    c = compare_runs(make_run(BASE), make_run(BASE, probe="probe-2"))
    assert c.stage == Stage.PREDICTIONS


def test_no_common_step():
    c = compare_runs(make_run(BASE), make_run([], config=_cfg(), end="error"))
    assert c.verdict == "diverged" and c.common_steps == 0 and c.stage is None
    assert "no step in common" in c.explanation
    assert math.isnan(c.max_abs_diff) and math.isnan(c.final_abs_diff)


def test_unfinished_run_is_flagged():
    c = compare_runs(make_run(BASE), make_run(BASE, end=None))
    assert c.verdict == "identical"
    assert c.problems == [f"B ({c.other.display_name()}) did not finish (status running)"]


def test_abs_diff_series_aligns_on_common_steps():
    ref = make_run([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    other = make_run([1.5, 2.0, 3.25, float("inf"), 7.0, 8.0], steps=[0, 1, 3, 4, 5, 6])
    steps, diff = abs_diff_series(ref, other)
    assert steps.tolist() == [0, 1, 3, 4, 5]
    assert diff[:3].tolist() == [0.5, 0.0, 0.75]
    assert math.isnan(diff[3]) and diff[4] == 1.0
    c = compare_runs(ref, other)
    assert c.common_steps == 5 and not c.same_length and c.first_loss_diff_step == 0


def test_config_and_settings_differences_are_listed():
    c = compare_runs(make_run(BASE, config=RunConfig(steps=10, threads=1)),
                     make_run(BASE, config=RunConfig(steps=10, threads=2),
                              settings={"num_threads": 2, "torch": {"version": "2.13"}}))
    assert c.config_differences == [("threads", 1, 2)]
    assert c.settings_differences == [("num_threads", 1, 2), ("torch.version", None, "2.13")]


# ---------------------------------------------------------------- pairing

def _cfg(**kw):
    return RunConfig(steps=10, **kw)


def test_exact_config_pairs_before_pairing_key():
    a = [make_run(BASE, config=_cfg(threads=1)), make_run(BASE, config=_cfg(threads=2))]
    b = [make_run(BASE, config=_cfg(threads=2)), make_run(BASE, config=_cfg(threads=1))]
    pairs = pair_runs(a, b)
    assert [(x is a[0], y is b[1]) for x, y in pairs[:1]] == [(True, True)]
    assert pairs[1][0] is a[1] and pairs[1][1] is b[0]


def test_pairing_key_pairs_runs_differing_only_in_placement():
    a = [make_run(BASE, config=_cfg(seed=1)), make_run(BASE, config=_cfg(threads=1))]
    b = [make_run(BASE, config=_cfg(seed=2)), make_run(BASE, config=_cfg(threads=4, device="auto"))]
    pairs = pair_runs(a, b)
    # the placement-only pair wins over the earlier same-model pair, which comes last
    assert [(x is a[0], y is b[0]) for x, y in pairs] == [(True, True), (False, False)]
    assert pairs[1][0] is a[1] and pairs[1][1] is b[1]


def test_same_model_with_other_settings_pairs_last():
    a = [make_run(BASE, config=_cfg(seed=1)), make_run(BASE, config=_cfg(model="cnn"))]
    b = [make_run(BASE, config=_cfg(model="cnn", dtype="float64")),
         make_run(BASE, config=_cfg(framework="tensorflow"))]
    pairs = pair_runs(a, b)
    assert len(pairs) == 1 and pairs[0][0] is a[1] and pairs[0][1] is b[0]


def test_each_run_is_used_once_and_order_follows_a():
    a = [make_run(BASE, config=_cfg(model="cnn")), make_run(BASE), make_run(BASE)]
    b = [make_run(BASE), make_run(BASE, config=_cfg(model="cnn"))]
    pairs = pair_runs(a, b)
    assert [(x is a[0], y is b[1]) for x, y in pairs[:1]] == [(True, True)]
    assert pairs[1][0] is a[1] and pairs[1][1] is b[0]
    assert len(pairs) == 2
    assert pair_runs(a, b) == pairs  # deterministic


# ---------------------------------------------------------------- bundles and renderings

def _snapshot(**facts):
    return Snapshot(facts={k.replace("__", "."): Fact(value=v) for k, v in facts.items()})


@pytest.fixture
def bundles():
    ref_a = make_run(BASE, config=_cfg(threads=1))
    nan_run = BASE[:6] + [float("nan")] * 4
    a = SimpleNamespace(label="laptop", runs=[ref_a, make_run(BASE, config=_cfg(seed=3)),
                                              make_run(BASE, config=_cfg(model="cnn"))],
                        snapshot=_snapshot(numerics__torch__num_threads=1, host__hostname="lap",
                                           pkg__numpy="2.1.0", var__HOME="/home/a|b"))
    b = SimpleNamespace(label="colab", runs=[make_run(BASE[:3] + [x + 0.1 for x in BASE[3:]],
                                                      config=_cfg(threads=2)),
                                             make_run(nan_run, config=_cfg(seed=3)),
                                             make_run(BASE, config=_cfg(seed=9))],
                        snapshot=_snapshot(numerics__torch__num_threads=2, host__hostname="colab",
                                           pkg__numpy="2.1.0", gpu__0__name="Tesla T4"))
    return a, b


def test_compare_bundles(bundles):
    a, b = bundles
    bc = compare_bundles(a, b)
    assert bc.labels == ("laptop", "colab")
    assert [p.verdict for p in bc.pairs] == ["diverged", "diverged"]
    assert bc.pairs[0].stage == Stage.ACCUMULATED and bc.pairs[0].first_loss_diff_step == 3
    assert bc.pairs[1].first_loss_diff_step == 6 and bc.pairs[1].flagged
    assert [r.config.model for r in bc.unpaired_a] == ["cnn"]
    assert [r.config.seed for r in bc.unpaired_b] == [9]
    # Known differences first, numerics-relevant first; then facts one side did not capture
    # (laptop has no GPU facts at all, colab no variables): unknown there, not different.
    assert [d.key for d in bc.env] == ["numerics.torch.num_threads", "host.hostname",
                                       "gpu.0.name", "var.HOME"]
    assert [d.key for d in bc.env_differences] == ["numerics.torch.num_threads",
                                                   "host.hostname"]
    assert [d.key for d in bc.env_unknown] == ["gpu.0.name", "var.HOME"]
    assert bc.env[2].a_text == "not captured" and bc.env_compared
    assert bc.overall_verdict == "diverged"


def test_compare_bundles_without_a_snapshot(bundles):
    a, b = bundles
    a.snapshot = None
    bc = compare_bundles(a, b)
    assert bc.env == [] and not bc.env_compared and bc.has_snapshot == (False, True)
    assert "no environment snapshot in laptop" in to_text(bc)
    assert "no environment snapshot in laptop" in to_markdown(bc)


def test_identical_bundles_and_empty_ones():
    snap = _snapshot(pkg__numpy="2.1.0")
    same = compare_bundles(SimpleNamespace(label="x", runs=[make_run(BASE)], snapshot=snap),
                           SimpleNamespace(label="y", runs=[make_run(BASE)], snapshot=snap))
    assert same.overall_verdict == "identical" and same.env == []
    assert "do not differ" in to_markdown(same)
    empty = compare_bundles(SimpleNamespace(label="", runs=[], snapshot=None),
                            SimpleNamespace(label="", runs=[], snapshot=None))
    assert empty.labels == ("A", "B") and empty.overall_verdict is None
    assert "nothing to compare" in to_text(empty)


def test_text_rendering(bundles):
    text = to_text(compare_bundles(*bundles))
    assert "A: laptop" in text and "B: colab" in text
    assert "Overall: diverged (2 run pairs, 2 unpaired runs)" in text
    assert "verdict: diverged" in text and "where they part: accumulated numerics" in text
    assert "config differs: threads 1 vs 2" in text
    assert "diverged: loss became non-finite at step 6" in text
    assert "4 steps with a non-finite loss left out" in text
    assert "Unpaired runs in laptop: torch cnn cpu seed=0" in text
    assert text.index("numerics.torch.num_threads") < text.index("host.hostname")


def test_markdown_rendering(bundles):
    md = to_markdown(compare_bundles(*bundles))
    assert md.startswith("### reprodiag comparison: laptop (A) vs colab (B)")
    assert "| **diverged** | accumulated numerics | 3 | 3 |" in md
    assert "| high | `numerics.torch.num_threads` | 1 | 2 |" in md
    assert "<details><summary>1 informational differences</summary>" in md
    assert "Captured on one side only (unknown on the other, not compared): 2 facts" in md
    assert md.index("numerics.torch.num_threads") < md.index("<details>")
    assert "pkg.numpy" not in md  # only differences


def test_json_rendering(bundles):
    data = to_json(compare_bundles(*bundles))
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["format"] == "reprodiag-comparison" and back["overall_verdict"] == "diverged"
    first, second = back["pairs"]
    assert first["verdict"] == "diverged" and first["stage"] == "accumulated numerics"
    assert first["config_differences"] == [{"field": "threads", "a": 1, "b": 2}]
    assert second["final_abs_diff"] is None and second["b"]["status"] == "diverged"
    assert second["b"]["final_loss"] is None
    assert [r["config"]["model"] for r in back["unpaired"]["a"]] == ["cnn"]
    gpu = next(d for d in back["environment"]["differences"] if d["key"] == "gpu.0.name")
    assert gpu["a"] is None and gpu["b"] == {"value": "Tesla T4"}
    assert gpu["a_text"] == "not captured" and gpu["unknown"] is True
    assert gpu["severity"] == 3 and gpu["numerics"] is True


# ---------------------------------------------------------------- sparse parameter hashes

def _every(hashes, k):
    """The hashes a recorder taking them every k-th step writes ("" on the other steps)."""
    return [h if i % k == 0 else "" for i, h in enumerate(hashes)]


def test_sparse_and_dense_hashes_are_identical_where_both_hashed():
    dense = make_run(BASE)
    sparse = make_run(BASE, params=_every(dense.steps.hash_list("param_hash"), 3),
                      batches=_every([f"batch-{s}" for s in range(len(BASE))], 2))
    c = compare_runs(dense, sparse)
    assert c.verdict == "identical" and c.first_param_diff_step is None
    assert c.first_batch_diff_step is None and c.last_param_match_step is None
    assert compare_runs(sparse, dense).verdict == "identical"


def test_a_parameter_difference_between_sparse_hashes_is_located_between_the_hashed_steps():
    dense = make_run(BASE)
    hashes = dense.steps.hash_list("param_hash")
    drifted = hashes[:5] + [h[::-1] for h in hashes[5:]]  # parameters part at step 5
    sparse = make_run(BASE, params=_every(drifted, 4))  # hashed at 0, 4, 8
    c = compare_runs(dense, sparse)
    assert c.verdict == "equivalent" and c.stage == Stage.ACCUMULATED
    assert (c.last_param_match_step, c.first_param_diff_step) == (4, 8)
    assert c.param_hashes_sparse and c.param_parting == "between step 4 and 8"
    bc = compare_bundles(SimpleNamespace(label="x", runs=[dense], snapshot=None),
                         SimpleNamespace(label="y", runs=[sparse], snapshot=None))
    assert "parameters parted between step 4 and 8" in to_text(bc)
    assert "| 4 to 8 |" in to_markdown(bc)
    pair = json.loads(json.dumps(to_json(bc), allow_nan=False))["pairs"][0]
    assert (pair["last_param_match_step"], pair["first_param_diff_step"]) == (4, 8)
    assert pair["param_hashes_sparse"] is True


def test_dense_hashes_name_the_step_the_parameters_part():
    dense = make_run(BASE)
    hashes = dense.steps.hash_list("param_hash")
    other = make_run(BASE, params=hashes[:5] + [h[::-1] for h in hashes[5:]])
    c = compare_runs(dense, other)
    assert (c.last_param_match_step, c.first_param_diff_step) == (4, 5)
    assert not c.param_hashes_sparse and c.param_parting == "step 5"
    bc = compare_bundles(SimpleNamespace(label="x", runs=[dense], snapshot=None),
                         SimpleNamespace(label="y", runs=[other], snapshot=None))
    assert "first parameter difference: step 5;" in to_text(bc)


def test_hashes_only_one_side_took_are_not_compared():
    dense = make_run(BASE)
    unhashed = make_run(BASE, params=[""] * len(BASE))
    c = compare_runs(dense, unhashed)
    assert c.verdict == "identical" and c.first_param_diff_step is None


def test_the_diagnosis_says_between_which_steps_sparse_parameters_part():
    from reprodiag.core.diagnose.evidence import Evidence

    dense = make_run(BASE)
    hashes = dense.steps.hash_list("param_hash")
    sparse = make_run(BASE, params=_every(hashes[:5] + [h[::-1] for h in hashes[5:]], 4))
    bc = compare_bundles(SimpleNamespace(label="x", runs=[dense], snapshot=None),
                         SimpleNamespace(label="y", runs=[sparse], snapshot=None))
    line = Evidence(comparison=bc).stage_line(bc.pairs[0])
    assert "the runs part between step 4 and 8 (parameters hashed on only some steps)" in line


def test_hashes_bytes_cannot_hold_compare_as_text():
    ascii_run = make_run(BASE)
    hashes = ascii_run.steps.hash_list("param_hash")
    other = make_run(BASE, params=hashes[:6] + ["é"] + hashes[7:])
    assert other.steps.param_hash.dtype.kind != ascii_run.steps.param_hash.dtype.kind
    c = compare_runs(ascii_run, other)
    assert (c.last_param_match_step, c.first_param_diff_step) == (5, 6)
    assert compare_runs(other, other).verdict == "identical"


def test_grad_norms_not_taken_are_not_compared():
    nan = float("nan")
    a = make_run([1.0, 0.9, 0.8, 0.7], grads=[0.5, nan, nan, 0.35])
    b = make_run([1.0, 0.9, 0.8, 0.7], grads=[0.5, 0.45, nan, 0.35])
    assert compare_runs(a, b).first_grad_norm_diff_step is None
    c = make_run([1.0, 0.9, 0.8, 0.7], grads=[0.5, nan, nan, 0.36])
    assert compare_runs(a, c).first_grad_norm_diff_step == 3
