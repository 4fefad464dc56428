"""Live plotting: 8 runs streaming into the Runs tab of the real window (offscreen); UI
refresh rate and event-loop stalls (scripts/live_plot.py does the measuring).

One stream per repetition; the figures are the medians over repetitions of each stream's
own rate and 95th-percentile stall. The last stream's last quarter (the longest curves) is
kept in the JSON beside them.
"""

from __future__ import annotations

import json

from benchmarks.harness import Result, Side, Sizes, script


def _stream(sizes: Sizes) -> dict:
    return script("live_plot.py", json.dumps(
        {"seconds": sizes.live_seconds, "rate": sizes.live_rate, "runs": 8}))


def run(sizes: Sizes) -> list[Result]:
    title = f"live plotting, 8 runs, {sizes.live_rate} steps/s in total"
    fps = Result("live_plot_fps", title + ": UI refresh", "value", 30.0,
                 Side("loss plot paints per second", "fps"), at_least=True)
    stall = Result("live_plot_stall", title + ": event-loop stall p95", "value", 50.0,
                   Side("heartbeat gap beyond 5 ms, p95", "ms"))
    streams = [_stream(sizes) for _ in range(max(1, sizes.process_reps // 2))]
    for out in streams:
        fps.subject.samples.append(out["all"]["fps"])
        stall.subject.samples.append(out["all"]["stall_p95_ms"])
        fps.checks["every_step_plotted"] = fps.checks.get("every_step_plotted", True) and all(
            p == out["steps_per_run"] for p in out["points_shown"])
    last = streams[-1]
    for result in (fps, stall):
        result.extra.update(last_quarter=last["last_quarter"],
                            steps_per_run=last["steps_per_run"],
                            rate_achieved=last["rate_achieved"])
    return [fps, stall]
