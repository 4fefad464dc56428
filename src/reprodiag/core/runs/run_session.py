"""The run session: the runs one front end works with, and everything it knows about them.

A RunSession owns the runs (started here, imported from bundles, listed from the run
library), their numbers (colours follow them), the reference run, the queue and how many
runs go at once, the verdicts against the reference (cached) and saving finished runs to
the run library. The CLI (`run`, `export`, `explain` through attribution) and the window
both drive runs through it, so they cannot drift apart; it knows nothing of Qt.

It tells front ends what happened through plain callbacks (SessionEvents). Those about a
worker (`run_message`, `run_updated` from its lines, `run_ended`, `run_saved`, a queued run
`run_started` after another ended) come from the launcher's reader and monitor threads;
the others from the thread that called the session. The window's adapter
(gui/session_signals.py) turns them into queued Qt signals. A record that a worker is still
filling is read under its lock (`record.reading`); once `settled` it no longer changes.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.numbering import RunNumbers
from reprodiag.core.runs.protocol import Message
from reprodiag.core.runs.record import CANCELLED, DIVERGED, FAILED, FINISHED, RunRecord
from reprodiag.errors import UserError

if TYPE_CHECKING:
    from reprodiag.core.compare.runs import RunComparison
    from reprodiag.core.runs.library import RunLibrary

MAX_PARALLEL = 1  # canaries measure numerics and step time: parallel runs disturb each other
THIS_SESSION, RUN_LIBRARY = "this session", "run library"  # where a run came from
SHUTDOWN_WAIT_S = 10.0
_POLL_S = 0.1


def _ignore(*_args: object) -> None:
    pass


@dataclass(kw_only=True)
class SessionEvents:
    """Callbacks a front end gives a RunSession (each optional). Records are passed live:
    read a running one under its lock."""

    runs_added: Callable[[list[RunRecord]], None] = _ignore  # listed: queued, imported, library
    run_started: Callable[[RunRecord], None] = _ignore  # its worker process is up
    run_message: Callable[[RunRecord, Message], None] = _ignore  # a worker line was applied
    run_updated: Callable[[RunRecord], None] = _ignore  # a line changed it, or it was cancelled
    run_ended: Callable[[RunRecord], None] = _ignore  # settled: its worker is gone (or never ran)
    run_saved: Callable[[RunRecord], None] = _ignore  # written to the run library
    save_failed: Callable[[RunRecord, str], None] = _ignore  # ... or not, and why
    runs_removed: Callable[[list[str]], None] = _ignore  # run ids
    reference_changed: Callable[[str | None], None] = _ignore  # the reference's run id


class Standing(enum.Enum):
    """Where a run stands against the session's reference (what its verdict cell says)."""

    REFERENCE = "reference"  # it is the reference
    COMPARED = "compared"  # compared: see RunSession.comparison
    NO_REFERENCE = "no reference"
    OTHER_CONFIG = "other config"  # its config does not pair with the reference's
    WAITING = "waiting"  # it or the reference is still running
    NO_STEPS = "no steps"  # one of them ended without a step


@dataclass(kw_only=True)
class _Queued:
    record: RunRecord
    python: str | None


