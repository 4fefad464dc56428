"""The diagnosis on real runs that differ in exactly one cause, one scenario per cause this CPU
can produce: run-config fields, thread variables, CPU dispatch variables, oneDNN, dtype, seeds,
determinism, a variable no catalog entry names, and differences that are no divergence at
all (a shorter run, a cancelled run, a quick snapshot against a deep one).

For each: the true cause ranks first, no other finding reaches "likely" (0.5), and where the
cause has a fix, applying it and rerunning makes the runs agree bitwise.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from reprodiag import cli
from reprodiag.core.bundle import read_bundle
from reprodiag.core.compare import compare_runs
from reprodiag.core.diagnose import Side, diagnose
from reprodiag.core.env import capture
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import CANCELLED
from reprodiag.core.runs.session import record_runs

pytestmark = [pytest.mark.slow, pytest.mark.framework]

TORCH = {"framework": "torch", "steps": 20, "threads": 1}
TORCH_DEFAULT_THREADS = {"framework": "torch", "steps": 20}
KERAS = {"framework": "tensorflow", "steps": 8, "threads": 1, "onednn": False}
KERAS_CNN = {"framework": "tensorflow", "model": "cnn", "steps": 4, "threads": 1}

# name: (config fields, environment variables set for the run and its snapshot)
SIDES: dict[str, tuple[dict, dict]] = {
    "torch": (TORCH, {}),
    "lr": ({**TORCH, "lr": 0.1}, {}),
    "optimizer": ({**TORCH, "optimizer": "adam"}, {}),
    "batch_size": ({**TORCH, "batch_size": 64}, {}),
    "augment": ({**TORCH, "augment": True}, {}),
    "shuffle": ({**TORCH, "shuffle": False}, {}),
    "lr_blowup": ({**TORCH, "lr": 50.0}, {}),
    "threads": ({**TORCH, "threads": 2}, {}),
    "float64": ({**TORCH, "dtype": "float64"}, {}),
    "seed": ({**TORCH, "seed": 1}, {}),
    "unseeded": ({**TORCH, "seed": None}, {}),
    "aten": (TORCH, {"ATEN_CPU_CAPABILITY": "default"}),
    "cbwr": (TORCH, {"MKL_CBWR": "COMPATIBLE"}),
    "madeup": (TORCH, {"TORCH_MADE_UP_KNOB": "7"}),
    "torch_default": (TORCH_DEFAULT_THREADS, {}),
    "omp": (TORCH_DEFAULT_THREADS, {"OMP_NUM_THREADS": "1"}),
    "mkl": (TORCH_DEFAULT_THREADS, {"MKL_NUM_THREADS": "1"}),
    "keras": (KERAS, {}),
    "keras_deterministic": ({**KERAS, "deterministic": True}, {}),
    "cnn_off": (KERAS_CNN, {"TF_ENABLE_ONEDNN_OPTS": "0"}),
    "cnn_on": (KERAS_CNN, {"TF_ENABLE_ONEDNN_OPTS": "1"}),
    "cnn_isa": ({**KERAS_CNN, "onednn": True}, {"ONEDNN_MAX_CPU_ISA": "AVX2"}),
    "cnn_isa_ref": ({**KERAS_CNN, "onednn": True}, {}),
}

# (reference, side differing in one cause, the id of the finding that must rank first)
CASES = [
    ("torch", "lr", "config"),
    ("torch", "optimizer", "config"),
    ("torch", "batch_size", "config"),
    ("torch", "augment", "config"),
    ("torch", "shuffle", "config"),
    ("torch", "lr_blowup", "config"),
    ("torch", "threads", "threads"),
    ("torch", "float64", "dtype"),
    ("torch", "seed", "seed"),
    ("torch", "unseeded", "unseeded"),
    ("torch", "aten", "cpu_isa"),
    ("torch", "cbwr", "cpu_isa"),
    ("torch_default", "omp", "threads"),
    ("torch_default", "mkl", "threads"),
    ("keras", "keras_deterministic", "op_determinism"),
    ("cnn_off", "cnn_on", "onednn"),
    ("cnn_isa_ref", "cnn_isa", "cpu_isa"),
]


@contextmanager
def environment(variables: dict[str, str]):
    """os.environ with `variables` set (workers inherit it; the snapshot reads it)."""
    before = dict(os.environ)
    os.environ.update(variables)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scenarios")
    out = {}
    for name, (fields, variables) in SIDES.items():
        with environment(variables):
            result = record_runs([RunConfig(**fields)], out=folder / f"{name}.reprodiag.zip",
                                 label=name, snapshot=capture())
        assert result.runs[0].status in ("finished", "diverged"), result.runs[0].reason
        out[name] = result.path
    return out


@pytest.fixture(scope="module")
def rerun():
    """rerun(config, variables) -> a fresh real run, each distinct one run once."""
    cache = {}

    def get(config: RunConfig, variables: dict[str, str]):
        key = (config, tuple(sorted(variables.items())))
        if key not in cache:
            with environment(variables):
                cache[key] = launcher.run(config)
        return cache[key]
    return get


def diagnosis_json(capsys, a: Path, b: Path) -> dict:
    assert cli.main(["diagnose", str(a), str(b), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def apply_fix(fix: dict, config: RunConfig, variables: dict[str, str]):
    """B's config and environment with a fix applied."""
    config = config.model_copy(update=fix["rerun_config_changes"])
    variables = {**variables, **fix["env"]}
    for name in fix["unset"]:
        variables.pop(name, None)
    return config, variables


