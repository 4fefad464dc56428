"""What every benchmark shares: sizes per mode, child processes, statistics, results.

A benchmark measures a subject and its baseline side by side in the same run, interleaved
repetition by repetition (A B A B ...) so that load from other processes on the machine
falls on both alike. Heavy work (Qt, torch, TensorFlow) happens in child processes, so the
suite's own process stays small and every measurement starts cold.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "scripts"
PYTHON = sys.executable
CHILD_TIMEOUT_S = 600


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does in one mode (full, quick, smoke)."""

    mode: str
    process_reps: int  # GUI start, default env snapshot, canary end to end
    deep_reps: int  # env --deep vs importing both frameworks (slow)
    # Steps per timed torch loop (canary and user loop, in-process; subject and baseline run
    # in alternating blocks of 20 steps, see scripts/canary_steps.py) and repetitions.
    loop_steps: int
    loop_reps: int
    recorder_steps: int  # Keras batches per side and repetition (see scripts/recorder_steps.py)
    recorder_reps: int
    bundle_runs: int
    bundle_steps: int
    bundle_reps: int
    live_seconds: float
    live_rate: int  # steps per second, all runs together
    e2e_steps: int
    device: str = "cpu"  # where the canary overhead benchmark trains ("gpu": needs CUDA)


MODES: dict[str, Sizes] = {
    "full": Sizes("full", process_reps=9, deep_reps=5, loop_steps=400, loop_reps=15,
                  recorder_steps=300, recorder_reps=15, bundle_runs=8, bundle_steps=100_000,
                  bundle_reps=3, live_seconds=20.0, live_rate=2000, e2e_steps=300),
    "quick": Sizes("quick", process_reps=2, deep_reps=1, loop_steps=100, loop_reps=5,
                   recorder_steps=100, recorder_reps=3, bundle_runs=8, bundle_steps=20_000,
                   bundle_reps=2, live_seconds=5.0, live_rate=2000, e2e_steps=300),
    "smoke": Sizes("smoke", process_reps=1, deep_reps=1, loop_steps=5, loop_reps=1,
                   recorder_steps=5, recorder_reps=1, bundle_runs=2, bundle_steps=200,
                   bundle_reps=1, live_seconds=0.5, live_rate=400, e2e_steps=5),
}


class BenchmarkError(RuntimeError):
    """A benchmark could not measure (a child failed); the message says what and why."""


# ---------------------------------------------------------------------------- statistics


def summary(samples: list[float]) -> dict[str, Any]:
    """min / median / max of the samples, and the samples themselves."""
    if not samples:
        return {"samples": [], "min": None, "median": None, "max": None}
    return {"samples": [round(s, 6) for s in samples], "min": min(samples),
            "median": statistics.median(samples), "max": max(samples)}


@dataclass
class Side:
    """One side of a comparison: what was measured, and its repetitions."""

    label: str
    unit: str
    samples: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "unit": self.unit, **summary(self.samples)}


