"""The desktop packaging: one app id everywhere, icons that exist at every size, and (slow) a
real PyInstaller build whose frozen app renders its window and runs a canary through a target
interpreter -- without torch or tensorflow inside the frozen folder."""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import reprodiag
from reprodiag.core.bundle import read_bundle

REPO = Path(__file__).resolve().parent.parent
PACKAGING = REPO / "packaging"
ICONS = REPO / "src" / "reprodiag" / "resources" / "icons"
APP_ID = "io.github.reprodiag.Reprodiag"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_desktop_file_names_the_app_id():
    desktop = PACKAGING / f"{APP_ID}.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(desktop, encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Icon"] == APP_ID
    assert entry["Exec"].split()[0] == "reprodiag"
    assert entry["Categories"].endswith(";")


def test_metainfo_matches_the_app_and_its_version():
    root = ET.parse(PACKAGING / f"{APP_ID}.metainfo.xml").getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"
    assert root.find("provides/binary").text == "reprodiag"
    versions = [r.get("version") for r in root.iter("release")]
    assert versions[0] == reprodiag.__version__


def test_metainfo_passes_appstream_validation():
    tool = shutil.which("appstreamcli")
    if tool is None:
        pytest.skip("appstreamcli is not installed")
    proc = subprocess.run([tool, "validate", "--no-net", str(PACKAGING / f"{APP_ID}.metainfo.xml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_icons_exist_at_every_size():
    svg = ICONS / f"{APP_ID}.svg"
    assert ET.parse(svg).getroot().tag.endswith("svg")
    for size in ICON_SIZES:
        png = ICONS / f"{APP_ID}-{size}.png"
        assert png_size(png) == (size, size)


def test_spec_reads_name_and_version_from_the_package():
    spec = (PACKAGING / "reprodiag.spec").read_text(encoding="utf-8")
    ast.parse(spec)  # valid Python (never executed here)
    assert "__version__" in spec and APP_ID in spec
    for framework in ("torch", "tensorflow", "keras"):
        assert f'"{framework}"' in spec  # excluded from the frozen app
    assert os.access(PACKAGING / "build.sh", os.X_OK)


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_frozen_app_saves_the_notebook_that_carries_this_reprodiag(frozen_app, tmp_path):
    from reprodiag.colab_notebook import notebook_text

    out = tmp_path / "frozen.ipynb"
    proc = subprocess.run([str(frozen_app), "colab-notebook", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.read_text(encoding="utf-8") == notebook_text()  # the same bytes as this install


@pytest.mark.slow
def test_frozen_app_renders_a_screenshot(frozen_app, tmp_path):
    if not (REPO / "src" / "reprodiag" / "gui" / "screenshot.py").is_file():
        pytest.skip("the GUI's screenshot command (gui/screenshot.py) is not written yet")
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


@pytest.mark.slow
def test_frozen_app_runs_a_canary_through_a_target_interpreter(frozen_app, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "x.reprodiag.zip"
    proc = subprocess.run([str(frozen_app), "run", "--python", sys.executable, "--steps", "5",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = read_bundle(out).runs
    assert run.status == "finished" and len(run.steps) == 5
    assert run.python == sys.executable
