"""Layer fingerprints in the core: the `layers` protocol line, RunRecord, the bundle's
layers.json (format version 2) and the version-1 fixture, and the layer comparison's rules."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_bundle_samples import sample_record

from reprodiag.core.bundle import read_bundle, write_bundle
from reprodiag.core.compare.layers import (
    BITWISE,
    GROSS,
    LAST_BITS,
    REDUCTION,
    TF32_SCALE,
    compare_layers,
    magnitude_class,
)
from reprodiag.core.runs.layers import LayerCapture, capture_from_json
from reprodiag.core.runs.protocol import LogLine, parse_line
from reprodiag.core.runs.record import RunRecord

FIXTURE_V1 = Path(__file__).parent.parent / "data" / "bundle_v1.reprodiag.zip"


def record_json(name="fc", values=(1.0, -2.0), *, phase="forward", kind="linear", tensor="out",
                nonfinite=0, width="<f4"):
    """A record as the workers send it, for the values given (a 1 x n tensor)."""
    a = np.array(values, dtype=np.float64)
    finite = a[np.isfinite(a)]
    return {"name": name, "kind": kind, "phase": phase, "tensor": tensor,
            "hash": hashlib.sha256(a.tobytes()).hexdigest()[:16],
            "norm": float(np.sqrt(np.sum(finite ** 2))), "max_abs": float(np.max(np.abs(finite))),
            "nonfinite": nonfinite, "shape": [1, len(a)], "dtype": "float32",
            "sample": f"f{width[-1]}:" + base64.b64encode(a.astype(width).tobytes()).decode()}


def line(step, records) -> str:
    return json.dumps({"type": "layers", "step": step, "records": records})


def test_a_layers_line_parses_into_exact_records():
    msg = parse_line(line(3, [record_json(values=(0.1, -2.5)), record_json("x", width="<f8",
                                                                              values=(0.1,))]))
    assert isinstance(msg, LayerCapture) and msg.step == 3
    first, second = msg.records
    assert first.sample == (float(np.float32(0.1)), -2.5) and first.sample_width == 4
    assert second.sample == (0.1,) and second.sample_width == 8  # float64 kept exactly
    assert first.key == ("forward", "fc", "out") and first.shape == (1, 2)
    assert capture_from_json(3, [first.to_json(), second.to_json()]) == msg  # round trip


@pytest.mark.parametrize("bad", [
    {"step": -1}, {"step": "0"}, {"records": {}}, {"records": [5]},
    {"records": [{**record_json(), "kind": "evil"}]},
    {"records": [{**record_json(), "phase": "sideways"}]},
    {"records": [{**record_json(), "norm": -1}]},
    {"records": [{**record_json(), "norm": "1"}]},
    {"records": [{**record_json(), "nonfinite": 1.5}]},
    {"records": [{**record_json(), "shape": [1] * 33}]},
    {"records": [{**record_json(), "shape": [-1]}]},
    {"records": [{**record_json(), "sample": "f4:" + base64.b64encode(bytes(65 * 4)).decode()}]},
    {"records": [{**record_json(), "sample": "f4:not base64!"}]},
    {"records": [{**record_json(), "sample": "f2:AAAA"}]},
    {"records": [{**record_json(), "name": "n" * 513}]},
])
def test_a_bad_layers_line_is_log_text_never_an_exception(bad):
    obj = {"type": "layers", "step": 0, "records": [record_json()], **bad}
    assert isinstance(parse_line(json.dumps(obj)), LogLine)


def test_run_record_keeps_captures_in_step_order():
    record = RunRecord(config=sample_record().config)
    for step in (0, 5, 5, 3, 10):
        record.apply(capture_from_json(step, [record_json()]))
    assert [c.step for c in record.layers] == [0, 5, 10]
    assert sum("out of order" in text for text in record.log) == 2


def test_layers_round_trip_exactly_in_a_version_2_bundle(tmp_path):
    record = sample_record()
    values = (float(np.float32(1 / 3)), -0.0, 3.4028234663852886e38, float("nan"), 5e-45)
    for step in (0, 10):
        record.apply(capture_from_json(step, [record_json("c", values, nonfinite=1),
                                              record_json("d", (1 / 3, 1e-310), width="<f8")]))
    path = write_bundle(tmp_path / "b", snapshot=None, runs=[record])
    with zipfile.ZipFile(path) as zf:
        assert f"runs/{record.run_id}/layers.json" in zf.namelist()
        assert json.loads(zf.read("manifest.json"))["format_version"] == 2
    back = read_bundle(path).runs[0]
    assert [c.step for c in back.layers] == [0, 10]
    got, want = back.layers[0].records[0], record.layers[0].records[0]
    assert np.array_equal(np.array(got.sample).view(np.uint64), np.array(want.sample).view(np.uint64))
    assert back.layers[1].records[1].sample == (1 / 3, 1e-310)


def test_a_run_without_layers_writes_no_layers_json(tmp_path):
    path = write_bundle(tmp_path / "b", snapshot=None, runs=[sample_record()])
    with zipfile.ZipFile(path) as zf:
        assert not any(name.endswith("layers.json") for name in zf.namelist())
    assert read_bundle(path).runs[0].layers == []


def test_the_version_1_fixture_still_reads_and_compares_without_layers():
    bundle = read_bundle(FIXTURE_V1)
    assert bundle.manifest["format_version"] == 1
    run = bundle.runs[0]
    assert len(run.steps) == 12 and run.layers == [] and run.config.layers is False
    from reprodiag.core.compare import compare_runs

    comparison = compare_runs(run, run)
    assert comparison.verdict == "identical" and comparison.layers is None


# ------------------------------------------------------------------ the comparison's rules

def run_with(captures: dict[int, list[dict]]) -> RunRecord:
    record = RunRecord(config=sample_record().config)
    for step, records in captures.items():
        record.apply(capture_from_json(step, records))
    return record


def chain(fc2=(1.0, -2.0), grad=(0.5, 0.25), batch=(1.0, 2.0)):
    return [record_json("input", batch, phase="input", kind="input", tensor="in[0]"),
            record_json("fc1", (3.0, 4.0)), record_json("act", (3.0, 0.0), kind="activation"),
            record_json("fc2", fc2), record_json("fc2", grad, phase="backward", tensor="grad.weight"),
            record_json("fc1", (0.1, 0.2), phase="backward", tensor="grad.weight")]


def test_the_parting_layer_is_the_first_that_differs_in_execution_order():
    one_ulp = float(np.nextafter(np.float32(-2.0), np.float32(0)))
    a = run_with({0: chain(), 50: chain()})
    b = run_with({0: chain(), 50: chain(fc2=(1.0, one_ulp), grad=(0.6, 0.25))})
    lc = compare_layers(a, b)
    assert lc.steps == [0, 50] and lc.step == 50
    assert (lc.parting.name, lc.parting.phase, lc.parting.kind) == ("fc2", "forward", "linear")
    assert lc.magnitude == LAST_BITS and lc.ulps == 1 and lc.input_matched
    assert [r.layer.label for r in lc.rows] == ["fc2", "fc2 grad.weight", "fc1 grad.weight"]
    assert lc.rows[1].magnitude == GROSS and lc.rows[2].magnitude == BITWISE
    assert lc.grid.shape == (6, 2) and (lc.grid[:, 0] == 0).all()
    assert "fc2 (linear, forward)" in lc.summary and "step 50" in lc.summary


def test_a_differing_batch_parts_at_the_input_and_equal_runs_part_nowhere():
    lc = compare_layers(run_with({0: chain()}), run_with({0: chain(batch=(1.0, 2.5))}))
    assert lc.parting.phase == "input" and not lc.input_matched
    assert "input batch differs" in lc.summary
    same = compare_layers(run_with({0: chain()}), run_with({0: chain()}))
    assert same.step is None and same.parting is None and same.magnitude == BITWISE
    assert same.summary.startswith("no layer differs")


def test_the_first_non_finite_layer_is_named_with_its_side_and_step():
    a = run_with({0: chain(), 5: chain()})
    bad = chain()
    bad[3] = record_json("fc2", (1.0, math.inf), nonfinite=1)
    b = run_with({0: chain(), 5: bad})
    lc = compare_layers(a, b)
    assert (lc.nonfinite.layer.name, lc.nonfinite.step, lc.nonfinite.sides) == ("fc2", 5, "B")
    assert lc.parting.name == "fc2" and lc.magnitude == GROSS


def test_runs_without_layers_compare_to_none():
    assert compare_layers(run_with({}), run_with({0: chain()})) is None


@pytest.mark.parametrize("rel, ulps, expected", [
    (0.0, 0.0, LAST_BITS), (1e-7, 3, LAST_BITS), (1e-7, 40, REDUCTION), (2e-6, 100, REDUCTION),
    (5e-4, 1e4, TF32_SCALE), (1e-2, 1e5, "half-precision scale"), (0.5, 1e9, GROSS),
    (math.inf, math.inf, GROSS)])
def test_magnitude_classes(rel, ulps, expected):
    assert magnitude_class(rel, ulps, equal=False) == expected
    assert magnitude_class(rel, ulps, equal=True) == BITWISE
