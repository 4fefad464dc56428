"""Open a window and report the moment it is first painted: `gui_first_paint.py app|bare`.

"app" runs reprodiag's own `reprodiag.gui.app.main()` (what `reprodiag gui` calls): the
QApplication is made first only so an event filter can see the window's first Paint event;
main() reuses it. "bare" opens a plain PySide6 window with one pyqtgraph plot, the
baseline. The first Paint event of a widget inside a QMainWindow starts the first frame,
which Qt paints in one go; a zero timer set then fires once that frame is done. It prints
one JSON line to stdout (read by the parent, which holds the clock) and ends the process.
"""

from __future__ import annotations

import json
import os
import sys
import time

MARKS_START = time.time()

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

if sys.argv[1:2] != ["bare"]:
    # as `reprodiag gui` does: the gui package comes before PySide6 (see reprodiag/gui/compat.py)
    import reprodiag.gui  # noqa: E402, F401

from PySide6.QtCore import QEvent, QObject, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget  # noqa: E402

FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")


class FirstPaint(QObject):
    """Ends the process once the first frame of a main window has been painted."""

    seen = False

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if (not self.seen and event.type() == QEvent.Type.Paint and isinstance(obj, QWidget)
                and isinstance(obj.window(), QMainWindow)):
            self.seen = True
            QTimer.singleShot(0, lambda: done(type(obj.window()).__name__))
        return False


# wall-clock times (time.time) of the phases, for the parent
MARKS: dict[str, float] = {"interpreter_ready": MARKS_START}


def done(window: str) -> None:
    imported = sorted(m for m in FRAMEWORKS if m in sys.modules)
    MARKS["painted"] = time.time()
    print(json.dumps({"painted": window, "frameworks": imported, "modules": len(sys.modules),
                      "marks": MARKS}), flush=True)
    os._exit(0)  # no teardown: the figure is the time to the first painted frame


def bare() -> int:
    import pyqtgraph as pg

    MARKS["imported"] = time.time()
    app = QApplication.instance()
    window = QMainWindow()
    window.setWindowTitle("bare")
    window.setCentralWidget(pg.PlotWidget())
    window.resize(1280, 800)
    window.show()
    return app.exec()


def main() -> int:
    which = sys.argv[1] if len(sys.argv) > 1 else "app"
    app = QApplication([sys.argv[0]])
    watcher = FirstPaint()
    app.installEventFilter(watcher)
    if which == "bare":
        return bare()
    from reprodiag.gui.app import main as gui_main

    MARKS["imported"] = time.time()
    return gui_main([])


if __name__ == "__main__":
    sys.exit(main())
