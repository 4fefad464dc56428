"""`reprodiag explain` end to end: real worker runs, progress on stderr, Ctrl-C that cancels
cleanly, and bad input as one line with exit code 2."""

import json
import signal
import subprocess
import sys
import time

import psutil
import pytest

CLI = [sys.executable, "-m", "reprodiag", "explain"]


def explain(*args, timeout=600):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.framework
@pytest.mark.slow
def test_explain_threads_json():
    proc = explain("--threads", "2", "--against", "threads=1", "--steps", "6",
                   "--factors", "threads", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["ref_config"]["threads"] == 1 and data["other_config"]["threads"] == 2
    assert data["primary_factor"] == "threads"
    assert [f["outcome"] for f in data["factors"]] == ["vanishes"]
    progress = [line for line in proc.stderr.splitlines() if line.startswith("reprodiag: [")]
    assert progress[0].startswith("reprodiag: [0/") and "A (reference)" in progress[0]
    assert progress[-1] == f"reprodiag: [{data['runs']}/{data['runs']}] finished"


@pytest.mark.framework
@pytest.mark.slow
def test_explain_without_against_checks_run_to_run():
    proc = explain("--threads", "1", "--steps", "3")
    assert proc.returncode == 0, proc.stderr
    assert "no difference to attribute" in proc.stdout
    assert "A (reference): torch mlp cpu seed=0 threads=1" in proc.stdout
    assert "2 worker runs" in proc.stdout


@pytest.mark.parametrize("args, words", [
    (["--against", "nope=1"], "no config field 'nope'"),
    (["--against", "threads=abc"], "--against threads:"),
    (["--against", "threads"], "expected KEY=VALUE"),
    (["--seeds", "0", "1"], "explain takes one config"),
    (["--factors", "bogus"], "invalid choice"),
    (["--python", "/nonexistent/python"], "no such file"),
])
def test_bad_input_is_one_line(args, words):
    proc = explain(*args, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr


def test_failed_reference_run_is_one_line():
    proc = explain("--device", "gpu", "--steps", "2", "--factors", "threads")
    if proc.returncode == 0:
        pytest.skip("this machine has a GPU")
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("reprodiag: error: the A run") and "no" in last


def _wait_for_worker(proc: subprocess.Popen, limit: float = 120.0) -> list[int]:
    """The worker processes of the CLI once one runs (polling; no timing is asserted)."""
    me = psutil.Process(proc.pid)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        children = me.children(recursive=True)
        if children:
            return [c.pid for c in children]
        time.sleep(0.05)
    raise AssertionError("no worker started")


def test_ctrl_c_cancels_cleanly():
    proc = subprocess.Popen([*CLI, "--steps", "3000", "--against", "threads=1",
                             "--factors", "threads"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        workers = _wait_for_worker(proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "cancelling" in err and "Traceback" not in err
    assert "(cancelled)" in out
    for pid in workers:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
