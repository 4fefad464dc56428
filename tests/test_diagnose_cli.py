"""`reprodiag diagnose` and `reprodiag align` end to end, on bundles of real CPU runs.

The acceptance check of the diagnosis: bundles that differ only in threads (torch 1 vs 2),
only in the seed, only in being seeded, only in op determinism (Keras), only in oneDNN
(Keras CNN) and only in dtype each put the true cause first; applying the first finding's
fix (its rerun_config_changes) to B's config and rerunning makes the runs bitwise identical.
"""

import json
import shlex
from pathlib import Path

import pytest

from reprodiag import cli
from reprodiag.core.bundle import read_bundle
from reprodiag.core.compare import compare_runs
from reprodiag.core.env import capture
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.session import record_runs

pytestmark = [pytest.mark.slow, pytest.mark.framework]

TORCH = {"framework": "torch", "steps": 20, "threads": 1}
KERAS = {"framework": "tensorflow", "steps": 10, "threads": 1, "onednn": False,
         "deterministic": True}
KERAS_CNN = {"framework": "tensorflow", "model": "cnn", "steps": 5, "threads": 1,
             "onednn": False}
SIDES = {
    "torch_ref": TORCH,
    "torch_threads2": {**TORCH, "threads": 2},
    "torch_seed1": {**TORCH, "seed": 1},
    "torch_unseeded": {**TORCH, "seed": None},
    "torch_float64": {**TORCH, "dtype": "float64"},
    "keras_ref": KERAS,
    "keras_nondeterministic": {**KERAS, "deterministic": False},
    "cnn_ref": KERAS_CNN,
    "cnn_onednn": {**KERAS_CNN, "onednn": True},
}
# (reference bundle, bundle differing in one thing, the cause diagnose must put first)
CASES = [
    ("torch_ref", "torch_threads2", "threads"),
    ("torch_ref", "torch_seed1", "seed"),
    ("torch_ref", "torch_unseeded", "unseeded"),
    ("torch_ref", "torch_float64", "dtype"),
    ("keras_ref", "keras_nondeterministic", "op_determinism"),
    ("cnn_ref", "cnn_onednn", "onednn"),
]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """One bundle per side, one real run each, all with this machine's snapshot."""
    folder = tmp_path_factory.mktemp("diagnose")
    snapshot = capture()
    out = {}
    for name, fields in SIDES.items():
        result = record_runs([RunConfig(**fields)], out=folder / f"{name}.reprodiag.zip",
                             label=name, snapshot=snapshot)
        assert result.runs[0].status == "finished", result.runs[0].reason
        out[name] = result.path
    return out


@pytest.fixture(scope="module")
def rerun():
    """rerun(config) -> a fresh real run of that config, each distinct config run once."""
    cache = {}

    def get(config: RunConfig):
        if config not in cache:
            cache[config] = launcher.run(config)
        return cache[config]
    return get


