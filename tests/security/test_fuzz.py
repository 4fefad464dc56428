"""Property-based fuzzing of the two parsers of untrusted input (about 2500 cases in all).

`read_bundle` gets mutated valid bundles: zip header fields, entry sets and names, steps.csv
cells, and JSON values at any depth; whatever happens, only BundleError (one line, naming the
file) escapes, and what loads is consistent. `protocol.parse_line` gets random text, random
bytes and protocol-shaped JSON with random values; it never raises, and whatever it returns
can be folded into a RunRecord. (tests/core/test_bundle_hostile.py adds byte-level mutations.)
"""

from __future__ import annotations

import io
import json
import math
import struct
import warnings
import zipfile
from pathlib import Path

import pytest
from corpus_loader import generator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprodiag.core.bundle import read_bundle
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import (
    Done,
    EnvInfo,
    Hello,
    LogLine,
    Step,
    WorkerError,
    parse_line,
)
from reprodiag.core.runs.record import STATUSES, STEP_COLUMNS, RunRecord
from reprodiag.errors import BundleError

gen = generator()
READER = settings(max_examples=250, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow])
PARSER = settings(max_examples=600, deadline=None)


@pytest.fixture(scope="module")
def valid() -> bytes:
    return gen.valid_bundle()


def entries_of(data: bytes) -> dict[str, bytes]:
    return gen.entries_of(data)


def zip_of(pairs) -> bytes:
    return gen.zip_of(pairs)


def check_read(path: Path, data: bytes) -> None:
    """The one property: a Bundle that makes sense, or a one-line BundleError naming `path`."""
    path.write_bytes(data)
    try:
        bundle = read_bundle(path)
    except BundleError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 600
        return
    for run in bundle.runs:
        assert run.status in STATUSES
        lengths = {len(getattr(run.steps, name)) for name in STEP_COLUMNS}
        assert len(lengths) == 1
        assert all(a < b for a, b in zip(run.steps.step, run.steps.step[1:]))


# ------------------------------------------------------------------ zip header fields

# (header signature, field offset, struct format) of the fields a reader trusts
# (APPNOTE.TXT 4.3.7 local header and 4.3.12 central directory header).
HEADER_FIELDS = [
    (b"PK\x03\x04", 6, "<H"),  # flags
    (b"PK\x03\x04", 8, "<H"),  # method
    (b"PK\x03\x04", 18, "<I"),  # compressed size
    (b"PK\x03\x04", 22, "<I"),  # uncompressed size
    (b"PK\x03\x04", 26, "<H"),  # name length
    (b"PK\x03\x04", 28, "<H"),  # extra length
    (b"PK\x01\x02", 8, "<H"),  # flags
    (b"PK\x01\x02", 10, "<H"),  # method
    (b"PK\x01\x02", 16, "<I"),  # crc
    (b"PK\x01\x02", 20, "<I"),  # compressed size
    (b"PK\x01\x02", 24, "<I"),  # uncompressed size
    (b"PK\x01\x02", 28, "<H"),  # name length
    (b"PK\x01\x02", 30, "<H"),  # extra length
    (b"PK\x01\x02", 38, "<I"),  # external attributes (file type, symlink)
    (b"PK\x01\x02", 42, "<I"),  # local header offset
    (b"PK\x05\x06", 10, "<H"),  # number of entries
    (b"PK\x05\x06", 12, "<I"),  # central directory size
    (b"PK\x05\x06", 16, "<I"),  # central directory offset
]
SPECIAL = st.sampled_from([0, 1, 0xFF, 0xFFFF, 0xFFFFFFFF, 2**31 - 1, 2**20, 100])


@READER
@given(edits=st.lists(st.tuples(st.sampled_from(HEADER_FIELDS), st.integers(0, 20),
                                st.integers(0, 2**32 - 1) | SPECIAL), min_size=1, max_size=4))
def test_zip_header_fields(tmp_path, valid, edits):
    data = bytearray(valid)
    for (signature, offset, fmt), which, value in edits:
        places = []
        at = data.find(signature)
        while at >= 0:
            places.append(at)
            at = data.find(signature, at + 4)
        if places and places[which % len(places)] + offset + struct.calcsize(fmt) <= len(data):
            value &= 0xFFFF if fmt == "<H" else 0xFFFFFFFF
            struct.pack_into(fmt, data, places[which % len(places)] + offset, value)
    check_read(tmp_path / "h.reprodiag.zip", bytes(data))


