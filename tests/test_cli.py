"""The `reprodiag` command end to end: real processes, real frameworks on the CPU, real files.

These are the issue's acceptance checks: seeded runs repeat bitwise; torch with 1 vs 2
threads diverges after an equal step 0; Keras with and without op determinism diverges;
different seeds part at the initial parameters; float64 differs from float32; bad input
exits 2 with one line.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "reprodiag"]


def reprodiag(*args, check=True, timeout=600):
    proc = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"reprodiag {args} exited {proc.returncode}:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Bundles of small real runs, made once for the module."""
    d = tmp_path_factory.mktemp("bundles")
    common = ["run", "--framework", "torch", "--model", "mlp", "--steps", "25",
              "--batch-size", "64"]
    made = {}
    for name, extra in {
        "t1a": ["--threads", "1"],
        "t1b": ["--threads", "1"],
        "t2": ["--threads", "2"],
        "seed1": ["--threads", "1", "--seed", "1"],
        "f64": ["--threads", "1", "--dtype", "float64"],
    }.items():
        out = d / f"{name}.reprodiag.zip"
        reprodiag(*common, *extra, "--out", out, "--label", name)
        made[name] = out
    return made


def compare_json(a: Path, b: Path) -> dict:
    return json.loads(reprodiag("compare", a, b, "--json").stdout)


def only_pair(result: dict) -> dict:
    assert len(result["pairs"]) == 1, result["pairs"]
    return result["pairs"][0]


@pytest.mark.framework
def test_hash_every_is_recording_only_runs_still_pair(bundles, tmp_path):
    out = tmp_path / "every.reprodiag.zip"
    proc = reprodiag("run", "--framework", "torch", "--model", "mlp", "--steps", "25",
                     "--batch-size", "64", "--threads", "1", "--hash-every", "1", "--json",
                     "--out", out)
    (summary,) = json.loads(proc.stdout[: proc.stdout.rindex("]") + 1])
    assert summary["config"]["hash_every"] == 1
    pair = only_pair(compare_json(bundles["t1a"], out))  # hash_every 50 (default) vs 1
    assert pair["first_bitwise_loss_diff_step"] is None and pair["first_grad_norm_diff_step"] is None


@pytest.mark.framework
def test_seeded_torch_runs_repeat_bitwise(bundles):
    pair = only_pair(compare_json(bundles["t1a"], bundles["t1b"]))
    assert pair["verdict"] == "identical"
    assert pair["first_param_diff_step"] is None
    assert pair["stage"] is None


@pytest.mark.framework
def test_torch_one_vs_two_threads_diverges_after_equal_step0(bundles):
    pair = only_pair(compare_json(bundles["t1a"], bundles["t2"]))
    assert pair["verdict"] in ("diverged", "equivalent")
    assert pair["first_param_diff_step"] is not None
    # The step-0 loss agrees; the layers show the gradients part in the backward pass.
    assert pair["stage"] == "first backward pass" and pair["first_bitwise_loss_diff_step"] != 0
    assert pair["magnitude"] in ("last bits", "reduction order")
    text = reprodiag("compare", bundles["t1a"], bundles["t2"]).stdout
    assert "first backward pass" in text and "grad." in text


@pytest.mark.framework
def test_different_seeds_part_at_initial_parameters(bundles):
    pair = only_pair(compare_json(bundles["t1a"], bundles["seed1"]))
    assert pair["verdict"] == "diverged"
    assert pair["stage"] == "initial parameters"


@pytest.mark.framework
def test_float64_differs_from_float32(bundles):
    pair = only_pair(compare_json(bundles["t1a"], bundles["f64"]))
    assert pair["verdict"] != "identical"
    assert pair["first_param_diff_step"] is not None


