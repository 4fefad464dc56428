"""Diagnosis rules on evidence that cannot be produced on this CPU-only machine: recorded
snapshots of GPU machines (T4 vs A100), other operating systems and CPUs, and runs recorded
from the worker lines a GPU or Colab run prints (run-to-run nondeterminism, out of memory,
throttling, TF32)."""

import json

import pytest

from reprodiag.core.compare import compare_bundles
from reprodiag.core.diagnose import Side, diagnose, diagnose_comparison
from reprodiag.core.diagnose.evidence import Evidence
from reprodiag.core.diagnose.findings import Diagnosis, Finding, likelihood_word, merge
from reprodiag.core.diagnose.render import to_json, to_markdown, to_text
from reprodiag.core.diagnose.evidence import predict_onednn
from reprodiag.core.env.model import Fact, Snapshot
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import parse_line
from reprodiag.core.runs.record import RunRecord

LINUX = {"host.system": "Linux", "host.arch": "x86_64", "host.os": "Ubuntu 22.04.4 LTS",
         "cpu.flags.avx2": True, "cpu.flags.avx512f": True, "cpu.flags.avx512_vnni": False,
         "cpu.flags.avx512_bf16": False, "cpu.flags.avx_vnni": False, "cpu.flags.amx_tile": False,
         "var.TF_ENABLE_ONEDNN_OPTS": None, "var.OMP_NUM_THREADS": None}
T4 = {**LINUX, "gpu.count": 1, "gpu.0.name": "Tesla T4", "gpu.0.compute_capability": "7.5",
      "gpu.0.sm_count": 40, "gpu.0.memory_total": 16 * 2**30, "gpu.driver": "535.104.05",
      "framework.torch.version": "2.3.0+cu121", "pkg.torch": "2.3.0+cu121",
      "framework.torch.cuda": "12.1", "framework.tensorflow.version": "2.15.0",
      "pkg.tensorflow": "2.15.0"}
A100 = {**T4, "gpu.0.name": "NVIDIA A100-SXM4-40GB", "gpu.0.compute_capability": "8.0",
        "gpu.0.sm_count": 108, "gpu.0.memory_total": 40 * 2**30, "gpu.driver": "550.54.15",
        "framework.torch.version": "2.1.0+cu118", "pkg.torch": "2.1.0+cu118",
        "framework.torch.cuda": "11.8"}


def snap(facts: dict) -> Snapshot:
    return Snapshot(facts={k: Fact(v) for k, v in facts.items()})


def make_run(config: RunConfig, losses: list[float], *, settings: dict, init: str = "init-0",
             batches: list[str] | None = None, params: list[str] | None = None,
             step_time: float = 0.001, log: list[str] = (), error: str = "",
             error_kind: str = "out_of_memory") -> RunRecord:
    """A record filled from the protocol lines a worker with these values prints."""
    record = RunRecord(config=config)
    record.start()
    lines = [{"type": "hello", "protocol": 1, "worker": "canary_torch", "pid": 1,
              "python": "3.11.9"},
             {"type": "env", "settings": settings, "dataset_hash": "digits-1",
              "init_param_hash": init, "n_params": 10}]
    batches = batches or [f"b{i}" for i in range(len(losses))]
    params = params or [f"{init}-p{i}-{loss!r}" for i, loss in enumerate(losses)]
    lines += [{"type": "step", "step": i, "loss": loss, "grad_norm": loss / 2,
               "param_hash": params[i], "batch_hash": batches[i], "lr": 0.05,
               "step_time": step_time} for i, loss in enumerate(losses)]
    lines += [{"type": "log", "message": text} for text in log]
    lines.append({"type": "error", "kind": error_kind, "message": error} if error else
                 {"type": "done", "summary": {"final_loss": losses[-1], "probe_hash": "p"}})
    for obj in lines:
        record.apply(parse_line(json.dumps(obj)))
    return record


