"""Recorder overhead in a user's own loop: TorchRecorder and KerasCallback against the same
loop without them (scripts/recorder_steps.py does the timing, one thread)."""

from __future__ import annotations

import json

from benchmarks.harness import Result, Side, Sizes, script

SUBJECTS = {"torch": "TorchRecorder.step per step", "keras": "model.fit + KerasCallback"}
BASELINES = {"torch": "same loop, loss.item() only", "keras": "model.fit, no callback"}


def run(sizes: Sizes) -> list[Result]:
    results = []
    for framework in ("torch", "keras"):
        out = script("recorder_steps.py", json.dumps(
            {"framework": framework, "steps": sizes.recorder_steps, "reps": sizes.recorder_reps}))
        result = Result(f"recorder_overhead_{framework}",
                        f"recorder overhead in a user's {framework} loop (MLP, batch 32)",
                        "ratio", 1.05, Side(SUBJECTS[framework], "s/step", out["recorder"]),
                        Side(BASELINES[framework], "s/step", out["plain"]))
        plain = sorted(out["plain"])[len(out["plain"]) // 2]
        result.extra["what_if_ratio"] = {"hash_every_10": out["hash_every_10"] / plain}
        results.append(result)
    return results
