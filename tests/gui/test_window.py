"""The main window: settings persistence, recent bundles, drag and drop, tooltips, startup,
tabs built when first needed."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QTabBar,
    QWidget,
)

from reprodiag.gui.main_window import about_text
from reprodiag.gui.settings import AppSettings


def test_geometry_tab_interpreter_and_recent_files_persist(qtbot, make_window, tmp_path, bundles):
    path = tmp_path / "persist.ini"
    window = make_window(path)
    window.resize(760, 640)  # within the offscreen screen (800x800): restore keeps it
    window.open_bundles([str(bundles["laptop"])])
    qtbot.waitUntil(lambda: len(window.compare_tab.sources) == 1, timeout=30_000)
    window.env_tab.set_target(sys.executable)  # already the target: no capture is started
    window.settings.last_interpreter = sys.executable
    window.set_tab("runs")
    window.close()

    settings = AppSettings(str(path))
    assert settings.last_tab == "runs"
    assert settings.geometry is not None
    assert settings.last_interpreter == sys.executable
    assert settings.recent_files == [str(bundles["laptop"].resolve())]

    again = make_window(path)
    assert again.current_tab_name() == "runs"
    assert again.tab_built("runs") and not again.tab_built("compare")  # the restored tab is built
    assert again.tabs.currentWidget().content is not None
    assert (again.width(), again.height()) == (760, 640)
    assert again.state.target == sys.executable


def test_recent_menu_lists_bundles_and_forgets_missing_ones(qtbot, window, tmp_path, bundles):
    window.settings.add_recent(str(bundles["server"]))
    window.settings.add_recent(str(tmp_path / "gone.reprodiag.zip"))
    window._fill_recent()
    names = [a.text() for a in window.recent_menu.actions()]
    assert names[:2] == ["gone.reprodiag.zip", "server.reprodiag.zip"]
    window._open_recent(str(tmp_path / "gone.reprodiag.zip"))
    assert window.messages.level == "error"
    assert window.settings.recent_files == [str(bundles["server"])]


def test_dropping_bundle_files_opens_them(qtbot, window, bundles):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(bundles["laptop"])),
                  QUrl.fromLocalFile(str(bundles["server"]))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: len(window.compare_tab.sources) == 2, timeout=30_000)
    assert window.current_tab_name() == "compare"


def _own_controls(window):
    """Buttons, combos, edits and spin boxes the app made (not Qt's internal sub-widgets)."""
    kinds = (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox)
    internal = (QComboBox, QAbstractSpinBox, QTabBar, QAbstractItemView, QLineEdit)
    for widget in window.findChildren(QWidget):
        if not isinstance(widget, kinds) or widget.objectName().startswith("qt_"):
            continue
        if isinstance(widget.parent(), internal):  # scroll arrows, clear buttons, editors
            continue
        yield widget


def test_tabs_are_built_when_first_shown_or_asked_for(qtbot, window):
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == ["Environment", "Runs", "Compare"]  # from the start, before any is built
    assert all(window.tabs.tabToolTip(i) for i in range(window.tabs.count()))
    assert window.tab_built("environment")
    assert not window.tab_built("runs") and not window.tab_built("compare")

    window.tabs.setCurrentIndex(1)  # as a click on the tab does
    assert window.tab_built("runs") and not window.tab_built("compare")
    page = window.tabs.currentWidget()
    assert page.content is window.runs_tab and window.runs_tab.isVisible()
    assert window.runs_tab.size() == page.size()  # laid out at once, not a frame later
    assert window.runs_tab.title == titles[1]

    tab = window.compare_tab  # reached from code (the report, the screenshot command)
    assert window.tab_built("compare") and window.compare_tab is tab
    assert window.current_tab_name() == "runs"  # building it did not switch to it
    assert window.tabs.widget(2).content is tab and tab.title == titles[2]


def test_first_frame_needs_neither_the_bundle_code_nor_the_other_tabs(tmp_path):
    """A fresh process paints the window without pydantic, bundles, comparison, the Runs and
    Compare tabs or the live-load sensors; start() after the first frame brings them in."""
    import json
    import os
    import subprocess

    code = (
        "import json, sys\n"
        "from reprodiag.gui.app import create_application\n"
        "from reprodiag.gui.main_window import MainWindow\n"
        "from reprodiag.gui.settings import AppSettings\n"
        "HEAVY = ('pydantic', 'reprodiag.core.bundle', 'reprodiag.core.compare',\n"
        "         'reprodiag.core.diagnose', 'reprodiag.core.runs.config', 'psutil',\n"
        "         'reprodiag.gui.tabs.runs_tab', 'reprodiag.gui.tabs.compare_tab')\n"
        "app = create_application()\n"
        "made = []\n"
        "def library():\n"
        "    from reprodiag.core.runs.library import RunLibrary\n"
        "    made.append(1)\n"
        "    return RunLibrary(sys.argv[2])\n"
        "w = MainWindow(AppSettings(sys.argv[1]), library)\n"
        "w.show()\n"
        "seen = {}\n"
        "def later():\n"
        "    if not (w.tab_built('runs') and w.state.tasks.busy == 0 and w.state.snapshot):\n"
        "        QTimer.singleShot(100, later); return\n"
        "    seen['later'] = [m for m in HEAVY if m in sys.modules]\n"
        "    seen['library'] = len(made)\n"
        "    w.close(); app.quit()\n"
        "def first_frame():\n"
        "    seen['first'] = [m for m in HEAVY if m in sys.modules]\n"
        "    seen['library_at_first'] = len(made)\n"
        "    w.start(); later()\n"
        "from PySide6.QtCore import QTimer\n"
        "w.after_first_frame(first_frame)\n"
        "app.exec()\n"
        "print(json.dumps(seen))\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.ini"), str(tmp_path / "runs")],
                         capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["first"] == [] and seen["library_at_first"] == 0
    assert {"reprodiag.core.bundle", "reprodiag.gui.tabs.runs_tab", "psutil"} <= set(seen["later"])
    assert seen["library"] == 1


