"""The Runs tab with real PyTorch CPU workers: live streaming, verdicts, cancel, the library."""

from __future__ import annotations

import psutil
import pytest
from PySide6.QtCore import Qt, QTimer

from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.library import RunLibrary

LONG_STEPS = 1500  # long enough that the plot is seen growing while the worker trains


@pytest.mark.framework
def test_run_twice_streams_into_the_plot_and_ends_identical(qtbot, window, tmp_path):
    tab = window.runs_tab
    window.set_tab("runs")
    tab.form.set_config(RunConfig(steps=LONG_STEPS, threads=1))
    seen: list[tuple[int, bool]] = []
    probe = QTimer()
    probe.timeout.connect(lambda: seen.append(
        (tab.view.point_count(first.run_id), first.ended) if tab.session.records() else (0, False)))
    qtbot.mouseClick(tab.twice_button, Qt.MouseButton.LeftButton)
    first, second = tab.session.records()
    probe.start(20)
    assert tab.session.reference_id == first.run_id
    qtbot.waitUntil(lambda: first.ended and second.ended, timeout=120_000)
    qtbot.waitUntil(lambda: not tab.active, timeout=10_000)
    probe.stop()

    assert (first.status, second.status) == ("finished", "finished"), (first.reason, second.reason)
    # the plot held part of the run while the worker was still training
    assert any(0 < n < LONG_STEPS and not ended for n, ended in seen), seen[-5:]
    tab.view.refresh(force=True)
    assert tab.view.point_count(first.run_id) == LONG_STEPS
    assert tab.table.verdict_text(first.run_id) == "reference"
    assert tab.table.verdict_text(second.run_id) == "identical"  # one thread: bitwise repeatable
    # finished runs are in the library, and a new window lists them again
    qtbot.waitUntil(lambda: len(RunLibrary(tmp_path / "runs").list()) == 2, timeout=10_000)


@pytest.mark.framework
def test_library_runs_are_listed_at_the_next_start(qtbot, make_window, tmp_path):
    window = make_window()
    tab = window.runs_tab
    record = tab.start_runs([RunConfig(steps=20, threads=1)])[0]
    qtbot.waitUntil(lambda: not tab.active, timeout=60_000)
    assert record.status == "finished", record.reason
    qtbot.waitUntil(lambda: window.state.tasks.busy == 0, timeout=10_000)
    window.close()

    again = make_window()
    again.runs_tab.load_library()
    qtbot.waitUntil(lambda: record.run_id in again.runs_tab.session, timeout=10_000)
    restored = again.runs_tab.session.get(record.run_id)
    assert len(restored.steps) == 20 and list(restored.steps.loss) == list(record.steps.loss)
    assert not again.runs_tab.table.is_shown(record.run_id)  # listed, not plotted


@pytest.mark.framework
def test_cancel_stops_the_worker_and_the_window_stays_responsive(qtbot, window):
    tab = window.runs_tab
    record = tab.start_runs([RunConfig(steps=1_000_000, threads=1)])[0]
    qtbot.waitUntil(lambda: len(record.steps) > 0, timeout=60_000)
    pid = tab.session.pid(record.run_id)
    assert psutil.pid_exists(pid)
    assert tab.cancel_button.isEnabled()
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: record.ended, timeout=15_000)
    assert record.status == "cancelled"
    qtbot.waitUntil(lambda: not tab.active, timeout=15_000)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not tab.cancel_button.isEnabled()
    # the event loop still turns: a zero-delay timer fires and the tab switches
    fired = []
    QTimer.singleShot(0, lambda: fired.append(True))
    qtbot.waitUntil(lambda: fired == [True], timeout=2_000)
    window.set_tab("environment")
    assert window.current_tab_name() == "environment"
    assert tab.table.item(tab.table.row_of(record.run_id), 2).text() == "cancelled"


def test_a_missing_interpreter_fails_the_run_with_its_reason(qtbot, window, tmp_path):
    window.state.target = str(tmp_path / "no-such-python")
    record = window.runs_tab.start_runs([RunConfig(steps=5)])[0]
    qtbot.waitUntil(lambda: record.ended, timeout=10_000)
    assert record.status == "failed" and "no-such-python" in record.reason
    assert window.messages.level == "error"


