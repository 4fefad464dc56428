"""Slow work off the event loop: callables run on a thread pool, results come back on the GUI thread.

Environment captures, interpreter discovery and bundle reading/writing go through here, so
the window stays responsive; errors arrive as one-line messages, never as exceptions.
"""

from __future__ import annotations

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
    def __init__(self, fn: Callable[[], Any], task: _Task):
        super().__init__()
        self._fn = fn
        self._task = task

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # noqa: BLE001 - reported in the window, never raised into Qt
            self._task.failed.emit(error_text(exc))
        else:
            self._task.succeeded.emit(result)


class BackgroundTasks(QObject):
    """A small thread pool whose results are delivered on the GUI thread."""

    busy_changed = Signal(int)

    def __init__(self, parent: QObject | None = None, max_threads: int = 2):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._active: set[_Task] = set()

    @property
    def busy(self) -> int:
        return len(self._active)

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        task = _Task(self, on_done, on_error)
        self._active.add(task)
        self.busy_changed.emit(len(self._active))
        self._pool.start(_Runnable(fn, task))

    def _finished(self, task: _Task) -> None:
        self._active.discard(task)
        task.deleteLater()
        self.busy_changed.emit(len(self._active))

    def wait(self, msecs: int = -1) -> bool:
        """Block until the running callables return (their callbacks still need the event loop)."""
        return self._pool.waitForDone(msecs)