@pytest.mark.framework
def test_keras_op_determinism_diverges(tmp_path):
    outs = []
    for name, flag in (("plain", "--no-deterministic"), ("det", "--deterministic")):
        out = tmp_path / f"{name}.reprodiag.zip"
        reprodiag("run", "--framework", "tensorflow", "--model", "mlp", "--steps", "20",
                  "--batch-size", "64", flag, "--out", out)
        outs.append(out)
    result = compare_json(*outs)
    assert len(result["pairs"]) == 1  # deterministic differs, so pairs by nothing else
    pair = result["pairs"][0]
    assert pair["verdict"] != "identical"
    assert pair["first_param_diff_step"] is not None


@pytest.mark.framework
def test_markdown_report_names_verdict_and_environment(bundles):
    md = reprodiag("compare", bundles["t1a"], bundles["seed1"], "--markdown").stdout
    assert "initial parameters" in md
    assert "|" in md  # tables


@pytest.mark.parametrize("args, needle", [
    (["compare", "/nonexistent/a.reprodiag.zip", "/nonexistent/b.reprodiag.zip"], "a.reprodiag.zip"),
    (["run", "--model", "resnet"], "resnet"),
    (["run", "--steps", "0"], "steps"),
    (["run", "--hash-every", "0"], "--hash-every"),
    (["run", "--hash-every", "ten"], "--hash-every"),
    (["env", "--python", "/etc/hostname"], "/etc/hostname"),
    (["env", "--python", "/nonexistent/python"], "/nonexistent/python"),
    (["frobnicate"], "frobnicate"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    proc = reprodiag(*args, check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.framework
def test_not_a_bundle_is_refused_with_exit_2(tmp_path, bundles):
    bogus = tmp_path / "notes.reprodiag.zip"
    bogus.write_text("this is not a zip file")
    proc = reprodiag("compare", bundles["t1a"], bogus, check=False)
    assert proc.returncode == 2
    assert str(bogus) in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.framework
def test_run_on_gpu_without_one_explains_in_one_line(tmp_path):
    proc = reprodiag("run", "--device", "gpu", "--steps", "3", "--out",
                     tmp_path / "g.reprodiag.zip", check=False)
    assert proc.returncode != 0
    assert "GPU" in proc.stderr or "gpu" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_env_json_is_a_snapshot_without_frameworks_imported():
    proc = reprodiag("env", "--json")
    snap = json.loads(proc.stdout)
    assert snap["format"] == "reprodiag-env"
    assert snap["facts"]["framework.torch.version"]["value"].startswith("2.")
    assert "host.os" in snap["facts"] and "cpu.logical_cores" in snap["facts"]


def test_env_text_is_grouped():
    text = reprodiag("env").stdout
    for title in ("Host", "CPU", "GPU", "Frameworks"):
        assert title in text


@pytest.mark.framework
def test_compare_adds_seed_statistics_when_sides_have_several_seeds(tmp_path):
    outs = []
    for threads in ("1", "2"):
        out = tmp_path / f"t{threads}.reprodiag.zip"
        reprodiag("run", "--seeds", "0", "1", "--steps", "6", "--threads", threads, "--out", out)
        outs.append(out)
    text = reprodiag("compare", *outs).stdout
    assert "seed statistics" in text and "Welch" in text
    result = compare_json(*outs)
    [group] = result["seed_stats"]["groups"]
    assert len(result["pairs"]) == 2
    assert "seed" in json.dumps(group)


def test_hash_every_is_validated_and_left_out_of_pairing():
    from pydantic import ValidationError

    from reprodiag.core.runs.config import RunConfig

    from reprodiag.core.bundle.serialize import _config

    assert RunConfig().hash_every == 50
    assert RunConfig(hash_every=1).pairing_key() == RunConfig(hash_every=50).pairing_key()
    assert "hash_every" not in RunConfig(hash_every=3).short_label()
    legacy = RunConfig().model_dump()
    del legacy["hash_every"]  # a bundle written before the field existed
    assert _config(legacy).hash_every == 10 and _config(RunConfig().model_dump()).hash_every == 50
    for bad in (0, 1_000_001):
        with pytest.raises(ValidationError):
            RunConfig(hash_every=bad)
