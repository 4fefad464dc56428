"""steps.csv has two readers: a column-wise fast path for what the writer writes, and the csv
module for everything else. The fast path must never accept what the csv path refuses, nor
read a value differently; and it must be the one that reads the writer's own output.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reprodiag.core.bundle import serialize
from reprodiag.core.bundle.serialize import STEP_COLUMNS, InvalidRunFile
from reprodiag.core.runs.protocol import STEP_TEXT_FIELDS, Step
from reprodiag.core.runs.record import StepSeries

HEADER = ",".join(STEP_COLUMNS)
# Cells the rules accept, and near misses they refuse (drawn less often, so that many texts
# are valid but for one cell).
GOOD_FLOATS = ["0.5", "-1e-07", "2.302585092994046", "nan", "inf", "-inf", "Infinity", "+NaN",
               "1.", ".5", "1e400", "١٢", "-nan", "iNf", "+.5e-3", "1E5", "007.5", "5e-324"]
BAD_FLOATS = ["1_0", " 1.0", "1.0 ", "", "0x1", "1e", "nan(1)", "1.0\x0c", "in f", "0x1p3", "1d5",
              "1.5j", "infinit", "nanx", "--1", "1e+", ".", "e5", "#1", "1" * 300, "1\x1e"]
BAD_STEPS = ["1000000000000000", "+3", "-1", " 4", "", "٣", "1.0", "4_0", "1e3", "0x1", "#2"]
GOOD_TEXTS = ["", "0123456789abcdef", "e3b0c44298fc1c14", "ab" * 32, "#x", "'q'", "q" * 256]
BAD_TEXTS = ["a b", "x_y", "é", "\x00", "q" * 300, "\x0b", '"q"', "q\rq", "q\x00"]


def _cell(good: list[str], bad: list[str]):
    return st.sampled_from(good * 25 + bad)


def _equal(a: StepSeries, b: StepSeries) -> bool:
    """Same steps, bitwise-equal numbers, same hash texts; cell by cell in Python values."""
    for name in STEP_COLUMNS:
        x = a.hash_list(name) if name in STEP_TEXT_FIELDS else getattr(a, name).tolist()
        y = b.hash_list(name) if name in STEP_TEXT_FIELDS else getattr(b, name).tolist()
        if len(x) != len(y):
            return False
        for u, v in zip(x, y):
            same_nan = isinstance(u, float) and isinstance(v, float) and math.isnan(u) and \
                math.isnan(v)
            if not (same_nan or (u == v and type(u) is type(v) and repr(u) == repr(v))):
                return False
    return True


@st.composite
def steps_texts(draw) -> str:
    steps = sorted(draw(st.sets(st.integers(0, 10**15 - 1), max_size=6)))
    # half the texts have no non-ASCII good cell, so the fast path gets to read them
    good = GOOD_FLOATS if draw(st.booleans()) else [f for f in GOOD_FLOATS if f.isascii()]
    cells = [[str(n)] + [draw(_cell(good, BAD_FLOATS)) for _ in range(2)]
             + [draw(_cell(GOOD_TEXTS, BAD_TEXTS)) for _ in range(2)]
             + [draw(_cell(good, BAD_FLOATS)) for _ in range(2)] for n in steps]
    if cells and draw(st.integers(0, 3)) == 0:  # a bad step cell, or steps out of order
        i = draw(st.integers(0, len(cells) - 1))
        cells[i][0] = draw(st.sampled_from(BAD_STEPS + ["0", cells[0][0]]))
    lines = [",".join(c) for c in cells]
    if lines and draw(st.integers(0, 3)) == 0:  # a row with a cell too many or too few
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = lines[i] + ",1" if draw(st.booleans()) else lines[i].rsplit(",", 1)[0]
    if lines and draw(st.integers(0, 7)) == 0:  # a blank line, or two rows run together
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = "" if draw(st.booleans()) else lines[i] + "," + lines[i]
    header = draw(st.sampled_from([HEADER] * 14 + [HEADER.replace("loss,grad_norm", "grad_norm,loss"),
                                                  HEADER + ",extra", HEADER.upper()]))
    end = draw(st.sampled_from(["\n"] * 14 + ["", "\n\n", "\r\n"]))
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
        series.append(Step(step=i * 3, loss=v, grad_norm=-v, param_hash=f"{i:016x}" * (1 + i % 3),
                           batch_hash="" if i % 2 else "ff" * 8, lr=0.05, step_time=v))
    text = serialize.steps_csv_text(series)
    fast = serialize._plain_steps(text)
    assert fast is not None
    assert _equal(fast, series)
    assert _equal(serialize.steps_from_csv(text), serialize._steps_via_csv(text))


def test_columns_are_numpy_with_compact_hashes():
    text = HEADER + "\n0,0.5,1.0,00ff,,0.1,0.002\n7,nan,-inf," + "ab" * 32 + ",cd,0.1,1e-3\n"
    fast = serialize._plain_steps(text)
    assert fast is not None and fast.step.dtype == np.int64 and fast.step.tolist() == [0, 7]
    assert fast.loss.dtype == np.float64 and math.isnan(fast.loss[1])
    assert fast.param_hash.dtype.kind == "S" and fast.hash_list("param_hash") == ["00ff", "ab" * 32]
    assert fast.hash_list("batch_hash") == ["", "cd"] and fast.hashed("batch_hash").tolist() == [False, True]
    assert _equal(fast, serialize._steps_via_csv(text))


def test_hashes_bytes_cannot_hold_are_kept_as_text():
    text = HEADER + "\n0,0.5,1.0,é,\x00x,0.1,0.002\n"
    assert serialize._plain_steps(text) is None
    slow = serialize.steps_from_csv(text)
    assert slow.hash_at("param_hash", 0) == "é" and slow.hash_at("batch_hash", 0) == "\x00x"
    assert serialize.steps_from_csv(serialize.steps_csv_text(slow)) == slow