LOSSES = [2.30, 2.10, 1.90, 1.75, 1.60]


def gpu_settings(name: str, capability: str, **extra) -> dict:
    return {"device_type": "gpu", "device_name": name, "compute_capability": capability,
            "framework_version": "2.3.0+cu121", "deterministic": False, "cudnn_benchmark": False,
            "tf32": False, "threads": 8, **extra}


def ids(findings: list[Finding]) -> list[str]:
    return [f.id for f in findings]


# ---------------------------------------------------------------- snapshots only


def test_t4_vs_a100_snapshots_name_gpu_tf32_versions_cuda_and_driver():
    findings = diagnose(Side(label="colab", snapshot=snap(T4)), Side(label="lab", snapshot=snap(A100)))
    by_id = {f.id: f for f in findings}
    assert {"gpu_model", "tf32", "torch_version", "cuda_version", "driver_version"} <= set(by_id)
    gpu = by_id["gpu_model"]
    assert "Tesla T4" in gpu.title and "NVIDIA A100-SXM4-40GB" in gpu.title
    assert any("7.5 (colab) vs 8.0 (lab)" in line for line in gpu.evidence)
    assert any("40 (colab) vs 108 (lab)" in line for line in gpu.evidence)  # SM count
    assert "can act only in lab" in by_id["tf32"].evidence[0]
    pin = by_id["torch_version"].fixes[0].code
    assert pin == ('pip install "torch==2.3.0+cu121" '
                   "--index-url https://download.pytorch.org/whl/cu121")
    assert any("12.1 (colab) vs 11.8 (lab)" in line for line in by_id["cuda_version"].evidence)
    # Environment evidence alone is never "very likely"; both sides have a GPU.
    assert all(f.likelihood < 0.75 for f in findings)
    assert "device" not in by_id and "onednn" not in by_id


def test_tf32_is_not_blamed_without_a_gpu_that_has_it():
    a = snap({**T4, "numerics.torch.allow_tf32_cudnn": True})
    b = snap({**T4, "gpu.0.name": "Tesla V100", "gpu.0.compute_capability": "7.0",
              "numerics.torch.allow_tf32_cudnn": False})
    # Named (the flag differs) but not blamed: no GPU here can do TF32.
    tf32 = next(f for f in diagnose(Side(label="a", snapshot=a), Side(label="b", snapshot=b))
                if f.id == "tf32")
    assert tf32.likelihood < 0.1 and "compute capability 8.0" in tf32.evidence[-1]
    # Captured on one side only: unknown there, so not a difference at all.
    b100 = snap({**A100, "numerics.torch.allow_tf32_cudnn": False})
    assert "tf32" not in ids(diagnose(Side(label="a", snapshot=snap(A100)),
                                      Side(label="b", snapshot=b100)))


def test_gpu_on_one_side_only_is_a_device_difference():
    cpu_only = {**LINUX, "gpu.count": 0, "framework.torch.version": "2.3.0+cpu"}
    findings = diagnose(Side(label="laptop", snapshot=snap(cpu_only)), Side(label="colab", snapshot=snap(T4)))
    by_id = {f.id: f for f in findings}
    assert "gpu.count: 0 (laptop) vs 1 (colab)" in by_id["device"].evidence
    assert any("Tesla T4" in line for line in by_id["gpu_model"].evidence)


