"""Live plotting load: 8 runs streaming into the Runs tab of the real window, offscreen.

`live_plot.py '{"seconds": 20, "rate": 2000, "runs": 8}'` prints one JSON line.

The window is reprodiag's MainWindow (1280x800, Runs tab shown, nothing persisted). Eight
running RunRecords of one config are listed in the Runs tab with the first as reference
(so the |loss difference| plot has seven live curves too). A feeder timer delivers worker
step lines at `rate` steps per second in total, the way gui/process.py does: each line goes
through `protocol.parse_line` into `RunRecord.apply`, then the tab hears `updated` for the
record (RunsTab._on_updated, the slot RunProcess.updated is connected to). The lines are
made before the clock starts (a worker makes them in its own process).

Measured: paints of the loss plot per second (the UI refresh rate) and the gaps of a 5 ms
heartbeat timer (an event-loop stall is a gap beyond 5 ms), over the whole stream and over
its last quarter, where the curves are longest.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QObject, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

HEARTBEAT_MS = 5
FEED_MS = 10


def step_lines(run: int, steps: int) -> list[bytes]:
    """What a canary worker prints for `steps` steps (runs drift apart after a while)."""
    rng = np.random.default_rng(run)
    t = np.arange(steps)
    loss = 2.3 * np.exp(-t / 800) + 0.05 + 0.01 * np.random.default_rng(0).standard_normal(steps)
    if run:
        loss = loss + np.where(t > 100 * run, 1e-6 * rng.standard_normal(steps), 0.0)
    return [json.dumps({"type": "step", "step": int(i), "loss": float(loss[i]),
                        "grad_norm": 1.0, "param_hash": f"{run * (i > 100 * run):04x}{i:012x}",
                        "batch_hash": f"{i:016x}", "lr": 0.05,
                        "step_time": 0.001}).encode() for i in range(steps)]


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

    from reprodiag.core.runs.config import RunConfig
    from reprodiag.core.runs.protocol import Hello, parse_line
    from reprodiag.core.runs.record import RunRecord
    from reprodiag.gui.app import create_application
    from reprodiag.gui.main_window import MainWindow
    from reprodiag.gui.settings import AppSettings

    create_application(offscreen=True)
    window = MainWindow(AppSettings(in_memory=True), None)
    window.resize(1280, 800)
    window.set_tab("runs")
    window.show()
    tab = window.runs_tab
    if not hasattr(tab, "_on_updated"):
        raise SystemExit("RunsTab has no _on_updated slot: update benchmarks/scripts/live_plot.py")

    per_run = int(seconds * rate / runs) + 1
    config = RunConfig(steps=per_run, threads=1)
    records = []
    for i in range(runs):
        record = RunRecord(config=config, label=f"live {i}")
        record.start()
        record.apply(Hello(worker="canary_torch", protocol=1, pid=1000 + i, python="3.11"))
        records.append(record)
    lines = [step_lines(i, per_run) for i in range(runs)]
    tab.add_records(records, "this session", shown=True)
    tab.set_reference(records[0].run_id)
    for _ in range(20):
        app.processEvents()

    painter = PaintCounter()
    tab.view.loss_panel.widget.viewport().installEventFilter(painter)
    beats: list[float] = []
    sent = [0]
    start = time.perf_counter()

    def feed() -> None:
        due = min(per_run, int((time.perf_counter() - start) * rate / runs))
        if due <= sent[0]:
            return
        for record, mine in zip(records, lines):
            for line in mine[sent[0]:due]:
                record.apply(parse_line(line))
            tab._on_updated(record)
        sent[0] = due

    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))
    feeder = QTimer()
    feeder.setTimerType(Qt.TimerType.PreciseTimer)
    feeder.setInterval(FEED_MS)
    feeder.timeout.connect(feed)
    heartbeat.start()
    feeder.start()
    QTimer.singleShot(int(seconds * 1000), app.quit)
    app.exec()
    end = time.perf_counter()
    feeder.stop()
    heartbeat.stop()

    def window_stats(t0: float) -> dict:
        paints = [t for t in painter.times if t >= t0]
        ticks = np.array([t for t in beats if t >= t0])
        gaps_ms = np.diff(ticks) * 1000 if ticks.size > 1 else np.array([0.0])
        stalls = np.maximum(gaps_ms - HEARTBEAT_MS, 0.0)
        return {"fps": len(paints) / (end - t0), "stall_p95_ms": float(np.percentile(stalls, 95)),
                "stall_max_ms": float(stalls.max()), "gap_median_ms": float(np.median(gaps_ms))}

    settle = time.perf_counter() + 5  # after the clock: let the last steps reach the plots
    while time.perf_counter() < settle and any(
            tab.view.point_count(r.run_id) != len(r.steps) for r in records):
        app.processEvents()
        time.sleep(0.01)
    shown = [tab.view.point_count(r.run_id) for r in records]
    print(json.dumps({"all": window_stats(start), "last_quarter": window_stats(
        start + 0.75 * (end - start)), "steps_sent": sent[0] * runs,
        "steps_per_run": sent[0], "points_shown": shown,
        "rate_achieved": sent[0] * runs / (end - start)}))
    os._exit(0)  # no teardown of the window: only the stream is measured


if __name__ == "__main__":
    sys.exit(main())
