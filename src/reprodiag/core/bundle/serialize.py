"""RunRecord <-> `run.json` + `steps.csv`: the one on-disk form of a run (bundle and library).

Writing is exact: JSON floats and CSV cells use `repr`, which round-trips every float64;
non-finite values are spelled `NaN`/`Infinity` in JSON (Python's json) and `nan`/`inf`/
`-inf` in CSV. Reading treats the text as hostile: every field is type- and range-checked,
and any problem raises InvalidRunFile (a ValueError) with a short reason; callers add the
file name.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import numpy as np
from pydantic import ValidationError

from reprodiag.core.runs.config import LEGACY_HASH_EVERY, RunConfig
from reprodiag.core.runs.protocol import STEP_FLOAT_FIELDS, STEP_TEXT_FIELDS
from reprodiag.core.runs.layers import LayerCapture, capture_from_json
from reprodiag.core.runs.record import (
    MAX_LAYER_CAPTURES,
    MAX_LOG_LINES,
    STATUSES,
    RunStatus,
    STEP_COLUMNS,
    RunRecord,
    StepSeries,
)

RUN_JSON = "run.json"
STEPS_CSV = "steps.csv"
LAYERS_JSON = "layers.json"
LAYERS_FORMAT = "reprodiag-layers"
LAYERS_VERSION = 1

MAX_JSON_DEPTH = 64
MAX_ID_CHARS = 128
MAX_TEXT_CHARS = {"label": 500, "reason": 10_000, "python": 4096, "worker": 256, "scheme": 64}
MAX_HASH_CHARS = 256
MAX_LOG_LINE_CHARS = 10_000
MAX_CELL_CHARS = 256
MAX_UNIX_TIME = 1e11  # year 5138

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_INT_CELL = re.compile(r"\d{1,15}")
# What repr(float) writes, plus the usual spellings of NaN/Inf; no spaces or underscores.
_FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity)"
_FLOAT_CELL = re.compile(_FLOAT, re.IGNORECASE)
# Characters that make a steps.csv take the csv-module path (see _plain_steps): quotes and
# CR change the CSV structure; float()/int() would accept whitespace and '_' the cell rules
# refuse; NUL and non-ASCII text are left to the careful path too.
_NOT_PLAIN = [c.encode() for c in '"\r\t\x0b\x0c\x1c\x1d\x1e\x1f _\x00']
_HEADER = ",".join(STEP_COLUMNS).encode()
_MAX_STEP_CHARS = 15  # as _INT_CELL


class InvalidRunFile(ValueError):
    """run.json / steps.csv content (or a run id) that is not valid; the message says why."""


def check_run_id(run_id: Any) -> str:
    """The run id if it is a safe file/folder name (letters, digits, '.', '_', '-')."""
    if not isinstance(run_id, str) or len(run_id) > MAX_ID_CHARS or not _SAFE_ID.fullmatch(run_id):
        raise InvalidRunFile(f"run id {str(run_id)[:80]!r} is not a safe name")
    return run_id


# ---------------------------------------------------------------------------- writing


def record_to_dict(record: RunRecord) -> dict[str, Any]:
    """The content of run.json for one record (everything but the step series)."""
    return {
        "run_id": check_run_id(record.run_id),
        "label": record.label,
        "status": record.status,
        "reason": record.reason,
        "python": record.python,
        "worker": record.worker,
        "recording_scheme": record.recording_scheme,
        "config": record.config.model_dump(mode="json"),
        "settings": record.settings,
        "dataset_hash": record.dataset_hash,
        "init_param_hash": record.init_param_hash,
        "n_params": record.n_params,
        "summary": record.summary,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "log": list(record.log[-MAX_LOG_LINES:]),
    }


def run_json_text(record: RunRecord) -> str:
    """run.json as text (exact floats; NaN/Infinity allowed since losses may diverge)."""
    return json.dumps(record_to_dict(record), indent=1, allow_nan=True) + "\n"


def layers_json_text(captures: list[LayerCapture]) -> str:
    """layers.json as text: every captured step's records as the workers send them."""
    return json.dumps({"format": LAYERS_FORMAT, "format_version": LAYERS_VERSION,
                       "captures": [{"step": c.step, "records": [r.to_json() for r in c.records]}
                                    for c in captures]},
                      separators=(",", ":"), allow_nan=True) + "\n"