@pytest.mark.parametrize("facts, expected", [
    ({"cpu.flags.avx512_vnni": True}, True),
    ({}, False),
    ({"cpu.flags.amx_tile": True, "var.TF_ENABLE_ONEDNN_OPTS": "0"}, False),
    ({"var.TF_ENABLE_ONEDNN_OPTS": "1"}, True),
    ({"framework.tensorflow.version": "2.8.4", "cpu.flags.avx512_vnni": True}, False),
    ({"framework.tensorflow.version": "2.4.0", "var.TF_ENABLE_ONEDNN_OPTS": "1"}, False),
    ({"host.system": "Windows", "host.arch": "AMD64"}, True),
    ({"host.system": "Darwin"}, False),
    ({"host.arch": "aarch64", "cpu.model": "Neoverse-V1"}, True),
    ({"host.arch": "aarch64", "cpu.model": "Cortex-A72"}, False),
    ({"numerics.tensorflow.onednn": True}, True),  # measured beats predicted
    ({"framework.tensorflow.version": None}, None),
])
def test_onednn_state_is_predicted_like_tensorflow_decides_it(facts, expected):
    base = {**LINUX, "framework.tensorflow.version": "2.15.0"}
    s = snap({**base, **facts})
    ev = Evidence(comparison=compare_bundles(Side(label="a", snapshot=s),
        Side(label="b", snapshot=s)), snapshots=(s, s))
    assert predict_onednn(ev, 0)[0] is expected


def test_onednn_predicted_on_one_side_only_is_a_finding():
    a = snap({**LINUX, "framework.tensorflow.version": "2.15.0", "cpu.flags.avx512_vnni": True})
    b = snap({**LINUX, "framework.tensorflow.version": "2.15.0"})
    onednn = next(f for f in diagnose(Side(label="a", snapshot=a),
                                      Side(label="b", snapshot=b)) if f.id == "onednn")
    predicted = next(line for line in onednn.evidence if "oneDNN predicted" in line)
    assert "oneDNN predicted on in a" in predicted and "avx512_vnni" in predicted
    assert onednn.fixes[0].env == {"TF_ENABLE_ONEDNN_OPTS": "0"}


# ---------------------------------------------------------------- recorded runs


def test_run_evidence_at_the_parting_stage_beats_environment_only_differences():
    cfg = RunConfig(device="gpu", tf32=False)
    a = make_run(cfg, LOSSES, settings=gpu_settings("NVIDIA A100-SXM4-40GB", "8.0"))
    b_losses = [2.3004] + LOSSES[1:]  # the first loss differs at TF32 scale (~2e-4)
    b = make_run(cfg.model_copy(update={"tf32": True}), b_losses,
                 settings=gpu_settings("NVIDIA A100-SXM4-40GB", "8.0", tf32=True))
    findings = diagnose(Side(label="a", snapshot=snap(A100), runs=[a]),
                        Side(label="b", snapshot=snap({**A100, **{
        "framework.torch.version": "2.3.0+cu121", "pkg.torch": "2.3.0+cu121",
        "framework.torch.cuda": "12.1", "pkg.numpy": "2.0.0"}}), runs=[b]))
    assert findings[0].id == "tf32" and findings[0].likelihood_word == "very likely"
    assert any("run config tf32: off (a) vs on (b)" in line for line in findings[0].evidence)
    assert any("first forward pass" in line for line in findings[0].evidence)
    fix = findings[0].fixes[0]
    assert fix.rerun_config_changes == {"tf32": False} and fix.rerun_sides == "b"
    assert "numpy_version" in ids(findings)
    assert all(f.likelihood < findings[0].likelihood for f in findings[1:])


