"""What the tabs share: the target interpreter, its snapshot, the run library, the run
session, background tasks.

One Qt object with change signals, so each tab binds to it in one place and no tab reaches
into another. The run session (core.runs.run_session) is made on first use, with its Qt
adapter (session_signals.py): the Runs and Compare tabs are views of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from reprodiag.core.env.interpreters import default_target
from reprodiag.core.env.model import Snapshot
from reprodiag.errors import UserError
from reprodiag.gui.tasks import BackgroundTasks

if TYPE_CHECKING:
    from reprodiag.core.runs.library import RunLibrary
    from reprodiag.core.runs.run_session import RunSession
    from reprodiag.gui.session_signals import SessionSignals


class AppState(QObject):
    """Shared state of one window. `library` is None where nothing may be persisted, or a
    function that makes the RunLibrary on first use (so the window opens before the bundle
    code is imported)."""

    target_changed = Signal(str)
    snapshot_changed = Signal(object)  # the target's Snapshot, or None while capturing

    def __init__(self, library: RunLibrary | Callable[[], RunLibrary] | None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._library = library
        self.tasks = BackgroundTasks(self)
        self.target: str = _initial_target()
        self.snapshot: Snapshot | None = None
        self._session_signals: SessionSignals | None = None

    @property
    def library(self) -> RunLibrary | None:
        if callable(self._library):  # a RunLibrary is not callable: this is its factory
            self._library = self._library()
        return self._library

    @property
    def session_signals(self) -> SessionSignals:
        """The run session's events as Qt signals (made, with the session, on first use)."""
        if self._session_signals is None:
            from reprodiag.core.runs.run_session import RunSession
            from reprodiag.gui.session_signals import SessionSignals

            self._session_signals = SessionSignals(RunSession(library=self.library), self)
        return self._session_signals

    @property
    def session_made(self) -> bool:
        return self._session_signals is not None

    @property
    def session(self) -> RunSession:
        """This window's runs: started here, imported, listed from the run library."""
        return self.session_signals.session

    def set_target(self, python: str) -> None:
        if python and python != self.target:
            self.target = python
            self.snapshot = None
            self.target_changed.emit(python)
            self.snapshot_changed.emit(None)

    def set_snapshot(self, snapshot: Snapshot | None) -> None:
        self.snapshot = snapshot
        self.snapshot_changed.emit(snapshot)


def _initial_target() -> str:
    """This Python, or in the packaged app the first Python found ("" when there is none)."""
    try:
        return default_target()
    except UserError:
        return ""
