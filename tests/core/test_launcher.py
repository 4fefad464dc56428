"""The launcher with real worker processes: tiny scripts written into tmp_path speak the
protocol (or misbehave: garbage, crashes, hangs), plus one real PyTorch canary."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from reprodiag import paths
from proc_helpers import assert_gone, child_pids
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import Step
from reprodiag.core.runs.record import CANCELLED, DIVERGED, FAILED, FINISHED
from reprodiag.errors import UserError

PRELUDE = """\
import json, os, signal, subprocess, sys, time
CONFIG = json.loads(sys.argv[1])

def emit(**obj):
    sys.stdout.write(json.dumps(obj) + "\\n")
    sys.stdout.flush()

def hello():
    emit(type="hello", protocol=1, worker="test_worker", pid=os.getpid(), python="3")

def step(i, loss=1.0):
    emit(type="step", step=i, loss=loss, grad_norm=0.5, param_hash="p%d" % i,
         batch_hash="b%d" % i, lr=CONFIG["lr"], step_time=0.001)

def done():
    emit(type="done", summary={"final_loss": 0.25, "steps": CONFIG["steps"]})

def spawn_sleeper():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    emit(type="log", level="info", message="child %d" % child.pid)
"""

CONFIG = RunConfig(steps=5, seed=7, threads=2)


def worker(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "worker.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    return script


def start(tmp_path: Path, body: str, **kwargs) -> launcher.RunHandle:
    return launcher.start_run(kwargs.pop("config", CONFIG), script=worker(tmp_path, body), **kwargs)




def test_happy_path_records_everything_the_worker_reports(tmp_path):
    seen = []
    handle = start(
        tmp_path,
        """
        hello()
        emit(type="env", settings={"hashseed": os.environ["PYTHONHASHSEED"],
             "omp": os.environ["OMP_NUM_THREADS"], "cuda": os.environ["CUDA_VISIBLE_DEVICES"],
             "data_dir": CONFIG["data_dir"], "seed": CONFIG["seed"]},
             dataset_hash="d1", init_param_hash="i1", n_params=42)
        for i in range(CONFIG["steps"]):
            step(i, loss=1.0 / (i + 1))
        done()
        """,
        on_message=lambda record, msg: seen.append(msg),
        label="happy",
    )
    record = handle.wait()
    assert handle.done
    assert record.status == FINISHED, record.reason
    assert record.label == "happy" and record.worker == "test_worker"
    assert record.python == os.path.abspath(sys.executable)
    assert record.steps.step.tolist() == [0, 1, 2, 3, 4]
    assert record.steps.loss.tolist() == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert record.settings == {
        "hashseed": "7",
        "omp": "2",
        "cuda": "",
        "data_dir": str(paths.data_file("")),
        "seed": 7,
    }
    assert (record.dataset_hash, record.init_param_hash, record.n_params) == ("d1", "i1", 42)
    assert record.summary == {"final_loss": 0.25, "steps": 5}
    assert sum(isinstance(m, Step) for m in seen) == 5 and len(seen) == 8
    assert record.ended_at >= record.started_at


def test_run_waits_for_the_end(tmp_path):
    record = launcher.run(CONFIG, script=worker(tmp_path, "hello(); step(0); done()"))
    assert record.status == FINISHED and record.steps.step.tolist() == [0]


def test_garbage_and_partial_lines_become_log_text(tmp_path):
    record = start(
        tmp_path,
        """
        hello()
        print("not json at all", flush=True)
        sys.stdout.write('{"type": "step", "st\\n[1, 2]\\n{"type": "step", "step": 0}\\n')
        sys.stdout.write('{"type": "teleport"}\\n\\n')
        step(0)
        done()
        sys.stdout.write('{"type": "log", "mess')
        """,
    ).wait()
    assert record.status == FINISHED, record.reason
    assert record.steps.step.tolist() == [0]
    for text in (
        "not json at all",
        '{"type": "step", "st',
        "[1, 2]",
        '{"type": "step", "step": 0}',
        '{"type": "teleport"}',
        '{"type": "log", "mess',
    ):
        assert text in record.log


def test_an_overlong_line_is_cut_not_kept_whole(tmp_path):
    handle = start(
        tmp_path,
        """
        hello()
        sys.stdout.write("x" * 3_000_000 + "\\n")
        sys.stderr.write("y" * 3_000_000 + "\\n")
        step(0)
        done()
        """,
    )
    record = handle.wait()
    assert max(len(line) for line in handle.stderr_tail()) == 2000
    assert record.status == FINISHED
    assert record.steps.step.tolist() == [0]
    assert max(len(line) for line in record.log) <= 2000


def test_crash_by_signal_keeps_the_steps_so_far(tmp_path):
    record = start(tmp_path, "hello(); step(0); step(1); os.abort()").wait()
    assert record.status == FAILED
    assert record.reason.startswith("worker killed by signal SIGABRT")
    assert record.steps.step.tolist() == [0, 1]


def test_nonzero_exit_reason_quotes_the_last_stderr_line(tmp_path):
    record = start(
        tmp_path, """hello(); step(0); raise ModuleNotFoundError("No module named 'torch'")"""
    ).wait()
    assert record.status == FAILED
    assert (
        record.reason == "worker exited with code 1: ModuleNotFoundError: No module named 'torch'"
    )
    assert record.steps.step.tolist() == [0]
    assert any(line.startswith("stderr: Traceback") for line in record.log)


def test_exit_without_done_is_a_failure(tmp_path):
    record = start(tmp_path, "hello(); step(0)").wait()
    assert record.status == FAILED
    assert record.reason == "worker exited before finishing"


def test_worker_error_message_is_the_reason(tmp_path):
    record = start(
        tmp_path, 'hello(); emit(type="error", kind="no_gpu", message="no CUDA"); sys.exit(1)'
    ).wait()
    assert record.status == FAILED and record.reason == "no_gpu: no CUDA"


def test_nan_loss_ends_as_diverged(tmp_path):
    record = start(tmp_path, "hello(); step(0, 2.0); step(1, float('nan')); done()").wait()
    assert record.status == DIVERGED
    assert math.isnan(record.steps.loss[1])
    assert record.reason == "loss became non-finite at step 1"


def test_hang_times_out_and_the_tree_is_killed(tmp_path):
    handle = start(tmp_path, "hello(); spawn_sleeper(); step(0); time.sleep(600)", timeout=3)
    record = handle.wait()
    assert record.status == FAILED and record.reason == "timed out after 3 s"
    assert record.steps.step.tolist() == [0]
    assert child_pids(record)
    assert_gone([handle.pid, *child_pids(record)])


@pytest.mark.parametrize("ignores_sigterm", [False, True], ids=["terminates", "needs-kill"])
def test_cancel_midway_keeps_steps_and_leaves_no_process(tmp_path, ignores_sigterm):
    three_steps = threading.Event()

    def on_message(record, msg):
        if len(record.steps) >= 3:
            three_steps.set()

    ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignores_sigterm else ""
    handle = start(
        tmp_path,
        ignore + "hello(); spawn_sleeper()\nfor i in range(3): step(i)\ntime.sleep(600)",
        on_message=on_message,
    )
    assert three_steps.wait(60)
    handle.cancel(grace=0.5)
    record = handle.wait()
    assert handle.done
    assert record.status == CANCELLED
    assert record.steps.step.tolist() == [0, 1, 2]
    assert len(child_pids(record)) == 1
    assert_gone([handle.pid, *child_pids(record)])


DRIVER = """\
import sys
from pathlib import Path
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
try:
    launcher.run(RunConfig(steps=5), script=Path(sys.argv[1]))
