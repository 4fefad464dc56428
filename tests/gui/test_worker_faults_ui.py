"""Worker faults through the window: a run started from the Runs tab goes through the run
session and the launcher, so each fault of tests/tiny_workers.py ends it as it does
headless -- its reason in one line, the steps before the fault kept, the worker and the
grandchild it started gone -- and the window says so. Cancelling a streaming run from the
window, 50 times over, leaves no process behind either, and keeps the steps recorded."""

from __future__ import annotations

import sys
import threading

import psutil
import pytest
from PySide6.QtCore import Qt

from proc_helpers import assert_gone, child_pids
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import CANCELLED, FAILED, STATUS_LABELS
from reprodiag.gui.widgets.run_table import STATUS
from tiny_workers import CONFIG, FAULTS, STREAMER, worker

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and rlimits")

def _uses(monkeypatch, script) -> None:
    """Every run the window starts runs `script` (a real process, through the launcher)."""
    monkeypatch.setattr(launcher, "worker_for", lambda framework: script)


def _worker_pids(window) -> dict[str, int]:
    """Run id -> worker pid, noted as each run's worker starts."""
    session, pids = window.state.session, {}
    window.state.session_signals.run_started.connect(
        lambda record: pids.__setitem__(record.run_id, session.pid(record.run_id)))
    return pids


def _status_cell(tab, record) -> str:
    return tab.table.item(tab.table.row_of(record.run_id), STATUS).text()


@pytest.mark.parametrize(("body", "options", "status", "reason_ok", "steps"),
                         [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_fault_in_a_window_run_ends_it_with_its_reason_and_no_orphans(
        qtbot, window, tmp_path, monkeypatch, body, options, status, reason_ok, steps):
    _uses(monkeypatch, worker(tmp_path, body))
    session = window.state.session
    session.timeout = options.get("timeout")
    session.memory_limit_mb = options.get("memory_limit_mb")
    pids = _worker_pids(window)
    tab = window.runs_tab
    window.set_tab("runs")
    record = tab.start_runs([CONFIG])[0]
    qtbot.waitUntil(lambda: not tab.active, timeout=120_000)

    assert record.status == status, record.reason
    assert reason_ok(record.reason), record.reason
    assert "\n" not in record.reason
    assert record.steps.step.tolist() == steps
    assert record.steps.loss[:2].tolist() == [2.0, 1.5]
    assert len(child_pids(record)) == 1
    assert_gone([pids[record.run_id], *child_pids(record)])
    # the window says so: the row, the curve, and a failure in the message bar
    assert _status_cell(tab, record) == STATUS_LABELS[record.status]
    tab.view.refresh(force=True)
    assert tab.view.point_count(record.run_id) == len(steps)
    if status == FAILED:
        assert window.messages.level == "error"
        assert window.messages.text().endswith(f" failed: {record.reason}")
    assert not tab.cancel_button.isEnabled()


def test_cancelling_a_streaming_run_from_the_window_50_times_leaves_no_process(
        qtbot, window, tmp_path, monkeypatch):
    script = tmp_path / "streamer.py"
    script.write_text(STREAMER)
    _uses(monkeypatch, script)
    pids = _worker_pids(window)
    delivered_on: set[int] = set()
    window.state.session_signals.run_ended.connect(
        lambda _record: delivered_on.add(threading.get_ident()))
    tab = window.runs_tab
    window.set_tab("runs")
    started = []
    for _ in range(50):
        record = tab.start_runs([RunConfig(steps=1_000_000)])[0]
        started.append(record)
        qtbot.waitUntil(lambda r=record: len(r.steps) >= 3 and bool(child_pids(r)),
                        timeout=30_000)
        with record.lock:
            seen = record.steps.step.tolist()
        qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not tab.active, timeout=30_000)

        assert record.status == CANCELLED and record.reason == "cancelled"
        kept = record.steps.step.tolist()
        assert kept[:len(seen)] == seen and kept == list(range(len(kept)))  # nothing lost
        assert _status_cell(tab, record) == STATUS_LABELS[CANCELLED]
        assert_gone([pids[record.run_id], *child_pids(record)])
    tab.view.refresh(force=True)
    for record in started:
        assert tab.view.point_count(record.run_id) == len(record.steps)
    # nothing these runs started is left: not a worker, not a grandchild
    ours = set(pids.values()) | {pid for r in started for pid in child_pids(r)}
    assert len(ours) == 100
    left = {p.pid for p in psutil.Process().children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE}
    assert not ours & left
    assert delivered_on == {threading.get_ident()}  # the adapter delivers on the GUI thread


def test_a_window_run_that_ignores_sigterm_is_killed_after_the_grace_period(
        qtbot, window, tmp_path, monkeypatch):
    script = tmp_path / "streamer.py"
    script.write_text(STREAMER)
    _uses(monkeypatch, script)
    monkeypatch.setenv("WORKER_IGNORES_SIGTERM", "1")
    pids = _worker_pids(window)
    tab = window.runs_tab
    record = tab.start_runs([RunConfig(steps=1_000_000)])[0]
    qtbot.waitUntil(lambda: len(record.steps) >= 3 and bool(child_pids(record)), timeout=30_000)
    tab.cancel()
    assert record.status == CANCELLED  # at once; the processes go after the grace period
    qtbot.waitUntil(lambda: not tab.active, timeout=30_000)
    assert record.reason == "cancelled" and len(record.steps) >= 3
    assert_gone([pids[record.run_id], *child_pids(record)])
