"""SIGKILL the writer at random moments: nothing finished is lost, nothing half-written reads.

A forked writer process loops: a run through the launcher (a real worker process), a
RunLibrary save, a re-save of the previous run (replacing its file), a new bundle and a
rewrite of `latest`. It journals each finished write with an unbuffered append. The test
kills it with SIGKILL after a random delay, 60 times, then checks that the library lists
every run the journal says was saved, and that every file present reads completely (atomic
writes: a reader sees the old file or the new one, never a torn one).
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from reprodiag.core.bundle import SUFFIX, read_bundle, write_bundle
from proc_helpers import assert_gone
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.library import RunLibrary
from reprodiag.core.runs.record import FINISHED

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

TRIALS = 60
TRIALS_PER_LIBRARY = 10
STEPS = 100
CONFIG = RunConfig(steps=STEPS, seed=0)

WORKER = """\
import json, os, sys
with open(sys.argv[0] + ".pids", "a") as f:
    f.write("%d\\n" % os.getpid())
out = sys.stdout
out.write(json.dumps({"type": "hello", "protocol": 1, "worker": "w", "pid": os.getpid()}) + "\\n")
for i in range(STEPS):
    out.write(json.dumps({"type": "step", "step": i, "loss": 1.0 / (i + 1), "grad_norm": 0.5,
                          "param_hash": "p%d" % i, "batch_hash": "b%d" % i, "lr": 0.1,
                          "step_time": 0.001}) + "\\n")
out.write(json.dumps({"type": "done", "summary": {"steps": STEPS}}) + "\\n")
"""


def write_forever(library: RunLibrary, bundles: Path, journal: Path, script: Path) -> None:
    """The writer's loop; every line in the journal is a write that had finished."""
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def note(text: str) -> None:
        os.write(fd, (text + "\n").encode())

    saved = []
    while True:
        record = launcher.run(CONFIG, script=script, label="first")
        library.save(record)
        note(f"saved {record.run_id}")
        if saved:
            previous = saved[-1]
            previous.label = "second"
            library.save(previous)
            note(f"resaved {previous.run_id}")
        saved.append(record)
        recent = saved[-3:]
        name = f"b-{record.run_id}"
        write_bundle(bundles / name, snapshot=None, runs=recent, label=name)
        note(f"bundle {name} {' '.join(r.run_id for r in recent)}")
        write_bundle(bundles / "latest", snapshot=None, runs=recent, label="latest")
        note("latest")


def run_writer_until_killed(library, bundles, journal, script, delay: float) -> None:
    pid = os.fork()
    if pid == 0:  # the writer: never returns into pytest
        try:
            write_forever(library, bundles, journal, script)
        finally:
            os._exit(1)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def check_after_kill(library: RunLibrary, bundles: Path, journal: Path) -> None:
    lines = journal.read_text().splitlines() if journal.exists() else []
    saved = {line.split()[1] for line in lines if line.startswith("saved ")}
    listed = {record.run_id: record for record in library.list()}
    assert library.problems == []
    assert saved <= set(listed), saved - set(listed)
    for record in listed.values():
        assert record.status == FINISHED and len(record.steps) == STEPS
        assert record.label in ("first", "second")
    for line in lines:
        if line.startswith("bundle "):
            _, name, *ids = line.split()
            assert [r.run_id for r in read_bundle(bundles / (name + SUFFIX)).runs] == ids
    for path in bundles.iterdir():
        if path.name.startswith("."):  # the temporary file of a write that was killed
            assert path.name.endswith(".tmp")
            continue
        bundle = read_bundle(path)  # raises BundleError if a kill had left a torn file
        assert all(len(r.steps) == STEPS for r in bundle.runs)



def test_sigkill_at_random_moments_loses_nothing_finished(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.replace("STEPS", str(STEPS)))
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    saved_total = 0
    for trial in range(TRIALS):
        group = tmp_path / f"group{trial // TRIALS_PER_LIBRARY}"
        library = RunLibrary(group / "library")
        bundles = group / "bundles"
        bundles.mkdir(parents=True, exist_ok=True)
        journal = group / "journal.txt"
        run_writer_until_killed(library, bundles, journal, script, rng.uniform(0.0, 0.3))
        check_after_kill(library, bundles, journal)
    for group in tmp_path.glob("group*"):
        saved_total += journal_count(group / "journal.txt", "saved ")
    assert saved_total > TRIALS / 2  # the writers got far enough to have written things
    pids_file = Path(str(script) + ".pids")
    assert_gone([int(p) for p in pids_file.read_text().split()])


def journal_count(journal: Path, prefix: str) -> int:
    if not journal.exists():
        return 0
    return sum(line.startswith(prefix) for line in journal.read_text().splitlines())
