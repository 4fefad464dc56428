"""The run session without Qt, with real worker processes (tiny scripts that speak the
protocol): numbering, the reference and verdicts, the queue, cancel, the run library, its
callbacks, and reading a record while its worker's reader thread appends."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from proc_helpers import assert_gone, child_pids
from reprodiag.core.compare import compare_runs
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.library import RunLibrary
from reprodiag.core.runs.numbering import RunNumbers
from reprodiag.core.runs.record import (
    CANCELLED,
    FAILED,
    FINISHED,
    STEP_COLUMNS,
    RunRecord,
    reading,
)
from reprodiag.core.runs.run_session import (
    RUN_LIBRARY,
    THIS_SESSION,
    RunSession,
    SessionEvents,
    Standing,
)
from tiny_workers import HEADER

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")

# Steps whose loss depends on the seed only, as a canary's on one thread, then `done`; a run
# of more than 1000 steps streams two and then waits (to be cancelled).
WORKER = HEADER + textwrap.dedent("""\
    config = json.loads(sys.argv[1])
    for i in range(config["steps"]):
        step(i, 1.0 / (i + 1 + config["seed"]))
        if config["steps"] > 1000 and i == 1:
            time.sleep(600)
    emit(type="done", summary={"steps": config["steps"]})
""")


@pytest.fixture
def script(tmp_path, monkeypatch) -> Path:
    """Every run of the session uses the tiny worker (as the window's tests do)."""
    path = tmp_path / "session_worker.py"
    path.write_text(WORKER)
    monkeypatch.setattr(launcher, "worker_for", lambda framework: path)
    return path


class Heard:
    """SessionEvents that note what they hear, and on which thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, object]] = []
        self.running: set[str] = set()
        self.most_running = 0

    def note(self, name: str, value: object) -> None:
        with self.lock:
            self.events.append((name, value))
            if name == "started":
                self.running.add(value)
                self.most_running = max(self.most_running, len(self.running))
            elif name == "ended":
                self.running.discard(value)

    def names(self, kind: str) -> list:
        with self.lock:
            return [v for name, v in self.events if name == kind]

    def callbacks(self) -> SessionEvents:
        return SessionEvents(
            runs_added=lambda rs: self.note("added", [r.run_id for r in rs]),
            run_started=lambda r: self.note("started", r.run_id),
            run_ended=lambda r: self.note("ended", r.run_id),
            run_saved=lambda r: self.note("saved", r.run_id),
            save_failed=lambda r, why: self.note("save_failed", (r.run_id, why)),
            runs_removed=lambda ids: self.note("removed", ids),
            reference_changed=lambda rid: self.note("reference", rid),
        )


def test_runs_are_numbered_queued_one_at_a_time_compared_and_saved(script, tmp_path):
    heard = Heard()
    library = RunLibrary(tmp_path / "library")
    session = RunSession(library=library, events=heard.callbacks())
    config = RunConfig(steps=20, seed=0)
    first, second, other = session.run([config, config, config.model_copy(update={"seed": 1})])

    assert [r.status for r in (first, second, other)] == [FINISHED] * 3
    assert [session.number(r.run_id) for r in (first, second, other)] == [1, 2, 3]
    assert session.numbered_name(first.run_id) == f"#1 {config.short_label()}"
    assert session.source(first.run_id) == THIS_SESSION
    assert heard.most_running == 1  # MAX_PARALLEL: canaries never run side by side
    assert heard.names("ended") == [first.run_id, second.run_id, other.run_id]
    assert heard.names("reference") == [first.run_id]  # the first run, as there was none
    assert session.standing(first.run_id) is Standing.REFERENCE
    assert session.standing(second.run_id) is Standing.COMPARED
    assert session.comparison(second.run_id).verdict == "identical"
    assert session.comparison(second.run_id) is session.comparison(second.run_id)  # cached
    assert session.standing(other.run_id) is Standing.OTHER_CONFIG  # seed 1 does not pair
    session.set_reference(other.run_id)
    assert session.standing(first.run_id) is Standing.OTHER_CONFIG
    assert not session.active and not session.running_ids()
    # finished runs are in the run library, written once their worker was gone
    assert sorted(heard.names("saved")) == sorted(r.run_id for r in (first, second, other))
    assert sorted(r.run_id for r in library.list()) == sorted(heard.names("saved"))
    for record in (first, second, other):
        assert_gone(child_pids(record))


def test_a_run_that_cannot_start_ends_failed_and_the_queue_goes_on(script, tmp_path):
    heard = Heard()
    session = RunSession(library=RunLibrary(tmp_path / "library"), events=heard.callbacks())
    bad = session.start([RunConfig(steps=3)], python=str(tmp_path / "no-such-python"))[0]
    good = session.start([RunConfig(steps=3)])[0]
    assert session.wait(60)
    assert bad.status == FAILED and "no-such-python" in bad.reason
    assert good.status == FINISHED, good.reason
    assert heard.names("ended") == [bad.run_id, good.run_id]
    assert heard.names("saved") == [good.run_id]  # failed runs are not kept


def test_cancel_ends_queued_and_running_runs_keeping_their_steps(script):
    heard = Heard()
    session = RunSession(events=heard.callbacks())
    running, queued = session.start([RunConfig(steps=5000)] * 2)
    deadline = time.monotonic() + 60
    while not (len(running.steps) >= 2 and child_pids(running)):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pid = session.pid(running.run_id)
    assert session.active_ids() == [running.run_id, queued.run_id] and session.queued == 1
    assert not session.settled(running.run_id)
    session.cancel()
    assert queued.status == CANCELLED and queued.reason == "cancelled before it started"
    assert running.status == CANCELLED and running.reason == "cancelled"  # at once
    assert session.wait(30)
    assert running.steps.step.tolist() == [0, 1]
    assert session.settled(running.run_id) and session.settled(queued.run_id)
    assert heard.names("started") == [running.run_id]  # the queued one never started
    assert_gone([pid, *child_pids(running)])
    session.remove([running.run_id, queued.run_id])
    assert not session.records() and heard.names("removed") == [[running.run_id, queued.run_id]]


def test_only_settled_runs_are_removed_and_numbers_are_not_given_again(script):
    session = RunSession()
    done = session.run([RunConfig(steps=2)])[0]
    live = session.start([RunConfig(steps=5000)])[0]
    assert session.remove([done.run_id, live.run_id]) == [done.run_id]
    imported = RunRecord(config=RunConfig(), status=FINISHED)
    assert session.add([imported, imported], "bundle: laptop") == [imported]
    assert session.number(imported.run_id) == 3
    assert session.source(imported.run_id) == "bundle: laptop"
    assert session.add([imported], RUN_LIBRARY) == []  # listed already
    assert session.reference_id is None  # the reference was removed with its run
    assert session.shutdown(30)
    assert live.status == CANCELLED


def test_records_read_under_their_lock_are_consistent_while_a_worker_streams(tmp_path):
    """A real worker writes steps as fast as it can; the reader thread appends them while
    this thread reads every column and compares the live run: each read under the lock
    sees one state (equal column lengths, steps 0..n-1)."""
    path = tmp_path / "fast.py"
    path.write_text(textwrap.dedent("""\
        import json, sys
        out = sys.stdout
        out.write(json.dumps(dict(type="hello", protocol=1, worker="fast", pid=1, python="3")) + "\\n")
        for i in range(30000):
            out.write(json.dumps(dict(type="step", step=i, loss=1.0 / (i + 1), grad_norm=0.5,
                      param_hash="p" * (1 + i // 1000), batch_hash="b", lr=0.1,
                      step_time=0.001)) + "\\n")
        out.write(json.dumps(dict(type="done", summary={})) + "\\n")
    """))
    finished = launcher.run(RunConfig(steps=30000), script=path)
    assert finished.status == FINISHED
    handle = launcher.start_run(RunConfig(steps=30000), script=path)
    record, reads = handle.record, 0
    while not handle.done:
        with reading([record]):
            n = len(record.steps)
            columns = [getattr(record.steps, name) for name in STEP_COLUMNS]
            assert all(len(c) == n for c in columns)
            assert np.array_equal(record.steps.step, np.arange(n))
            if n and reads % 10 == 0:
                cmp = compare_runs(finished, record)
                assert cmp.first_bitwise_loss_diff_step is None  # the same numbers so far
        reads += 1
        time.sleep(0.002)  # as a view reads on a timer: the reader thread gets its turns
    assert handle.wait().status == FINISHED and reads > 1


def test_run_numbers_are_shared_by_pairs():
    numbers = RunNumbers()
    assert [numbers.number(r) for r in ("a", "b", "a")] == [1, 2, 1]
    assert numbers.share("x", "b") == 2 and numbers.color_index("x") == 1
    assert numbers.share("y", "new") == 3 and "new" in numbers
    assert numbers.number("c") == 4


DRIVER = """\
import sys
from pathlib import Path
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.run_session import RunSession
launcher.worker_for = lambda framework: Path(sys.argv[1])
session = RunSession()
try:
    session.run([RunConfig(steps=5000), RunConfig(steps=5000)])
except KeyboardInterrupt:
    print("|".join(str(r.status) + ": " + r.reason for r in session.records()))
"""


def test_ctrl_c_cancels_the_session_s_runs_and_goes_on(script, tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(script)],
                              stdout=subprocess.PIPE, text=True)
    import psutil

    deadline = time.monotonic() + 60
    worker = None
    while worker is None:
        assert time.monotonic() < deadline and driver.poll() is None
        kids = psutil.Process(driver.pid).children(recursive=True)
        if len(kids) >= 2:  # the worker and its grandchild
            worker = kids
        time.sleep(0.05)
    driver.send_signal(signal.SIGINT)
    out, _ = driver.communicate(timeout=60)
    assert out.strip() == "cancelled: cancelled|cancelled: cancelled before it started"
    assert_gone([p.pid for p in worker])
