"""What the tabs share: the target interpreter, its snapshot, the run library, background tasks.

One Qt object with change signals, so each tab binds to it in one place and no tab reaches
into another.
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


class AppState(QObject):
    """Shared state of one window. `library` is None where nothing may be persisted, or a
    function that makes the RunLibrary on first use (so the window opens before the bundle
    code is imported)."""

    target_changed = Signal(str)
    snapshot_changed = Signal(object)  # the target's Snapshot, or None while capturing
    runs_changed = Signal()  # the Runs tab's list changed (a run ended, was imported, removed)

    def __init__(self, library: RunLibrary | Callable[[], RunLibrary] | None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._library = library
        self.tasks = BackgroundTasks(self)
        self.target: str = _initial_target()
        self.snapshot: Snapshot | None = None

    @property
    def library(self) -> RunLibrary | None:
        if callable(self._library):  # a RunLibrary is not callable: this is its factory
            self._library = self._library()
        return self._library

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
