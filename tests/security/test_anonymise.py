"""Anonymised exports: user name, host name and home folder are replaced everywhere.

One real `reprodiag run --anonymise` (PyTorch canary, real snapshot) runs from a fake home
folder holding a link to this virtual environment, under a planted user name; every byte
of the bundle is then searched for the names. `compare --markdown` hides the names of this
machine and of the compared snapshots by default, and keeps them with --no-anonymise.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from reprodiag.core.anonymise import (
    HOST,
    USER,
    Identity,
    anonymise_record,
    anonymise_snapshot,
    anonymise_text,
    local_identity,
)
from reprodiag.core.bundle import read_bundle, write_bundle
from reprodiag.core.env.model import Fact, Snapshot
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import RunRecord

USER_NAME = "alicesmith"
HOSTNAME = socket.gethostname()
IDENTITY = Identity(users=frozenset({"alice"}), hosts=frozenset({"box7", "box7.lab.org"}),
                    homes=frozenset({"/home/alice", "/data/homes/alice"}))


@pytest.mark.parametrize(("text", "expected"), [
    ("/home/alice/venv/bin/python", "~/venv/bin/python"),
    ("/data/homes/alice/.cache:/usr/lib", "~/.cache:/usr/lib"),
    ("/home/bob/x:/Users/carol/y", "~/x:~/y"),  # anyone's home, in the usual places
    ("C:\\Users\\dave\\env\\python.exe", "~\\env\\python.exe"),
    ("/root/.venv but not /rootfs", "~/.venv but not /rootfs"),
    ("alice@box7.lab.org ran on box7", f"{USER}@{HOST} ran on {HOST}"),
    ("malice is not alice", f"malice is not {USER}"),
    ("box7", HOST),
    ("loss 0.25 at step 7", "loss 0.25 at step 7"),
])
def test_anonymise_text(text, expected):
    assert anonymise_text(text, IDENTITY) == expected


def test_local_identity_never_hides_the_root_folder(monkeypatch):
    monkeypatch.setenv("HOME", "/")
    identity = local_identity()
    assert "/" not in identity.homes and "" not in identity.homes
    assert anonymise_text("/usr/lib/x", identity) == "/usr/lib/x"


def test_snapshot_and_record_copies_are_anonymised_and_originals_kept():
    snapshot = Snapshot(facts={"host.hostname": Fact("box7"),
                               "host.python.executable": Fact("/home/alice/venv/bin/python"),
                               "var.XLA_FLAGS": Fact("--xla_dump_to=/home/alice/dumps"),
                               "gpu.0.name": Fact(unavailable="no driver on box7")},
                        python="/home/alice/venv/bin/python")
    record = RunRecord(config=RunConfig(steps=1), label="alice on box7",
                       python="/home/alice/venv/bin/python", log=["saved /home/alice/x"],
                       settings={"paths": ["/home/alice/data"]}, reason="box7 ran out")
    a = anonymise_snapshot(snapshot, IDENTITY)
    assert a.value("host.hostname") == HOST and a.python == "~/venv/bin/python"
    assert a.value("var.XLA_FLAGS") == "--xla_dump_to=~/dumps"
    assert a.get("gpu.0.name").unavailable == f"no driver on {HOST}"
    r = anonymise_record(record, IDENTITY)
    assert (r.label, r.python, r.log, r.reason) == (
        f"{USER} on {HOST}", "~/venv/bin/python", ["saved ~/x"], f"{HOST} ran out")
    assert r.settings == {"paths": ["~/data"]} and r.run_id == record.run_id
    assert snapshot.value("host.hostname") == "box7" and record.label == "alice on box7"


@pytest.fixture(scope="module")
def fake_home(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A home folder holding a link to this venv, and an environment that lives in it."""
    home = tmp_path_factory.mktemp(f"{USER_NAME}-home")
    venv = Path(sys.prefix)
    (home / "venv").symlink_to(venv, target_is_directory=True)
    env = {**os.environ, "HOME": str(home), "USER": USER_NAME, "LOGNAME": USER_NAME,
           "XLA_FLAGS": f"--xla_dump_to={home}/dumps", "TORCH_HOME": f"/tmp/{USER_NAME}/torch"}
    return home, env


def names_in(data: bytes, home: Path) -> list[str]:
    text = data.decode("utf-8", "replace")
    found = [name for name in (str(home), USER_NAME) if name in text]
    if re.search(rf"(?<![A-Za-z0-9]){re.escape(HOSTNAME)}(?![A-Za-z0-9])", text, re.IGNORECASE):
        found.append(HOSTNAME)
    return found


@pytest.mark.framework
def test_anonymised_real_run_bundle_holds_no_names(fake_home, tmp_path):
    home, env = fake_home
    python = home / "venv" / "bin" / "python"
    out = tmp_path / "anon.reprodiag.zip"
    proc = subprocess.run(
        [str(python), "-m", "reprodiag", "run", "--python", str(python), "--framework", "torch",
         "--steps", "3", "--threads", "1", "--batch-size", "16", "--out", str(out),
         "--label", f"{USER_NAME} on {HOSTNAME}", "--anonymise"],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    bundle = read_bundle(out)
    assert bundle.label == f"{USER} on {HOST}"
    assert bundle.snapshot.value("host.hostname") == HOST
    assert bundle.snapshot.value("host.python.executable") == "~/venv/bin/python"
    assert bundle.snapshot.value("var.XLA_FLAGS") == "--xla_dump_to=~/dumps"
    assert bundle.snapshot.value("var.TORCH_HOME") == f"/tmp/{USER}/torch"
    assert bundle.runs[0].python == "~/venv/bin/python" and bundle.runs[0].status == "finished"
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as zf:
        for info in zf.infolist():
            assert names_in(info.filename.encode() + zf.read(info), home) == [], info.filename


def test_compare_markdown_is_anonymised_by_default(fake_home, tmp_path):
    home, env = fake_home
    local = Snapshot(facts={"host.hostname": Fact(HOSTNAME),
                            "host.python.executable": Fact(f"{home}/venv/bin/python"),
                            "pkg.numpy": Fact("2.1.0")}, python=f"{home}/venv/bin/python")
    foreign = Snapshot(facts={"host.hostname": Fact("bob-laptop.lab"),
                              "host.python.executable": Fact("/home/bob/venv/bin/python"),
                              "pkg.numpy": Fact("2.0.0")}, python="/home/bob/venv/bin/python")
    config = RunConfig(steps=1)
    a = write_bundle(tmp_path / "a", snapshot=local, label=f"{USER_NAME} on {HOSTNAME}",
                     runs=[RunRecord(config=config, run_id="a1", status="finished")])
    b = write_bundle(tmp_path / "b", snapshot=foreign, label="bob on bob-laptop",
                     runs=[RunRecord(config=config, run_id="b1", status="finished")])

    def compare(*extra: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "reprodiag", "compare", str(a), str(b),
                               *extra], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    plain = compare("--markdown", "--no-anonymise")
    for name in (USER_NAME, HOSTNAME, "bob-laptop", "/home/bob"):
        assert name in plain  # the report shows them when asked to: the check below can fail
    for report in (compare("--markdown"), compare("--json", "--anonymise")):
        assert names_in(report.encode(), home) == []
        for name in ("bob-laptop", "/home/bob", "bob"):
            assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", report)
    assert json.loads(compare("--json", "--anonymise"))["labels"] == {
        "a": f"{USER} on {HOST}", "b": f"{USER} on {HOST}"}
