"""The PyTorch canary worker, run for real on the CPU through the protocol parser."""

from __future__ import annotations

import hashlib
import math
import re
import signal
import subprocess

import numpy as np
import pytest
from canary_harness import DATA_DIR, worker_command

from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import Step, WorkerError, parse_line
from reprodiag.core.runs.record import FINISHED, RunRecord

pytestmark = pytest.mark.framework  # runs real PyTorch / TensorFlow

pytest.importorskip("torch")

BASE = {"framework": "torch", "model": "mlp", "steps": 60, "threads": 2}
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def test_protocol_lines_in_order_and_complete(canary):
    run = canary(**BASE)
    assert run.returncode == 0, run.stderr
    assert run.raw_lines == []  # nothing but protocol lines on stdout
    assert run.hello is run.messages[0] and run.hello.worker == "canary_torch"
    assert run.hello.recording_scheme == "canary/3"  # names the batch-hash and grad-norm definitions
    assert run.env is run.messages[1] and run.done is run.messages[-1]
    assert [s.step for s in run.steps] == list(range(60))
    assert run.env.n_params == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
    for text in (run.env.dataset_hash, run.env.init_param_hash, run.done.summary["probe_hash"]):
        assert HEX16.match(text)
    hashed = {0, 50, 59}  # first, every 50th (the default hash_every), last
    for s in run.steps:
        if s.step in hashed:
            assert HEX16.match(s.param_hash) and HEX16.match(s.batch_hash) and s.grad_norm > 0
        else:  # not hashed, gradient norm not taken
            assert s.param_hash == "" and s.batch_hash == "" and math.isnan(s.grad_norm)
        assert math.isfinite(s.loss) and s.lr == 0.05 and s.step_time >= 0
    assert len({s.param_hash for s in run.steps}) == len(hashed) + 1  # each update changes them
    summary = run.done.summary
    assert summary["metric_name"] == "accuracy" and 0.0 <= summary["metric"] <= 1.0
    assert summary["steps"] == 60 and summary["final_loss"] == run.steps[-1].loss
    assert summary["diverged"] is False


def test_settings_in_force_are_read_back(canary):
    settings = canary(**BASE).env.settings
    assert settings["framework"] == "torch" and settings["framework_version"]
    assert settings["threads"] == 2 and settings["var.OMP_NUM_THREADS"] == "2"
    assert settings["device"] == "cpu" and settings["device_name"]
    assert settings["deterministic"] is False and settings["tf32"] is False
    assert settings["float32_matmul_precision"] == "highest"
    assert settings["param_dtype"] == "float32" and settings["seed_effective"] == 0


def test_a_run_folds_into_a_finished_record(canary):
    run = canary(**BASE)
    record = RunRecord(config=run.config)
    record.start()
    for message in run.messages:
        record.apply(message)
    assert record.status == FINISHED and len(record.steps) == 60
    assert record.init_param_hash == run.env.init_param_hash


def test_same_seed_same_threads_is_bitwise_repeatable(canary):
    first, again = canary(**BASE), canary(fresh=True, **BASE)
    assert again.env.init_param_hash == first.env.init_param_hash
    assert [s.param_hash for s in again.steps] == [s.param_hash for s in first.steps]
    assert [s.loss for s in again.steps] == [s.loss for s in first.steps]
    assert again.done.summary["probe_hash"] == first.done.summary["probe_hash"]


def test_one_thread_vs_two_same_start_different_trajectory(canary):
    two, one = canary(**BASE), canary(**{**BASE, "threads": 1})
    assert one.env.settings["threads"] == 1
    assert one.env.init_param_hash == two.env.init_param_hash
    assert [s.batch_hash for s in one.steps] == [s.batch_hash for s in two.steps]
    assert one.steps[0].loss == two.steps[0].loss  # the forward pass agrees bitwise ...
    # ... but the parallel matmul reduction in the backward pass does not.
    assert one.steps[-1].param_hash != two.steps[-1].param_hash
    assert one.done.summary["probe_hash"] != two.done.summary["probe_hash"]


