"""QProcess transport for canary runs: a worker's stdout lines feed the core RunRecord.

Every line goes through `core.runs.protocol.parse_line` into `RunRecord.apply` -- the same
parser and record the CLI uses -- so the window adds no run logic of its own. A worker that
exits without `done` ends the run as failed with its exit code and last stderr line; Cancel
terminates the process and kills it after a grace period.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from reprodiag import paths
from reprodiag.core.runs.launcher import exit_reason, worker_env, worker_for
from reprodiag.core.runs.protocol import MAX_LINE_CHARS, parse_line
from reprodiag.core.runs.record import CANCELLED, FAILED, RunRecord, RunStatus

CANCEL_GRACE_MS = 3000
STDERR_TAIL = 20


class RunProcess(QObject):
    """One worker process filling one RunRecord; emits `updated` on data, `ended` once."""

    updated = Signal(object)  # the record, after new messages were applied
    ended = Signal(object)  # the record, once it reached an ended status
    exited = Signal()  # the process is gone (or never started): the next run may start

    def __init__(self, record: RunRecord, python: str, parent: QObject | None = None):
        super().__init__(parent)
        self.record = record
        self.python = python
        self._buffer = b""
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL)
        self._cancel_requested = False
        self._ended_emitted = False
        self._proc = QProcess(self)
        self._proc.readyReadStandardOutput.connect(self._read_stdout)
        self._proc.readyReadStandardError.connect(self._read_stderr)
        self._proc.finished.connect(self._on_finished)
        self._proc.errorOccurred.connect(self._on_error)

    @property
    def running(self) -> bool:
        return self._proc.state() != QProcess.ProcessState.NotRunning

    @property
    def pid(self) -> int:
        return int(self._proc.processId())

    def start(self) -> None:
        cfg = self.record.config
        env = QProcessEnvironment()
        for name, value in worker_env(cfg).items():
            env.insert(name, value)
        self._proc.setProcessEnvironment(env)
        self._proc.setProgram(self.python)
        self._proc.setArguments(
            [str(worker_for(cfg.framework)), cfg.to_worker_json(data_dir=str(paths.data_file("")))]
        )
        self.record.python = self.python
        self.record.start()
        self._proc.start()

    def cancel(self) -> None:
        """Ask the worker to stop; kill it if it is still there after the grace period."""
        if not self.running:
            if not self.record.ended:
                self._end(CANCELLED, "cancelled before it started")
            return
        self._cancel_requested = True
        self._end(CANCELLED, "cancelled")  # first ending wins: the worker's reply is only log
        self._proc.terminate()
        QTimer.singleShot(CANCEL_GRACE_MS, self.kill)

    def kill(self) -> None:
        """Stop the worker at once (after the grace period, or when the window closes)."""
        if self.running:
            self._cancel_requested = True
            self._proc.kill()

    def _read_stdout(self) -> None:
        data = self._buffer + bytes(self._proc.readAllStandardOutput().data())
        *lines, self._buffer = data.split(b"\n")
        if len(self._buffer) > MAX_LINE_CHARS:  # a line without end: keep it as log, bounded
            lines.append(self._buffer)
            self._buffer = b""
        self._apply_lines(lines)

    def _apply_lines(self, lines: list[bytes]) -> None:
        applied = False
        for line in lines:
            if not line.strip():
                continue
            self.record.apply(parse_line(line))
            applied = True
        if applied:
            self.updated.emit(self.record)
            if self.record.ended:
                self._emit_ended()

    def _read_stderr(self) -> None:
        text = bytes(self._proc.readAllStandardError().data()).decode("utf-8", errors="replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr.append(line.strip())
                self.record.add_log(line.strip()[:2000])

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        if self._buffer.strip():
            tail, self._buffer = self._buffer, b""
            self._apply_lines([tail])
        if self.record.ended:
            self._emit_ended()
        elif self._cancel_requested:
            self._end(CANCELLED, "cancelled")
        else:
            # Qt reports the signal number as the exit code of a crashed process
            code = -exit_code if exit_status == QProcess.ExitStatus.CrashExit else exit_code
            self._end(FAILED, exit_reason(code, list(self._stderr)))
        self.exited.emit()

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._end(FAILED, f"could not start {self.python}: {self._proc.errorString()}")
            self.exited.emit()

    def _end(self, status: RunStatus, reason: str) -> None:
        self.record.finish(status, reason)
        self.updated.emit(self.record)
        self._emit_ended()

    def _emit_ended(self) -> None:
        if not self._ended_emitted:
            self._ended_emitted = True
            self.ended.emit(self.record)

    def wait(self, msecs: int = 5000) -> bool:
        """Block until the process exits (used when the window closes)."""
        return self._proc.state() == QProcess.ProcessState.NotRunning or \
            self._proc.waitForFinished(msecs)
