"""The worker line protocol, and its only parser.

A worker writes one JSON object per line on stdout. Types:

- ``{"type": "hello", "protocol": 1, "worker": "canary_torch", "pid": 123, "python": "3.11.7",
  "recording_scheme": "canary/3"}`` -- names the definitions of the step lines' ``batch_hash``
  and ``grad_norm`` (optional; absent from workers of reprodiag 0.1.0)
- ``{"type": "env", "settings": {...}, "dataset_hash": "...", "init_param_hash": "...",
  "n_params": 1234}`` -- the settings actually in force inside the worker (flags, threads,
  device name, versions), and the hashes taken before the first step
- ``{"type": "step", "step": 0, "loss": 2.30, "grad_norm": 1.2, "param_hash": "...",
  "batch_hash": "...", "lr": 0.05, "step_time": 0.0012}`` -- after each optimizer step;
  ``loss`` is the loss of the batch *before* the update, ``param_hash`` the parameters after
- ``{"type": "layers", "step": 0, "records": [{"name": "0", "kind": "convolution", "phase":
  "forward", "tensor": "out", "hash": "...", "norm": 66.3, "max_abs": 4.1, "nonfinite": 0,
  "shape": [32, 16, 8, 8], "dtype": "float32", "sample": "f4:<base64>"}, ...]}`` -- after a
  hashed step's ``step`` line: each layer's output and parameter gradients, fingerprinted
  (``core/runs/layers.py``)
- ``{"type": "log", "level": "info", "message": "..."}``
- ``{"type": "done", "summary": {"final_loss": ..., "metric_name": "accuracy", "metric": 0.93,
  "probe_hash": "...", "steps": 200, "wall_time": 3.2}}``
- ``{"type": "error", "message": "...", "kind": "no_gpu"}`` -- the worker gives up

Floats travel as JSON numbers written by ``json.dumps`` (shortest repr, exact round trip);
NaN and Infinity are allowed since diverging losses are data. Every line is validated here;
a line that is not a valid message becomes a ``LogLine`` (never an exception).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Union

from reprodiag.core.runs.layers import LayerCapture, capture_from_json

PROTOCOL_VERSION = 1
MAX_LINE_CHARS = 1_000_000

STEP_FLOAT_FIELDS = ("loss", "grad_norm", "lr", "step_time")
STEP_TEXT_FIELDS = ("param_hash", "batch_hash")


@dataclass(frozen=True, kw_only=True)
class Hello:
    worker: str
    protocol: int
    pid: int
    python: str
    recording_scheme: str = ""  # "" = reprodiag 0.1.0's definitions


@dataclass(frozen=True, kw_only=True)
class EnvInfo:
    settings: dict[str, Any]
    dataset_hash: str
    init_param_hash: str
    n_params: int


@dataclass(frozen=True, kw_only=True)
class Step:
    step: int
    loss: float
    grad_norm: float
    param_hash: str
    batch_hash: str
    lr: float
    step_time: float


@dataclass(frozen=True, kw_only=True)
class Done:
    summary: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class WorkerError:
    message: str
    kind: str = "error"


@dataclass(frozen=True, kw_only=True)
class LogLine:
    message: str
    level: str = "info"  # "raw" when the line was not a protocol message


Message = Union[Hello, EnvInfo, Step, Done, WorkerError, LogLine, LayerCapture]


def raw_log(text: str) -> LogLine:
    """A line that is not a protocol message, kept as log text."""
    return LogLine(message=text[:2000], level="raw")


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not a number")
    return float(value)


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not an integer")
    return value


def _as_text(value: Any, limit: int = 256) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError("not a short string")
    return value


def _as_dict(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def parse_line(line: Union[str, bytes]) -> Message:
    """Turn one line of worker stdout into a message; anything malformed becomes a LogLine."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    text = line.strip()
    if not text:
        return raw_log("")
    if len(text) > MAX_LINE_CHARS or not text.startswith("{"):
        return raw_log(text)
    try:
        obj = json.loads(text)
        if not isinstance(obj, dict):
            return raw_log(text)
        return _message(obj)
    except (ValueError, TypeError, KeyError, RecursionError, OverflowError):
        return raw_log(text)  # OverflowError: an integer too large for a float


def _message(obj: dict) -> Message:
    kind = obj.get("type")
    if kind == "step":
        step = _as_int(obj["step"])
        if step < 0:
            raise ValueError("negative step")
        return Step(step=step, loss=_as_float(obj["loss"]), grad_norm=_as_float(obj["grad_norm"]),
                    param_hash=_as_text(obj["param_hash"]), batch_hash=_as_text(obj["batch_hash"]),
                    lr=_as_float(obj["lr"]), step_time=_as_float(obj["step_time"]))
    if kind == "layers":
        return capture_from_json(obj.get("step"), obj.get("records"))
    if kind == "hello":
        return Hello(
            worker=_as_text(obj["worker"]),
            protocol=_as_int(obj["protocol"]),
            pid=_as_int(obj.get("pid", 0)),
            python=_as_text(obj.get("python", "")),
            recording_scheme=_as_text(obj.get("recording_scheme", ""), 64),
        )
    if kind == "env":
        return EnvInfo(
            settings=_as_dict(obj["settings"]),
            dataset_hash=_as_text(obj["dataset_hash"]),
            init_param_hash=_as_text(obj["init_param_hash"]),
            n_params=_as_int(obj.get("n_params", 0)),
        )
    if kind == "done":
        summary = _as_dict(obj["summary"])
        return Done(summary=summary)
    if kind == "error":
        return WorkerError(
            message=_as_text(obj["message"], 4000), kind=_as_text(obj.get("kind", "error"))
        )
    if kind == "log":
        return LogLine(
            message=_as_text(obj["message"], 4000), level=_as_text(obj.get("level", "info"))
        )
    raise ValueError("unknown message type")