def test_gpu_button_is_off_with_the_reason_when_the_snapshot_has_no_gpu(qtbot, window):
    from reprodiag.core.env import capture

    tab = window.runs_tab
    assert not tab.cpu_gpu_button.isEnabled()  # no snapshot yet
    snapshot = capture()
    window.state.set_snapshot(snapshot)
    has_gpu = isinstance(snapshot.value("gpu.count", 0), int) and snapshot.value("gpu.count") > 0
    assert tab.cpu_gpu_button.isEnabled() == has_gpu
    if not has_gpu:
        assert "No GPU" in tab.cpu_gpu_button.toolTip()


def test_imported_runs_get_verdicts_only_against_matching_configs(qtbot, window, bundles):
    from reprodiag.core.bundle import read_bundle

    tab = window.runs_tab
    tab.import_bundle(read_bundle(bundles["laptop"]))
    tab.import_bundle(read_bundle(bundles["server"]))
    ids = tab.table.ids()
    assert len(ids) == 4 and tab.session.reference_id == ids[0]
    texts = [tab.table.verdict_text(i) for i in ids]
    assert texts[0] == "reference" and texts[1] == "other config"  # seed=1 vs seed=0
    assert texts[2].split()[0] in ("identical", "equivalent", "diverged")  # threads=2 vs 1
    tab.set_reference(ids[1])
    assert tab.table.verdict_text(ids[3]) == "identical"


def test_selected_runs_are_saved_as_a_bundle(qtbot, window, bundles, tmp_path):
    from reprodiag.core.bundle import read_bundle

    tab = window.runs_tab
    tab.import_bundle(read_bundle(bundles["laptop"]))
    ids = tab.table.ids()
    written = []
    tab.save_bundle(str(tmp_path / "picked.reprodiag.zip"), ids[:1], on_done=written.append)
    qtbot.waitUntil(lambda: bool(written), timeout=120_000)  # captures the target's snapshot first
    saved = read_bundle(written[0])
    assert [r.run_id for r in saved.runs] == ids[:1]
    assert list(saved.runs[0].steps.loss) == list(tab.session.get(ids[0]).steps.loss)
    assert saved.snapshot is not None and saved.snapshot.facts


@pytest.mark.framework
def test_progress_keeps_up_with_the_curve_and_failures_show_in_the_plots(qtbot, window,
                                                                         tmp_path):
    """While a run streams, its row counts the steps its curve shows; a run that fails before
    its first step, or one killed while it trains, says so in the plots with the reason."""
    from reprodiag.gui.widgets.run_table import PROGRESS

    tab = window.runs_tab
    window.set_tab("runs")
    config = RunConfig(steps=LONG_STEPS, threads=1)
    reference = tab.start_runs([config])[0]
    seen: list[tuple[str, str]] = []

    def look() -> None:
        if reference.status == "running" and reference.steps:
            bar = tab.table.cellWidget(tab.table.row_of(reference.run_id), PROGRESS)
            seen.append((bar.format(), f"{tab.view.point_count(reference.run_id)}/{LONG_STEPS}"))

    probe = QTimer()
    probe.timeout.connect(look)
    probe.start(7)
    qtbot.waitUntil(lambda: reference.ended, timeout=120_000)
    probe.stop()
    assert reference.status == "finished", reference.reason
    assert len(seen) > 3 and all(row == curve for row, curve in seen), seen[:10]

    real_python = window.state.target
    window.state.target = str(tmp_path / "no-such-python")
    never = tab.start_runs([config])[0]
    qtbot.waitUntil(lambda: never.ended and not tab.active, timeout=20_000)
    tab.view.refresh(force=True)
    assert never.status == "failed"
    hint = tab.view.diff_panel.hint()
    assert hint.startswith("No steps to compare:\n#2 failed: ") and "no-such-python" in hint
    assert tab.view.loss_panel.note() == [f"#2 failed: {never.reason}"]

    window.state.target = real_python
    killed = tab.start_runs([config])[0]
    qtbot.waitUntil(lambda: len(killed.steps) > 100, timeout=60_000)
    psutil.Process(tab.session.pid(killed.run_id)).kill()  # as the OOM killer would
    qtbot.waitUntil(lambda: killed.ended and not tab.active, timeout=20_000)
    tab.view.refresh(force=True)
    assert killed.status == "failed" and "signal" in killed.reason, killed.reason
    line = tab.view._curves[killed.run_id].nonfinite_items[0]
    assert line.value() == killed.steps.step[-1]
    assert line.label.textItem.toPlainText() == "#3 failed"
    assert f"#3 failed: {killed.reason}" in tab.view.diff_panel.note()
    # one thread repeats bitwise: the steps it made before it was killed agree
    assert tab.view.diff_panel.hint().startswith("Every loss difference so far is 0")
