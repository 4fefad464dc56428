"""The window's side of the packaged app: a run started from the Runs tab gets the user's
environment (not the app's library paths), and a target without a framework is named in the
Runs tab before Run is pressed. The frozen state is simulated (frozen_helpers.FrozenApp)."""

from __future__ import annotations

import subprocess
import sys

from frozen_helpers import REAL_PYTHON, FrozenApp, assert_original_environment, write_env_report_worker

from reprodiag.core.env import Fact, Snapshot, capture
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig


def test_a_window_run_gets_the_original_environment(qtbot, window, tmp_path, monkeypatch):
    app = FrozenApp.make(tmp_path)
    app.enter(monkeypatch)
    script = write_env_report_worker(tmp_path)
    monkeypatch.setattr(launcher, "worker_for", lambda framework: script)
    window.state.target = REAL_PYTHON
    record = window.runs_tab.start_runs([RunConfig(steps=1)])[0]
    qtbot.waitUntil(lambda: not window.runs_tab.active, timeout=60_000)
    assert record.status == "finished", record.reason
    assert_original_environment(record.settings, app)


def test_a_target_without_a_framework_is_named_before_run(qtbot, window, tmp_path):
    tab = window.runs_tab
    window.set_tab("runs")
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True,
                   timeout=120)
    python = str(bare / "bin" / "python")
    window.state.set_target(python)
    assert tab.framework_note.isHidden()  # nothing known before the capture
    window.state.set_snapshot(capture(python=python))
    assert tab.framework_note.isVisible()
    assert "has neither PyTorch nor TensorFlow" in tab.framework_note.text()
    assert python in tab.framework_note.text()
    shot = tmp_path.parent / "runs-no-framework.png"  # looked at while writing the test
    assert window.grab().save(str(shot))

    window.state.set_target(REAL_PYTHON)
    window.state.set_snapshot(capture(python=REAL_PYTHON))  # torch and TensorFlow
    assert tab.framework_note.isHidden()


def test_the_form_s_framework_missing_on_the_target_is_named(qtbot, window):
    tab = window.runs_tab
    window.set_tab("runs")
    tf_only = Snapshot(facts={"framework.tensorflow.version": Fact("2.20.0")},
                       python="/envs/tf/bin/python")
    window.state.set_target("/envs/tf/bin/python")
    window.state.set_snapshot(tf_only)
    tab.form.set_config(RunConfig(framework="torch"))
    assert "has no PyTorch" in tab.framework_note.text() and tab.framework_note.isVisible()
    tab.form.set_config(RunConfig(framework="tensorflow"))
    assert tab.framework_note.isHidden()


def test_no_interpreter_at_all_is_named(qtbot, window):
    window.state.target = ""
    window.state.target_changed.emit("")
    window.state.set_snapshot(None)
    assert "No Python interpreter was found" in window.runs_tab.framework_note.text()
