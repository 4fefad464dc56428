"""The main window: three tabs, menus and shortcuts, drag and drop, status bar, persistence.

The window wires the tabs to the shared AppState and to each other; it holds no diagnosis
logic. Errors from anywhere end up in the message bar above the tabs. Each tab (and its
modules) is built the first time it is shown or reached through `env_tab` / `runs_tab` /
`compare_tab`, so the window paints its first frame without importing what it does not show.
"""

from __future__ import annotations

import contextlib
import functools
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy
import pyqtgraph
import PySide6
from PySide6.QtCore import Qt, QTimer, qVersion
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

import reprodiag
from reprodiag.core.wording import counted
from reprodiag.errors import UserError
from reprodiag.gui import compat, screenshot
from reprodiag.gui.settings import AppSettings
from reprodiag.gui.state import AppState
from reprodiag.gui.widgets.dialogs import (
    OPEN_FILTER,
    ask_open_paths,
    ask_report_path,
    ask_save_path,
    report,
)
from reprodiag.gui.widgets.live_status import LiveStatus
from reprodiag.gui.widgets.message_bar import MessageBar

if TYPE_CHECKING:
    from reprodiag.core.bundle import Bundle
    from reprodiag.core.runs.library import RunLibrary
    from reprodiag.gui.tabs.compare_tab import CompareTab
    from reprodiag.gui.tabs.environment_tab import EnvironmentTab
    from reprodiag.gui.tabs.runs_tab import RunsTab

TAB_NAMES = ("environment", "runs", "compare")
TAB_TIPS = ("The target interpreter's environment snapshot",
            "Run seeded canary trainings and watch them live",
            "Compare bundles from other machines, run by run")
FIRST_FRAME_FALLBACK_MS = 2000  # start the background work even if the window is never painted
APP_NAME = "reprodiag"
WRITES_WAIT_MS = 10_000  # closing waits this long at most for files being written
COLAB_HINT = ("Open it in Google Colab (File > Upload notebook), run all cells, then open the "
              "downloaded bundle here in the Compare tab.")


def about_text() -> str:
    return (f"<h3>reprodiag {reprodiag.__version__}</h3>"
            "<p>Find out why machine-learning results differ between machines.</p>"
            f"<p>Python {platform.python_version()} · PySide6 {PySide6.__version__} "
            f"(Qt {qVersion()}) · pyqtgraph {pyqtgraph.__version__} · NumPy {numpy.__version__}"
            f"<br>{platform.platform()}</p>"
            "<p>torch and TensorFlow are imported only in worker processes of the target "
            "interpreter, never in this window.</p>"
            + ("<p><i>This PySide6 loses references to None on this Python; reprodiag "
               "compensates (see reprodiag/gui/compat.py).</i></p>" if compat.active else ""))


class TabPage(QWidget):
    """A tab page that builds its content the first time it is needed (shown or asked for)."""

    def __init__(self, build: Callable[[], QWidget], parent: QWidget | None = None):
        super().__init__(parent)
        self._build = build
        self.content: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)

    def ensure(self) -> QWidget:
        if self.content is None:
            self.content = self._build()
            self._layout.addWidget(self.content)
            if self.isVisible():  # in view now: laid out before the next paint, not a turn later
                self.content.show()
                self._layout.activate()
        return self.content


