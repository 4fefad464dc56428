"""Open a window, then close it as Ctrl+Q does: `gui_quit.py app|bare [idle|deep]`.

"app" runs reprodiag's `reprodiag.gui.app.main()` (what `reprodiag gui` calls); once its
first frame is painted and its start-up work (capture, interpreter search, run library) is
done -- or, with "deep", one second into a deep capture, whose probes import torch and
TensorFlow -- it closes the window. "bare" closes a plain PySide6 window with one pyqtgraph
plot, the baseline. It prints one JSON line of wall-clock marks (time.time): when the close
was asked for, when the window was gone, when the event loop returned; the parent, holding
the clock, adds when the process was gone.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

if sys.argv[1:2] != ["bare"]:  # as `reprodiag gui` starts: before PySide6 (gui/compat.py)
    from reprodiag.gui.compat import import_qt

    import_qt()

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QMainWindow  # noqa: E402

SETTLED_MS = 300  # after the start-up work: the window as a person would leave it
DEEP_MS = 1000  # into a deep capture
MARKS: dict[str, float] = {}


def close(window: QMainWindow) -> None:
    MARKS["close_asked"] = time.time()
    window.close()
    if not window.isVisible():
        MARKS["window_gone"] = time.time()


def bare() -> int:
    import pyqtgraph as pg

    app = QApplication.instance()
    window = QMainWindow()
    window.setCentralWidget(pg.PlotWidget())
    window.resize(1280, 800)
    window.show()
    QTimer.singleShot(SETTLED_MS, lambda: close(window))
    return app.exec()


def app_window(scenario: str) -> int:
    from reprodiag.gui.app import main as gui_main
    from reprodiag.gui.main_window import MainWindow

    app = QApplication.instance()

    def started(window: MainWindow) -> None:
        if scenario == "deep":
            window.env_tab.capture(deep=True)
            QTimer.singleShot(DEEP_MS, lambda: close(window))
        elif window.state.tasks.busy or not window.tab_built("runs"):
            QTimer.singleShot(50, lambda: started(window))
        else:
            QTimer.singleShot(SETTLED_MS, lambda: close(window))

    def find() -> None:
        windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow)]
        if not windows:
            QTimer.singleShot(10, find)
            return
        # after start(), which main() runs once the first frame is painted
        windows[0].after_first_frame(lambda: QTimer.singleShot(0, lambda: started(windows[0])))

    QTimer.singleShot(0, find)
    return gui_main([])


def main() -> int:
    which = sys.argv[1] if len(sys.argv) > 1 else "app"
    scenario = sys.argv[2] if len(sys.argv) > 2 else "idle"
    QApplication([sys.argv[0]])
    code = bare() if which == "bare" else app_window(scenario)
    MARKS["exec_returned"] = time.time()
    print(json.dumps({"marks": MARKS, "code": code}), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
