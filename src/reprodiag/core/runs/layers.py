"""Layer fingerprints: what a run captured of each layer's output and gradients on a step.

A worker sends them as a `layers` line (`{"type": "layers", "step": s, "records": [...]}`),
a recorder hands them over directly; a bundle stores them per run in `layers.json`. Each
record is one tensor: the batch (phase "input"), a layer's output ("forward") or one of its
parameters' gradients ("backward"), fingerprinted as the workers' `fingerprint` does. Both
the protocol and the bundle reader build records through `capture_from_json`, which treats
its input as hostile: bounded sizes, checked types, one ValueError saying what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

PHASES = ("input", "forward", "backward")
KINDS = ("input", "linear", "convolution", "pooling", "normalisation", "dropout", "embedding",
         "activation", "other")
MAX_SAMPLES = 64  # a record read back holds at most this many (the workers take 16)
MAX_RECORDS = 10_000  # records in one capture (a layer per module, a gradient per parameter)
MAX_NAME_CHARS = 512
MAX_TENSOR_CHARS = 256
MAX_HASH_CHARS = 256
MAX_DTYPE_CHARS = 32
MAX_DIMS = 32
_SAMPLE_WIDTHS = {"f4:": "<f4", "f8:": "<f8"}


@dataclass(frozen=True, kw_only=True)
class LayerRecord:
    """One tensor's fingerprint. `sample` holds the values at the workers' sample indices
    (float32 values exact in float64); `sample_width` is 4 or 8, the bytes each was sent as."""

    name: str
    kind: str
    phase: str
    tensor: str
    hash: str
    norm: float
    max_abs: float
    nonfinite: int
    shape: tuple[int, ...]
    dtype: str
    sample: tuple[float, ...]
    sample_width: int = 4

    @property
    def key(self) -> tuple[str, str, str]:
        """What pairs a record with its counterpart in another run."""
        return (self.phase, self.name, self.tensor)

    @property
    def label(self) -> str:
        """`name` for a plain output, `name tensor` otherwise (`fc grad.weight`, `lstm out[0]`)."""
        return self.name if self.tensor == "out" else f"{self.name} {self.tensor}"

    def sample_array(self) -> np.ndarray:
        return np.array(self.sample, dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        """The record as the workers send it (and as layers.json stores it)."""
        width = "<f4" if self.sample_width == 4 else "<f8"
        data = np.array(self.sample, dtype=np.float64).astype(width).tobytes()
        return {"name": self.name, "kind": self.kind, "phase": self.phase, "tensor": self.tensor,
                "hash": self.hash, "norm": self.norm, "max_abs": self.max_abs,
                "nonfinite": self.nonfinite, "shape": list(self.shape), "dtype": self.dtype,
                "sample": f"f{self.sample_width}:" + base64.b64encode(data).decode("ascii")}


@dataclass(frozen=True, kw_only=True)
class LayerCapture:
    """Every record a run captured on one step, in order: the inputs, the layers' outputs in
    execution order, then their gradients in reverse execution order."""

    step: int
    records: tuple[LayerRecord, ...]


def _text(obj: dict, key: str, limit: int) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"layer record: {key!r} must be a string of at most {limit} characters")
    return value


def _number(obj: dict, key: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"layer record: {key!r} must be a number")
    number = float(value)
    if not (math.isnan(number) or number >= 0):
        raise ValueError(f"layer record: {key!r} must not be negative")
    return number


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValueError(f"layer record: {what} must be a whole number >= 0")
    return value


def _sample(value: Any) -> tuple[tuple[float, ...], int]:
    if not isinstance(value, str) or len(value) > 3 + 4 * (8 * MAX_SAMPLES // 3 + 1):
        raise ValueError("layer record: 'sample' must be a short base64 string")
    width = _SAMPLE_WIDTHS.get(value[:3])
    if width is None:
        raise ValueError("layer record: 'sample' must start with f4: or f8:")
    try:
        data = base64.b64decode(value[3:].encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("layer record: 'sample' is not base64") from None
    size = int(width[-1])
    if len(data) % size or len(data) > size * MAX_SAMPLES:
        raise ValueError(f"layer record: 'sample' must hold at most {MAX_SAMPLES} values")
    return tuple(np.frombuffer(data, dtype=width).astype(np.float64).tolist()), size


def record_from_json(obj: Any) -> LayerRecord:
    """One record from its JSON form (a worker line's or layers.json's); ValueError if bad."""
    if not isinstance(obj, dict):
        raise ValueError("layer record: not an object")
    kind, phase = _text(obj, "kind", 32), _text(obj, "phase", 16)
    if kind not in KINDS or phase not in PHASES:
        raise ValueError(f"layer record: unknown kind {kind[:32]!r} or phase {phase[:16]!r}")
    shape = obj.get("shape")
    if not isinstance(shape, list) or len(shape) > MAX_DIMS:
        raise ValueError(f"layer record: 'shape' must be a list of at most {MAX_DIMS} sizes")
    sample, width = _sample(obj.get("sample"))
    return LayerRecord(
        name=_text(obj, "name", MAX_NAME_CHARS), kind=kind, phase=phase,
        tensor=_text(obj, "tensor", MAX_TENSOR_CHARS), hash=_text(obj, "hash", MAX_HASH_CHARS),
        norm=_number(obj, "norm"), max_abs=_number(obj, "max_abs"),
        nonfinite=_count(obj.get("nonfinite"), "'nonfinite'"),
        shape=tuple(_count(d, "each size in 'shape'") for d in shape),
        dtype=_text(obj, "dtype", MAX_DTYPE_CHARS), sample=sample, sample_width=width)


def capture_from_json(step: Any, records: Any) -> LayerCapture:
    """A capture from a step number and a list of records in JSON form; ValueError if bad."""
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < 2**63:
        raise ValueError("layers: 'step' must be a whole number >= 0")
    if not isinstance(records, list) or len(records) > MAX_RECORDS:
        raise ValueError(f"layers: 'records' must be a list of at most {MAX_RECORDS} records")
    return LayerCapture(step=step, records=tuple(record_from_json(r) for r in records))
