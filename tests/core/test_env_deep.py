"""Deep capture: torch and TensorFlow imported in their own processes report their settings."""

import pytest

from reprodiag.core.env import capture

pytestmark = pytest.mark.framework  # runs real PyTorch / TensorFlow


@pytest.mark.slow
def test_deep_capture_reads_framework_settings_under_this_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TF_DETERMINISTIC_OPS", "1")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    snap = capture(deep=True, timeout=300)
    assert snap.deep
    assert snap.value("numerics.torch.num_threads") == 1
    assert isinstance(snap.value("numerics.torch.num_interop_threads"), int)
    assert isinstance(snap.value("numerics.torch.allow_tf32_matmul"), bool)
    assert isinstance(snap.value("numerics.torch.allow_tf32_cudnn"), bool)
    assert snap.value("numerics.torch.float32_matmul_precision") in ("highest", "high", "medium")
    assert snap.value("numerics.torch.deterministic_algorithms") is False
    assert isinstance(snap.value("numerics.torch.cpu_capability"), str)
    assert isinstance(snap.value("framework.torch.cuda_available"), bool)
    assert snap.value("framework.torch.config.blas_info")
    assert snap.value("numerics.tensorflow.op_determinism") is True
    assert snap.value("numerics.tensorflow.onednn") is False
    assert isinstance(snap.value("numerics.tensorflow.tf32"), bool)
    assert "CPU:0" in snap.value("framework.tensorflow.devices")
    assert not any(k.endswith(".probe") for k in snap.facts)


def test_a_probe_that_times_out_becomes_an_unavailable_fact():
    snap = capture(deep=True, timeout=0.05)  # no framework imports that fast
    for framework in ("torch", "tensorflow"):
        fact = snap.get(f"framework.{framework}.probe")
        assert not fact.ok and "did not finish" in fact.unavailable
    assert snap.value("framework.torch.version")  # the non-deep facts are all there


def test_stop_probes_ends_a_deep_capture_at_once_without_its_probes():
    """What a quitting window does: the probes are killed, the capture returns with their
    facts unavailable, and no probe process is left."""
    import importlib
    import threading
    import time

    capture_module = importlib.import_module("reprodiag.core.env.capture")  # not the function

    result = {}
    worker = threading.Thread(target=lambda: result.update(snap=capture(deep=True, timeout=300)))
    worker.start()
    deadline = time.monotonic() + 60
    while len(capture_module._PROBES) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    probes = list(capture_module._PROBES)
    assert len(probes) == 2  # torch and TensorFlow, importing
    capture_module.stop_probes()
    worker.join(60)
    assert not worker.is_alive()
    assert all(p.done for p in probes) and not capture_module._PROBES
    snap = result["snap"]
    for framework in ("torch", "tensorflow"):
        assert not snap.get(f"framework.{framework}.probe").ok
    assert snap.value("framework.torch.version")  # the quick facts are all there