@pytest.mark.parametrize("ref, other, cause", CASES, ids=[c[1] for c in CASES])
def test_the_true_cause_ranks_first_and_its_fix_makes_the_runs_agree(
        bundles, rerun, capsys, ref, other, cause):
    result = diagnosis_json(capsys, bundles[ref], bundles[other])
    findings = [f for f in result["findings"] if f["kind"] == "cause"]
    ranking = [(f["id"], f["likelihood"]) for f in findings]
    assert findings and findings[0]["id"] == cause, ranking
    assert all(f["likelihood"] < 0.5 for f in findings[1:]), ranking
    top = findings[0]
    assert top["evidence"] and top["why"] and top["source"]
    assert any(line.startswith(("fits:", "no effect seen:")) for line in top["evidence"])

    a_run = read_bundle(bundles[ref]).runs[0]
    b_run = read_bundle(bundles[other]).runs[0]
    differs = compare_runs(a_run, b_run).verdict != "identical"
    if differs:
        assert top["likelihood"] >= 0.75, ranking  # a difference, explained: "very likely"
    else:
        assert top["likelihood"] < 0.5, ranking  # named, but it made no difference here

    # Apply the first fix that can be applied by a rerun (config changes, or variables).
    variables = SIDES[other][1]
    fix = next((f for f in top["fixes"] if f["rerun_config_changes"] or f["env"] or f["unset"]),
               None)
    assert fix is not None, top["fixes"]
    b_config, b_vars = apply_fix(fix, b_run.config, variables)
    fixed = rerun(b_config, b_vars)
    if fix["rerun_sides"] == "both":
        a_config, a_vars = apply_fix(fix, a_run.config, SIDES[ref][1])
        reference = rerun(a_config, a_vars)
    else:
        reference = a_run
    assert compare_runs(reference, fixed).verdict == "identical", (fix, ranking)


def test_the_blowup_is_not_called_rounding(bundles, capsys):
    assert cli.main(["compare", str(bundles["torch"]), str(bundles["lr_blowup"])]) == 0
    text = capsys.readouterr().out
    assert "gross" in text and "rounding differences" not in text


def test_a_variable_no_catalog_entry_names_is_still_named(bundles, capsys):
    result = diagnosis_json(capsys, bundles["torch"], bundles["madeup"])
    named = [f for f in result["findings"]
             if any("TORCH_MADE_UP_KNOB" in line for line in f["evidence"])]
    assert named and named[0] is result["findings"][0]


def test_a_shorter_run_of_the_same_config_is_no_divergence(bundles, rerun, capsys, tmp_path):
    longer = tmp_path / "longer.reprodiag.zip"
    record_runs([RunConfig(**{**TORCH, "steps": 40})], out=longer, label="longer",
                snapshot=read_bundle(bundles["torch"]).snapshot)
    result = diagnosis_json(capsys, bundles["torch"], longer)
    assert result["summary"].startswith("Overall: identical")
    causes = [f for f in result["findings"] if f["kind"] == "cause"]
    assert [f["id"] for f in causes] == ["config"] and causes[0]["likelihood"] < 0.5
    assert "steps 20 vs 40" in causes[0]["title"]
    assert any("compared over the 20 both have" in note for note in result["notes"])


def test_a_cancelled_run_against_a_finished_one_is_no_divergence(tmp_path):
    config = RunConfig(**{**TORCH, "steps": 3000})
    finished = launcher.run(config)
    handle = launcher.start_run(config)
    deadline = time.monotonic() + 120
    while len(handle.record.steps) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    handle.cancel()
    cancelled = handle.wait(60)
    assert cancelled.status == CANCELLED and 0 < len(cancelled.steps) < 3000
    snapshot = capture()
    diagnosis = diagnose(Side(label="done", snapshot=snapshot, runs=[finished]),
                         Side(label="stopped", snapshot=snapshot, runs=[cancelled]))
    assert diagnosis.causes == [], [(f.id, f.likelihood) for f in diagnosis.findings]
    assert any("cancelled" in note for note in diagnosis.notes)


def test_a_quick_and_a_deep_snapshot_of_one_interpreter_differ_in_nothing(bundles):
    runs = read_bundle(bundles["torch"]).runs
    quick, deep = capture(), capture(deep=True)
    assert len(deep.facts) > len(quick.facts)
    diagnosis = diagnose(Side(label="quick", snapshot=quick, runs=runs),
                         Side(label="deep", snapshot=deep, runs=runs))
    assert diagnosis.causes == [], [(f.id, f.likelihood) for f in diagnosis.findings]
    assert any("captured on one side only" in note and "deep" in note
               for note in diagnosis.notes)
