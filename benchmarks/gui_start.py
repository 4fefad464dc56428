"""GUI cold start, `reprodiag screenshot` and quit: reprodiag vs a bare window.

Start: process start to the first painted window. Both sides are fresh processes of this
Python with the offscreen Qt platform and an empty home folder (no saved settings, no run
library); the parent's clock runs from spawn to the child's "painted" line
(scripts/gui_first_paint.py). The child also says whether torch or TensorFlow were imported
by then: they must never be. Screenshot: `reprodiag screenshot` without bundles, process
start to the PNG written, beside the same bare window; the child says whether pydantic or
the bundle code were imported: without bundles it has no use for them.

Quit: from the close a person asks for (Ctrl+Q) to the process gone, once the window has
settled (scripts/gui_quit.py), beside the same for a bare window; and reprodiag's again one
second into a deep capture, which quitting does not wait for.
"""

from __future__ import annotations

import subprocess
import time

from benchmarks.harness import (
    PYTHON,
    ROOT,
    SCRIPTS,
    BenchmarkError,
    Result,
    Side,
    Sizes,
    child_env,
    interleaved,
    isolated_home,
    last_json,
)

PAINT_TIMEOUT_S = 120
QUIT_TIMEOUT_S = 180
PHASES = ("interpreter_ready", "imported", "painted")


def first_paint(which: str, phases: dict[str, list[float]], imported: set[str],
                not_needed: set[str] | None = None) -> float:
    """Seconds from spawning `gui_first_paint.py which` to its first painted frame (for
    "screenshot": to the PNG written). Modules it names as not needed are added to
    `not_needed`."""
    env = child_env(**isolated_home())
    spawned_wall = time.time()
    t0 = time.perf_counter()
    proc = subprocess.Popen([PYTHON, str(SCRIPTS / "gui_first_paint.py"), which], cwd=ROOT,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # the child prints one line at its first paint, then exits
        seconds = time.perf_counter() - t0
        _, err = proc.communicate(timeout=PAINT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise BenchmarkError(f"gui_first_paint.py {which}: no paint within {PAINT_TIMEOUT_S} s")
    if not line:
        raise BenchmarkError(f"gui_first_paint.py {which} ended without painting: "
                             f"{(err or '').strip().splitlines()[-1:]}")
    info = last_json(line, f"gui_first_paint.py {which}")
    imported.update(info.get("frameworks", []))
    if not_needed is not None:
        not_needed.update(info.get("not_needed", []))
    marks = info.get("marks", {})
    previous = spawned_wall
    for name in PHASES:
        if name in marks:
            phases.setdefault(f"{which}.{name}", []).append(marks[name] - previous)
            previous = marks[name]
    return seconds


def run(sizes: Sizes) -> list[Result]:
    return run_start(sizes) + run_quit(sizes)


def run_start(sizes: Sizes) -> list[Result]:
    result = Result("gui_cold_start", "GUI cold start: process start to first painted window",
                    "ratio", 1.3, Side("reprodiag gui (app.main)", "s"),
                    Side("bare PySide6 + pyqtgraph window", "s"))
    phases: dict[str, list[float]] = {}
    imported: set[str] = set()
    interleaved(sizes.process_reps,
                lambda: first_paint("app", phases, imported),
                lambda: first_paint("bare", phases, imported), result)
    result.checks["no_framework_imported"] = not imported
    if imported:
        result.notes.append(f"imported by the GUI process: {', '.join(sorted(imported))}")
    medians = {k: sorted(v)[len(v) // 2] for k, v in phases.items()}
    result.extra["phases_s"] = medians
    for which in ("app", "bare"):
        steps = [f"{medians[f'{which}.{p}']:.2f}" for p in PHASES if f"{which}.{p}" in medians]
        result.notes.append(f"{which}: interpreter / imports / window + first frame = "
                            f"{' / '.join(steps)} s (medians)")
    return [result, screenshot(sizes)]


def quit_time(which: str, scenario: str, gone: list[float]) -> float:
    """Seconds from the close asked for in `gui_quit.py which scenario` to its process exit;
    appends the seconds to the window gone to `gone`."""
    env = child_env(**isolated_home())
    proc = subprocess.Popen([PYTHON, str(SCRIPTS / "gui_quit.py"), which, scenario], cwd=ROOT,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=QUIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise BenchmarkError(f"gui_quit.py {which} {scenario}: not gone within "
                             f"{QUIT_TIMEOUT_S} s") from None
    exited = time.time()
    marks = last_json(out, f"gui_quit.py {which} {scenario}").get("marks", {})
    if proc.returncode != 0 or "close_asked" not in marks:
        raise BenchmarkError(f"gui_quit.py {which} {scenario} exited with {proc.returncode}: "
                             f"{(err or '').strip().splitlines()[-1:]}")
    if "window_gone" in marks:
        gone.append(marks["window_gone"] - marks["close_asked"])
    return exited - marks["close_asked"]


def run_quit(sizes: Sizes) -> list[Result]:
    idle = Result("gui_quit", "GUI quit, nothing running: close to process gone", "ratio", 2.0,
                  Side("reprodiag gui, settled", "s"), Side("bare PySide6 + pyqtgraph window", "s"))
    gone: dict[str, list[float]] = {"app": [], "bare": [], "deep": []}
    interleaved(sizes.process_reps, lambda: quit_time("app", "idle", gone["app"]),
                lambda: quit_time("bare", "idle", gone["bare"]), idle)
    deep = Result("gui_quit_capturing", "GUI quit one second into a deep capture: close to "
                  "process gone", "value", 1.0, Side("reprodiag gui, deep capture running", "s"))
    for _ in range(sizes.process_reps):
        deep.subject.samples.append(quit_time("app", "deep", gone["deep"]))
    medians = {k: sorted(v)[len(v) // 2] for k, v in gone.items() if v}
    idle.extra["window_gone_s"] = medians
    idle.notes.append("window gone after " + ", ".join(
        f"{k} {v * 1000:.0f} ms" for k, v in medians.items()) + " (medians)")
    return [idle, deep]


def screenshot(sizes: Sizes) -> Result:
    result = Result("gui_screenshot", "reprodiag screenshot without bundles: process start to "
                    "the PNG written", "ratio", 1.5, Side("reprodiag screenshot --out x.png", "s"),
                    Side("bare PySide6 + pyqtgraph window (first frame)", "s"))
    phases: dict[str, list[float]] = {}
    imported: set[str] = set()
    not_needed: set[str] = set()
    interleaved(sizes.process_reps,
                lambda: first_paint("screenshot", phases, imported, not_needed),
                lambda: first_paint("bare", phases, imported), result)
    result.checks["no_framework_imported"] = not imported
    result.checks["no_bundle_or_pydantic_imported"] = not not_needed
    if not_needed:
        result.notes.append(f"imported without bundles: {', '.join(sorted(not_needed))}")
    medians = {k: sorted(v)[len(v) // 2] for k, v in phases.items()}
    result.extra["phases_s"] = medians
    steps = [f"{medians[f'screenshot.{p}']:.2f}" for p in PHASES if f"screenshot.{p}" in medians]
    result.notes.append(f"screenshot: interpreter / CLI import / window, capture and PNG = "
                        f"{' / '.join(steps)} s (medians)")
    return result