# ------------------------------------------------------------------ entry sets and names

HOSTILE_NAMES = st.sampled_from([
    "../x", "/abs", "C:/x", "a\\b", "runs/", "runs/x/", "runs/x/run.json", "runs/x/steps.csv",
    "runs/../manifest.json", "manifest.json/", "runs/a/b/c", "runs/ok.id/run.json", ".",
    "runs/-bad/run.json", "environment.json", "manifest.json", "\u202emanifest.json", "",
]) | st.text(min_size=1, max_size=20)


@READER
@given(ops=st.lists(st.tuples(st.sampled_from(["drop", "duplicate", "rename", "swap", "add"]),
                              st.integers(0, 10), HOSTILE_NAMES, st.binary(max_size=40)),
                    min_size=1, max_size=5))
def test_entry_sets_and_names(tmp_path, valid, ops):
    pairs = list(entries_of(valid).items())
    for op, which, name, blob in ops:
        if not pairs and op != "add":
            continue
        i = which % max(1, len(pairs))
        if op == "drop":
            del pairs[i]
        elif op == "duplicate":
            pairs.append(pairs[i])
        elif op == "rename":
            pairs[i] = (name, pairs[i][1])
        elif op == "swap":
            j = (i + 1) % len(pairs)
            pairs[i], pairs[j] = (pairs[i][0], pairs[j][1]), (pairs[j][0], pairs[i][1])
        else:
            pairs.append((name, blob))
    # zipfile itself cuts a name at NUL (and fails on what is left empty): not a reader case
    pairs = [(name.split("\x00")[0] or "x", data) for name, data in pairs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = zip_of(pairs)
    check_read(tmp_path / "e.reprodiag.zip", data)


# ------------------------------------------------------------------ steps.csv cells

CELLS = st.sampled_from([
    "", "nan", "NaN", "-inf", "Infinity", "1e999", "-0.0", "0x10", "1_0", " 1", "1 ", "+1",
    "١٢", "1e", ".", "-", "9" * 300, "\x00", '"', '"a""b"', "a,b", "\r", "\n", "True", "None",
]) | st.text(max_size=12) | st.floats().map(repr) | st.integers().map(str)


@READER
@given(edits=st.lists(st.tuples(st.integers(0, 10), st.integers(0, 10), CELLS),
                      min_size=1, max_size=6),
       extra_rows=st.integers(0, 2))
def test_steps_csv_cells(tmp_path, valid, edits, extra_rows):
    entries = entries_of(valid)
    name = f"runs/{gen.RUN_ID}/steps.csv"
    rows = [line.split(",") for line in entries[name].decode().rstrip("\n").split("\n")]
    rows += [list(rows[-1]) for _ in range(extra_rows)]
    for row, column, text in edits:
        cells = rows[row % len(rows)]
        cells[column % len(cells)] = text
    entries[name] = ("\n".join(",".join(r) for r in rows) + "\n").encode("utf-8", "surrogatepass")
    check_read(tmp_path / "c.reprodiag.zip", zip_of(entries.items()))


# ------------------------------------------------------------------ JSON at any depth

# Integers no float can hold (float(x) raises OverflowError) and ones past 64 bits.
HUGE_INTS = st.sampled_from([10**309, -(10**400), 2**64, -(2**63) - 1])
SCALARS = (st.none() | st.booleans() | st.integers() | HUGE_INTS | st.floats()
           | st.text(max_size=10) | st.sampled_from(["reprodiag-bundle", "finished"]))
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=10,
)


