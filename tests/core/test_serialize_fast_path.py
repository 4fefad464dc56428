"""steps.csv has two readers: a column-wise fast path for what the writer writes, and the csv
module for everything else. The fast path must never accept what the csv path refuses, nor
read a value differently; and it must be the one that reads the writer's own output.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from reprodiag.core.bundle import serialize
from reprodiag.core.bundle.serialize import STEP_COLUMNS, InvalidRunFile
from reprodiag.core.runs.protocol import Step
from reprodiag.core.runs.record import StepSeries

HEADER = ",".join(STEP_COLUMNS)
# Cells the rules accept, and near misses they refuse (drawn less often, so that many texts
# are valid but for one cell).
GOOD_FLOATS = ["0.5", "-1e-07", "2.302585092994046", "nan", "inf", "-inf", "Infinity", "+NaN",
               "1.", ".5", "1e400", "١٢"]
BAD_FLOATS = ["1_0", " 1.0", "1.0 ", "", "0x1", "1e", "nan(1)", "1.0\x0c", "in f"]
BAD_STEPS = ["1000000000000000", "+3", "-1", " 4", "", "٣", "1.0", "4_0"]
GOOD_TEXTS = ["", "0123456789abcdef", "e3b0c44298fc1c14"]
BAD_TEXTS = ["a b", "x_y", "é", "\x00", "q" * 300, "\x0b", '"q"', "q\rq"]


def _cell(good: list[str], bad: list[str]):
    return st.sampled_from(good * 25 + bad)


def _equal(a: StepSeries, b: StepSeries) -> bool:
    for name in STEP_COLUMNS:
        x, y = getattr(a, name), getattr(b, name)
        if len(x) != len(y):
            return False
        for u, v in zip(x, y):
            same_nan = isinstance(u, float) and isinstance(v, float) and math.isnan(u) and \
                math.isnan(v)
            if not (same_nan or (u == v and type(u) is type(v))):
                return False
    return True


@st.composite
def steps_texts(draw) -> str:
    steps = sorted(draw(st.sets(st.integers(0, 10**15 - 1), max_size=6)))
    cells = [[str(n)] + [draw(_cell(GOOD_FLOATS, BAD_FLOATS)) for _ in range(2)]
             + [draw(_cell(GOOD_TEXTS, BAD_TEXTS)) for _ in range(2)]
             + [draw(_cell(GOOD_FLOATS, BAD_FLOATS)) for _ in range(2)] for n in steps]
    if cells and draw(st.integers(0, 3)) == 0:  # a bad step cell, or steps out of order
        i = draw(st.integers(0, len(cells) - 1))
        cells[i][0] = draw(st.sampled_from(BAD_STEPS + ["0", cells[0][0]]))
    lines = [",".join(c) for c in cells]
    if lines and draw(st.integers(0, 3)) == 0:  # a row with a cell too many or too few
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = lines[i] + ",1" if draw(st.booleans()) else lines[i].rsplit(",", 1)[0]
    header = draw(st.sampled_from([HEADER] * 6 + [HEADER.replace("loss,grad_norm", "grad_norm,loss"),
                                                  HEADER + ",extra", HEADER.upper()]))
    end = draw(st.sampled_from(["\n"] * 6 + ["", "\n\n", "\r\n"]))
    return "\n".join([header, *lines]) + end


@settings(max_examples=600, deadline=None)
@given(steps_texts())
def test_the_fast_path_accepts_only_what_the_csv_path_accepts_with_the_same_values(text):
    fast = serialize._plain_steps(text)
    if fast is None:
        return
    try:
        slow = serialize._steps_via_csv(text)
    except InvalidRunFile as exc:
        raise AssertionError(f"fast path accepted what the csv path refuses: {exc}")
    assert _equal(fast, slow)


def test_the_writers_output_takes_the_fast_path_and_round_trips():
    series = StepSeries()
    values = [0.1, float("nan"), float("inf"), -2.5e-300, 1 / 3, 0.05]
    for i, v in enumerate(values):
        series.append(Step(step=i * 3, loss=v, grad_norm=-v, param_hash=f"{i:016x}",
                           batch_hash="" if i % 2 else "ff" * 8, lr=0.05, step_time=v))
    text = serialize.steps_csv_text(series)
    fast = serialize._plain_steps(text)
    assert fast is not None
    assert _equal(fast, series)
    assert _equal(serialize.steps_from_csv(text), serialize._steps_via_csv(text))
