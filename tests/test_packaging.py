"""The desktop packaging: one app id everywhere; the desktop entry, AppStream metainfo and bundle
MIME type agree with each other and pass the freedesktop validators (when installed); the
top-level resources/ folder and the LICENSE ship in the wheel and the sdist, and
reprodiag.paths finds the resources from an installed wheel. The real PyInstaller build is
tested in test_frozen_build.py."""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

import reprodiag
from reprodiag import paths

REPO = Path(__file__).resolve().parent.parent
PACKAGING = REPO / "packaging"
RESOURCES = REPO / "resources"
APP_ID = "io.github.reprodiag.Reprodiag"
MIME_TYPE = "application/x-reprodiag-bundle"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
MIME_NS = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
# appstreamcli --pedantic notes that are expected: the id is mixed-case by choice (as Flathub
# ids are), and AppStream before 1.0 does not know the <developer> tag that 1.0 asks for.
EXPECTED_APPSTREAM_NOTES = {f"cid-contains-uppercase-letter {APP_ID}", "unknown-tag developer"}


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(RESOURCES / paths.DESKTOP_ENTRY, encoding="utf-8")
    return parser["Desktop Entry"]


def metainfo() -> ET.Element:
    return ET.parse(RESOURCES / paths.METAINFO).getroot()


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return found


# -- one id, one MIME type ---------------------------------------------------------------------

def test_the_files_are_named_by_the_app_id():
    assert paths.APP_ID == APP_ID
    names = {p.name for p in RESOURCES.iterdir() if p.is_file()}
    assert names == {f"{APP_ID}.desktop", f"{APP_ID}.metainfo.xml", f"{APP_ID}.mime.xml"}
    assert {paths.DESKTOP_ENTRY, paths.METAINFO, paths.MIME_PACKAGE} == names


def test_desktop_entry_opens_bundles():
    entry = desktop_entry()
    assert entry["Type"] == "Application" and entry["Icon"] == APP_ID
    assert entry["Exec"].split()[:2] == ["reprodiag", "gui"] and "%F" in entry["Exec"]
    assert entry["MimeType"] == f"{MIME_TYPE};"
    assert entry["Categories"].endswith(";")


def test_mime_type_is_a_weighted_glob_on_bundles_under_zip():
    root = ET.parse(RESOURCES / paths.MIME_PACKAGE).getroot()
    (mime,) = root.findall("m:mime-type", MIME_NS)
    assert mime.get("type") == MIME_TYPE
    assert mime.find("m:sub-class-of", MIME_NS).get("type") == "application/zip"
    assert mime.find("m:icon", MIME_NS).get("name") == APP_ID
    (glob,) = mime.findall("m:glob", MIME_NS)
    assert glob.get("pattern") == "*.reprodiag.zip"
    assert int(glob.get("weight")) > 50  # shared-mime-info's default, application/zip's *.zip


