"""Recorder overhead in a user's own loop: TorchRecorder and KerasCallback against the same
loop without them (scripts/recorder_steps.py does the timing, one thread)."""

from __future__ import annotations

import json

from benchmarks.harness import Result, Side, Sizes, script

SUBJECTS = {"torch": "TorchRecorder.step per step (default hash_every)",
            "keras": "model.fit + KerasCallback per batch (default hash_every)"}
BASELINES = {"torch": "same loop, loss.item() only",
             "keras": "model.fit per batch without it (fits of 50 batches taking turns)"}


def run(sizes: Sizes) -> list[Result]:
    results = []
    for framework in ("torch", "keras"):
        steps, reps = ((sizes.recorder_steps, sizes.recorder_reps) if framework == "keras"
                       else (sizes.loop_steps, sizes.loop_reps))
        out = script("recorder_steps.py", json.dumps(
            {"framework": framework, "steps": steps, "reps": reps}))
        result = Result(f"recorder_overhead_{framework}",
                        f"recorder overhead in a user's {framework} loop (MLP, batch 32)",
                        "ratio", 1.05, Side(SUBJECTS[framework], "s/step", out["recorder"]),
                        Side(BASELINES[framework], "s/step", out["plain"]))
        result.extra["what_if_ratio"] = out["what_if_ratio"]
        for once in ("fixed_per_fit_s", "first_step_s"):  # one-off costs, kept apart:
            if once in out:  # Keras fit()'s besides its batches; a TorchRecorder's first step
                result.extra[once] = out[once]
        results.append(result)
    return results
