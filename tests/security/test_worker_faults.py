"""Workers that fail in every way a real one can (tests/tiny_workers.py), run as real
processes through the launcher; tests/gui/test_worker_faults_ui.py runs the same through
the window.

Each fault ends the run as failed (or diverged, or cancelled) with a one-line reason that
says what happened, keeps every step recorded before the fault, and leaves no process
behind: each worker starts a grandchild first, and both must be gone afterwards.
"""

from __future__ import annotations

import math
import sys
import threading

import pytest

from proc_helpers import assert_gone, child_pids
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import CANCELLED, DIVERGED, FAILED
from tiny_workers import CONFIG, FAULTS, worker

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and rlimits")


@pytest.mark.parametrize(("body", "options", "status", "reason_ok", "steps"),
                         [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_fault_ends_the_run_with_its_reason_and_no_orphans(tmp_path, body, options, status,
                                                            reason_ok, steps):
    handle = launcher.start_run(CONFIG, script=worker(tmp_path, body), **options)
    record = handle.wait(120)
    assert handle.done
    assert record.status == status, record.reason
    assert reason_ok(record.reason), record.reason
    assert "\n" not in record.reason
    assert record.steps.step.tolist() == steps
    assert record.steps.loss[:2].tolist() == [2.0, 1.5]
    assert record.ended_at is not None
    assert len(child_pids(record)) == 1
    assert_gone([handle.pid, *child_pids(record)])


def test_garbage_lines_are_kept_as_log_text_not_steps(tmp_path):
    body = dict((f[0], f[1]) for f in FAULTS)["garbage-then-exit-0"]
    record = launcher.run(CONFIG, script=worker(tmp_path, body))
    assert "[1,2]" in record.log and '{"type": "step", "step": 9}' in record.log
    assert '{"type": "done", "summ' in record.log
    assert record.steps.step.tolist() == [0, 1]


def test_cancel_midway_keeps_the_steps_and_ends_the_tree(tmp_path):
    two_steps = threading.Event()
    handle = launcher.start_run(
        CONFIG, script=worker(tmp_path, "time.sleep(600)"),
        on_message=lambda record, msg: len(record.steps) >= 2 and two_steps.set(),
    )
    assert two_steps.wait(60)
    handle.cancel(grace=1.0)
    record = handle.wait(60)
    assert record.status == CANCELLED and record.reason == "cancelled"
    assert record.steps.step.tolist() == [0, 1]
    assert_gone([handle.pid, *child_pids(record)])


def test_nan_loss_values_are_kept_exactly(tmp_path):
    record = launcher.run(CONFIG, script=worker(
        tmp_path, "step(2, float('-inf')); step(3, float('nan')); emit(type='done', summary={})"))
    assert record.status == DIVERGED
    assert record.steps.loss[2] == -math.inf and math.isnan(record.steps.loss[3])
    assert record.reason == "loss became non-finite at step 2"


@pytest.mark.framework
def test_real_torch_canary_under_a_too_small_memory_limit_fails_clearly():
    pytest.importorskip("torch")
    config = RunConfig(framework="torch", model="mlp", steps=3, threads=1)
    handle = launcher.start_run(config, memory_limit_mb=300, timeout=120)
    record = handle.wait(180)
    assert record.status == FAILED
    assert record.reason.endswith("(under a 300 MiB memory limit)"), record.reason
    assert "\n" not in record.reason
    assert_gone([handle.pid])


def test_a_bad_memory_limit_is_a_user_error(tmp_path):
    from reprodiag.errors import UserError

    for bad in (0, -5, 1.5, True):
        with pytest.raises(UserError, match="memory limit"):
            launcher.start_run(CONFIG, script=worker(tmp_path, ""), memory_limit_mb=bad)