class MainWindow(QMainWindow):
    """reprodiag's window. `library=None` keeps nothing on disk (offscreen rendering); a
    function returning a RunLibrary makes it on first use (see AppState)."""

    def __init__(self, settings: AppSettings, library: RunLibrary | Callable[[], RunLibrary] | None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.state = AppState(library, self)
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.setMinimumSize(720, 500)

        if settings.last_interpreter and Path(settings.last_interpreter).exists():
            self.state.target = settings.last_interpreter
        self.explanations: list = []  # attribution results of this session, for the report
        self.confirm_quit = True  # ask before closing stops runs (tests and scripts turn it off)
        self.quit_prompt: QMessageBox | None = None
        self._started = False
        self._painted = False
        self._after_paint: list[Callable[[], None]] = []

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._pages: dict[str, TabPage] = {}
        for name, build, tip in zip(TAB_NAMES, (self._build_env, self._build_runs,
                                                self._build_compare), TAB_TIPS, strict=True):
            page = self._pages[name] = TabPage(build)
            self.tabs.addTab(page, name.capitalize())
            self.tabs.setTabToolTip(self.tabs.count() - 1, tip)
        self.tabs.currentChanged.connect(lambda i: self._pages[TAB_NAMES[i]].ensure())
        self.messages = MessageBar()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.messages)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.live = LiveStatus()
        self.busy = QLabel()
        self.busy.setToolTip("Background work in progress (captures, bundle reading/writing)")
        self.statusBar().addWidget(self.busy)
        self.statusBar().addPermanentWidget(self.live)
        self.state.tasks.busy_changed.connect(
            lambda n: self.busy.setText(f"working… ({n})" if n else ""))
        self._build_menus()
        self._restore()
        self._pages[self.current_tab_name()].ensure()  # the tab in view; the others wait

    # ------------------------------------------------------------------ tabs, built on demand
    @property
    def env_tab(self) -> EnvironmentTab:  # each page's builder makes its tab (_build_*)
        return cast("EnvironmentTab", self._pages["environment"].ensure())

    @property
    def runs_tab(self) -> RunsTab:
        return cast("RunsTab", self._pages["runs"].ensure())

    @property
    def compare_tab(self) -> CompareTab:
        return cast("CompareTab", self._pages["compare"].ensure())

    def tab_built(self, name: str) -> bool:
        return self._pages[name].content is not None

    def _build_env(self) -> EnvironmentTab:
        from reprodiag.gui.tabs.environment_tab import EnvironmentTab

        tab = EnvironmentTab(self.state)
        tab.interpreter_chosen.connect(self._remember_interpreter)
        return tab

    def _build_runs(self) -> RunsTab:
        from reprodiag.gui.tabs.runs_tab import RunsTab

        tab = RunsTab(self.state)
        self._restore_splitters(tab)
        if self._started:
            tab.load_library()
        return tab

    def _build_compare(self) -> CompareTab:
        from reprodiag.gui.tabs.compare_tab import CompareTab

        tab = CompareTab(self.state)
        tab.on_bundle_loaded = self._bundle_loaded
        tab.on_report_added = lambda *args: self.env_tab.add_snapshot(*args)
        tab.on_rerun = self.rerun
        tab.compared.connect(self._compared)
        self._restore_splitters(tab)
        return tab

    def _restore_splitters(self, tab: QWidget) -> None:
        splitters: dict[str, QSplitter] = getattr(tab, "splitters", {})
        for name, splitter in splitters.items():
            state = self.settings.splitter(name)
            if state is not None:
                splitter.restoreState(state)

    def _save_splitters(self) -> None:
        for name in TAB_NAMES:
            if self.tab_built(name):
                splitters = getattr(self._pages[name].content, "splitters", {})
                for key, splitter in splitters.items():
                    self.settings.set_splitter(key, splitter.saveState())

    def _compared(self) -> None:
        """The title names what is compared; the Environment tab names sources alike."""
        names = self.compare_tab.names()
        self.setWindowTitle(f"{names} — {APP_NAME}" if names else APP_NAME)
        if self.tab_built("environment"):
            self.env_tab.relabel({s.key: s.label for s in self.compare_tab.sources})

    # ------------------------------------------------------------------ setup
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open bundle…", self._ask_open, "Ctrl+O",
                     "Load .reprodiag.zip bundles (or environment report files) into the "
                     "Compare tab")
        self._action(file_menu, "&Paste environment report…", self.paste_report,
                     "Ctrl+Shift+V", "Add an environment from pasted collect_env output, "
                     "tf_env.txt or pip freeze, to compare with bundles or this machine")
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        self._action(file_menu, "Save &screenshot of window…", lambda: self._ask_screenshot(False),
                     "Ctrl+Shift+S", "Save the whole window as a PNG image")
        self._action(file_menu, "Save screenshot of current &tab…",
                     lambda: self._ask_screenshot(True), None, "Save the current tab as a PNG")
        self._action(file_menu, "&Copy screenshot", self.copy_screenshot, "Ctrl+Shift+C",
                     "Copy an image of the window to the clipboard")
        self._action(file_menu, "&Export report…", self._ask_report, "Ctrl+E",
                     "Write a Markdown report (GitHub-issue ready) and an HTML version, with "
                     "the plots as images beside it")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, "Ctrl+Q",
                     "Close reprodiag (asks first while canaries run)")
        view_menu = self.menuBar().addMenu("&View")
        for i, name in enumerate(TAB_NAMES):
            self._action(view_menu, f"&{name.capitalize()}", lambda i=i: self.tabs.setCurrentIndex(i),
                         f"Ctrl+{i + 1}", f"Show the {name.capitalize()} tab")
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "Get the &Colab notebook…", self._ask_colab_notebook, None,
                     "Save reprodiag's Colab notebook: it carries this reprodiag and records "
                     "Colab's environment and canaries into a bundle to compare here")
        self._action(help_menu, "&About reprodiag", self._about, None,
                     "Versions of reprodiag, Python, Qt and the plotting library")
        for menu in (file_menu, view_menu, help_menu):
            menu.setToolTipsVisible(True)

    def _action(self, menu, text, slot, shortcut, tip) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _restore(self) -> None:
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        if self.settings.last_tab in TAB_NAMES:
            self.tabs.setCurrentIndex(TAB_NAMES.index(self.settings.last_tab))

    def start(self) -> None:
        """Begin the background work of an interactive session (not of offscreen renders):
        interpreter search, capture, live load, and the run library in the Runs tab."""
        self._started = True
        self.env_tab.discover_interpreters()
        self.env_tab.capture(deep=False)
        self.live.start()
        if self.tab_built("runs"):
            self.runs_tab.load_library()
        else:  # building it loads the library; on a later turn, so input is not held up
            QTimer.singleShot(0, self._pages["runs"].ensure)

    def after_first_frame(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the window's first frame is painted, so the window appears
        before any work starts (or after a while, should it never be painted)."""
        if self._painted:
            QTimer.singleShot(0, callback)
            return
        self._after_paint.append(callback)
        QTimer.singleShot(FIRST_FRAME_FALLBACK_MS, self._first_frame_done)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if not self._painted:  # the window is painted first; a zero timer fires after its frame
            self._painted = True
            if self._after_paint:
                QTimer.singleShot(0, self._first_frame_done)

    def _first_frame_done(self) -> None:
        self._painted = True
        callbacks, self._after_paint = self._after_paint, []
        for callback in callbacks:
            callback()

    # ------------------------------------------------------------------ messages
    def show_message(self, text: str, level: str = "info") -> None:
        self.messages.show_message(text, level)
        if level == "info":
            self.statusBar().showMessage(text, 5000)

    # ------------------------------------------------------------------ bundles
    def _ask_open(self) -> None:
        self.open_bundles(ask_open_paths(self, "Open bundles or reports", OPEN_FILTER))

    def paste_report(self):
        """The paste-report dialog, on the Compare tab."""
        self.set_tab("compare")
        return self.compare_tab.paste_report_dialog()

    def rerun(self, configs: list, reference_first: bool = False) -> list:
        """Start canary runs with a fix in the Runs tab's queue (the first as its reference);
        the Compare tab shows them beside the reference and says whether the fix worked."""
        records = self.runs_tab.start_runs(configs, reference_first=reference_first)
        names = ", ".join(c.short_label() for c in configs)
        report(self, f"started {counted(len(records), 'run')} with the fix: {names}", "info")
        return records

    def add_explanation(self, result) -> None:
        self.explanations.append(result)

    # ------------------------------------------------------------------ Colab
    def _ask_colab_notebook(self) -> None:
        from reprodiag.colab import NOTEBOOK

        path = ask_save_path(self, "Save the Colab notebook", NOTEBOOK,
                             "Jupyter notebook (*.ipynb)")
        if path:
            self.save_colab_notebook(path)

    def save_colab_notebook(self, path: str) -> Path | None:
        """Save the Colab notebook (carrying this reprodiag) to `path`; say where and what next."""
        from reprodiag.colab_notebook import write_notebook

        target = Path(path)
        if target.suffix.lower() != ".ipynb":
            target = target.with_name(target.name + ".ipynb")
        try:
            write_notebook(target)
        except UserError as exc:
            report(self, f"notebook not saved: {exc}")
            return None
        report(self, f"Saved the Colab notebook to {target}. {COLAB_HINT}", "info")
        return target

    def open_bundles(self, paths: list[str], now: bool = False) -> None:
        """Load bundles into the Compare tab (and their snapshots into the Environment tab)."""
        if not paths:
            return
        self.set_tab("compare")
        if now:
            self.compare_tab.load_bundles_now(paths)
        else:
            self.compare_tab.open_bundles(paths)

    def _bundle_loaded(self, bundle: Bundle) -> None:
        key = str(Path(bundle.path).resolve())
        self.env_tab.add_bundle(bundle, self.compare_tab.label_of(key))
        self.settings.add_recent(key)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files
        for path in recent:
            action = self.recent_menu.addAction(Path(path).name,
                                                functools.partial(self._open_recent, path))
            action.setToolTip(path)
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.settings.clear_recent)
        else:
            self.recent_menu.addAction("(no recent bundles)").setEnabled(False)

    def _open_recent(self, path: str) -> None:
        if not Path(path).exists():
            self.settings.remove_recent(path)
            report(self, f"{path}: no longer exists (removed from the recent list)")
            return
        self.open_bundles([path])

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        event.acceptProposedAction()
        self.open_bundles(paths)

    # ------------------------------------------------------------------ screenshots, report
    def _ask_screenshot(self, tab_only: bool) -> None:
        name = TAB_NAMES[self.tabs.currentIndex()] if tab_only else "reprodiag"
        path = ask_save_path(self, "Save screenshot", f"{name}.png", "PNG image (*.png)")
        if path:
            self.save_screenshot(path, tab_only)

    def save_screenshot(self, path: str, tab_only: bool = False) -> Path | None:
        widget = self.tabs.currentWidget() if tab_only else self
        try:
            with self._export_quality():
                written = screenshot.save_png(widget, path)
        except (OSError, ValueError) as exc:
            report(self, str(exc))
            return None
        report(self, f"screenshot saved to {written}", "info")
        return written

    def _export_quality(self) -> contextlib.AbstractContextManager:
        """Curves drawn antialiased for an image, even while runs stream (the live view is not)."""
        if self.tab_built("runs"):
            return self.runs_tab.view.antialiased()
        return contextlib.nullcontext()

    def copy_screenshot(self) -> None:
        with self._export_quality():
            screenshot.copy_to_clipboard(self)
        report(self, "screenshot copied to the clipboard", "info")

    def _ask_report(self) -> None:
        chosen = ask_report_path(self, "reprodiag-report.md")
        if chosen:
            self.export_report(*chosen)

    def export_report(self, path: str, anonymise: bool = True):
        from reprodiag.gui.report import write_report

        try:
            md, html = write_report(self, path, anonymise=anonymise)
        except (OSError, ValueError) as exc:
            report(self, f"report not written: {exc}")
            return None
        report(self, f"report written: {md} and {html.name}", "info")
        return md, html

    def _about(self) -> None:
        QMessageBox.about(self, "About reprodiag", about_text())

    # ------------------------------------------------------------------ persistence
    def _remember_interpreter(self, python: str) -> None:
        self.settings.last_interpreter = python

    def current_tab_name(self) -> str:
        return TAB_NAMES[self.tabs.currentIndex()]

    def set_tab(self, name: str) -> None:
        self.tabs.setCurrentIndex(TAB_NAMES.index(name))

    def running_work(self) -> list[str]:
        """What closing would stop, as the quit question names it: '1 canary run',
        '3 canary runs (2 waiting to start)', '1 explanation rerunning canaries'."""
        out = []
        if self.state.session_made and self.state.session.active:
            session = self.state.session
            waiting = session.queued
            out.append(counted(len(session.active_ids()), "canary run")
                       + (f" ({waiting} waiting to start)" if waiting else ""))
        if self.tab_built("runs") or self.tab_built("compare"):  # only they open explanations
            from reprodiag.gui.widgets.explain_dialog import ExplainDialog

            explaining = sum(1 for d in self.findChildren(ExplainDialog) if d.running)
            if explaining:
                out.append(counted(explaining, "explanation") + " rerunning canaries")
        return out

    def _ask_quit(self, work: list[str]) -> QMessageBox:
        """Window-modal, not blocking: Quit closes (cancelling the runs), Cancel keeps all."""
        box = QMessageBox(QMessageBox.Icon.Question, f"Quit {APP_NAME}?",
                          f"{' and '.join(work)} still going.", parent=self)
        box.setInformativeText("Quitting cancels them; runs that have not finished are not kept.")
        quit_button = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.setWindowModality(Qt.WindowModality.WindowModal)

        def answered(button) -> None:
            self.quit_prompt = None
            if button is quit_button:
                self.confirm_quit = False
                QTimer.singleShot(0, self.close)

        box.buttonClicked.connect(answered)
        box.finished.connect(lambda _r: box.deleteLater())
        self.quit_prompt = box
        box.open()
        return box

    def closeEvent(self, event) -> None:
        work = self.running_work() if self.confirm_quit else []
        if work:
            event.ignore()
            if self.quit_prompt is None:
                self._ask_quit(work)
            return
        self.settings.geometry = self.saveGeometry()
        self.settings.last_tab = self.current_tab_name()
        self._save_splitters()
        self.settings.sync()
        self.hide()  # gone at once; what follows waits only for runs to stop and files to land
        self.live.stop()
        if self.tab_built("runs") or self.tab_built("compare"):
            from reprodiag.gui.widgets.explain_dialog import ExplainDialog

            for dialog in self.findChildren(ExplainDialog):
                dialog.cancel()
        if self.state.session_made:  # its runs are cancelled, finished ones saved
            self.state.session.shutdown()
        capture = sys.modules.get("reprodiag.core.env.capture")
        if capture is not None:  # a capture in progress is not waited for
            capture.stop_probes()
        self.state.tasks.wait_must_finish(WRITES_WAIT_MS)
        super().closeEvent(event)