def test_every_control_has_a_tooltip(window):
    assert window.runs_tab is not None and window.compare_tab is not None  # builds them
    controls = list(_own_controls(window))
    assert len(controls) > 30
    missing = [f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r} in "
               f"{type(w.parent()).__name__}" for w in controls if not w.toolTip()]
    assert not missing, missing


def test_menus_have_the_expected_shortcuts(window):
    shortcuts = {a.text().replace("&", ""): a.shortcut().toString()
                 for menu in window.menuBar().findChildren(type(window.recent_menu))
                 for a in menu.actions()}
    assert shortcuts["Open bundle…"] == "Ctrl+O"
    assert shortcuts["Quit"] == "Ctrl+Q"
    assert shortcuts["Export report…"] == "Ctrl+E"
    assert shortcuts["Save screenshot of window…"] == "Ctrl+Shift+S"


def test_about_names_the_versions():
    import PySide6

    import reprodiag

    text = about_text()
    assert reprodiag.__version__ in text and PySide6.__version__ in text


def test_startup_captures_the_environment_in_the_background(qtbot, window):
    window.start()
    assert window.env_tab.capturing  # the window is up before the capture is done
    assert not window.tab_built("runs")  # built (listing the run library) a turn later
    qtbot.waitUntil(lambda: window.tab_built("runs"), timeout=10_000)
    qtbot.waitUntil(lambda: window.state.snapshot is not None, timeout=120_000)
    qtbot.waitUntil(lambda: window.state.tasks.busy == 0, timeout=60_000)
    assert window.env_tab.tree.fact_count() > 50
    assert window.env_tab.interpreter.count() >= 1
    assert "CPU" in window.live.text()


def test_an_exception_in_a_slot_becomes_a_message(qtbot, window, capsys):
    from reprodiag.gui.app import install_excepthook

    previous = sys.excepthook
    install_excepthook(window)
    try:
        sys.excepthook(ValueError, ValueError("boom"), None)
    finally:
        sys.excepthook = previous
    assert window.messages.level == "error" and "boom" in window.messages.text()


