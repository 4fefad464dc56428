"""The TensorFlow/Keras canary worker, run for real on the CPU through the protocol parser.

TensorFlow takes seconds to import, so these tests share five worker processes.
"""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.framework  # runs real PyTorch / TensorFlow

pytest.importorskip("tensorflow")

BASE = {"framework": "tensorflow", "model": "mlp", "steps": 10, "threads": 2}


def test_protocol_lines_in_order_and_no_tensorflow_noise_on_stdout(canary):
    run = canary(**BASE)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.raw_lines == []  # TF's log chatter went to stderr
    assert run.hello is run.messages[0] and run.hello.worker == "canary_tf"
    assert run.env is run.messages[1] and run.done is run.messages[-1]
    assert [s.step for s in run.steps] == list(range(10))
    assert run.env.n_params == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
    assert all(math.isfinite(s.loss) for s in run.steps)
    assert all(s.grad_norm > 0 if s.param_hash else math.isnan(s.grad_norm) for s in run.steps)
    assert run.done.summary["metric_name"] == "accuracy" and run.done.summary["steps"] == 10


def test_settings_in_force_are_read_back(canary):
    settings = canary(**BASE).env.settings
    assert settings["framework"] == "tensorflow" and settings["keras_version"]
    assert settings["intra_op_threads"] == 2 and settings["inter_op_threads"] == 2
    assert settings["op_determinism"] is False and settings["tf32"] is False
    assert settings["device"] == "/CPU:0" and settings["param_dtype"] == "float32"
    assert isinstance(settings["onednn_enabled"], bool)


def test_same_seed_is_bitwise_repeatable(canary):
    first, again = canary(**BASE), canary(fresh=True, **BASE)
    assert again.env.init_param_hash == first.env.init_param_hash
    assert [s.param_hash for s in again.steps] == [s.param_hash for s in first.steps]
    assert [s.loss for s in again.steps] == [s.loss for s in first.steps]
    assert again.done.summary["probe_hash"] == first.done.summary["probe_hash"]


def test_the_torch_and_tf_workers_draw_the_same_batches(canary):
    pytest.importorskip("torch")
    tf_run = canary(**BASE)
    torch_run = canary(framework="torch", model="mlp", steps=len(tf_run.steps), threads=2)
    assert tf_run.env.dataset_hash == torch_run.env.dataset_hash
    assert [s.batch_hash for s in tf_run.steps] == [s.batch_hash for s in torch_run.steps]
    assert tf_run.steps[-1].batch_hash  # the last step is hashed: the chain covers every batch


def test_op_determinism_changes_the_result_bitwise(canary):
    plain, det = canary(**BASE), canary(**{**BASE, "deterministic": True})
    assert det.returncode == 0, det.stderr[-2000:]
    assert det.env.settings["op_determinism"] is True
    assert det.env.init_param_hash == plain.env.init_param_hash
    assert det.steps[0].batch_hash == plain.steps[0].batch_hash
    assert det.steps[0].param_hash != plain.steps[0].param_hash


def test_segnet_in_float64_without_onednn(canary):
    run = canary(framework="tensorflow", model="segnet", steps=3, batch_size=8, dtype="float64", onednn=False)
    assert run.returncode == 0, run.stderr[-2000:]
    settings = run.env.settings
    assert settings["param_dtype"] == "float64" and settings["floatx"] == "float64"
    assert settings["onednn_enabled"] is False and settings["var.TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert len(run.steps) == 3 and all(math.isfinite(s.loss) for s in run.steps)
    assert run.done.summary["metric_name"] == "mean_iou"
    assert 0.0 <= run.done.summary["metric"] <= 1.0


def test_gpu_without_one_is_a_one_line_no_gpu_error(canary):
    run = canary(framework="tensorflow", device="gpu", steps=1)
    assert run.returncode != 0
    assert run.error.kind == "no_gpu" and "GPU" in run.error.message
    assert "\n" not in run.error.message and run.steps == []