def test_metainfo_matches_the_app_its_version_and_its_files():
    root = metainfo()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == paths.DESKTOP_ENTRY
    assert root.find("provides/binary").text == "reprodiag"
    assert root.find("provides/mediatype").text == MIME_TYPE
    assert root.findtext("project_license") == tomllib.loads(
        (REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"]
    versions = [r.get("version") for r in root.iter("release")]
    assert versions[0] == reprodiag.__version__
    categories = [c.text for c in root.iter("category")]
    assert categories == desktop_entry()["Categories"].rstrip(";").split(";")


def test_metainfo_has_urls_and_screenshots_of_the_app():
    root = metainfo()
    urls = {u.get("type"): u.text for u in root.iter("url")}
    assert {"homepage", "bugtracker"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())
    shots = root.findall("screenshots/screenshot")
    assert shots and [s.get("type") for s in shots].count("default") == 1
    for shot in shots:
        assert shot.findtext("caption")
        image = shot.findtext("image")
        assert image.startswith("https://")
        # each one is a screenshot kept in the repository
        assert (REPO / "docs" / "screenshots" / image.rsplit("/", 1)[1]).is_file()


def test_icons_exist_at_every_size():
    icons = RESOURCES / "icons"
    assert ET.parse(icons / f"{APP_ID}.svg").getroot().tag.endswith("svg")
    for size in ICON_SIZES:
        assert png_size(icons / f"{APP_ID}-{size}.png") == (size, size)


# -- the validators ----------------------------------------------------------------------------

def test_desktop_entry_is_valid_without_hints():
    validate = tool("desktop-file-validate", "desktop-file-utils")
    proc = subprocess.run([validate, str(RESOURCES / paths.DESKTOP_ENTRY)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout


def appstream_notes(output: str) -> set[str]:
    """'tag detail' of every issue line appstreamcli printed ('P: id:3: tag detail')."""
    notes = set()
    for line in output.splitlines():
        severity, _, rest = line.strip().partition(": ")
        if severity in ("E", "W", "I", "P"):
            notes.add(f"{severity} " + rest.split(": ", 1)[1])
    return notes


def test_metainfo_is_valid_under_pedantic_appstream():
    appstreamcli = tool("appstreamcli", "appstream")
    proc = subprocess.run([appstreamcli, "validate", "--pedantic", "--no-net",
                           str(RESOURCES / paths.METAINFO)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    notes = appstream_notes(proc.stdout)
    assert not [n for n in notes if n[0] in "EW"], notes
    unexpected = {n[2:] for n in notes} - EXPECTED_APPSTREAM_NOTES
    assert not unexpected, proc.stdout


def test_install_script_registers_the_bundle_type_and_the_app(tmp_path):
    data = tmp_path / "share"
    env = dict(os.environ, XDG_DATA_HOME=str(data))
    proc = subprocess.run([str(PACKAGING / "install-desktop.sh")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (data / "applications" / paths.DESKTOP_ENTRY).is_file()
    assert (data / "mime" / "packages" / f"{APP_ID}.xml").is_file()
    assert (data / "metainfo" / paths.METAINFO).is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    for size in ICON_SIZES:
        assert png_size(data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png") \
            == (size, size)
    if shutil.which("update-mime-database"):
        globs = (data / "mime" / "globs2").read_text(encoding="utf-8")
        assert f":{MIME_TYPE}:*.reprodiag.zip" in globs
    if shutil.which("appstreamcli"):  # the metainfo against the installed desktop entry
        tree = subprocess.run([shutil.which("appstreamcli"), "validate-tree", "--no-net",
                               str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert tree.returncode == 0, tree.stdout


def test_a_bundle_opens_with_reprodiag_in_the_file_manager(tmp_path):
    """What GLib-based file managers see once the script has run (gio reads the same
    shared-mime-info and desktop-entry databases)."""
    gio = tool("gio", "libglib2.0-bin")
    tool("update-mime-database", "shared-mime-info")
    data = tmp_path / "share"
    subprocess.run([str(PACKAGING / "install-desktop.sh")], check=True, capture_output=True,
                   env=dict(os.environ, XDG_DATA_HOME=str(data)), timeout=120)
    bundle, archive = tmp_path / "colab.reprodiag.zip", tmp_path / "other.zip"
    for path in (bundle, archive):
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("run.json", "{}")
    # TryExec=reprodiag: the entry counts only where reprodiag is on the PATH
    env = dict(os.environ, XDG_DATA_HOME=str(data), XDG_DATA_DIRS="/usr/local/share:/usr/share",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    info = subprocess.run([gio, "info", "-a", "standard::content-type", str(bundle), str(archive)],
                          env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    types = [line.split(":", 3)[-1].strip() for line in info.splitlines() if "content-type" in line]
    assert types == [MIME_TYPE, "application/zip"]
    default = subprocess.run([gio, "mime", MIME_TYPE], env=env, capture_output=True, text=True,
                             timeout=60, check=True).stdout
    assert f"Default application for “{MIME_TYPE}”: {paths.DESKTOP_ENTRY}" in default


# -- the licence, the wheel and the sdist ------------------------------------------------------

def test_license_file_is_the_mit_licence_pyproject_names():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    assert "LICENSE" in project["license-files"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "Permission is hereby granted, free of charge" in text


def test_spec_reads_name_version_and_id_from_the_package():
    spec = (PACKAGING / "reprodiag.spec").read_text(encoding="utf-8")
    ast.parse(spec)  # valid Python (never executed here)
    assert '"__version__"' in spec and '"APP_ID"' in spec and "RESOURCES" in spec
    for framework in ("torch", "tensorflow", "keras"):
        assert f'"{framework}"' in spec  # excluded from the frozen app
    assert os.access(PACKAGING / "build.sh", os.X_OK)
    assert os.access(PACKAGING / "install-desktop.sh", os.X_OK)


def shipped_files() -> dict[str, Path]:
    """Wheel member name -> source file, for every file the wheel must hold."""
    src = REPO / "src"
    wanted = {str(p.relative_to(src)): p for p in (src / "reprodiag").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    wanted.update({f"reprodiag/resources/{p.relative_to(RESOURCES)}": p
                   for p in RESOURCES.rglob("*") if p.is_file()})
    return wanted


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of this checkout without build leftovers: setuptools packs what an earlier
    build left in build/lib, which could hide a file the wheel no longer gets."""
    copy = tmp_path_factory.mktemp("source") / "reprodiag"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "docs"))
    return copy


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(out), str(source)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (built,) = out.glob("reprodiag-*.whl")
    return built


@pytest.mark.slow
def test_wheel_holds_the_code_the_resources_and_the_licences(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = f"reprodiag-{reprodiag.__version__}.dist-info"
        metadata = zf.read(f"{dist_info}/METADATA").decode()
    missing = set(shipped_files()) - names
    assert not missing, sorted(missing)
    assert "reprodiag/resources/colab/reprodiag_colab.ipynb" in names
    assert {f"{dist_info}/licenses/LICENSE",
            f"{dist_info}/licenses/src/reprodiag/data/DIGITS_LICENSE.txt"} <= names
    assert "License-Expression: MIT" in metadata


@pytest.mark.slow
def test_paths_finds_the_resources_in_an_installed_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    # -S: no site-packages, so neither this checkout's editable install nor anything else
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); from reprodiag import paths; "
             "print(paths.resources_dir()); print(paths.resource('icons')); "
             "print(paths.resource(paths.DESKTOP_ENTRY).is_file())")
    out = subprocess.run([sys.executable, "-S", "-c", probe, str(site)], capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    assert out == [str(site / "reprodiag" / "resources"), str(site / "reprodiag" / "resources" /
                   "icons"), "True"]
    assert (Path(out[1]) / f"{APP_ID}.svg").is_file()


def test_paths_finds_the_resources_in_this_checkout():
    # an editable install: the package is src/reprodiag, the resources the top-level folder
    assert paths.resources_dir() == RESOURCES
    assert (paths.resource("icons") / f"{APP_ID}-48.png").is_file()


@pytest.mark.slow
def test_sdist_holds_the_resources_and_builds_a_complete_wheel(source, tmp_path):
    build = ("import sys; from setuptools import build_meta; "
             "print(build_meta.build_sdist(sys.argv[1]))")
    proc = subprocess.run([sys.executable, "-c", build, str(tmp_path)], cwd=source,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sdist = tmp_path / proc.stdout.split()[-1]
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
        top = tmp_path / "unpacked" / tar.getnames()[0].split("/")[0]
    for name in ("LICENSE", "setup.py", "pyproject.toml", f"resources/{paths.DESKTOP_ENTRY}",
                 f"resources/{paths.MIME_PACKAGE}", f"resources/icons/{APP_ID}.svg"):
        assert (top / name).is_file(), name
    out = tmp_path / "wheel"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(out), str(top)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (built,) = out.glob("*.whl")
    with zipfile.ZipFile(built) as zf:
        missing = set(shipped_files()) - set(zf.namelist())
    assert not missing, sorted(missing)