class RunSession:
    """Runs, their numbers, the reference, the queue, verdicts and the run library.

    `library` (optional) receives every run of this session that finishes; `timeout` (s) and
    `memory_limit_mb` apply to each run started. Safe to call from several threads.
    """

    def __init__(self, *, library: RunLibrary | None = None, max_parallel: int = MAX_PARALLEL,
                 timeout: float | None = None, memory_limit_mb: int | None = None,
                 events: SessionEvents | None = None):
        self.library = library
        self.max_parallel = max_parallel
        self.timeout = timeout
        self.memory_limit_mb = memory_limit_mb
        self.numbers = RunNumbers()
        self._listeners: list[SessionEvents] = [events] if events is not None else []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # notified when a run settles
        self._runs: dict[str, RunRecord] = {}  # in the order they were listed
        self._sources: dict[str, str] = {}
        self._queue: list[_Queued] = []
        self._handles: dict[str, launcher.RunHandle] = {}
        self._starting: set[str] = set()  # taken off the queue, worker being started
        self._cancel_on_start: set[str] = set()
        self._saving: set[str] = set()  # settled, being written to the run library
        self._reference: str | None = None
        self._comparisons: dict[tuple[str, str], RunComparison] = {}

    def listen(self, events: SessionEvents) -> None:
        """Add a front end's callbacks."""
        self._listeners.append(events)

    def _notify(self, name: str, *args: object) -> None:
        for events in list(self._listeners):
            getattr(events, name)(*args)

    # ------------------------------------------------------------------ reading
    def records(self) -> list[RunRecord]:
        """Every listed run, in the order listed."""
        with self._lock:
            return list(self._runs.values())

    def get(self, run_id: str | None) -> RunRecord | None:
        with self._lock:
            return self._runs.get(run_id) if run_id is not None else None

    def __contains__(self, run_id: object) -> bool:
        with self._lock:
            return run_id in self._runs

    def source(self, run_id: str) -> str:
        """Where the run came from: THIS_SESSION, RUN_LIBRARY or 'bundle: <label>'."""
        with self._lock:
            return self._sources[run_id]

    def number(self, run_id: str) -> int:
        return self.numbers.number(run_id)

    def numbered_name(self, run_id: str) -> str:
        """'#3 torch mlp cpu seed=0', with the run's label in front when it has one."""
        record = self._runs[run_id]
        name = record.config.short_label()
        if record.label and record.label != name:
            name = f"{record.label} · {name}"
        return f"#{self.number(run_id)} {name}"

    @property
    def active(self) -> bool:
        """Runs are queued or running."""
        with self._lock:
            return bool(self._queue or self._starting or self._handles)

    def active_ids(self) -> list[str]:
        """Runs queued or running, in the order listed."""
        with self._lock:
            busy = self._busy()
            return [rid for rid in self._runs if rid in busy]

    def running_ids(self) -> list[str]:
        """Runs whose worker process is up."""
        with self._lock:
            return [rid for rid in self._runs if rid in self._handles]

    @property
    def queued(self) -> int:
        """How many runs wait to start."""
        with self._lock:
            return len(self._queue)

    def pid(self, run_id: str) -> int | None:
        """The worker process of a running run."""
        with self._lock:
            handle = self._handles.get(run_id)
            return handle.pid if handle is not None else None

    def settled(self, run_id: str) -> bool:
        """The run has ended and its worker is gone: its record no longer changes."""
        with self._lock:
            record = self._runs.get(run_id)
            return record is not None and record.ended and run_id not in self._busy()

    def _busy(self) -> set[str]:
        """Runs queued, starting or running."""
        return {q.record.run_id for q in self._queue} | self._starting | set(self._handles)

    # ------------------------------------------------------------------ starting and stopping
    def start(self, configs: Iterable[RunConfig], *, python: str | None = None, label: str = "",
              reference_first: bool = False) -> list[RunRecord]:
        """Queue a run of each config on `python` (None: the default target); the first
        becomes the reference when `reference_first` or when there is none. Returns their
        records at once (pending)."""
        records = [RunRecord(config=config, label=label) for config in configs]
        with self._lock:
            for record in records:
                self._list(record, THIS_SESSION)
                self._queue.append(_Queued(record=record, python=python))
        self._notify("runs_added", records)
        if records and (reference_first or self.reference_id is None):
            self.set_reference(records[0].run_id)
        self._start_next()
        return records

    def run(self, configs: Iterable[RunConfig], *, python: str | None = None, label: str = "",
            cancel: threading.Event | None = None) -> list[RunRecord]:
        """Start these runs and wait until every one has settled; returns their records.

        Setting `cancel` cancels them (their records say so). Ctrl-C cancels them, waits
        until their processes are gone, then lets the KeyboardInterrupt go on.
        """
        ids = [r.run_id for r in self.start(configs, python=python, label=label)]
        try:
            while not self.wait(_POLL_S if cancel is not None else None, ids):
                if cancel is not None and cancel.is_set():
                    self.cancel(ids)
                    self.wait(None, ids)
        except KeyboardInterrupt:
            self.cancel(ids)
            self.wait(None, ids)
            raise
        return [self._runs[rid] for rid in ids]

    def cancel(self, run_ids: Iterable[str] | None = None) -> None:
        """Cancel these runs (default: every queued or running one). A queued run ends at
        once; a running one's worker gets SIGTERM (SIGKILL after a grace period), and the
        steps it recorded so far are kept."""
        wanted = set(self.active_ids() if run_ids is None else run_ids)
        with self._lock:
            dropped = [q.record for q in self._queue if q.record.run_id in wanted]
            self._queue = [q for q in self._queue if q.record.run_id not in wanted]
            handles = [h for rid, h in self._handles.items() if rid in wanted]
            self._cancel_on_start |= wanted & self._starting
        for record in dropped:
            with record.lock:
                record.finish(CANCELLED, "cancelled before it started")
        if dropped:
            with self._lock:
                self._changed.notify_all()
        for record in dropped:
            self._notify("run_ended", record)
        for handle in handles:
            handle.cancel()
            self._notify("run_updated", handle.record)

    def wait(self, timeout: float | None = None, run_ids: Iterable[str] | None = None) -> bool:
        """Block until these runs (default: all) have settled and been saved, or `timeout`
        seconds pass; True when they have."""
        ids = None if run_ids is None else set(run_ids)

        def settled() -> bool:
            busy = self._busy() | self._saving
            return not (busy if ids is None else busy & ids)

        with self._lock:
            return self._changed.wait_for(settled, timeout)

    def shutdown(self, timeout: float = SHUTDOWN_WAIT_S) -> bool:
        """Cancel every run and wait (up to `timeout` s) until their processes are gone and
        finished runs are saved; workers still there then are killed. True when all ended."""
        self.cancel()
        if self.wait(timeout):
            return True
        with self._lock:
            handles = list(self._handles.values())
        for handle in handles:
            handle.worker.kill()
        return self.wait(launcher.CANCEL_GRACE_S)

    def _start_next(self) -> None:
        """Start queued runs while fewer than max_parallel are running. The session's lock is
        never held while a record's is taken (views hold a record's lock and then ask the
        session), so a run is started outside it, its place reserved in `_starting`."""
        while True:
            with self._lock:
                going = len(self._handles) + len(self._starting)
                if not self._queue or going >= self.max_parallel:
                    return
                queued = self._queue.pop(0)
                record = queued.record
                self._starting.add(record.run_id)
            try:
                handle = launcher.start_run(
                    record.config, queued.python, record=record, on_message=self._message,
                    on_end=self._ended, timeout=self.timeout, memory_limit_mb=self.memory_limit_mb)
            except UserError as exc:  # no such interpreter, no worker for the framework
                with record.lock:
                    record.finish(FAILED, str(exc))
                with self._lock:
                    self._starting.discard(record.run_id)
                    self._changed.notify_all()
                self._notify("run_ended", record)
                continue
            with self._lock:
                # a worker that is already gone was seen off by _ended
                if record.run_id in self._starting:
                    self._starting.discard(record.run_id)
                    self._handles[record.run_id] = handle
                cancel = record.run_id in self._cancel_on_start
                self._cancel_on_start.discard(record.run_id)
            if cancel:
                handle.cancel()
            self._notify("run_started", record)

    # ------------------------------------------------------------------ worker callbacks
    def _message(self, record: RunRecord, msg: Message) -> None:
        self._notify("run_message", record, msg)
        self._notify("run_updated", record)

    def _ended(self, record: RunRecord) -> None:
        """The worker is gone (monitor thread): tell, start the next run, then save."""
        save = self.library is not None and record.status in (FINISHED, DIVERGED)
        with self._lock:
            self._handles.pop(record.run_id, None)
            self._starting.discard(record.run_id)
            if save:
                self._saving.add(record.run_id)
            self._changed.notify_all()
        try:
            self._notify("run_ended", record)
            self._start_next()
            if save:
                self._save(record)
        finally:
            with self._lock:
                self._saving.discard(record.run_id)
                self._changed.notify_all()

    def _save(self, record: RunRecord) -> None:
        assert self.library is not None
        try:
            self.library.save(record)
        except (UserError, OSError) as exc:
            self._notify("save_failed", record, str(exc))
        else:
            self._notify("run_saved", record)

    # ------------------------------------------------------------------ the list
    def _list(self, record: RunRecord, source: str) -> None:
        self._runs[record.run_id] = record
        self._sources[record.run_id] = source
        self.numbers.number(record.run_id)

    def add(self, records: Iterable[RunRecord], source: str) -> list[RunRecord]:
        """List ended runs (from the run library, a bundle); runs already listed are
        skipped. Returns those added."""
        added = []
        with self._lock:
            for record in records:
                if record.run_id not in self._runs:
                    self._list(record, source)
                    added.append(record)
        if added:
            self._notify("runs_added", added)
        return added

    def remove(self, run_ids: Iterable[str]) -> list[str]:
        """Take settled runs off the list (the run library keeps them); returns their ids.
        Numbers are not given again."""
        removed = []
        with self._lock:
            for rid in run_ids:
                if rid in self._runs and self.settled(rid):
                    del self._runs[rid]
                    del self._sources[rid]
                    removed.append(rid)
            self._comparisons = {k: v for k, v in self._comparisons.items()
                                 if not set(k) & set(removed)}
            lost_reference = self._reference in removed
        if lost_reference:
            self.set_reference(None)
        if removed:
            self._notify("runs_removed", removed)
        return removed

    def delete_from_library(self, run_id: str) -> None:
        """Delete a run's file from the run library, then take it off the list."""
        if self.library is None:
            raise UserError("there is no run library here")
        self.library.delete(run_id)
        self.remove([run_id])

    # ------------------------------------------------------------------ reference and verdicts
    @property
    def reference_id(self) -> str | None:
        with self._lock:
            return self._reference

    def set_reference(self, run_id: str | None) -> None:
        """Compare every other run with this one (None, or a run not listed: none)."""
        with self._lock:
            self._reference = run_id if run_id in self._runs else None
            reference = self._reference
        self._notify("reference_changed", reference)

    def comparable(self, run_id: str) -> bool:
        """Runs pair with the reference when their configs agree on all but placement."""
        with self._lock:
            ref = self._runs.get(self._reference) if self._reference else None
            return (ref is not None and run_id != self._reference and run_id in self._runs
                    and self._runs[run_id].config.pairing_key() == ref.config.pairing_key())

    def standing(self, run_id: str) -> Standing:
        """Where the run stands against the reference."""
        with self._lock:
            if run_id == self._reference:
                return Standing.REFERENCE
            if self._reference is None:
                return Standing.NO_REFERENCE
            if not self.comparable(run_id):
                return Standing.OTHER_CONFIG
            if not (self.settled(run_id) and self.settled(self._reference)):
                return Standing.WAITING
            if self.comparison(run_id) is None:
                return Standing.NO_STEPS
            return Standing.COMPARED

    def comparison(self, run_id: str) -> RunComparison | None:
        """The run compared with the reference, once both have settled with steps (cached:
        settled records do not change)."""
        with self._lock:
            ref_id = self._reference
            if ref_id is None or not self.comparable(run_id):
                return None
            if not (self.settled(ref_id) and self.settled(run_id)):
                return None
            ref, other = self._runs[ref_id], self._runs[run_id]
            if not (len(ref.steps) and len(other.steps)):
                return None
            key = (ref_id, run_id)
            if key not in self._comparisons:
                from reprodiag.core.compare import compare_runs

                self._comparisons[key] = compare_runs(ref, other)
            return self._comparisons[key]
