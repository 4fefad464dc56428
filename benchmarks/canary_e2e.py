"""Canary end to end: `reprodiag run` (torch mlp, 300 steps, process start included)
against `import torch` plus the bare loop in one process (scripts/bare_canary.py)."""

from __future__ import annotations

from benchmarks.harness import PYTHON, SCRIPTS, Result, Side, Sizes, interleaved, timed_process


def run(sizes: Sizes) -> list[Result]:
    steps = str(sizes.e2e_steps)
    canary = [PYTHON, "-m", "reprodiag", "run", "--framework", "torch", "--model", "mlp",
              "--device", "cpu", "--seed", "0", "--steps", steps, "--threads", "1"]
    bare = [PYTHON, str(SCRIPTS / "bare_canary.py"), steps]
    result = Result("canary_end_to_end", f"canary end to end, torch mlp {steps} steps",
                    "ratio", 1.3, Side(f"reprodiag run --steps {steps}", "s"),
                    Side("import torch + bare loop", "s"))
    interleaved(sizes.process_reps, lambda: timed_process(canary).seconds,
                lambda: timed_process(bare).seconds, result)
    return [result]
