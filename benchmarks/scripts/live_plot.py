"""Live plotting load: 8 runs streaming into the Runs tab of the real window, offscreen.

`live_plot.py '{"seconds": 20, "rate": 2000, "runs": 8}'` prints one JSON line.

The window is reprodiag's MainWindow (1280x800, Runs tab shown, nothing persisted). Eight
runs of one config go through the window's run session and the launcher as canaries do (the
session lets all eight run at once here), each a real worker process (live_feeder.py) that
prints a canary's step lines at `rate` / 8 steps per second: the launcher's reader threads
parse them into the records under their locks, the session's callbacks reach the tab through
the Qt adapter, and the tab's timer draws them. The first run is the reference (so the
|loss difference| plot has seven live curves too). The workers make their lines before the
clock starts.

Measured: paints of the loss plot per second (the UI refresh rate) and the gaps of a 5 ms
heartbeat timer (an event-loop stall is a gap beyond 5 ms), over the whole stream and over
its last quarter, where the curves are longest.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QObject, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

HEARTBEAT_MS = 5
LEAD_S = 4.0  # the workers start, make their lines and wait for the clock
FEEDER = Path(__file__).resolve().with_name("live_feeder.py")


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint:
            self.times.append(time.perf_counter())
        return False


def main() -> int:
    args = json.loads(sys.argv[1])
    seconds, rate, runs = float(args["seconds"]), int(args["rate"]), int(args.get("runs", 8))
    app = QApplication([sys.argv[0]])

    from reprodiag.core.runs import launcher
    from reprodiag.core.runs.config import RunConfig
    from reprodiag.gui.app import create_application
    from reprodiag.gui.main_window import MainWindow
    from reprodiag.gui.settings import AppSettings

    create_application(offscreen=True)
    window = MainWindow(AppSettings(in_memory=True), None)
    window.resize(1280, 800)
    window.set_tab("runs")
    window.show()
    tab = window.runs_tab
    session = window.state.session
    session.max_parallel = runs  # all at once: the load of several live curves is measured
    launcher.worker_for = lambda framework: FEEDER

    per_run = int(seconds * rate / runs) + 1
    start = time.time() + LEAD_S
    os.environ["LIVE_PLOT_START"] = repr(start)
    os.environ["LIVE_PLOT_RATE"] = repr(rate / runs)
    records = tab.start_runs([RunConfig(steps=per_run, threads=1, seed=i) for i in range(runs)],
                             reference_first=True)
    while time.time() < start:
        app.processEvents()
        time.sleep(0.01)

    painter = PaintCounter()
    tab.view.loss_panel.widget.viewport().installEventFilter(painter)
    beats: list[float] = []
    start = time.perf_counter()
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))
    heartbeat.start()
    QTimer.singleShot(int(seconds * 1000), lambda: app.exit(0))  # quit() would close the window
    app.exec()
    end = time.perf_counter()
    heartbeat.stop()
    received = sum(len(r.steps) for r in records)

    def window_stats(t0: float) -> dict:
        paints = [t for t in painter.times if t >= t0]
        ticks = np.array([t for t in beats if t >= t0])
        gaps_ms = np.diff(ticks) * 1000 if ticks.size > 1 else np.array([0.0])
        stalls = np.maximum(gaps_ms - HEARTBEAT_MS, 0.0)
        return {"fps": len(paints) / (end - t0), "stall_p95_ms": float(np.percentile(stalls, 95)),
                "stall_max_ms": float(stalls.max()), "gap_median_ms": float(np.median(gaps_ms))}

    settle = time.perf_counter() + 30  # after the clock: let the last steps reach the plots
    while time.perf_counter() < settle and (tab.active or any(
            tab.view.point_count(r.run_id) != len(r.steps) for r in records)):
        app.processEvents()
        time.sleep(0.01)
    shown = [tab.view.point_count(r.run_id) for r in records]
    print(json.dumps({"all": window_stats(start), "last_quarter": window_stats(
        start + 0.75 * (end - start)), "steps_sent": sum(len(r.steps) for r in records),
        "steps_per_run": per_run, "points_shown": shown,
        "statuses": [str(r.status) for r in records],
        "rate_achieved": received / (end - start)}))
    os._exit(0)  # no teardown of the window: only the stream is measured


if __name__ == "__main__":
    sys.exit(main())
