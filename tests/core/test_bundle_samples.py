"""Shared samples for the bundle and library tests (no tests here): awkward values on purpose."""

from __future__ import annotations

import json
import math
from dataclasses import fields

from reprodiag.core.env.model import Fact, Snapshot, unavailable
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import Done, EnvInfo, Hello, LogLine, Step
from reprodiag.core.runs.record import STEP_COLUMNS, RunRecord

AWKWARD_LOSSES = [
    2.302585092994046,
    float("nan"),
    float("inf"),
    float("-inf"),
    5e-324,
    1.7976931348623157e308,
    -0.0,
    0.1 + 0.2,
    -2.2250738585072014e-308,
]


def sample_record(
    run_id: str = "20250101-120000-abcdef01",
    *,
    losses: list[float] | None = None,
    config: RunConfig | None = None,
    started_at: float = 1735732800.123456,
    label: str = 'laptop, "quoted" ✓',
) -> RunRecord:
    """A finished (or diverged) record built through apply(), as the launcher builds one."""
    losses = AWKWARD_LOSSES if losses is None else losses
    record = RunRecord(
        config=config or RunConfig(seed=None, threads=3, lr=1e-3, optimizer="adam", steps=9),
        run_id=run_id,
        label=label,
        python="/opt/py/bin/python3",
    )
    record.started_at = started_at
    record.apply(Hello(worker="canary_torch", protocol=1, pid=1234, python="3.11.7",
                       recording_scheme="canary/3"))
    record.apply(
        EnvInfo(
            settings={"torch.version": "2.13.0", "threads": 3, "flags": [True, None, 1.5]},
            dataset_hash="ab" * 8,
            init_param_hash="cd" * 8,
            n_params=9_000,
        )
    )
    record.apply(LogLine(message='warning: a, "b"\nnext line ✓'))
    for i, loss in enumerate(losses):
        record.apply(
            Step(
                step=i * 10,
                loss=loss,
                grad_norm=float(i) / 3,
                param_hash=f'p{i:04x},"q"',
                batch_hash=f"b{i}",
                lr=1e-3,
                step_time=1e-5 * (i + 1),
            )
        )
    record.apply(Done(summary={"final_loss": losses[-1] if losses else None, "metric": 0.5}))
    return record


def sample_snapshot() -> Snapshot:
    return Snapshot(
        facts={
            "host.os": Fact("Linux"),
            "cpu.flags.avx2": Fact(True),
            "gpu.0.name": unavailable("no NVIDIA driver"),
            "pkg.numpy": Fact("2.1.0"),
            "numerics.torch.threads": Fact(4),
            "var.CUDA_VISIBLE_DEVICES": Fact(None),
            "cpu.flags": Fact(["sse", "avx"]),
        },
        captured_at=1735732799.5,
        deep=True,
        python="/opt/py/bin/python3",
    )


def exact(value):
    """A form of a value where floats compare bit for bit (repr), NaN equal to NaN."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [exact(v) for v in value]
    return value


def record_state(record: RunRecord) -> dict:
    """Every field of a record, steps column by column, in exact form."""
    state = {f.name: getattr(record, f.name) for f in fields(record) if f.name != "steps"}
    state["config"] = record.config.model_dump()
    state["steps"] = {name: record.steps.values(name) for name in STEP_COLUMNS}
    return exact(state)


def snapshot_state(snapshot: Snapshot) -> str:
    return json.dumps(snapshot.to_json(), sort_keys=True)


def is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)