def steps_csv_text(steps: StepSeries) -> str:
    """steps.csv as text: header STEP_COLUMNS, one row per step, floats by repr."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STEP_COLUMNS)
    for row in steps.rows():
        writer.writerow(_cell(name, value) for name, value in zip(STEP_COLUMNS, row))
    return out.getvalue()


def _cell(column: str, value: Any) -> str:
    if column == "step":
        return str(int(value))
    if column in STEP_FLOAT_FIELDS:
        return repr(float(value))  # float() first: repr(np.float64(1.0)) is not "1.0"
    return str(value)


# ---------------------------------------------------------------------------- reading


def loads_json(text: str) -> Any:
    """Parse JSON text; duplicate keys and nesting deeper than MAX_JSON_DEPTH are refused."""
    value = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    _check_depth(value)
    return value


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise InvalidRunFile(f"duplicate key {key[:80]!r}")
        obj[key] = value
    return obj


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidRunFile(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def layers_from_json(obj: Any) -> list[LayerCapture]:
    """The captures of a parsed layers.json, validated (steps strictly increasing)."""
    if not isinstance(obj, dict) or obj.get("format") != LAYERS_FORMAT:
        raise InvalidRunFile(f"not a layers file (no 'format': '{LAYERS_FORMAT}')")
    if obj.get("format_version") != LAYERS_VERSION:
        raise InvalidRunFile(f"'format_version' must be {LAYERS_VERSION}")
    captures = obj.get("captures")
    if not isinstance(captures, list) or len(captures) > MAX_LAYER_CAPTURES:
        raise InvalidRunFile(f"'captures' must be a list of at most {MAX_LAYER_CAPTURES} steps")
    out: list[LayerCapture] = []
    for item in captures:
        if not isinstance(item, dict):
            raise InvalidRunFile("each capture must be an object with 'step' and 'records'")
        capture = capture_from_json(item.get("step"), item.get("records"))
        if out and capture.step <= out[-1].step:
            raise InvalidRunFile(f"captured step {capture.step} does not follow {out[-1].step}")
        out.append(capture)
    return out


def record_from_parts(run_obj: Any, steps_text: str | bytes) -> RunRecord:
    """Build a RunRecord from parsed run.json and steps.csv (validated); steps.csv as text,
    or as bytes when they are ASCII."""
    if not isinstance(run_obj, dict):
        raise InvalidRunFile("run.json must hold a JSON object")
    get = _Fields(run_obj)
    status = get.text("status", 32)
    if status not in STATUSES:
        raise InvalidRunFile(f"run.json: unknown status {status!r}")
    record = RunRecord(
        config=_config(get.value("config")),
        run_id=check_run_id(get.value("run_id")),
        label=get.text("label", MAX_TEXT_CHARS["label"]),
        status=RunStatus(status),
        reason=get.text("reason", MAX_TEXT_CHARS["reason"]),
        python=get.text("python", MAX_TEXT_CHARS["python"]),
        worker=get.text("worker", MAX_TEXT_CHARS["worker"]),
        recording_scheme=get.optional_text("recording_scheme", MAX_TEXT_CHARS["scheme"]),
        settings=get.obj("settings"),
        dataset_hash=get.text("dataset_hash", MAX_HASH_CHARS),
        init_param_hash=get.text("init_param_hash", MAX_HASH_CHARS),
        n_params=get.count("n_params"),
        summary=get.obj("summary"),
        started_at=get.time("started_at"),
        ended_at=get.time("ended_at"),
        log=get.log("log"),
    )
    try:
        record.steps = steps_from_csv(steps_text)
    except ValueError as exc:
        raise InvalidRunFile(f"steps.csv: {exc}") from None
    return record


class _Fields:
    """Typed access to the required keys of run.json; each failure is a one-line reason."""

    def __init__(self, obj: dict[str, Any]):
        self.data = obj

    def value(self, key: str) -> Any:
        if key not in self.data:
            raise InvalidRunFile(f"run.json: missing key {key!r}")
        return self.data[key]

    def fail(self, key: str, what: str) -> InvalidRunFile:
        return InvalidRunFile(f"run.json: {key!r} must be {what}")

    def text(self, key: str, limit: int) -> str:
        v = self.value(key)
        if not isinstance(v, str) or len(v) > limit:
            raise self.fail(key, f"a string of at most {limit} characters")
        return v

    def optional_text(self, key: str, limit: int) -> str:
        """A key added in a later version: "" when absent (bundles written before it)."""
        return self.text(key, limit) if key in self.data else ""

    def obj(self, key: str) -> dict[str, Any]:
        v = self.value(key)
        if not isinstance(v, dict):
            raise self.fail(key, "an object")
        return v

    def count(self, key: str) -> int:
        v = self.value(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise self.fail(key, "a non-negative integer")
        return v

    def time(self, key: str) -> float | None:
        v = self.value(key)
        if v is None:
            return None
        # abs(v) <= limit is False for NaN and never overflows for a huge JSON integer.
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not abs(v) <= MAX_UNIX_TIME:
            raise self.fail(key, "a Unix time or null")
        return float(v)

    def log(self, key: str) -> list[str]:
        v = self.value(key)
        if (
            not isinstance(v, list)
            or len(v) > MAX_LOG_LINES
            or not all(isinstance(s, str) and len(s) <= MAX_LOG_LINE_CHARS for s in v)
        ):
            raise self.fail(key, f"a list of at most {MAX_LOG_LINES} strings")
        return list(v)


def _config(obj: Any) -> RunConfig:
    if not isinstance(obj, dict):
        raise InvalidRunFile("run.json: 'config' must be an object")
    # a bundle from before the fields: hashed every 10th step, no layers captured
    obj = {"hash_every": LEGACY_HASH_EVERY, "layers": False, **obj}
    try:
        return RunConfig.model_validate(obj, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "config"
        raise InvalidRunFile(f"run.json: config {where}: {err.get('msg', 'invalid')}") from None


def steps_from_csv(text: str | bytes) -> StepSeries:
    """Parse steps.csv (text, or ASCII bytes): required columns present, steps strictly
    increasing, cells exact."""
    if isinstance(text, str) and text.isascii():
        text = text.encode("ascii")
    if isinstance(text, bytes):
        series = _plain_steps(text)
        if series is not None:
            return series
        text = text.decode("ascii")  # bytes come here only when they are ASCII
    return _steps_via_csv(text)


def _plain_steps(data: bytes | str) -> StepSeries | None:
    """The series of a steps.csv laid out as the writer writes it, parsed straight from its
    ASCII bytes into numpy columns at C speed; None when it is laid out otherwise or invalid
    (the csv path then decides).

    It accepts only text `_steps_via_csv` accepts, with the same values: the header is
    STEP_COLUMNS, no quote or CR (so ',' and newline split cells as csv does), every row has
    as many cells as the header (checked on the bytes, as are the cell lengths, before
    `np.loadtxt` parses), step cells are digits only, and without whitespace, '_' or non-ASCII
    characters numpy's float parser accepts exactly what `_FLOAT_CELL` matches.
    """
    if isinstance(data, str):
        if not data.isascii():
            return None
        data = data.encode("ascii")
    start = data.find(b"\n") + 1
    if not start or data[: start - 1] != _HEADER:
        return None
    if start == len(data):
        return StepSeries()
    if not data.endswith(b"\n") or not data.isascii() or any(
            data.find(c, start) >= 0 for c in _NOT_PLAIN):
        return None
    lengths = _cell_lengths(np.frombuffer(data, dtype=np.uint8, offset=start))
    if lengths is None:
        return None
    widest, narrowest = lengths.max(axis=0), lengths.min(axis=0)
    numeric = [i for i, name in enumerate(STEP_COLUMNS) if name not in STEP_TEXT_FIELDS]
    if widest.max() > MAX_CELL_CHARS or widest[0] > _MAX_STEP_CHARS or narrowest[numeric].min() < 1:
        return None
    dtype = [(name, f"S{max(1, int(width))}" if name == "step" or name in STEP_TEXT_FIELDS
              else np.float64) for name, width in zip(STEP_COLUMNS, widest)]
    try:
        table = np.loadtxt(io.BytesIO(data), dtype=dtype, delimiter=",", comments=None,
                           skiprows=1, ndmin=1)
    except ValueError:  # a cell that is not a number
        return None
    if len(table) != len(lengths) or not np.char.isdigit(table["step"]).all():
        return None
    columns = {name: np.ascontiguousarray(table[name]) for name in STEP_COLUMNS[1:]}
    columns["step"] = table["step"].astype(np.int64)
    del table
    if not (columns["step"][1:] > columns["step"][:-1]).all():
        return None
    return StepSeries(**columns)


def _cell_lengths(body: np.ndarray) -> np.ndarray | None:
    """(rows, columns) cell lengths of the bytes of the rows, split on ',' and newline; None
    unless every row has exactly len(STEP_COLUMNS) cells."""
    newlines = body == 10
    seps = np.flatnonzero(newlines | (body == 44))
    width = len(STEP_COLUMNS)
    rows = int(np.count_nonzero(newlines))
    if seps.size != rows * width:
        return None
    ends_row = newlines[seps].reshape(rows, width)
    del newlines
    if not ends_row[:, -1].all() or ends_row[:, :-1].any():
        return None
    return (np.diff(seps, prepend=-1) - 1).reshape(rows, width)


def _steps_via_csv(text: str) -> StepSeries:
    try:
        rows = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(rows, None)
        if header is None:
            raise InvalidRunFile("missing header row")
        index = _column_index(header)
        columns: dict[str, list] = {name: [] for name in STEP_COLUMNS}
        for row in rows:
            if len(row) != len(header):
                raise InvalidRunFile(
                    f"line {rows.line_num}: {len(row)} cells where the header has {len(header)}"
                )
            _append_row(columns, [row[index[name]] for name in STEP_COLUMNS], rows.line_num)
        return StepSeries(**columns)
    except csv.Error as exc:
        raise InvalidRunFile(f"malformed CSV ({exc})") from None


def _column_index(header: list[str]) -> dict[str, int]:
    if len(set(header)) != len(header):
        raise InvalidRunFile("duplicate column in header")
    missing = [name for name in STEP_COLUMNS if name not in header]
    if missing:
        raise InvalidRunFile(f"missing column(s) {', '.join(missing)}")
    return {name: header.index(name) for name in STEP_COLUMNS}


def _append_row(columns: dict[str, list], cells: list[str], line: int) -> None:
    for name, cell in zip(STEP_COLUMNS, cells):
        if len(cell) > MAX_CELL_CHARS:
            raise InvalidRunFile(
                f"line {line}: {name} cell longer than {MAX_CELL_CHARS} characters"
            )
        if name == "step":
            if not _INT_CELL.fullmatch(cell):
                raise InvalidRunFile(f"line {line}: step {cell[:40]!r} is not a whole number")
            step, steps = int(cell), columns["step"]
            if steps and step <= steps[-1]:
                raise InvalidRunFile(f"line {line}: step {step} does not follow {steps[-1]}")
            steps.append(step)
        elif name in STEP_FLOAT_FIELDS:
            if not _FLOAT_CELL.fullmatch(cell):
                raise InvalidRunFile(f"line {line}: {name} {cell[:40]!r} is not a number")
            columns[name].append(float(cell))
        else:  # one of STEP_TEXT_FIELDS
            columns[name].append(cell)
