"""Per-step recording overhead of the torch canary (mlp and cnn; CPU, or a CUDA GPU with
`--device gpu`), against the same training loop recording only the loss
(scripts/canary_steps.py does the timing).

Besides the ratio, the JSON keeps what each recorded item costs per call and the ratio with
hashes taken every step, every 10th, 25th or 100th step (what-if figures: the run config's
default hash_every is 50).
"""

from __future__ import annotations

import json

from benchmarks.harness import Result, Side, Sizes, script

MODELS = ("mlp", "cnn")


def run(sizes: Sizes) -> list[Result]:
    results = []
    for model in MODELS:
        out = script("canary_steps.py", json.dumps({"model": model, "steps": sizes.loop_steps,
                                                    "reps": sizes.loop_reps,
                                                    "device": sizes.device}))
        suffix = "" if sizes.device == "cpu" else f"_{sizes.device}"
        result = Result(f"canary_overhead_{model}{suffix}",
                        f"canary per-step time, torch {model} {sizes.device.upper()}, "
                        "vs loop recording the loss",
                        "ratio", 1.05, Side(f"canary_common.train ({model})", "s/step", out["canary"]),
                        Side("bare loop + loss line", "s/step", out["bare"]))
        bare = out["bare_median"]
        result.extra.update(
            parts_s_per_step=out["parts"], n_params=out["n_params"], threads=out["threads"],
            device_name=out["device_name"],
            what_if_ratio=out["what_if_ratio"],
            param_hash_share_of_bare_step=out["parts"]["param_hash"] / bare)
        results.append(result)
    return results