def test_plots_follow_a_dark_palette(qtbot, window):
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    panel = window.runs_tab.view.loss_panel
    light = panel.widget.backgroundBrush().color()
    original = QApplication.palette()
    dark = QPalette(original)
    for role, color in ((QPalette.ColorRole.Window, "#202124"), (QPalette.ColorRole.Base, "#17181a"),
                        (QPalette.ColorRole.Text, "#e8eaed"),
                        (QPalette.ColorRole.WindowText, "#e8eaed")):
        dark.setColor(role, QColor(color))
    try:
        QApplication.setPalette(dark)
        qtbot.waitUntil(lambda: panel.widget.backgroundBrush().color().lightness() < 64,
                        timeout=5_000)
        axis_pen = panel.plot.getAxis("left").pen().color()
        assert axis_pen.lightness() > 160
    finally:
        QApplication.setPalette(original)
    qtbot.waitUntil(lambda: panel.widget.backgroundBrush().color() == light, timeout=5_000)


def test_gui_main_opens_the_window_with_bundles_and_returns_its_exit_code(tmp_path, bundles):
    """`reprodiag gui A B`: A is the reference and the title names both, as given."""
    import json
    import os
    import subprocess

    code = (
        "import json, sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from reprodiag.gui.app import create_application, main\n"
        "from reprodiag.gui.main_window import MainWindow\n"
        "app = create_application()\n"
        "seen = {}\n"
        "def check():\n"
        "    w = next(w for w in app.topLevelWidgets() if isinstance(w, MainWindow))\n"
        "    if len(w.compare_tab.sources) < 2:\n"
        "        QTimer.singleShot(200, check); return\n"
        "    seen.update(title=w.windowTitle(), tab=w.current_tab_name(),\n"
        "                labels=[s.label for s in w.compare_tab.sources],\n"
        "                reference=w.compare_tab.reference.currentText())\n"
        "    w.close()\n"
        "QTimer.singleShot(200, check)\n"
        "rc = main(sys.argv[1:])\n"
        "print(json.dumps(dict(seen, rc=rc)))\n"
    )
    home = tmp_path / "home"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(home),
               XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"))
    for given in (["server", "laptop"], ["laptop", "server"]):
        out = subprocess.run([sys.executable, "-c", code, *(str(bundles[b]) for b in given)],
                             capture_output=True, text=True, timeout=180, env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result == {"title": f"{given[0]} vs {given[1]} — reprodiag", "tab": "compare",
                          "labels": given, "reference": given[0], "rc": 0}
    # settings and the run library went to the (temporary) user folders, nowhere else
    assert (home / ".config" / "reprodiag" / "reprodiag.conf").exists()


def test_a_screenshot_while_runs_stream_draws_the_curves_antialiased(qtbot, window, tmp_path):
    import json

    from PySide6.QtGui import QImage

    from reprodiag.core.runs.config import RunConfig
    from reprodiag.core.runs.protocol import Hello, parse_line
    from reprodiag.core.runs.record import RunRecord

    window.resize(1000, 700)
    window.set_tab("runs")
    record = RunRecord(config=RunConfig(steps=400), label="streaming")
    record.start()
    record.apply(Hello(worker="canary_torch", protocol=1, pid=1, python="3.11"))
    for i in range(120):
        record.apply(parse_line(json.dumps({
            "type": "step", "step": i, "loss": 2.0 / (i + 1) + 0.3 * (i % 7), "grad_norm": 1.0,
            "param_hash": "", "batch_hash": "", "lr": 0.1, "step_time": 0.001})))
    tab = window.runs_tab
    tab.add_records([record], "this session")
    tab.view.refresh(force=True)
    item = tab.view._curves[record.run_id].loss_item
    assert tab.view.live and not item.curve.opts["antialias"]  # the fast look while streaming

    fast = window.grab().toImage()
    saved = window.save_screenshot(str(tmp_path / "live.png"))
    image = QImage(str(saved)).convertToFormat(fast.format())
    assert image.size() == fast.size() and image != fast  # the saved one is antialiased
    assert not item.curve.opts["antialias"]  # and the live view is fast again afterwards


def test_the_apps_start_up_takes_back_shibokens_import_hook():
    """PySide6's import hook inspects the source of every module imported after it and now
    and then breaks pydantic's lazy imports (see gui/compat.py): the app's start-up (what
    `reprodiag gui` and `screenshot` run first) removes it; importing reprodiag.gui alone
    changes nothing."""
    import os
    import subprocess

    code = ("import builtins, sys\n"
            "python_import = builtins.__import__\n"
            "import reprodiag.gui, reprodiag.gui.compat\n"
            "assert 'PySide6' not in sys.modules and builtins.__import__ is python_import\n"
            "from reprodiag import cli\n"
            "cli._require_gui()\n"
            "assert 'PySide6' in sys.modules\n"
            "from reprodiag.gui.app import create_application\n"
            "app = create_application(offscreen=True)\n"
            "import reprodiag.gui.tabs.runs_tab, reprodiag.gui.tabs.compare_tab, pydantic\n"
            "print(builtins.__import__ is python_import)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr[-1500:]


def test_splitters_keep_their_sizes_across_launches(qtbot, make_window, tmp_path):
    path = tmp_path / "splitters.ini"
    window = make_window(path)
    window.resize(760, 640)
    compare, runs = window.compare_tab, window.runs_tab
    qtbot.waitUntil(lambda: sum(compare.splitters["compare/plots"].sizes()) > 0)
    for splitter in (*compare.splitters.values(), *runs.splitters.values()):
        total = sum(splitter.sizes())
        splitter.setSizes([total // 4, total - total // 4])
    sizes = {k: s.sizes() for k, s in (*compare.splitters.items(), *runs.splitters.items())}
    window.close()

    again = make_window(path)
    again.resize(760, 640)
    restored = {**again.compare_tab.splitters, **again.runs_tab.splitters}
    qtbot.waitUntil(lambda: {k: s.sizes() for k, s in restored.items()} == sizes)


def test_file_dialogs_open_in_the_last_folder_used(qtbot, make_window, tmp_path, bundles):
    """Open bundles…: the dialog a later session shows starts where the last file came from."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QFileDialog

    from reprodiag.gui.widgets.dialogs import OPEN_FILTER, ask_open_paths

    path = tmp_path / "folders.ini"
    seen: list[str] = []

    def answer(chosen: str | None) -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(20, lambda: answer(chosen))
            return
        seen.append(dialog.directory().absolutePath())
        if chosen:
            dialog.selectFile(chosen)
            dialog.accept()
        else:
            dialog.reject()

    window = make_window(path)
    QTimer.singleShot(0, lambda: answer(str(bundles["laptop"])))
    assert ask_open_paths(window, "Open bundles or reports", OPEN_FILTER) == [
        str(bundles["laptop"])]
    window.close()
    again = make_window(path)
    QTimer.singleShot(0, lambda: answer(None))
    assert ask_open_paths(again.compare_tab, "Open bundles or reports", OPEN_FILTER) == []
    assert seen[-1] == str(bundles["laptop"].parent)
    assert AppSettings(str(path)).last_folder == str(bundles["laptop"].parent)


def test_quitting_with_nothing_running_closes_at_once(qtbot, window):
    window.set_tab("runs")
    window.close()
    assert not window.isVisible() and window.quit_prompt is None


@pytest.mark.framework
def test_quitting_while_a_run_streams_asks_first(qtbot, window):
    """Cancel keeps the window and the run; Quit cancels the run through the Cancel path
    and leaves no worker behind."""
    import psutil

    from reprodiag.core.runs.config import RunConfig

    tab = window.runs_tab
    record = tab.start_runs([RunConfig(steps=1_000_000, threads=1)])[0]
    qtbot.waitUntil(lambda: len(record.steps) > 0, timeout=60_000)
    pid = tab.session.pid(record.run_id)

    assert not window.close()
    prompt = window.quit_prompt
    assert window.isVisible() and prompt is not None and prompt.isVisible()
    assert prompt.text() == "1 canary run still going."
    assert "cancels" in prompt.informativeText()
    buttons = {b.text().replace("&", ""): b for b in prompt.buttons()}
    assert set(buttons) == {"Quit", "Cancel"}
    assert prompt.defaultButton() is buttons["Cancel"]
    qtbot.mouseClick(buttons["Cancel"], Qt.MouseButton.LeftButton)
    assert window.isVisible() and window.quit_prompt is None
    steps = len(record.steps)
    qtbot.waitUntil(lambda: len(record.steps) > steps, timeout=30_000)  # still running

    assert not window.close()
    buttons = {b.text().replace("&", ""): b for b in window.quit_prompt.buttons()}
    qtbot.mouseClick(buttons["Quit"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=15_000)
    assert record.status == "cancelled" and len(record.steps) > steps
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
