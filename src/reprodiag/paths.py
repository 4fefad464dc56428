"""Where shipped resources and worker scripts live: installed, editable or frozen.

Worker scripts are run *by path* with the target interpreter, so they are located as
files, never imported as modules of this package.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP_ID = "io.github.reprodiag.Reprodiag"  # one reverse-DNS id: desktop entry, icon, metainfo
DESKTOP_ENTRY = f"{APP_ID}.desktop"
METAINFO = f"{APP_ID}.metainfo.xml"
MIME_PACKAGE = f"{APP_ID}.mime.xml"  # shared-mime-info: the *.reprodiag.zip bundle type

_PACKAGE_DIR = Path(__file__).resolve().parent
# A checkout (an editable install) keeps them in the top-level resources/ folder, which a
# wheel and the frozen app ship as reprodiag/resources/.
_CHECKOUT_RESOURCES = _PACKAGE_DIR.parent.parent / "resources"


def package_dir() -> Path:
    """The reprodiag package folder (inside a PyInstaller bundle when frozen)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "reprodiag"
    return _PACKAGE_DIR


def worker_script(name: str) -> Path:
    """Path of a worker script, e.g. worker_script("canary_torch.py")."""
    return package_dir() / "workers" / name


def data_file(name: str) -> Path:
    """Path of a small data file shipped in the package (e.g. the digits)."""
    return package_dir() / "data" / name


def resources_dir() -> Path:
    """The app's resources: icons/, the desktop entry, the AppStream metainfo, the MIME type.

    reprodiag/resources/ when installed from a wheel or frozen; the checkout's resources/
    when run from source.
    """
    shipped = package_dir() / "resources"
    for folder in (shipped, _CHECKOUT_RESOURCES):
        if (folder / DESKTOP_ENTRY).is_file():
            return folder
    return shipped


def resource(name: str) -> Path:
    """Path of one resource, e.g. resource("icons") or resource(paths.DESKTOP_ENTRY)."""
    return resources_dir() / name
