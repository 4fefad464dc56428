"""Write two synthetic bundles A and B of R runs x S steps, and the same steps as plain CSV.

`bundle_make.py FOLDER RUNS STEPS` writes FOLDER/a.reprodiag.zip, FOLDER/b.reprodiag.zip
(with `write_bundle`, from RunRecords filled through `RunRecord.apply` as a worker's
messages would fill them) and FOLDER/csv/{a,b}-<i>.csv (each run's steps.csv as it is
inside the bundle). Runs pair one to one across A and B (eight distinct configs); B's runs
are bitwise equal to A's up to a step, then odd ones drift by a relative 1e-7 and even ones
from a different batch stream, so the comparison has real divergences to find.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from reprodiag.core.bundle import write_bundle
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import Done, EnvInfo, Hello, Step
from reprodiag.core.runs.record import RunRecord

CONFIGS = [dict(framework=f, model=m, dtype=d)
           for f in ("torch", "tensorflow") for m in ("mlp", "cnn") for d in ("float32", "float64")]


def _hashes(rng: np.random.Generator, n: int) -> list[str]:
    return [f"{v:016x}" for v in rng.integers(0, 2**63, n, dtype=np.int64).tolist()]


def series(run: int, steps: int, side: str) -> dict[str, list]:
    """Loss, grad norm, hashes, lr and step time of one run on one side."""
    rng = np.random.default_rng([run, 0])
    t = np.arange(steps, dtype=np.float64)
    loss = 2.3 * np.exp(-t / (steps / 4)) + 0.05 + 0.02 * rng.standard_normal(steps)
    grad = 1.0 + 0.3 * rng.standard_normal(steps) ** 2
    params, batches = _hashes(rng, steps), _hashes(rng, steps)
    step_time = 0.001 + 0.0002 * rng.random(steps)
    if side == "b":
        part = steps // 2 + run * (steps // 20)
        other = np.random.default_rng([run, 1])
        if run % 2:
            loss[part:] *= 1 + 1e-7 * other.standard_normal(steps - part)
        else:
            batches[part:] = _hashes(other, steps - part)
            loss[part:] += 1e-3 * other.standard_normal(steps - part)
        params[part:] = _hashes(other, steps - part)
        step_time = 0.0011 + 0.0002 * other.random(steps)
    if run == 3:
        loss[-5:] = np.nan  # a diverged run: non-finite values are data too
    return {"loss": loss.tolist(), "grad_norm": grad.tolist(), "param_hash": params,
            "batch_hash": batches, "lr": [0.05] * steps, "step_time": step_time.tolist()}


def record(run: int, steps: int, side: str) -> RunRecord:
    config = RunConfig(seed=run, steps=steps, **CONFIGS[run % len(CONFIGS)])
    rec = RunRecord(config=config, run_id=f"{side}-run-{run}", label=f"{side}{run}")
    rec.start()
    rec.apply(Hello(worker="canary_" + config.framework, protocol=1, pid=1, python="3.11.7"))
    rec.apply(EnvInfo(settings={"threads": 1, "device": "cpu"}, dataset_hash="d" * 16,
                      init_param_hash="e" * 16, n_params=26122))
    cols = series(run, steps, side)
    for i in range(steps):
        rec.apply(Step(step=i, loss=cols["loss"][i], grad_norm=cols["grad_norm"][i],
                       param_hash=cols["param_hash"][i], batch_hash=cols["batch_hash"][i],
                       lr=cols["lr"][i], step_time=cols["step_time"][i]))
    rec.apply(Done(summary={"final_loss": cols["loss"][-1], "steps": steps}))
    return rec


def main() -> int:
    folder, runs, steps = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    (folder / "csv").mkdir(parents=True, exist_ok=True)
    sizes = {}
    for side in ("a", "b"):
        records = [record(i, steps, side) for i in range(runs)]
        path = write_bundle(folder / f"{side}.reprodiag.zip", snapshot=None, runs=records,
                            label=side.upper())
        with zipfile.ZipFile(path) as zf:
            for i, rec in enumerate(records):
                data = zf.read(f"runs/{rec.run_id}/steps.csv")
                (folder / "csv" / f"{side}-{i}.csv").write_bytes(data)
        sizes[side] = os.path.getsize(path)
    print(json.dumps({"bytes": sizes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
