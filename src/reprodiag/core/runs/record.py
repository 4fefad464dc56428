"""RunRecord: everything known about one canary run, filled live from worker messages.

A record is built by `apply()`-ing the messages of `protocol.parse_line` in order, or read
back from a bundle. Step series are kept as numpy columns (exact float64, compact hashes):
plots and comparisons use them without copying, and a 100,000-step run takes ~7 MB. Text that
comes from the worker (settings, log lines, stderr, error messages) is redacted as it enters
(core/env/variables.py), so no credential reaches a view, the run library or a bundle.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from reprodiag.core.env.variables import redact_settings, redact_text
from reprodiag.core.identifiers import Identifier
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.layers import LayerCapture
from reprodiag.core.runs.protocol import (
    Done,
    EnvInfo,
    Hello,
    LogLine,
    Message,
    Step,
    WorkerError,
)


class RunStatus(Identifier):
    """Where a run stands. The values are the stable identifiers run.json keeps."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    DIVERGED = "diverged"  # finished, but a loss became NaN/Inf
    FAILED = "failed"
    CANCELLED = "cancelled"


# What the views show for a status (JSON and bundles keep the values).
STATUS_LABELS: dict[RunStatus, str] = {
    RunStatus.PENDING: "pending",
    RunStatus.RUNNING: "running",
    RunStatus.FINISHED: "finished",
    RunStatus.DIVERGED: "non-finite loss",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "cancelled",
}

PENDING = RunStatus.PENDING
RUNNING = RunStatus.RUNNING
FINISHED = RunStatus.FINISHED
DIVERGED = RunStatus.DIVERGED
FAILED = RunStatus.FAILED
CANCELLED = RunStatus.CANCELLED
STATUSES: tuple[RunStatus, ...] = tuple(RunStatus)
ENDED: tuple[RunStatus, ...] = (FINISHED, DIVERGED, FAILED, CANCELLED)

STEP_COLUMNS = ("step", "loss", "grad_norm", "param_hash", "batch_hash", "lr", "step_time")
MAX_LOG_LINES = 500
MAX_LAYER_CAPTURES = 10_000  # steps with layer fingerprints kept per run
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def new_run_id() -> str:
    """A short unique, file-name-safe run id."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]


HASH_COLUMNS = ("param_hash", "batch_hash")
NUMBER_COLUMNS = ("loss", "grad_norm", "lr", "step_time")
_HASH_WIDTH = 16  # bytes a hash cell starts with; a column widens for longer hashes


def _hash_column(values: Any) -> np.ndarray:
    """Hashes as fixed-width ASCII bytes ('S'), or as Python str (object) when one holds a
    character bytes cannot keep exactly (non-ASCII, NUL)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "SO":
        return values
    texts = [v.decode("ascii") if isinstance(v, bytes) else v for v in values]
    if any(not isinstance(t, str) for t in texts):
        raise TypeError("hash cells must be text")
    if all(t.isascii() and "\x00" not in t for t in texts):
        return np.array(texts, dtype=f"S{max(map(len, texts), default=0) or 1}")
    return np.array(texts, dtype=object)


def hash_texts(column: np.ndarray) -> list[str]:
    """A hash column's cells as Python str."""
    if column.dtype.kind == "S":
        return [v.decode("ascii") for v in column.tolist()]
    return list(column.tolist())


