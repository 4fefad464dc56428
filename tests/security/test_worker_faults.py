"""Workers that fail in every way a real one can, run as real processes through the launcher.

Each fault ends the run as failed (or diverged, or cancelled) with a one-line reason that
says what happened, keeps every step recorded before the fault, and leaves no process
behind: each worker starts a grandchild first, and both must be gone afterwards.
"""

from __future__ import annotations

import math
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from proc_helpers import assert_gone, child_pids
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import CANCELLED, DIVERGED, FAILED

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and rlimits")

PRELUDE = """\
import ctypes, json, os, signal, subprocess, sys, time

def emit(**obj):
    sys.stdout.write(json.dumps(obj) + "\\n")
    sys.stdout.flush()

def step(i, loss=1.0):
    emit(type="step", step=i, loss=loss, grad_norm=0.5, param_hash="p%d" % i,
         batch_hash="b%d" % i, lr=0.1, step_time=0.001)

emit(type="hello", protocol=1, worker="fault_worker", pid=os.getpid(), python="3")
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
emit(type="log", level="info", message="child %d" % child.pid)
step(0, 2.0)
step(1, 1.5)
"""

CONFIG = RunConfig(steps=5, seed=0)

# (id, worker body after two steps, launcher options, status, reason check, steps kept)
FAULTS = [
    ("abort", "os.abort()", {}, FAILED,
     lambda r: r.startswith("worker killed by signal SIGABRT"), [0, 1]),
    ("segfault", "ctypes.string_at(0)", {}, FAILED,
     lambda r: r.startswith("worker killed by signal SIGSEGV"), [0, 1]),
    ("sigkill-mid-line", 'sys.stdout.write(\'{"type": "step", "step": 2, "lo\'); sys.stdout.flush()'
     "\nos.kill(os.getpid(), signal.SIGKILL)", {}, FAILED,
     lambda r: r == "worker killed by signal SIGKILL", [0, 1]),
    ("exit-nonzero", 'sys.stderr.write("fatal: CUDA driver too old\\n"); sys.exit(3)', {},
     FAILED, lambda r: r == "worker exited with code 3: fatal: CUDA driver too old", [0, 1]),
    ("uncaught-exception", "step(2); raise RuntimeError('cuDNN error: CUDNN_STATUS_BAD_PARAM')",
     {}, FAILED,
     lambda r: r == "worker exited with code 1: RuntimeError: cuDNN error: CUDNN_STATUS_BAD_PARAM",
     [0, 1, 2]),
    ("garbage-then-exit-0",
     'print("Segmentation fault (core dumped)?", flush=True)\n'
     'sys.stdout.write("\\x00\\xff{not json}\\n[1,2]\\n{\\"type\\": \\"step\\", \\"step\\": 9}\\n")\n'
     'sys.stdout.write(\'{"type": "done", "summ\')', {}, FAILED,
     lambda r: r == "worker exited before finishing", [0, 1]),
    ("reports-own-error", 'emit(type="error", kind="out_of_memory", message="CUDA out of memory");'
     " sys.exit(1)", {}, FAILED, lambda r: r == "out_of_memory: CUDA out of memory", [0, 1]),
    ("hang", "time.sleep(600)", {"timeout": 3}, FAILED,
     lambda r: r == "timed out after 3 s", [0, 1]),
    ("hang-with-stdout-closed", "os.close(1); time.sleep(600)", {"timeout": 3}, FAILED,
     lambda r: r == "timed out after 3 s", [0, 1]),
    ("out-of-memory", "step(2)\nhog = []\nwhile True: hog.append(bytearray(16 * 2**20))",
     {"memory_limit_mb": 256}, FAILED,
     lambda r: r == "worker exited with code 1: MemoryError (under a 256 MiB memory limit)",
     [0, 1, 2]),
    ("nan-loss", "step(2, float('nan')); emit(type='done', summary={})", {}, DIVERGED,
     lambda r: r == "loss became non-finite at step 2", [0, 1, 2]),
    ("inf-loss-then-crash", "step(2, float('inf')); os.abort()", {}, FAILED,
     lambda r: r.startswith("worker killed by signal SIGABRT"), [0, 1, 2]),
]


def worker(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fault_worker.py"
    script.write_text(PRELUDE + textwrap.dedent(body) + "\n")
    return script




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