def cli_json(capsys, *args) -> dict:
    assert cli.main([*map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("ref, other, cause", CASES, ids=[c[2] for c in CASES])
def test_true_cause_first_and_its_fix_makes_the_runs_agree(bundles, rerun, capsys, ref, other,
                                                            cause):
    a_run = read_bundle(bundles[ref]).runs[0]
    b_run = read_bundle(bundles[other]).runs[0]
    assert compare_runs(a_run, b_run).verdict != "identical"  # a real difference to explain

    result = cli_json(capsys, "diagnose", bundles[ref], bundles[other])
    first = result["findings"][0]
    assert first["id"] == cause, [(f["id"], f["likelihood"]) for f in result["findings"]]
    assert first["likelihood_word"] == "very likely"
    assert first["run_pairs"] == [[a_run.run_id, b_run.run_id]]
    assert any(ref in line and other in line for line in first["evidence"])
    assert first["why"] and first["source"]
    frameworks = {fix["framework"] for fix in first["fixes"]}
    assert a_run.config.framework in frameworks and "any" in frameworks

    fix = next(f for f in first["fixes"] if f["rerun_config_changes"])
    assert fix["rerun_sides"] == "b"  # A already runs that way: changing B alone suffices
    fixed = RunConfig(**{**b_run.config.model_dump(), **fix["rerun_config_changes"]})
    assert compare_runs(a_run, rerun(fixed)).verdict == "identical"

    # The canary fix is the `reprodiag run` command for exactly that fixed config.
    canary = next(f for f in first["fixes"] if f["code"].startswith("reprodiag run "))
    args = cli.build_parser().parse_args(shlex.split(canary["code"])[1:])
    assert cli.configs_from_args(args) == [fixed]


def test_same_config_same_machine_has_no_finding(bundles, rerun, capsys, tmp_path):
    ref = read_bundle(bundles["torch_ref"])
    again = tmp_path / "again.reprodiag.zip"
    record_runs([ref.runs[0].config], out=again, label="again", snapshot=ref.snapshot)
    result = cli_json(capsys, "diagnose", bundles["torch_ref"], again)
    assert result["findings"] == []
    assert cli.main(["diagnose", str(bundles["torch_ref"]), str(again)]) == 0
    assert "No probable cause found" in capsys.readouterr().out


def test_text_and_markdown_show_the_same_ranking(bundles, capsys):
    a, b = str(bundles["torch_ref"]), str(bundles["torch_threads2"])
    assert cli.main(["diagnose", a, b]) == 0
    text = capsys.readouterr().out
    assert "1. Different CPU thread counts" in text and "torch.set_num_threads(1)" in text
    assert "export OMP_NUM_THREADS=1" in text and "reprodiag run --framework torch" in text
    assert cli.main(["diagnose", a, b, "--markdown"]) == 0
    md = capsys.readouterr().out
    assert "#### 1. Different CPU thread counts (1 vs 2) (very likely" in md
    assert "```python\nimport torch\n\ntorch.set_num_threads(1)" in md


@pytest.mark.parametrize("args, needle", [
    (["diagnose", "missing.reprodiag.zip", "other.zip"], "no such file"),
    (["diagnose", "."], "the following arguments are required"),
    (["align", "a.zip"], "the following arguments are required"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, needle):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_a_file_that_is_neither_bundle_nor_report_is_refused(tmp_path, capsys):
    junk = tmp_path / "notes.txt"
    junk.write_text("just some words\nnothing like an environment report\n")
    assert cli.main(["diagnose", str(junk), str(junk)]) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and err.count("\n") == 1


def test_align_between_bundles_of_one_machine_has_nothing_to_install(bundles, capsys):
    plan = cli_json(capsys, "align", bundles["torch_ref"], bundles["keras_ref"])
    assert plan["format"] == "reprodiag-align"
    assert plan["pip_lines"] == [] and plan["env_exports"] == {}
    assert set(plan["code"]) == {"torch", "tensorflow"}  # both installed here
    assert cli.main(["align", str(bundles["torch_ref"]), str(bundles["keras_ref"]),
                     "--frameworks", "torch"]) == 0
    text = capsys.readouterr().out
    assert "No numerics-relevant package or variable differs." in text
    assert "torch.use_deterministic_algorithms(True)" in text and "tensorflow" not in text


REPORTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "env_reports"
COLAB_T4 = REPORTS / "torch_collect_env_01_colab_t4_2.0.1.txt"


@pytest.mark.skipif(not COLAB_T4.is_file(), reason="shared env_reports folder absent")
def test_colab_collect_env_against_a_local_bundle_names_gpu_cuda_and_versions(bundles, capsys):
    result = cli_json(capsys, "diagnose", COLAB_T4, bundles["torch_ref"])
    by_id = {f["id"]: f for f in result["findings"]}
    assert "Tesla T4" in " ".join(by_id["gpu_model"]["evidence"])
    assert any("11.8" in line for line in by_id["cuda_version"]["evidence"])
    assert any("2.0.1+cu118" in line for line in by_id["torch_version"]["evidence"])
    plan = cli_json(capsys, "align", COLAB_T4, bundles["torch_ref"])
    assert any("torch==2.0.1+cu118" in line and line.endswith("whl/cu118")
               for line in plan["pip_lines"])
