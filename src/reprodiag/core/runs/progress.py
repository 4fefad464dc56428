"""Console progress for headless runs: one line per run on a pipe, a live line on a TTY."""

from __future__ import annotations

from typing import TextIO

from reprodiag.core.runs.protocol import Step
from reprodiag.core.runs.record import STATUS_LABELS, RunRecord
from reprodiag.core.wording import counted


class ConsoleProgress:
    """Turns worker messages into short progress lines on a text stream (stderr)."""

    def __init__(self, stream: TextIO, every: int = 0):
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every = every

    def note(self, text: str) -> None:
        self._line(f"reprodiag: {text}")

    def on_message(self, record: RunRecord, msg) -> None:
        if not isinstance(msg, Step):
            return
        total = record.config.steps
        if self.tty:
            self.stream.write(f"\r  {record.display_name()}: step {msg.step + 1}/{total} "
                              f"loss {msg.loss:.6g}   ")
            self.stream.flush()
        elif self.every and (msg.step + 1) % self.every == 0:
            self._line(f"  {record.display_name()}: step {msg.step + 1}/{total} loss {msg.loss:.6g}")

    def finished(self, record: RunRecord) -> None:
        if self.tty:
            self.stream.write("\r")
        metric = record.summary.get("metric")
        name = record.summary.get("metric_name", "metric")
        tail = f", {name} {metric:.4f}" if isinstance(metric, (int, float)) else ""
        reason = f" ({record.reason})" if record.reason else ""
        self._line(f"  {record.display_name()}: {STATUS_LABELS[record.status]}, "
                   f"{counted(len(record.steps), 'step')}"
                   f"{tail}{reason} [{record.run_id}]")

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
