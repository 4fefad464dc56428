"""GUI cold start: process start to the first painted window, reprodiag vs a bare window;
and `reprodiag screenshot` without bundles: process start to the PNG written, vs the same bare
window.

All sides are fresh processes of this Python with the offscreen Qt platform and an empty
home folder (no saved settings, no run library); the parent's clock runs from spawn to the
child's "painted" line (scripts/gui_first_paint.py). The child also says whether torch or
TensorFlow were imported by then: they must never be; and the screenshot side whether
pydantic or the bundle code were: without bundles it has no use for them.
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


def screenshot(sizes: Sizes) -> Result:
    result = Result("gui_screenshot", "reprodiag screenshot without bundles: process start to "
                    "the PNG written", "ratio", 1.3, Side("reprodiag screenshot --out x.png", "s"),
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
