"""Open a window and report the moment it is first painted, or render a screenshot:
`gui_first_paint.py app|bare|screenshot`.

"app" runs reprodiag's own `reprodiag.gui.app.main()` (what `reprodiag gui` calls): the
QApplication is made first only so an event filter can see the window's first Paint event;
main() reuses it. "bare" opens a plain PySide6 window with one pyqtgraph plot, the
baseline. The first Paint event of a widget inside a QMainWindow starts the first frame,
which Qt paints in one go; a zero timer set then fires once that frame is done.
"screenshot" runs `reprodiag screenshot --out FILE.png` without bundles (the CLI's own
main()) and reports when the PNG is written. Each mode prints one JSON line to stdout (read by
the parent, which holds the clock) and ends the process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time

MARKS_START = time.time()

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")
# What `reprodiag screenshot` without bundles has no use for.
NOT_NEEDED = ("pydantic", "reprodiag.core.bundle")

# wall-clock times (time.time) of the phases, for the parent
MARKS: dict[str, float] = {"interpreter_ready": MARKS_START}


def done(window: str) -> None:
    imported = sorted(m for m in FRAMEWORKS if m in sys.modules)
    MARKS["painted"] = time.time()
    print(json.dumps({"painted": window, "frameworks": imported, "modules": len(sys.modules),
                      "not_needed": sorted(m for m in NOT_NEEDED if m in sys.modules),
                      "marks": MARKS}), flush=True)
    os._exit(0)  # no teardown: the figure is the time to the first painted frame


def first_paint_watcher():
    """An event filter that ends the process once a main window's first frame is painted."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QMainWindow, QWidget

    class FirstPaint(QObject):
        seen = False

        def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
            if (not self.seen and event.type() == QEvent.Type.Paint and isinstance(obj, QWidget)
                    and isinstance(obj.window(), QMainWindow)):
                self.seen = True
                QTimer.singleShot(0, lambda: done(type(obj.window()).__name__))
            return False

    return FirstPaint()


def bare() -> int:
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication([sys.argv[0]])
    watcher = first_paint_watcher()
    app.installEventFilter(watcher)
    MARKS["imported"] = time.time()
    window = QMainWindow()
    window.setWindowTitle("bare")
    window.setCentralWidget(pg.PlotWidget())
    window.resize(1280, 800)
    window.show()
    return app.exec()


def app() -> int:
    from reprodiag.gui.compat import import_qt

    import_qt()  # as `reprodiag gui` starts: before anything imports PySide6
    from PySide6.QtWidgets import QApplication

    qt_app = QApplication([sys.argv[0]])
    watcher = first_paint_watcher()
    qt_app.installEventFilter(watcher)
    from reprodiag.gui.app import main as gui_main

    MARKS["imported"] = time.time()
    return gui_main([])


def screenshot() -> int:
    from reprodiag.cli import main as cli_main

    MARKS["imported"] = time.time()
    out = os.path.join(tempfile.mkdtemp(prefix="reprodiag-bench-shot-"), "shot.png")
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON line
        code = cli_main(["screenshot", "--out", out])
    if code != 0 or not os.path.getsize(out):
        print(f"reprodiag screenshot exited with {code}", file=sys.stderr)
        return 1
    done("screenshot")
    return 0


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "app"
    sys.exit({"app": app, "bare": bare, "screenshot": screenshot}[which]())
