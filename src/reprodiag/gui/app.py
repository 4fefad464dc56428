"""Start the desktop app: the QApplication, its icon and palette, the main window.

`main(bundles)` is what `reprodiag` / `reprodiag gui BUNDLE...` call. Exceptions that escape
a slot are shown in the window's message bar (and printed), never a crash.
"""

from __future__ import annotations

import os
import sys
import traceback

import pyqtgraph as pg
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

import reprodiag
from reprodiag import paths
from reprodiag.gui import compat
from reprodiag.gui.settings import APPLICATION, ORGANIZATION, AppSettings

APP_ID = paths.APP_ID


def icon() -> QIcon:
    """The app icon: the SVG plus the rendered PNG sizes shipped beside it."""
    folder = paths.resource("icons")
    result = QIcon(str(folder / f"{APP_ID}.svg"))
    for png in sorted(folder.glob(f"{APP_ID}-*.png")):
        result.addFile(str(png))
    return result


def create_application(offscreen: bool = False) -> QApplication:
    """The QApplication (created once); offscreen=True renders without a display."""
    compat.protect_singletons()  # before the app's first Qt object: see gui/compat.py
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    elif existing is None:
        if offscreen:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        app = QApplication([sys.argv[0] if sys.argv else "reprodiag"])
    else:
        raise RuntimeError("a Qt application without widgets runs in this process")
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationVersion(reprodiag.__version__)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(icon())
    pg.setConfigOptions(antialias=True)
    return app


def install_excepthook(window) -> None:
    """Unexpected errors in slots become one line in the window; the traceback goes to stderr."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        traceback.print_exception(kind, value, tb)
        try:
            window.show_message(f"internal error: {kind.__name__}: {value}", "error")
        except Exception:  # noqa: BLE001 - the window is gone: fall back to the default hook
            previous(kind, value, tb)

    sys.excepthook = hook


def user_library():
    """The run library in the user's data folder (imports the bundle code: called on first use)."""
    from reprodiag.core.runs.library import RunLibrary

    return RunLibrary()


def main(bundles: list[str] | None = None) -> int:
    """Open the window (with bundles loaded) and run until it closes; returns the exit code."""
    from reprodiag.gui.main_window import MainWindow

    app = create_application()
    window = MainWindow(AppSettings(), user_library)
    install_excepthook(window)
    window.show()

    def begin() -> None:
        window.start()
        if bundles:
            window.open_bundles(list(bundles))

    window.after_first_frame(begin)  # the window appears before any work starts
    return app.exec()