def test_float64_differs_from_float32(canary):
    f32, f64 = canary(**BASE), canary(**{**BASE, "dtype": "float64"})
    assert f64.env.settings["param_dtype"] == "float64"
    assert f64.env.dataset_hash == f32.env.dataset_hash  # same source data
    assert f64.env.init_param_hash != f32.env.init_param_hash
    assert f64.steps[0].loss != f32.steps[0].loss
    assert abs(f64.steps[0].loss - f32.steps[0].loss) < 1e-3  # same model, other rounding


def test_different_seeds_differ_at_init(canary):
    zero, one = canary(**BASE), canary(**{**BASE, "seed": 1, "steps": 2})
    assert one.env.init_param_hash != zero.env.init_param_hash
    assert one.steps[0].batch_hash != zero.steps[0].batch_hash  # the shuffle is seeded too
    assert one.env.dataset_hash == zero.env.dataset_hash


def test_unseeded_runs_differ(canary):
    config = {**BASE, "seed": None, "steps": 2}
    a, b = canary(fresh=True, **config), canary(fresh=True, **config)
    assert a.env.settings["seed"] is None
    assert a.env.settings["seed_effective"] != b.env.settings["seed_effective"]
    assert a.env.init_param_hash != b.env.init_param_hash


def test_unshuffled_batches_are_the_training_set_in_order(canary, common):
    run = canary(**{**BASE, "shuffle": False, "steps": 2})
    data = common.load_digits(DATA_DIR).cast("float32")
    x, y = data.x_train, data.y_train
    # Chained: step 1's batch hash covers the indices of batches 0 and 1, then batch 1 itself.
    expected = [_batch_hash(common, np.arange(32), x[:32], y[:32]),
                _batch_hash(common, np.arange(64), x[32:64], y[32:64])]
    assert [s.batch_hash for s in run.steps] == expected