@dataclass
class Result:
    """One figure of the issue's table, measured, with its target.

    kind "ratio": the median of the per-repetition subject/baseline ratios must be <= target
    (or >= with at_least). kind "value": the subject's median must be.
    """

    name: str
    title: str
    kind: str
    target: float
    subject: Side
    baseline: Optional[Side] = None
    at_least: bool = False
    checks: dict[str, Any] = field(default_factory=dict)  # pass/fail facts besides timing
    extra: dict[str, Any] = field(default_factory=dict)  # breakdowns, what-if figures
    notes: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def figure(self) -> Optional[float]:
        """The number compared with the target. For a ratio, the median of the pairs' ratios:
        every benchmark takes subject and baseline side by side, repetition by repetition,
        so each pair saw the same phase of the machine. The ratio of the two sides' medians
        (`ratio_of_medians`, kept in the JSON) divides samples from different moments; on
        this VM it swung the torch recorder's figure over 1.015-1.065x between runs whose
        pair medians were all 1.038-1.041x."""
        if self.kind == "value":
            return summary(self.subject.samples)["median"]
        return summary(self.pair_ratios())["median"]

    def ratio_of_medians(self) -> Optional[float]:
        s = summary(self.subject.samples)["median"]
        b = summary(self.baseline.samples)["median"] if self.baseline else None
        return s / b if s is not None and b else None

    def pair_ratios(self) -> list[float]:
        """subject/baseline repetition by repetition (they were taken side by side)."""
        if self.kind != "ratio" or self.baseline is None:
            return []
        return [s / b for s, b in zip(self.subject.samples, self.baseline.samples) if b]

    @property
    def met(self) -> Optional[bool]:
        if self.error or self.figure is None:
            return None
        ok = self.figure >= self.target if self.at_least else self.figure <= self.target
        return ok and all(v is True for v in self.checks.values() if isinstance(v, bool))

    def target_text(self) -> str:
        op = ">=" if self.at_least else "<="
        suffix = "x" if self.kind == "ratio" else f" {self.subject.unit}"
        return f"{op} {self.target:g}{suffix}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "kind": self.kind,
            "target": self.target, "target_text": self.target_text(), "at_least": self.at_least,
            "figure": self.figure, "met": self.met,
            "ratio_of_medians": self.ratio_of_medians() if self.kind == "ratio" else None,
            "subject": self.subject.to_json(),
            "baseline": self.baseline.to_json() if self.baseline else None,
            "pair_ratios": summary(self.pair_ratios()), "checks": self.checks,
            "extra": self.extra, "notes": self.notes, "error": self.error,
        }


# ---------------------------------------------------------------------------- processes


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a benchmark child: offscreen Qt, quiet TF, repo root importable."""
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", TF_CPP_MIN_LOG_LEVEL="2")
    path = [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env.update(extra)
    return env


def isolated_home() -> dict[str, str]:
    """HOME and XDG folders in a fresh temporary folder: no user settings or run library."""
    home = tempfile.mkdtemp(prefix="reprodiag-bench-home-")
    return {"HOME": home, "XDG_CONFIG_HOME": os.path.join(home, ".config"),
            "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
            "XDG_CACHE_HOME": os.path.join(home, ".cache")}


@dataclass
class Finished:
    seconds: float
    stdout: str
    stderr: str


def timed_process(argv: list[str], env: Optional[dict[str, str]] = None,
                  timeout: float = CHILD_TIMEOUT_S) -> Finished:
    """Run a process to its end; wall seconds from spawn to exit. Fails on a non-zero exit."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, env=env or child_env(), cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"{_shown(argv)} ran longer than {timeout:g} s") from None
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise BenchmarkError(f"{_shown(argv)} exited with {proc.returncode}: "
                             f"{_tail(proc.stderr or proc.stdout)}")
    return Finished(seconds, proc.stdout, proc.stderr)


def script(name: str, *args: str, env: Optional[dict[str, str]] = None,
           timeout: float = CHILD_TIMEOUT_S) -> dict[str, Any]:
    """Run benchmarks/scripts/<name> and return the JSON object on its last stdout line."""
    done = timed_process([PYTHON, str(SCRIPTS / name), *args], env=env, timeout=timeout)
    return last_json(done.stdout, name)


def last_json(stdout: str, what: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    raise BenchmarkError(f"{what} printed no JSON result: {_tail(stdout)}")


def _shown(argv: list[str]) -> str:
    return " ".join(Path(a).name if os.sep in a else a for a in argv[:4])


def _tail(text: str) -> str:
    lines = [s.strip() for s in (text or "").splitlines() if s.strip()]
    return lines[-1][:300] if lines else "(no output)"


def interleaved(reps: int, subject: Callable[[], float], baseline: Callable[[], float],
                result: Result) -> None:
    """Alternate subject and baseline `reps` times (baseline first on odd repetitions)."""
    assert result.baseline is not None
    for i in range(reps):
        order = (subject, baseline) if i % 2 == 0 else (baseline, subject)
        for fn in order:
            value = fn()
            (result.subject if fn is subject else result.baseline).samples.append(value)
