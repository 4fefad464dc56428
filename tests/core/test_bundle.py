"""Writing and reading bundles: exact round trip, the documented layout, atomic writes."""

from __future__ import annotations

import json
import os
import zipfile

import pytest
from test_bundle_samples import (
    AWKWARD_LOSSES,
    is_nan,
    record_state,
    sample_record,
    sample_snapshot,
    snapshot_state,
)

import reprodiag
from reprodiag.core import atomic
from reprodiag.core.bundle import bundle_path, read_bundle, write_bundle
from reprodiag.core.bundle.serialize import steps_csv_text
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import DIVERGED, PENDING, STEP_COLUMNS, RunRecord
from reprodiag.errors import UserError


def test_round_trip_is_exact(tmp_path):
    runs = [
        sample_record("20250101-120000-aaaa0001"),
        sample_record(
            "20250101-120500-aaaa0002",
            losses=[1.0, 0.5],
            config=RunConfig(framework="tensorflow", seed=2**31 - 1, dtype="float64", onednn=False),
            label="",
        ),
        RunRecord(config=RunConfig(seed=None), run_id="pending.run_1"),  # no steps, no times
    ]
    snapshot = sample_snapshot()
    path = write_bundle(tmp_path / "colab", snapshot=snapshot, runs=runs, label="Colab T4")
    assert path == tmp_path / "colab.reprodiag.zip"

    bundle = read_bundle(path)
    assert bundle.path == path and bundle.label == "Colab T4"
    assert bundle.producer == {"name": "reprodiag", "version": reprodiag.__version__}
    assert bundle.producer_version == reprodiag.__version__
    assert bundle.created_at.endswith("Z")
    assert snapshot_state(bundle.snapshot) == snapshot_state(snapshot)
    assert [record_state(r) for r in bundle.runs] == [record_state(r) for r in runs]

    first = bundle.runs[0]
    assert first.status is DIVERGED and first.config.seed is None  # the enum, read back
    assert [repr(v) for v in first.steps.values("loss")] == [repr(v) for v in AWKWARD_LOSSES]
    assert bundle.runs[2].status == PENDING and bundle.runs[2].started_at is None


def test_a_bundle_from_before_recording_scheme_reads_with_an_empty_one(tmp_path):
    path = write_bundle(tmp_path / "new", snapshot=None, runs=[sample_record()], label="x")
    assert read_bundle(path).runs[0].recording_scheme == "canary/3"
    old = tmp_path / "old.reprodiag.zip"  # the same bundle as reprodiag 0.1.0 wrote it
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("run.json"):
                obj = json.loads(data)
                del obj["recording_scheme"]
                data = json.dumps(obj).encode()
            dst.writestr(info, data)
    run = read_bundle(old).runs[0]
    assert run.recording_scheme == "" and len(run.steps) == len(AWKWARD_LOSSES)


def test_nan_in_summary_and_settings_survive(tmp_path):
    record = sample_record(losses=[float("nan")])
    record.settings["nan_setting"] = float("-inf")
    path = write_bundle(tmp_path / "x", snapshot=None, runs=[record])
    back = read_bundle(path).runs[0]
    assert is_nan(back.summary["final_loss"])
    assert back.settings["nan_setting"] == float("-inf")
    assert read_bundle(path).snapshot is None


def test_layout_matches_the_documented_format(tmp_path):
    record = sample_record()
    path = write_bundle(tmp_path / "b.zip", snapshot=sample_snapshot(), runs=[record], label="L")
    assert path.name == "b.reprodiag.zip"
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        run_json = json.loads(zf.read(f"runs/{record.run_id}/run.json"))
        steps_csv = zf.read(f"runs/{record.run_id}/steps.csv").decode()
        environment = json.loads(zf.read("environment.json"))
    assert names == [
        "manifest.json",
        "environment.json",
        f"runs/{record.run_id}/run.json",
        f"runs/{record.run_id}/steps.csv",
    ]
    assert manifest["format"] == "reprodiag-bundle" and manifest["format_version"] == 2
    assert manifest["runs"] == [
        {"run_id": record.run_id, "label": record.label, "status": "diverged"}
    ]
    assert environment["format"] == "reprodiag-env"
    assert set(run_json) >= {"config", "settings", "summary", "log", "dataset_hash"}
    lines = steps_csv.splitlines()
    assert lines[0] == ",".join(STEP_COLUMNS)
    assert lines[2].startswith("10,nan,0.3333333333333333,")
    assert [line.split(",")[1] for line in lines[3:6]] == ["inf", "-inf", "5e-324"]
    assert steps_csv == steps_csv_text(record.steps)


def test_bundle_path_adds_the_suffix(tmp_path):
    assert bundle_path(tmp_path / "a").name == "a.reprodiag.zip"
    assert bundle_path(tmp_path / "a.ZIP").name == "a.reprodiag.zip"
    assert bundle_path(tmp_path / "a.reprodiag.zip").name == "a.reprodiag.zip"


def test_writer_refuses_what_it_could_not_read_back(tmp_path):
    record = sample_record()
    with pytest.raises(UserError, match="the same run is included twice"):
        write_bundle(tmp_path / "x", snapshot=None, runs=[record, record])
    record.run_id = "../escape"
    with pytest.raises(UserError, match="not a safe name"):
        write_bundle(tmp_path / "x", snapshot=None, runs=[record])
    record = sample_record(label="x" * 501)
    with pytest.raises(UserError, match="would not read back.*label"):
        write_bundle(tmp_path / "x", snapshot=None, runs=[record])
    with pytest.raises(UserError, match="does not exist"):
        write_bundle(tmp_path / "no" / "x", snapshot=None, runs=[sample_record()])
    assert os.listdir(tmp_path) == []


def test_rewrite_replaces_atomically_and_leaves_no_temp_files(tmp_path):
    path = write_bundle(tmp_path / "b", snapshot=None, runs=[sample_record()], label="one")
    write_bundle(path, snapshot=None, runs=[sample_record()], label="two")
    assert read_bundle(path).label == "two"
    assert os.listdir(tmp_path) == ["b.reprodiag.zip"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "f.json"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError), atomic.atomic_open(target) as f:
        f.write(b"half of the new")
        raise RuntimeError("disk full, say")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.json"]
