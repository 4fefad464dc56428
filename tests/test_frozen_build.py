"""The real frozen app, built by packaging/build.sh (PyInstaller) into a temporary folder: it
has its version and no framework inside, renders its window, runs a canary through a target
interpreter -- and what it starts gets the user's environment, not its own library paths; its
interpreter list never offers itself; its resources are where reprodiag.paths looks.

The target interpreter here is a wrapper script around the test's Python that writes down
the environment it was started with and the libraries a Python started with that
environment maps (after importing zlib and ssl), then runs the real Python."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import reprodiag
from reprodiag import paths
from reprodiag.core.bundle import read_bundle
from reprodiag.core.env.model import Snapshot

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
PACKAGING = REPO / "packaging"
USER_LIBRARY_PATH = "/opt/user-libs/lib"  # the LD_LIBRARY_PATH the user starts the app with
MAPS = "import ssl, zlib; print(open('/proc/self/maps').read())"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def frozen_app(tmp_path_factory) -> Path:
    """The app built by packaging/build.sh into a temporary folder."""
    tmp = tmp_path_factory.mktemp("frozen")
    env = dict(os.environ, PYTHON=sys.executable, DIST_DIR=str(tmp / "dist"),
               WORK_DIR=str(tmp / "work"))
    proc = subprocess.run([str(PACKAGING / "build.sh")], env=env, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    app = tmp / "dist" / "reprodiag" / "reprodiag"
    assert app.is_file()
    return app


def run_app(app: Path, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """The frozen app started as a user's shell would, with their LD_LIBRARY_PATH set."""
    full_env = dict(os.environ, LD_LIBRARY_PATH=USER_LIBRARY_PATH, **env)
    for name in [n for n in full_env if n.startswith("_PYI_") or n.endswith("_ORIG")]:
        del full_env[name]
    return subprocess.run([str(app), *args], env=full_env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def recording_python(tmp_path) -> tuple[Path, Path]:
    """(a wrapper 'python' that records each start, the folder of its records)."""
    records = tmp_path / "starts"
    records.mkdir()
    wrapper = tmp_path / "wrap" / "bin" / "python"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(
        "#!/bin/sh\n"
        f"env > '{records}/'$$.env\n"
        f"'{sys.executable}' -c \"{MAPS}\" > '{records}/'$$.maps\n"
        f"exec '{sys.executable}' \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper, records


def test_frozen_app_has_its_version_and_no_framework(frozen_app):
    proc = subprocess.run([str(frozen_app), "--version"], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.strip() == f"reprodiag {reprodiag.__version__}"
    inside = {p.name for p in (frozen_app.parent / "_internal").iterdir()}
    assert not inside & {"torch", "tensorflow", "keras"}
    shipped = frozen_app.parent / "_internal" / "reprodiag"
    assert (shipped / "workers" / "canary_torch.py").is_file()
    assert (shipped / "data" / "digits.csv.gz").is_file()
    assert (shipped / "resources" / "colab" / "reprodiag_colab.ipynb").is_file()


def test_frozen_app_saves_the_notebook_that_carries_this_reprodiag(frozen_app, tmp_path):
    from reprodiag.colab_notebook import notebook_text

    out = tmp_path / "frozen.ipynb"
    proc = subprocess.run([str(frozen_app), "colab-notebook", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.read_text(encoding="utf-8") == notebook_text()  # the same bytes as this install


def test_frozen_app_finds_its_resources_where_paths_looks(frozen_app, monkeypatch, tmp_path):
    internal = frozen_app.parent / "_internal"
    # reprodiag.paths' own lookup, as it runs inside the app (sys._MEIPASS = _internal)
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    found = paths.resources_dir()
    assert found == internal / "reprodiag" / "resources"
    for name in (paths.DESKTOP_ENTRY, paths.METAINFO, paths.MIME_PACKAGE):
        assert paths.resource(name).read_bytes() == (REPO / "resources" / name).read_bytes()
    for size in (16, 48, 256):
        assert png_size(paths.resource("icons") / f"{paths.APP_ID}-{size}.png") == (size, size)
    # the desktop integration installs from the app's own copy
    data = tmp_path / "share"
    subprocess.run([str(PACKAGING / "install-desktop.sh")], check=True, capture_output=True,
                   env=dict(os.environ, XDG_DATA_HOME=str(data), RESOURCES=str(found)),
                   timeout=120)
    assert (data / "applications" / paths.DESKTOP_ENTRY).is_file()
    assert (data / "mime" / "packages" / f"{paths.APP_ID}.xml").is_file()


def test_frozen_app_renders_a_screenshot(frozen_app, tmp_path):
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([str(frozen_app), "screenshot", "--out", str(out), "--size", "800x600"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert png_size(out) == (800, 600)
    check = ("import sys; from PySide6.QtGui import QImage; im = QImage(sys.argv[1]); "
             "print(len({im.pixel(x, y) for x in range(0, im.width(), 7) "
             "for y in range(0, im.height(), 7)}))")
    colours = subprocess.run([sys.executable, "-c", check, str(out)], capture_output=True,
                             text=True, timeout=120, check=True)
    assert int(colours.stdout) > 10  # a window with text and widgets, not a blank image


@pytest.mark.framework
def test_frozen_app_runs_a_canary_through_a_target_interpreter(frozen_app, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "x.reprodiag.zip"
    proc = subprocess.run([str(frozen_app), "run", "--python", sys.executable, "--steps", "5",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = read_bundle(out).runs
    assert run.status == "finished" and len(run.steps) == 5
    assert run.python == sys.executable


@pytest.mark.framework
def test_what_the_frozen_app_starts_gets_the_user_s_environment(frozen_app, recording_python,
                                                                 tmp_path):
    pytest.importorskip("torch")
    python, records = recording_python
    internal = str(frozen_app.parent / "_internal")
    # the check means something: the app ships libraries a Python would otherwise pick up
    bundled = {p.name for p in Path(internal).iterdir()}
    assert bundled & {"libz.so.1", "libssl.so.3", "libcrypto.so.3", "libstdc++.so.6"}, bundled

    out = tmp_path / "x.reprodiag.zip"
    run = run_app(frozen_app, "run", "--python", str(python), "--steps", "3", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    env = run_app(frozen_app, "env", "--python", str(python), "--deep", "--json")
    assert env.returncode == 0, env.stderr[-3000:]

    starts = sorted(records.glob("*.env"))
    assert len(starts) >= 4  # --python check, snapshot probe, worker; env: check, probes
    for start in starts:
        variables = dict(line.split("=", 1) for line in start.read_text().splitlines()
                         if "=" in line)
        assert variables.get("LD_LIBRARY_PATH") == USER_LIBRARY_PATH, start
        assert not [n for n in variables if n.startswith("_PYI_") or n.endswith("_ORIG")]
        assert not [n for n, v in variables.items() if internal in v], start
        maps = start.with_suffix(".maps").read_text()
        assert internal not in maps, "a Python started by the app loaded the app's libraries"
    for snapshot in (read_bundle(out).snapshot, Snapshot.from_json(json.loads(env.stdout))):
        assert snapshot.value("var.LD_LIBRARY_PATH") == USER_LIBRARY_PATH
        assert internal not in snapshot.dumps()


def test_the_frozen_app_never_offers_itself_as_a_python(frozen_app, tmp_path):
    link = tmp_path / "bin" / "python3"  # the app on the PATH under a Python's name
    link.parent.mkdir()
    link.symlink_to(frozen_app)
    listed = run_app(frozen_app, "env", "--interpreters",
                     PATH=f"{link.parent}{os.pathsep}{os.environ['PATH']}")
    assert listed.returncode == 0, listed.stderr
    pythons = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert pythons and all(os.path.realpath(p) != str(frozen_app) for p in pythons)
    assert "this Python" not in listed.stdout
    for target in (frozen_app, link):
        proc = run_app(frozen_app, "run", "--python", str(target), "--steps", "3")
        assert proc.returncode == 2
        (line,) = proc.stderr.strip().splitlines()
        assert "is a packaged app" in line and "not a Python interpreter" in line


def test_the_frozen_app_snapshots_a_real_interpreter_by_default(frozen_app):
    proc = run_app(frozen_app, "env", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    snapshot = Snapshot.from_json(json.loads(proc.stdout))
    assert snapshot.python and os.path.realpath(snapshot.python) != str(frozen_app)
    assert shutil.which(snapshot.python) or os.access(snapshot.python, os.X_OK)