class StepSeries:
    """Per-step columns of one run, in step order, as numpy arrays.

    Each column attribute (`step`, `loss`, ...) is a read-only view of the filled part:
    int64 steps, float64 numbers (NaN/Inf kept exactly), hashes as fixed-width ASCII bytes
    (`hash_at`/`hash_list` give str; "" means "not hashed on this step"). `append` grows the
    buffers by doubling, so a live run costs amortised O(1) a step.
    """

    __slots__ = ("_cols", "_n")
    # Defining __eq__ leaves __hash__ None: mutable, compared by value, never a dict key.

    def __init__(self, **columns: Any):
        unknown = set(columns) - set(STEP_COLUMNS)
        if unknown:
            raise TypeError(f"unknown step column(s) {', '.join(sorted(unknown))}")
        cols: dict[str, np.ndarray] = {}
        for name in STEP_COLUMNS:
            values = columns.get(name, ())
            if name == "step":
                cols[name] = np.asarray(values, dtype=np.int64)
            elif name in HASH_COLUMNS:
                cols[name] = _hash_column(values)
            else:
                cols[name] = np.asarray(values, dtype=np.float64)
        lengths = {len(c) for c in cols.values()}
        if len(lengths) > 1 or any(c.ndim != 1 for c in cols.values()):
            raise ValueError("step columns must be one-dimensional and equally long")
        self._cols = cols
        self._n = lengths.pop()

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"StepSeries({self._n} steps)"

    def __eq__(self, other: object) -> bool:
        """Same steps, bitwise-equal numbers (a NaN equals the same NaN), same hash texts."""
        if not isinstance(other, StepSeries):
            return NotImplemented
        if len(self) != len(other) or not np.array_equal(self.step, other.step):
            return False
        if any(not np.array_equal(self._view(name).view(np.uint64), other._view(name).view(np.uint64))
               for name in NUMBER_COLUMNS):
            return False
        return all(self.hash_list(name) == other.hash_list(name) for name in HASH_COLUMNS)

    def _view(self, name: str) -> np.ndarray:
        view = self._cols[name][: self._n]
        view.flags.writeable = False
        return view

    step = property(lambda self: self._view("step"), doc="int64 step numbers")
    loss = property(lambda self: self._view("loss"), doc="float64 loss of each step's batch")
    grad_norm = property(lambda self: self._view("grad_norm"), doc="float64 gradient norm")
    param_hash = property(lambda self: self._view("param_hash"), doc="parameter hashes")
    batch_hash = property(lambda self: self._view("batch_hash"), doc="batch-content hashes")
    lr = property(lambda self: self._view("lr"), doc="float64 learning rate")
    step_time = property(lambda self: self._view("step_time"), doc="float64 seconds a step")

    def append(self, s: Step) -> None:
        """Add one step at the end (the caller keeps steps increasing)."""
        n = self._n
        cols = self._cols
        if n == len(cols["step"]):
            self._grow(max(16, 2 * n))
        cols["step"][n] = s.step
        for name in NUMBER_COLUMNS:
            cols[name][n] = getattr(s, name)
        for name in HASH_COLUMNS:
            self._put_hash(name, n, getattr(s, name))
        self._n = n + 1

    def extend_unhashed(self, first_step: int, numbers: np.ndarray) -> None:
        """Add len(numbers) steps numbered from `first_step`, with blank hashes: `numbers` is
        an (n, 4) float array with the columns in NUMBER_COLUMNS order. Rows a recorder kept
        as plain tuples go in with a few vectorised copies (`set_hashes` fills hashes in)."""
        numbers = np.asarray(numbers, dtype=np.float64).reshape(-1, len(NUMBER_COLUMNS))
        n, m = self._n, len(numbers)
        if not m:
            return
        if n + m > len(self._cols["step"]):
            self._grow(max(16, 2 * n, n + m))
        cols = self._cols
        cols["step"][n:n + m] = np.arange(first_step, first_step + m)
        for i, name in enumerate(NUMBER_COLUMNS):
            cols[name][n:n + m] = numbers[:, i]
        for name in HASH_COLUMNS:
            cols[name][n:n + m] = b"" if cols[name].dtype.kind == "S" else ""
        self._n = n + m

    def set_hashes(self, index: int, param_hash: str, batch_hash: str) -> None:
        """Fill in the hashes of row `index` after the fact (a recorder hashes a step off
        the training thread and hands the result back on it)."""
        if not 0 <= index < self._n:
            raise IndexError(f"no step row {index} in {self!r}")
        self._put_hash("param_hash", index, param_hash)
        self._put_hash("batch_hash", index, batch_hash)

    def _grow(self, capacity: int) -> None:
        for name, col in self._cols.items():
            # hash columns start blank ("" bytes or str) so the whole buffer stays decodable
            bigger = (np.zeros(capacity, dtype=col.dtype) if col.dtype.kind == "S"
                      else np.full(capacity, "", dtype=object) if col.dtype.kind == "O"
                      else np.empty(capacity, dtype=col.dtype))
            bigger[: self._n] = col[: self._n]
            self._cols[name] = bigger

    def _put_hash(self, name: str, index: int, text: str) -> None:
        col = self._cols[name]
        if col.dtype.kind == "S":
            if text.isascii() and "\x00" not in text:
                if len(text) > col.dtype.itemsize:
                    col = self._cols[name] = col.astype(f"S{max(len(text), 2 * col.dtype.itemsize)}")
                col[index] = text.encode("ascii")
                return
            col = self._cols[name] = np.array(hash_texts(col), dtype=object)
        col[index] = text

    def array(self, name: str) -> np.ndarray:
        """A numeric column as float64 (NaN/Inf kept); read-only, a view where it can be."""
        return np.asarray(self._view(name), dtype=np.float64)

    def hash_at(self, name: str, index: int) -> str:
        """One hash cell as str ("" where the step was not hashed)."""
        value = self._view(name)[index]
        return value.decode("ascii") if isinstance(value, bytes) else value

    def hash_list(self, name: str) -> list[str]:
        """A hash column as a list of str."""
        return hash_texts(self._view(name))

    def hashed(self, name: str) -> np.ndarray:
        """Boolean mask of the steps that have a hash in column `name`."""
        col = self._view(name)
        return col != (b"" if col.dtype.kind == "S" else "")

    def values(self, name: str) -> list:
        """A column as a list of Python values (int, float or str)."""
        return self.hash_list(name) if name in HASH_COLUMNS else self._view(name).tolist()

    def rows(self):
        """Rows of Python values (int, float, str) in STEP_COLUMNS order."""
        return zip(*(self.values(name) for name in STEP_COLUMNS))


