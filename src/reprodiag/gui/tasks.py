"""Slow work off the event loop: callables run on a thread pool, results come back on the GUI thread.

Environment captures, interpreter discovery and bundle reading/writing go through here, so
the window stays responsive; errors arrive as one-line messages, never as exceptions. Work
submitted with `must_finish` (what writes files, or stops workers) is waited for when the
window closes; the rest (reading, capturing) is not: its result would have nowhere to go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from reprodiag.errors import UserError


def error_text(exc: BaseException) -> str:
    """The one line a person sees for a failure."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


class _Task(QObject):
    """Lives on the GUI thread; its signals are emitted from the pool thread (queued)."""

    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, owner: BackgroundTasks, on_done, on_error):
        super().__init__()
        self._owner = owner
        self._on_done = on_done
        self._on_error = on_error
        self.succeeded.connect(self._done)
        self.failed.connect(self._error)

    @Slot(object)
    def _done(self, result: Any) -> None:
        try:
            if self._on_done is not None:
                self._on_done(result)
        finally:
            self._owner._finished(self)

    @Slot(str)
    def _error(self, message: str) -> None:
        try:
            if self._on_error is not None:
                self._on_error(message)
        finally:
            self._owner._finished(self)


class _Runnable(QRunnable):
    def __init__(self, fn: Callable[[], Any], task: _Task, done: threading.Event):
        super().__init__()
        self._fn = fn
        self._task = task
        self._done = done

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # noqa: BLE001 - reported in the window, never raised into Qt
            self._done.set()
            self._task.failed.emit(error_text(exc))
        else:
            self._done.set()
            self._task.succeeded.emit(result)


class BackgroundTasks(QObject):
    """A small thread pool whose results are delivered on the GUI thread."""

    busy_changed = Signal(int)

    def __init__(self, parent: QObject | None = None, max_threads: int = 2):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._active: set[_Task] = set()
        self._must_finish: list[threading.Event] = []

    @property
    def busy(self) -> int:
        return len(self._active)

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        must_finish: bool = False,
    ) -> None:
        """Run `fn` on the pool; `on_done(result)` or `on_error(message)` on the GUI thread.
        `must_finish`: the window waits for it when it closes (see wait_must_finish)."""
        task = _Task(self, on_done, on_error)
        done = threading.Event()
        if must_finish:
            self._must_finish = [e for e in self._must_finish if not e.is_set()] + [done]
        self._active.add(task)
        self.busy_changed.emit(len(self._active))
        self._pool.start(_Runnable(fn, task, done))

    def _finished(self, task: _Task) -> None:
        self._active.discard(task)
        task.deleteLater()
        self.busy_changed.emit(len(self._active))

    def wait(self, msecs: int = -1) -> bool:
        """Block until the running callables return (their callbacks still need the event loop)."""
        return self._pool.waitForDone(msecs)

    def wait_must_finish(self, msecs: int) -> bool:
        """Block until the work submitted with `must_finish` has returned; False on timeout."""
        deadline = time.monotonic() + msecs / 1000
        for done in self._must_finish:
            if not done.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True
