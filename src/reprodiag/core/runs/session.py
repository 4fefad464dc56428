"""Recording: run a list of configs and keep them as a bundle.

This is what `reprodiag run --out`, `reprodiag export` and the Colab helper share: the runs
go through a RunSession (run_session.py, as the window's do: one at a time, since canaries
measure numerics and step times that parallel runs would disturb), then the environment
snapshot and every record are written into one bundle.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from reprodiag.core.runs.canary_set import standard_configs
from reprodiag.core.runs.config import FRAMEWORKS, RunConfig
from reprodiag.core.runs.protocol import Message
from reprodiag.core.runs.record import FAILED, RunRecord

OnMessage = Callable[[RunRecord, Message], None]


@dataclass(kw_only=True)
class SessionResult:
    runs: list[RunRecord] = field(default_factory=list)
    path: Optional[Path] = None
    snapshot: object = None


def record_runs(
    configs: list[RunConfig],
    *,
    python: Optional[str] = None,
    out: Optional[Path] = None,
    label: str = "",
    timeout: Optional[float] = None,
    on_message: Optional[OnMessage] = None,
    with_snapshot: bool = True,
    deep: bool = False,
    snapshot=None,
    anonymise: bool = False,
) -> SessionResult:
    """Run each config in its own worker process; write a bundle to `out` when given.

    `label` names the environment (the bundle), not the runs: each run keeps its config's name.
    Ctrl-C cancels the runs, waits until their processes are gone, and goes on.
    """
    from reprodiag.core.runs.run_session import RunSession, SessionEvents

    events = SessionEvents(run_message=on_message) if on_message is not None else None
    result = SessionResult()
    result.runs = RunSession(timeout=timeout, events=events).run(configs, python=python)
    _refuse_if_no_gpu(result.runs)
    if with_snapshot and snapshot is None:
        from reprodiag.core.env import capture

        snapshot = capture(python=python, deep=deep)
    result.snapshot = snapshot
    if out is not None:
        from reprodiag.core.bundle import write_bundle

        result.path = write_bundle(out, snapshot=snapshot, runs=result.runs,
                                   label=label or socket.gethostname(), anonymise=anonymise)
    return result


def _refuse_if_no_gpu(runs: list[RunRecord]) -> None:
    """Runs that all failed for want of a GPU are bad input, not results worth a bundle."""
    from reprodiag.errors import UserError

    if runs and all(r.status == FAILED and r.reason.startswith("no_gpu") for r in runs):
        raise UserError(runs[0].reason.split(": ", 1)[-1])


def available_frameworks(snapshot) -> list[str]:
    """Frameworks installed in the snapshotted interpreter, in the canonical order."""
    return [fw for fw in FRAMEWORKS if snapshot.value(f"framework.{fw}.version")]


def available_devices(snapshot) -> list[str]:
    """`cpu`, plus `gpu` when the machine has an NVIDIA GPU with a working driver."""
    count = snapshot.value("gpu.count", 0)
    return ["cpu", "gpu"] if isinstance(count, int) and count > 0 else ["cpu"]


def export_standard_set(
    out: Path,
    *,
    python: Optional[str] = None,
    label: str = "",
    quick: bool = False,
    frameworks: Optional[list[str]] = None,
    devices: Optional[list[str]] = None,
    deep: bool = True,
    timeout: Optional[float] = 1800.0,
    on_message: Optional[OnMessage] = None,
    on_note: Optional[Callable[[str], None]] = None,
    anonymise: bool = False,
) -> SessionResult:
    """Snapshot the environment, run the standard canary set on it, write one bundle."""
    from reprodiag.core.env import capture
    from reprodiag.errors import UserError

    note = on_note or (lambda text: None)
    note("capturing the environment" + (" (deep)" if deep else ""))
    snapshot = capture(python=python, deep=deep)
    installed = available_frameworks(snapshot)
    wanted = list(frameworks or FRAMEWORKS)
    if not set(wanted) & set(installed):
        raise UserError(f"no framework to run: {' and '.join(wanted)} not installed in the target "
                        "interpreter; install one (pip install torch) or pass --python PATH")
    for framework in wanted:
        if framework not in installed:
            note(f"{framework} is not installed here: its canaries are skipped")
    frameworks = [fw for fw in wanted if fw in installed]
    if devices is None:
        devices = available_devices(snapshot)
        if "gpu" not in devices:
            note("no NVIDIA GPU here: the canaries run on the CPU only")
    configs = standard_configs(frameworks, devices, quick=quick)
    note(f"running {len(configs)} canaries: {', '.join(frameworks)} on {', '.join(devices)}")
    return record_runs(configs, python=python, out=out, label=label, timeout=timeout,
                       on_message=on_message, snapshot=snapshot, anonymise=anonymise)
