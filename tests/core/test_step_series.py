"""StepSeries: numpy columns grown step by step as a live run reports, exact and compact."""

import json
import math

import numpy as np
import pytest

from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import Step, parse_line
from reprodiag.core.runs.record import DIVERGED, RunRecord, StepSeries


def _step(i, loss=0.5, param="", batch=""):
    return Step(step=i, loss=loss, grad_norm=-loss, param_hash=param, batch_hash=batch, lr=0.05,
                step_time=1e-3 * i)


def test_appending_grows_the_columns_and_keeps_every_value_exact():
    series = StepSeries()
    losses = [math.nextafter(1 / 3, 1) * i for i in range(1000)] + [math.nan, -math.inf]
    for i, loss in enumerate(losses):
        series.append(_step(i, loss, f"{i:016x}" if i % 7 == 0 else ""))
    assert len(series) == len(losses) and series.step.dtype == np.int64
    assert series.step.tolist() == list(range(len(losses)))
    assert [repr(v) for v in series.values("loss")] == [repr(v) for v in losses]
    assert series.param_hash.dtype == np.dtype("S16")  # 16 bytes a hash, not a Python str
    assert series.hash_at("param_hash", 7) == f"{7:016x}" and series.hash_at("param_hash", 8) == ""
    assert series.hashed("param_hash").sum() == len(range(0, len(losses), 7))
    assert list(series.rows())[-1] == (1001, -math.inf, math.inf, f"{1001:016x}", "", 0.05, 1e-3 * 1001)


def test_views_are_read_only_and_do_not_change_as_the_run_grows():
    series = StepSeries()
    series.append(_step(0, 2.0))
    early = series.loss
    for i in range(1, 100):
        series.append(_step(i, 1.0))
    assert early.tolist() == [2.0] and len(series.loss) == 100
    with pytest.raises(ValueError):
        series.loss[0] = 3.0


def test_longer_and_non_ascii_hashes_are_kept_exactly():
    series = StepSeries()
    series.append(_step(0, param="ab", batch="x"))
    series.append(_step(1, param="f" * 64, batch="é\x00"))
    assert series.hash_list("param_hash") == ["ab", "f" * 64]
    assert series.hash_list("batch_hash") == ["x", "é\x00"]
    assert series == StepSeries(**{n: series.values(n) for n in
                                   ("step", "loss", "grad_norm", "param_hash", "batch_hash", "lr",
                                    "step_time")})


def test_columns_of_different_lengths_are_refused():
    with pytest.raises(ValueError):
        StepSeries(step=[0, 1], loss=[1.0])


def test_a_record_reports_its_first_non_finite_step_as_a_plain_int():
    record = RunRecord(config=RunConfig(steps=3))
    record.start()
    for i, loss in enumerate([1.0, math.inf, math.nan]):
        record.apply(_step(i, loss))
    record.apply(parse_line('{"type": "done", "summary": {}}'))
    assert record.status == DIVERGED and record.has_nonfinite_loss()
    assert type(record.first_nonfinite_step()) is int
    assert json.dumps({"step": record.first_nonfinite_step()}) == '{"step": 1}'


def test_steps_out_of_order_or_out_of_int64_range_are_ignored_with_a_log_line():
    record = RunRecord(config=RunConfig(steps=3))
    record.apply(_step(5))
    record.apply(_step(5))
    record.apply(_step(2**63))
    assert record.steps.step.tolist() == [5]
    assert any("out-of-order" in line for line in record.log)
    assert any("out of range" in line for line in record.log)


def test_extending_with_unhashed_rows_equals_appending_them_one_by_one():
    # A recorder keeps rows as tuples and moves them in at once; the result must be the same
    # series, blank hashes included, even where a grown buffer held hashes of other rows.
    rows = [(math.nextafter(0.25, 1) * i, math.nan if i % 3 else 1.5 * i, 0.01, 1e-4 * i)
            for i in range(40)] + [(math.inf, -0.0, 0.0, 5e-324)]
    one_by_one, extended = StepSeries(), StepSeries()
    for series in (one_by_one, extended):
        series.append(_step(0, 9.0, "a" * 16, "b" * 16))
    for i, (loss, norm, lr, dt) in enumerate(rows, start=1):
        one_by_one.append(Step(step=i, loss=loss, grad_norm=norm, param_hash="",
                               batch_hash="", lr=lr, step_time=dt))
    extended.extend_unhashed(1, np.array(rows[:17]))
    extended.extend_unhashed(18, np.array(rows[17:]))
    extended.extend_unhashed(42, np.empty((0, 4)))
    assert extended == one_by_one and len(extended) == 42
    assert extended.hash_list("param_hash") == ["a" * 16] + [""] * 41
    extended.set_hashes(20, "c" * 16, "d" * 16)
    assert extended.hash_at("param_hash", 20) == "c" * 16 and extended.hashed("batch_hash").sum() == 2