def json_paths(value, path=()):
    """Every path (keys and indexes) to a node of a parsed JSON value."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from json_paths(item, (*path, index))


@READER
@given(target=st.sampled_from(["manifest.json", "environment.json", "run.json"]),
       pick=st.integers(0, 10_000), value=JSON_VALUES, delete=st.booleans())
def test_json_values_at_any_depth(tmp_path, valid, target, pick, value, delete):
    entries = entries_of(valid)
    name = f"runs/{gen.RUN_ID}/run.json" if target == "run.json" else target
    obj = json.loads(entries[name])
    paths = list(json_paths(obj))[1:]
    path = paths[pick % len(paths)]
    holder = obj
    for key in path[:-1]:
        holder = holder[key]
    if delete:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    entries[name] = json.dumps(obj, allow_nan=True).encode()
    check_read(tmp_path / "j.reprodiag.zip", zip_of(entries.items()))


# ------------------------------------------------------------------ the worker-line parser

MESSAGES = (Hello, EnvInfo, Step, Done, WorkerError, LogLine)
FIELDS = ["step", "loss", "grad_norm", "param_hash", "batch_hash", "lr", "step_time",
          "worker", "protocol", "pid", "python", "settings", "dataset_hash", "init_param_hash",
          "n_params", "summary", "message", "kind", "level", "recording_scheme"]
FIELD_VALUES = SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(
    st.text(max_size=4), SCALARS, max_size=3)
TYPES = st.sampled_from(["hello", "env", "step", "log", "done", "error", "teleport", 1, None])


def fold(messages) -> None:
    """Every message can be applied to a record, in any order, without an exception."""
    record = RunRecord(config=RunConfig(steps=3))
    for msg in messages:
        assert isinstance(msg, MESSAGES)
        record.apply(msg)
    assert all(a < b for a, b in zip(record.steps.step, record.steps.step[1:]))


@PARSER
@given(lines=st.lists(st.text(max_size=80) | st.binary(max_size=80), min_size=1, max_size=5))
def test_parse_line_random_text_and_bytes(lines):
    fold([parse_line(line) for line in lines])


@settings(PARSER, max_examples=300)  # drawing these is the slow part
@given(objs=st.lists(st.tuples(TYPES, st.dictionaries(st.sampled_from(FIELDS), FIELD_VALUES,
                                                      max_size=8)),
                     min_size=1, max_size=4),
       cut=st.none() | st.integers(0, 200))
def test_parse_line_protocol_shaped_json(objs, cut):
    messages = []
    for kind, fields in objs:
        line = json.dumps({"type": kind, **fields}, allow_nan=True)
        if cut is not None:
            line = line[:cut]  # a partial line, as from a worker that died mid-write
        msg = parse_line(line)
        if isinstance(msg, Step):
            assert isinstance(msg.step, int) and msg.step >= 0
            assert all(isinstance(getattr(msg, f), float) for f in ("loss", "lr", "step_time"))
        messages.append(msg)
    fold(messages)


def as_float(value) -> float | None:
    """The loss a Step must carry for this JSON value, or None when it is no float."""
    if isinstance(value, str):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


@PARSER
@given(step=st.integers(-5, 2**70),
       loss=st.floats() | st.integers() | HUGE_INTS | st.text(max_size=3),
       hashes=st.text(max_size=300), pad=st.sampled_from(["", " ", "\t", "\r", "\x00"]))
def test_parse_line_near_valid_steps(step, loss, hashes, pad):
    line = pad + json.dumps({"type": "step", "step": step, "loss": loss, "grad_norm": 1.0,
                             "param_hash": hashes, "batch_hash": "b", "lr": 0.1,
                             "step_time": 0.0}, allow_nan=True) + pad
    msg = parse_line(line)
    expected = as_float(loss)
    if step >= 0 and expected is not None and len(hashes) <= 256 and pad != "\x00":
        assert isinstance(msg, Step) and msg.step == step
        assert msg.loss == expected or (math.isnan(msg.loss) and math.isnan(expected))
    else:
        assert isinstance(msg, (Step, LogLine))
    fold([msg])


def test_a_zip_inside_the_fuzzer_is_really_a_bundle(tmp_path, valid):
    """The fuzzers start from a bundle that loads, so their mutations are what fails."""
    path = tmp_path / "v.reprodiag.zip"
    path.write_bytes(zip_of(entries_of(valid).items()))
    assert read_bundle(path).runs[0].run_id == gen.RUN_ID
    with zipfile.ZipFile(io.BytesIO(valid)) as zf:
        assert sorted(zf.namelist()) == sorted(entries_of(valid))
