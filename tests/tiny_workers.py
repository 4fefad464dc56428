"""Tiny worker scripts the tests run as real processes: they speak the worker protocol
without a framework. Each says hello and starts a grandchild first (logged as `child <pid>`,
see proc_helpers.child_pids), so a test can check that no process is left behind.

FAULTS: workers that fail in every way a real one can, run through the launcher
(tests/security/test_worker_faults.py) and through the window (tests/gui/
test_worker_faults_ui.py). STREAMER: steps until it is stopped.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import DIVERGED, FAILED

# With WORKER_IGNORES_SIGTERM=1 the worker and its grandchild ignore SIGTERM: only the
# SIGKILL after the launcher's grace period ends them.
HEADER = """\
import ctypes, json, os, signal, subprocess, sys, time
if os.environ.get("WORKER_IGNORES_SIGTERM") == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the grandchild inherits it

def emit(**obj):
    sys.stdout.write(json.dumps(obj) + "\\n")
    sys.stdout.flush()

def step(i, loss=1.0, hashed=True):
    emit(type="step", step=i, loss=loss, grad_norm=0.5, param_hash="p%d" % i if hashed else "",
         batch_hash="b%d" % i if hashed else "", lr=0.1, step_time=0.001)

emit(type="hello", protocol=1, worker="tiny_worker", pid=os.getpid(), python="3")
child = subprocess.Popen([sys.executable, "-S", "-c", "import time; time.sleep(600)"])
emit(type="log", level="info", message="child %d" % child.pid)
"""

PRELUDE = HEADER + "step(0, 2.0)\nstep(1, 1.5)\n"

STREAMER = HEADER + textwrap.dedent("""\
    i = 0
    while True:
        step(i, 1.0 / (i + 1), hashed=False)
        i += 1
        time.sleep(0.002)
""")

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
