"""RunRecord: everything known about one canary run, filled live from worker messages.

A record is built by `apply()`-ing the messages of `protocol.parse_line` in order, or read
back from a bundle. Step series are kept as columns (plain Python lists, exact floats), so
plots and comparisons can take them as numpy arrays without copying row objects. Text that
comes from the worker (settings, log lines, stderr, error messages) is redacted as it enters
(core/env/variables.py), so no credential reaches a view, the run library or a bundle.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from reprodiag.core.env.variables import redact_settings, redact_text
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import (
    Done,
    EnvInfo,
    Hello,
    LogLine,
    Message,
    Step,
    WorkerError,
    is_finite,
)

# Run states. "diverged" = finished, but a loss became NaN/Inf.
PENDING, RUNNING, FINISHED, DIVERGED, FAILED, CANCELLED = (
    "pending",
    "running",
    "finished",
    "diverged",
    "failed",
    "cancelled",
)
STATUSES = (PENDING, RUNNING, FINISHED, DIVERGED, FAILED, CANCELLED)
ENDED = (FINISHED, DIVERGED, FAILED, CANCELLED)

STEP_COLUMNS = ("step", "loss", "grad_norm", "param_hash", "batch_hash", "lr", "step_time")
MAX_LOG_LINES = 500


def new_run_id() -> str:
    """A short unique, file-name-safe run id."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]


@dataclass
class StepSeries:
    """Per-step columns of one run, in step order."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    param_hash: list[str] = field(default_factory=list)
    batch_hash: list[str] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    step_time: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.step)

    def append(self, s: Step) -> None:
        for name in STEP_COLUMNS:
            getattr(self, name).append(getattr(s, name))

    def array(self, name: str) -> np.ndarray:
        """A float64 copy of a numeric column (NaN/Inf kept)."""
        return np.asarray(getattr(self, name), dtype=np.float64)

    def rows(self):
        """Rows as tuples in STEP_COLUMNS order."""
        return zip(*(getattr(self, name) for name in STEP_COLUMNS))


@dataclass
class RunRecord:
    """One run: its config, where it ran, what the worker reported, and how it ended."""

    config: RunConfig
    run_id: str = field(default_factory=new_run_id)
    label: str = ""
    status: str = PENDING
    reason: str = ""
    python: str = ""  # the target interpreter's path
    worker: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    dataset_hash: str = ""
    init_param_hash: str = ""
    n_params: int = 0
    steps: StepSeries = field(default_factory=StepSeries)
    summary: dict[str, Any] = field(default_factory=dict)
    started_at: Optional[float] = None  # Unix time
    ended_at: Optional[float] = None
    log: list[str] = field(default_factory=list)

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
            if self.steps.step and msg.step <= self.steps.step[-1]:
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
            if self.status == PENDING:
                self.status = RUNNING
        elif isinstance(msg, Done):
            self.summary = dict(msg.summary)
            self.finish(DIVERGED if self.has_nonfinite_loss() else FINISHED)
        elif isinstance(msg, WorkerError):
            self.finish(FAILED, f"{msg.kind}: {msg.message}" if msg.kind else msg.message)
        elif isinstance(msg, LogLine):
            self.add_log(msg.message)

    def add_log(self, text: str) -> None:
        if text and len(self.log) < MAX_LOG_LINES:
            self.log.append(redact_text(text))

    def start(self) -> None:
        self.status = RUNNING
        self.started_at = time.time()

    def finish(self, status: str, reason: str = "") -> None:
        """End the run once; later calls keep the first ending."""
        if self.ended:
            return
        self.status = status
        self.reason = redact_text(reason) if reason else self.reason
        if status == DIVERGED and not self.reason:
            self.reason = f"loss became non-finite at step {self.first_nonfinite_step()}"
        self.ended_at = time.time()

    def has_nonfinite_loss(self) -> bool:
        return any(not is_finite(v) for v in self.steps.loss)

    def first_nonfinite_step(self) -> Optional[int]:
        for s, v in zip(self.steps.step, self.steps.loss):
            if not is_finite(v):
                return s
        return None
