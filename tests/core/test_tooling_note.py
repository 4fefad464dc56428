"""Two sides recorded by different reprodiag versions or recording schemes: compare and
diagnose say so first, and which comparisons that makes unreliable."""

from __future__ import annotations

import json

import reprodiag
from reprodiag import cli
from reprodiag.core.bundle import read_bundle, write_bundle
from reprodiag.core.diagnose import diagnose
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import parse_line
from reprodiag.core.runs.record import RunRecord


def run_with_scheme(scheme: str, losses=(2.3, 2.1, 1.9)) -> RunRecord:
    record = RunRecord(config=RunConfig(steps=len(losses)))
    record.start()
    lines = [{"type": "hello", "protocol": 1, "worker": "canary_torch", "pid": 1,
              "python": "3.11.9", "recording_scheme": scheme},
             {"type": "env", "settings": {"threads": 1}, "dataset_hash": "d",
              "init_param_hash": "i", "n_params": 3}]
    lines += [{"type": "step", "step": i, "loss": x, "grad_norm": x / 2, "param_hash": f"p{i}",
               "batch_hash": f"b{i}", "lr": 0.05, "step_time": 0.001}
              for i, x in enumerate(losses)]
    lines.append({"type": "done", "summary": {"final_loss": losses[-1]}})
    for obj in lines:
        record.apply(parse_line(json.dumps(obj)))
    return record


def test_other_reprodiag_version_is_the_first_thing_said(tmp_path, monkeypatch, capsys):
    old = tmp_path / "old.reprodiag.zip"
    new = tmp_path / "new.reprodiag.zip"
    write_bundle(new, snapshot=None, runs=[run_with_scheme("canary/3")], label="new")
    monkeypatch.setattr(reprodiag, "__version__", "0.0.9")
    write_bundle(old, snapshot=None, runs=[run_with_scheme("canary/2")], label="old")
    monkeypatch.undo()
    assert read_bundle(old).producer_version == "0.0.9"

    diagnosis = diagnose(read_bundle(old), read_bundle(new))
    first = diagnosis.findings[0]
    assert first.kind == "note" and first.id == "recording_tools"
    assert any("reprodiag 0.0.9 (old) and" in line for line in first.evidence)
    assert any("canary/2 vs canary/3" in line and "batch hashes" in line
               for line in first.evidence)

    assert cli.main(["compare", str(old), str(new)]) == 0
    text = capsys.readouterr().out
    assert text.index("! Note: recorded with reprodiag 0.0.9") < text.index("Run pair 1")
    assert cli.main(["diagnose", str(old), str(new)]) == 0
    text = capsys.readouterr().out
    assert "1. The sides were recorded differently  [note; id recording_tools]" in text


def test_same_version_and_scheme_say_nothing_about_it(tmp_path):
    a = tmp_path / "a.reprodiag.zip"
    b = tmp_path / "b.reprodiag.zip"
    write_bundle(a, snapshot=None, runs=[run_with_scheme("canary/3")], label="a")
    write_bundle(b, snapshot=None, runs=[run_with_scheme("canary/3")], label="b")
    assert all(f.id != "recording_tools" for f in diagnose(read_bundle(a), read_bundle(b)))
