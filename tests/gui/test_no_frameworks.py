"""The GUI process never imports torch or TensorFlow, even while it runs a torch canary.

A fresh interpreter opens the window offscreen, captures the environment, runs a real
torch CPU canary through the Runs tab and reports which modules it ever imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, os, sys, tempfile, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from reprodiag.core.runs.config import RunConfig
    from reprodiag.core.runs.library import RunLibrary
    from reprodiag.gui.main_window import MainWindow
    from reprodiag.gui.settings import AppSettings
    tmp = tempfile.mkdtemp()
    window = MainWindow(AppSettings(os.path.join(tmp, "s.ini")), RunLibrary(os.path.join(tmp, "r")))
    window.show()
    window.start()
    record = window.runs_tab.start_runs([RunConfig(steps=20, threads=1)])[0]
    deadline = time.time() + 240
    def settled():
        return (record.ended and window.state.snapshot is not None and not window.state.tasks.busy
                and window.runs_tab.view.point_count(record.run_id) == len(record.steps))
    while not settled() and time.time() < deadline:
        app.processEvents()
        time.sleep(0.01)
    top = sorted({m.split(".")[0] for m in sys.modules})
    print(json.dumps({"status": record.status, "reason": record.reason,
                      "points": window.runs_tab.view.point_count(record.run_id),
                      "snapshot": window.state.snapshot is not None, "modules": top}))
    window.close()
""")


@pytest.mark.framework
def test_gui_process_never_imports_a_framework():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "finished", result["reason"]
    assert result["snapshot"] and result["points"] == 20
    modules = set(result["modules"])
    assert {"PySide6", "pyqtgraph", "reprodiag"} <= modules  # the check is real
    assert not modules & {"torch", "tensorflow", "keras", "jax"}, sorted(modules)