def test_cnn_with_adam_augmentation_and_determinism(canary):
    config = dict(BASE, model="cnn", optimizer="adam", augment=True, deterministic=True, steps=5)
    run, plain = canary(**config), canary(**{**config, "augment": False})
    assert run.returncode == 0, run.stderr
    assert run.env.settings["deterministic"] is True
    assert run.env.settings["cudnn_deterministic"] is True
    assert run.env.settings["var.CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert run.env.init_param_hash == plain.env.init_param_hash
    assert [s.batch_hash for s in run.steps] != [s.batch_hash for s in plain.steps]
    assert run.done.summary["metric_name"] == "accuracy"


def test_segnet_trains_and_reports_mean_iou(canary):
    run = canary(framework="torch", model="segnet", steps=3, batch_size=8, threads=2)
    assert run.returncode == 0, run.stderr
    assert len(run.steps) == 3 and all(math.isfinite(s.loss) for s in run.steps)
    assert run.done.summary["metric_name"] == "mean_iou"
    assert 0.0 <= run.done.summary["metric"] <= 1.0


def test_gpu_without_cuda_is_a_one_line_no_gpu_error(canary):
    run = canary(framework="torch", device="gpu", steps=1)
    assert run.returncode != 0
    assert run.error.kind == "no_gpu" and "GPU" in run.error.message
    assert "\n" not in run.error.message and run.steps == []


def test_bad_config_is_a_config_error():
    argv, env = worker_command(RunConfig(steps=1))
    argv[-1] = '{"model": "mlp"}'
    proc = subprocess.run(argv, check=False, capture_output=True, text=True, env=env, timeout=60)
    messages = [parse_line(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 2
    error = messages[-1]
    assert isinstance(error, WorkerError) and error.kind == "config" and "lacks" in error.message


def test_sigterm_cancels_with_an_error_line():
    argv, env = worker_command(RunConfig(steps=1_000_000, threads=1))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        for line in proc.stdout:
            if isinstance(parse_line(line), Step):
                proc.send_signal(signal.SIGTERM)
                break
        rest = [parse_line(line) for line in proc.stdout]
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
        proc.wait()
    errors = [m for m in rest if isinstance(m, WorkerError)]
    assert errors and errors[-1].kind == "cancelled"


def test_hash_cadence_first_every_kth_and_last(canary):
    run = canary(**{**BASE, "steps": 8, "hash_every": 3})
    assert [s.step for s in run.steps if s.param_hash] == [0, 3, 6, 7]
    assert [s.step for s in run.steps if s.batch_hash] == [0, 3, 6, 7]
    every = canary(**{**BASE, "steps": 8, "hash_every": 1})
    assert all(s.param_hash and s.batch_hash for s in every.steps)
    for sparse, full in zip(run.steps, every.steps):  # the same run, only hashed more often
        assert sparse.loss == full.loss
        assert sparse.grad_norm == full.grad_norm if sparse.param_hash else math.isnan(sparse.grad_norm)
        assert sparse.param_hash in ("", full.param_hash) and sparse.batch_hash in ("", full.batch_hash)


def test_hash_every_1_and_10_compare_identical(canary):
    from reprodiag.core.compare import compare_runs

    one, ten = (canary(**{**BASE, "steps": 12, "hash_every": k}) for k in (1, 10))
    assert [s.loss for s in one.steps] == [s.loss for s in ten.steps]
    assert [s.step for s in ten.steps if s.param_hash] == [0, 10, 11]
    assert one.config.pairing_key() == ten.config.pairing_key()
    records = []
    for run in (one, ten):
        record = RunRecord(config=run.config)
        for message in run.messages:
            record.apply(message)
        records.append(record)
    result = compare_runs(*records)
    assert result.first_bitwise_loss_diff_step is None and result.first_grad_norm_diff_step is None


def test_hash_due_is_first_kth_and_last_step(common):
    due = [step for step in range(12) if common.hash_due(step, 11, 5)]
    assert due == [0, 5, 10, 11]
    assert all(common.hash_due(step, 11, 1) for step in range(12))


def test_chained_batch_hash_sees_a_batch_between_hashed_steps(canary, common):
    run = canary(**{**BASE, "shuffle": False, "steps": 5, "hash_every": 4})
    assert [s.step for s in run.steps if s.batch_hash] == [0, 4]
    data = common.load_digits(DATA_DIR).cast("float32")
    x, y = data.x_train[128:160], data.y_train[128:160]
    assert run.steps[4].batch_hash == _batch_hash(common, np.arange(160), x, y)
    swapped = np.arange(160)
    swapped[[70, 71]] = swapped[[71, 70]]  # two samples of batch 2, an unhashed step, swapped
    assert _batch_hash(common, swapped, x, y) != run.steps[4].batch_hash


def _batch_hash(common, indices, x, y) -> str:
    """BatchChain's definition without augmentation: every index so far, then the batch."""
    digest = hashlib.sha256(np.asarray(indices, dtype="<i8").tobytes())
    common.update_digest(digest, (x, y))
    return digest.hexdigest()[:16]


def test_bad_hash_every_is_a_config_error(common):
    with pytest.raises(common.WorkerFailure, match="hash_every"):
        common.parse_config(["w", _worker_json(hash_every=0)], "torch")


def _worker_json(**fields) -> str:
    import json

    payload = json.loads(RunConfig().to_worker_json(data_dir=DATA_DIR))
    payload.update(fields)
    return json.dumps(payload)


def test_grad_norm_is_taken_exactly_on_hashed_steps(canary):
    run = canary(**{**BASE, "steps": 12, "hash_every": 5})
    taken = [s.step for s in run.steps if not math.isnan(s.grad_norm)]
    hashed = [s.step for s in run.steps if s.param_hash]
    assert taken == hashed == [0, 5, 10, 11]
    assert all(s.grad_norm > 0 for s in run.steps if s.step in taken)