def test_two_runs_of_one_config_that_differ_are_run_to_run_nondeterminism():
    cfg = RunConfig(device="gpu", model="cnn")
    settings = gpu_settings("Tesla T4", "7.5", cudnn_benchmark=True)
    first = make_run(cfg, LOSSES, settings=settings)
    second = make_run(cfg, LOSSES[:3] + [1.7500001, 1.6000002], settings=settings,
                      log=["UserWarning: upsample_bilinear2d_backward_out_cuda does not have a "
                           "deterministic implementation, but you set "
                           "'torch.use_deterministic_algorithms(True, warn_only=True)'"])
    other = make_run(cfg, LOSSES, settings=settings)
    findings = diagnose(Side(label="colab", snapshot=snap(T4), runs=[first, second]),
                        Side(label="local", snapshot=snap(T4), runs=[other]))
    top = findings[0]
    assert top.id == "run_to_run" and top.likelihood_word == "very likely"
    assert "two runs of torch cnn gpu seed=0 in colab" in top.evidence[0]
    assert "at step 3" in top.evidence[0]
    assert "cudnn_benchmark = on" in top.evidence[1]
    assert "upsample_bilinear2d_backward_out_cuda does not have a deterministic" in top.evidence[2]
    torch_fix = next(f for f in top.fixes if f.framework == "torch")
    assert "torch.use_deterministic_algorithms(True)" in torch_fix.code
    assert torch_fix.env == {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    assert "warn_only=True" in torch_fix.note
    assert top.run_pairs == [(first.run_id, second.run_id)]


def test_a_run_that_ran_out_of_memory_is_named():
    cfg = RunConfig(device="gpu", model="segnet", batch_size=64)
    a = make_run(cfg, LOSSES, settings=gpu_settings("NVIDIA A100-SXM4-40GB", "8.0"))
    b = make_run(cfg, LOSSES[:1], settings=gpu_settings("Tesla T4", "7.5"),
                 error="CUDA out of memory. Tried to allocate 2.00 GiB")
    small = {**T4, "gpu.0.memory_total": 15 * 2**30}
    findings = diagnose(Side(label="lab", snapshot=snap(A100), runs=[a]),
                        Side(label="colab", snapshot=snap(small), runs=[b]))
    memory = next(f for f in findings if f.id == "memory")
    assert memory.likelihood_word == "very likely"
    assert any("out of memory" in line and "colab" in line for line in memory.evidence)
    assert any(line.startswith("gpu.0.memory_total: 40.0 GiB (lab) vs 15.0 GiB (colab)")
               for line in memory.evidence)


def test_a_failed_run_is_named_before_any_numerics_cause():
    cfg = RunConfig()
    a = make_run(cfg, LOSSES, settings={"threads": 1})
    b = make_run(cfg.model_copy(update={"threads": 2}), LOSSES[:2], settings={"threads": 2},
                 error="ImportError: libcudnn.so.8 not found", error_kind="runtime")
    findings = diagnose(Side(label="a", snapshot=None, runs=[a]), Side(label="b", snapshot=None, runs=[b]))
    assert findings[0].id == "run_failed"
    assert "libcudnn.so.8 not found" in findings[0].evidence[0]
    assert "memory" not in ids(findings)


def test_much_slower_steps_on_colab_are_throttling_not_a_numbers_cause():
    cfg = RunConfig()
    cpu = {"device_type": "cpu", "threads": 2}
    a = make_run(cfg, LOSSES, settings=cpu, step_time=0.002)
    b = make_run(cfg, LOSSES, settings=cpu, step_time=0.009)
    findings = diagnose(Side(label="local", snapshot=snap(LINUX), runs=[a]),
                        Side(label="colab", snapshot=snap({**LINUX, "host.colab": True}), runs=[b]))
    assert ids(findings) == ["throttling"] and findings.causes == []
    assert findings[0].likelihood_word == "note"
    assert "colab is 4.5x slower" in findings[0].evidence[0]
    assert "colab ran on Google Colab" in findings[0].evidence


def test_same_start_other_batches_blames_the_data_pipeline():
    a = make_run(RunConfig(shuffle=True), LOSSES, settings={"shuffle": True})
    b = make_run(RunConfig(shuffle=False), LOSSES, settings={"shuffle": False},
                 batches=["c0", "c1", "c2", "c3", "c4"])
    findings = diagnose(Side(label="a", snapshot=None, runs=[a]), Side(label="b", snapshot=None, runs=[b]))
    # A configured difference, said as such, with the rerun that configures B like A.
    assert findings[0].id == "config" and "shuffle" in findings[0].title
    assert findings[0].likelihood_word == "very likely"
    assert any("batch hash at step 0: b0 vs c0" in line for line in findings[0].evidence)
    assert findings[0].fixes[0].rerun_config_changes == {"shuffle": True}
    assert all(f.likelihood < 0.5 for f in findings[1:])


def test_same_seed_different_start_on_other_device_is_the_rng_stream():
    a = make_run(RunConfig(device="cpu"), LOSSES, settings={"device_type": "cpu"})
    b = make_run(RunConfig(device="gpu"), LOSSES, settings={"device_type": "gpu"},
                 init="init-cuda")
    findings = diagnose(Side(label="a", snapshot=None, runs=[a]), Side(label="b", snapshot=None, runs=[b]))
    assert findings[0].id == "rng_device" and findings[0].likelihood_word == "very likely"
    assert any("run config device: cpu (a) vs gpu (b)" in line for line in findings[0].evidence)
    assert "generator" in findings[0].why and "draw" in findings[0].fixes[0].code


def test_diagnose_comparison_works_from_the_comparison_alone():
    a = make_run(RunConfig(threads=1), LOSSES, settings={"threads": 1, "device_type": "cpu"})
    b = make_run(RunConfig(threads=2), LOSSES[:1] + [2.1000001, 1.9, 1.75, 1.6],
                 settings={"threads": 2, "device_type": "cpu"})
    bc = compare_bundles(Side(label="a", snapshot=None, runs=[a]), Side(label="b", snapshot=None, runs=[b]))
    assert ids(diagnose_comparison(bc))[0] == "threads"


# ---------------------------------------------------------------- model and renderings


def test_likelihood_words_and_merging():
    assert [likelihood_word(x) for x in (0.95, 0.75, 0.6, 0.5, 0.45, 0.3)] == [
        "very likely", "very likely", "likely", "likely", "possible", "possible"]
    merged = merge([Finding(id="x", title="low", likelihood=0.3, evidence=["e1"],
                            run_pairs=[("a", "b")]),
                    Finding(id="y", title="other", likelihood=0.5),
                    Finding(id="x", title="high", likelihood=0.9, evidence=["e1", "e2"],
                            run_pairs=[("c", "d")])])
    assert [(f.id, f.title) for f in merged] == [("x", "high"), ("y", "other")]
    assert merged[0].evidence == ["e1", "e2"]
    assert merged[0].run_pairs == [("a", "b"), ("c", "d")]


def test_renderings_show_every_part_of_a_finding():
    findings = diagnose(Side(label="colab", snapshot=snap(T4)), Side(label="lab", snapshot=snap(A100)))
    text = to_text(findings)
    md = to_markdown(findings)
    data = json.loads(json.dumps(to_json(findings)))
    assert data["format"] == "reprodiag-diagnosis"
    assert [f["id"] for f in data["findings"]] == ids(findings)
    for f in findings:
        assert f.title in text and f.why in text
        assert f.source in md
    assert "export NVIDIA_TF32_OVERRIDE=0" in text
    assert "```bash\nexport NVIDIA_TF32_OVERRIDE=0\n```" in md
    assert "No probable cause found" in to_text(Diagnosis(labels=("a", "b")))


def test_evidence_said_of_several_pairs_is_one_line_naming_them():
    from reprodiag.core.diagnose.reasoning import merged_pair_lines

    lines = ["var.OMP_NUM_THREADS: not set (a) vs 2 (b)",
             "run config threads: 1 (a) vs 2 (b) [torch mlp cpu seed=0 threads=1 vs 2]",
             "run config threads: 1 (a) vs 2 (b) [torch mlp cpu seed=1 threads=1 vs 2]",
             "data fingerprint: x (a) vs y (b) [torch cnn cpu seed=0]"]
    assert merged_pair_lines(lines) == [
        "var.OMP_NUM_THREADS: not set (a) vs 2 (b)",
        "run config threads: 1 (a) vs 2 (b) [2 run pairs: seed=0, seed=1]",
        "data fingerprint: x (a) vs y (b) [torch cnn cpu seed=0]"]
