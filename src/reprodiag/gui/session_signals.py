"""The window's adapter to the run session: its plain callbacks as Qt signals on the GUI thread.

A RunSession calls back from the launcher's reader and monitor threads (a worker's lines,
its end) and from whoever called it (the GUI thread, when a tab starts, removes or picks a
reference). Callbacks from another thread are queued to the GUI thread; those made on the
GUI thread are delivered at once, so a view is up to date when the call returns. A run's
line updates are coalesced: at most one `run_updated` waits per run, however fast its
worker writes (the views read the record itself, on their refresh timer).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

from reprodiag.core.runs.record import RunRecord
from reprodiag.core.runs.run_session import RunSession, SessionEvents


class SessionSignals(QObject):
    """One session's events, emitted on the GUI thread (see core.runs.run_session)."""

    runs_added = Signal(list)  # [RunRecord]
    run_started = Signal(object)  # RunRecord
    run_updated = Signal(object)  # RunRecord: new lines arrived, or it was cancelled
    run_ended = Signal(object)  # RunRecord, settled
    run_saved = Signal(object)  # RunRecord, in the run library
    save_failed = Signal(object, str)  # RunRecord, why
    runs_removed = Signal(list)  # [run id]
    reference_changed = Signal(object)  # run id or None
    _relay = Signal(object)  # a call to make on the GUI thread

    def __init__(self, session: RunSession, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self._gui_thread = threading.get_ident()  # made where it lives: on the GUI thread
        self._lock = threading.Lock()
        self._updates: set[str] = set()  # runs with a run_updated waiting
        self._relay.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        session.listen(SessionEvents(
            runs_added=self._on_gui_thread(self.runs_added.emit),
            run_started=self._on_gui_thread(self.run_started.emit),
            run_updated=self._coalesced_update,
            run_ended=self._on_gui_thread(self.run_ended.emit),
            run_saved=self._on_gui_thread(self.run_saved.emit),
            save_failed=self._on_gui_thread(self.save_failed.emit),
            runs_removed=self._on_gui_thread(self.runs_removed.emit),
            reference_changed=self._on_gui_thread(self.reference_changed.emit),
        ))

    def _on_gui_thread(self, emit: Callable[..., None]) -> Callable[..., None]:
        def call(*args: object) -> None:
            if threading.get_ident() == self._gui_thread:
                emit(*args)
                return
            self._relay.emit(lambda: emit(*args))

        return call

    def _coalesced_update(self, record: RunRecord) -> None:
        with self._lock:
            if record.run_id in self._updates:
                return
            self._updates.add(record.run_id)

        def emit(record: RunRecord) -> None:
            with self._lock:
                self._updates.discard(record.run_id)
            self.run_updated.emit(record)

        self._on_gui_thread(emit)(record)

    @Slot(object)
    def _deliver(self, call: Callable[[], None]) -> None:
        call()
