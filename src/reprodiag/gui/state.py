"""What the tabs share: the target interpreter, its snapshot, the run library, background tasks.

One Qt object with change signals, so each tab binds to it in one place and no tab reaches
into another.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from reprodiag.core.env.interpreters import default_target
from reprodiag.core.env.model import Snapshot
from reprodiag.core.runs.library import RunLibrary
from reprodiag.errors import UserError
from reprodiag.gui.tasks import BackgroundTasks


class AppState(QObject):
    """Shared state of one window. `library` is None where nothing may be persisted."""

    target_changed = Signal(str)
    snapshot_changed = Signal(object)  # the target's Snapshot, or None while capturing
    runs_changed = Signal()  # the Runs tab's list changed (a run ended, was imported, removed)

    def __init__(self, library: RunLibrary | None, parent: QObject | None = None):
        super().__init__(parent)
        self.library = library
        self.tasks = BackgroundTasks(self)
        self.target: str = _initial_target()
        self.snapshot: Snapshot | None = None

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