except KeyboardInterrupt:
    print("interrupted")
"""


def test_ctrl_c_during_run_cancels_the_worker_and_goes_on(tmp_path):
    pid_file = tmp_path / "pids"
    script = worker(
        tmp_path,
        f"""
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write("%d %d" % (os.getpid(), child.pid))
        time.sleep(600)
        """,
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(script)], stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text().count(" ") == 1):
        assert time.monotonic() < deadline and driver.poll() is None
        time.sleep(0.05)
    driver.send_signal(signal.SIGINT)
    out, _ = driver.communicate(timeout=60)
    assert out.strip() == "interrupted"
    assert_gone([int(pid) for pid in pid_file.read_text().split()])


def test_children_left_behind_by_a_finished_worker_are_ended(tmp_path):
    handle = start(tmp_path, "hello(); spawn_sleeper(); step(0); done()")
    record = handle.wait()
    assert record.status == FINISHED
    assert len(child_pids(record)) == 1
    assert_gone(child_pids(record))


def test_a_failing_callback_does_not_stop_the_run(tmp_path):
    def explode(record, msg):
        raise RuntimeError("callback bug")

    record = start(tmp_path, "hello(); step(0); step(1); done()", on_message=explode).wait()
    assert record.status == FINISHED and record.steps.step.tolist() == [0, 1]


def test_target_python_that_is_not_executable_is_a_user_error(tmp_path):
    not_exec = tmp_path / "python"
    not_exec.write_text("")
    for python in (str(not_exec), str(tmp_path / "missing" / "python3"), "no-such-python-xyz"):
        with pytest.raises(UserError, match="not an executable Python interpreter"):
            launcher.start_run(CONFIG, python, script=worker(tmp_path, "done()"))


def test_worker_for_names_the_canary_scripts():
    assert launcher.worker_for("torch") == paths.worker_script("canary_torch.py")
    assert launcher.worker_for("tensorflow") == paths.worker_script("canary_tf.py")
    with pytest.raises(UserError):
        launcher.worker_for("jax")


def test_exit_reason_wording():
    assert launcher.exit_reason(-11, []) == "worker killed by signal SIGSEGV"
    assert launcher.exit_reason(3, ["Traceback", "  x", "ValueError: bad", "  "]) == (
        "worker exited with code 3: ValueError: bad"
    )


@pytest.mark.framework
def test_real_torch_mlp_canary_through_the_launcher():
    pytest.importorskip("torch")
    config = RunConfig(framework="torch", model="mlp", steps=20, seed=0, threads=1)
    record = launcher.run(config, timeout=300)
    assert record.status == FINISHED, record.reason
    assert record.steps.step.tolist() == list(range(20))
    assert all(math.isfinite(v) for v in record.steps.loss)
    assert record.init_param_hash and record.dataset_hash and record.n_params > 0