@dataclass(kw_only=True)
class RunRecord:
    """One run: its config, where it ran, what the worker reported, and how it ended."""

    config: RunConfig
    run_id: str = field(default_factory=new_run_id)
    label: str = ""
    status: RunStatus = PENDING
    reason: str = ""
    python: str = ""  # the target interpreter's path
    worker: str = ""
    # Names the definitions of batch_hash and grad_norm in this run's steps
    # (Hello.recording_scheme); runs of different schemes are not compared on them.
    recording_scheme: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    dataset_hash: str = ""
    init_param_hash: str = ""
    n_params: int = 0
    steps: StepSeries = field(default_factory=StepSeries)
    summary: dict[str, Any] = field(default_factory=dict)
    started_at: Optional[float] = None  # Unix time
    ended_at: Optional[float] = None
    log: list[str] = field(default_factory=list)
    # Layer fingerprints of the captured steps, in step order (none in older bundles).
    layers: list[LayerCapture] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Held while a worker's reader thread changes the record; a view that reads several
        # fields or step columns of a live run holds it too, so they agree (see `reading`).
        # Not a field: it is no part of the run's data.
        self.lock = threading.RLock()

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def progress(self) -> float:
        """Fraction of the configured steps recorded so far (0..1)."""
        return min(1.0, len(self.steps) / max(1, self.config.steps))

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        end = self.ended_at if self.ended_at is not None else time.time()
        return max(0.0, end - self.started_at)

    def display_name(self) -> str:
        return self.label or self.config.short_label()

    def apply(self, msg: Message) -> None:
        """Fold one worker message into the record."""
        if isinstance(msg, Step):
            if not _INT64_MIN <= msg.step <= _INT64_MAX:
                self.add_log(f"ignored step {str(msg.step)[:40]}: out of range")
                return
            if len(self.steps) and msg.step <= self.steps.step[-1]:
                self.add_log(f"ignored out-of-order step {msg.step}")
                return
            self.steps.append(msg)
        elif isinstance(msg, EnvInfo):
            self.settings = redact_settings(msg.settings)
            self.dataset_hash = msg.dataset_hash
            self.init_param_hash = msg.init_param_hash
            self.n_params = msg.n_params
        elif isinstance(msg, Hello):
            self.worker = msg.worker
            self.recording_scheme = msg.recording_scheme
            if self.status == PENDING:
                self.status = RUNNING
        elif isinstance(msg, Done):
            self.summary = dict(msg.summary)
            self.finish(DIVERGED if self.has_nonfinite_loss() else FINISHED)
        elif isinstance(msg, WorkerError):
            self.finish(FAILED, f"{msg.kind}: {msg.message}" if msg.kind else msg.message)
        elif isinstance(msg, LogLine):
            self.add_log(msg.message)
        elif isinstance(msg, LayerCapture):
            self.add_layers(msg)

    def add_layers(self, capture: LayerCapture) -> None:
        """Keep one step's layer fingerprints (steps in increasing order, at most
        MAX_LAYER_CAPTURES of them)."""
        if self.layers and capture.step <= self.layers[-1].step:
            self.add_log(f"ignored layers of step {capture.step}: out of order")
        elif len(self.layers) >= MAX_LAYER_CAPTURES:
            self.add_log(f"ignored layers of step {capture.step}: more than "
                         f"{MAX_LAYER_CAPTURES} captured steps")
        else:
            self.layers.append(capture)

    def add_log(self, text: str) -> None:
        if text and len(self.log) < MAX_LOG_LINES:
            self.log.append(redact_text(text))

    def start(self) -> None:
        self.status = RUNNING
        self.started_at = time.time()

    def finish(self, status: RunStatus, reason: str = "") -> None:
        """End the run once; later calls keep the first ending."""
        if self.ended:
            return
        self.status = status
        self.reason = redact_text(reason) if reason else self.reason
        if status == DIVERGED and not self.reason:
            self.reason = f"loss became non-finite at step {self.first_nonfinite_step()}"
        self.ended_at = time.time()

    def has_nonfinite_loss(self) -> bool:
        return not bool(np.isfinite(self.steps.loss).all())

    def first_nonfinite_step(self) -> Optional[int]:
        bad = np.flatnonzero(~np.isfinite(self.steps.loss))
        return int(self.steps.step[bad[0]]) if bad.size else None


@contextlib.contextmanager
def reading(records: Iterable[RunRecord]) -> Iterator[None]:
    """Hold the locks of these records, so what is read of them meanwhile is one consistent
    state even while their workers stream (their reader threads wait)."""
    with contextlib.ExitStack() as stack:
        seen: set[int] = set()
        for record in records:
            if id(record) not in seen:
                seen.add(id(record))
                stack.enter_context(record.lock)
        yield
