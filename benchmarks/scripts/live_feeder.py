"""A stand-in canary worker for the live plotting benchmark: it prints a canary's step lines
at a steady rate, starting at a given wall-clock time, then `done`.

Run by path by the launcher, as a canary is (`live_feeder.py CONFIG_JSON`): the config's
seed numbers the run, its steps say how many lines. LIVE_PLOT_START (Unix time) and
LIVE_PLOT_RATE (steps per second, this run) come from the environment. The lines are made
before the start, as a worker makes them in its own process while the window only reads.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

FEED_S = 0.01


def step_lines(run: int, steps: int) -> list[str]:
    """What a canary worker prints for `steps` steps (runs drift apart after a while)."""
    rng = np.random.default_rng(run)
    t = np.arange(steps)
    loss = 2.3 * np.exp(-t / 800) + 0.05 + 0.01 * np.random.default_rng(0).standard_normal(steps)
    if run:
        loss = loss + np.where(t > 100 * run, 1e-6 * rng.standard_normal(steps), 0.0)
    return [json.dumps({"type": "step", "step": int(i), "loss": float(loss[i]),
                        "grad_norm": 1.0, "param_hash": f"{run * (i > 100 * run):04x}{i:012x}",
                        "batch_hash": f"{i:016x}", "lr": 0.05,
                        "step_time": 0.001}) + "\n" for i in range(steps)]


def main() -> None:
    config = json.loads(sys.argv[1])
    start, rate = float(os.environ["LIVE_PLOT_START"]), float(os.environ["LIVE_PLOT_RATE"])
    lines = step_lines(config["seed"], config["steps"])
    out = sys.stdout
    out.write(json.dumps({"type": "hello", "protocol": 1, "worker": "live_feeder",
                          "pid": os.getpid(), "python": sys.version.split()[0]}) + "\n")
    out.flush()
    time.sleep(max(0.0, start - time.time()))
    sent = 0
    while sent < len(lines):
        due = min(len(lines), int((time.time() - start) * rate))
        if due > sent:
            out.write("".join(lines[sent:due]))
            out.flush()
            sent = due
        time.sleep(FEED_S)
    out.write(json.dumps({"type": "done", "summary": {}}) + "\n")


if __name__ == "__main__":
    main()
