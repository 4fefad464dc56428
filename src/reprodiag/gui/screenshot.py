"""Images of the window: save a widget as PNG, copy it, and render the app offscreen.

`render()` backs `reprodiag screenshot`: it builds the window without a display, loads the
bundles synchronously (the image must hold their data), and grabs it at the asked size.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QWidget

from reprodiag.errors import UserError

# "layers": the Compare tab with its Layers view in front.
TABS = ("environment", "runs", "compare", "layers")
SETTLE_ROUNDS = 5


def grab(widget: QWidget) -> QImage:
    return widget.grab().toImage()


def save_png(widget: QWidget, path: str | Path) -> Path:
    path = Path(path)
    # PySide6's stubs type the format as bytes; the binding takes (and needs) a str
    if not grab(widget).save(str(path), "PNG"):  # type: ignore[call-overload]
        raise ValueError(f"{path}: could not write the PNG image")
    return path


def copy_to_clipboard(widget: QWidget) -> None:
    QGuiApplication.clipboard().setImage(grab(widget))


def _settle(app: QApplication) -> None:
    """Let layouts, the plots' refresh and deferred paints run before grabbing."""
    for _ in range(SETTLE_ROUNDS):
        app.processEvents()


def render(bundles: list[str], tab: str, out: str, size: tuple[int, int] = (1280, 800)) -> Path:
    """Render the window offscreen with `bundles` loaded, showing `tab`; write `out` (PNG).

    Without bundles, only the tab shown is built: no bundle, run or pydantic code is imported
    for an Environment tab screenshot."""
    from reprodiag.core import env as core_env
    from reprodiag.gui.app import create_application
    from reprodiag.gui.main_window import MainWindow
    from reprodiag.gui.settings import AppSettings

    if tab not in TABS:
        raise UserError(f"unknown tab {tab!r}; choose one of {', '.join(TABS)}")
    out_path = Path(out).expanduser()
    if not out_path.parent.is_dir():
        raise UserError(f"{out}: folder {out_path.parent} does not exist")
    if out_path.suffix.lower() != ".png":
        raise UserError(f"{out}: screenshots are written as .png")
    loaded = []
    if bundles:
        from reprodiag.core.bundle import read_bundle

        loaded = [read_bundle(p) for p in bundles]  # BundleError (a UserError) names a bad file

    app = create_application(offscreen=True)
    window = MainWindow(AppSettings(in_memory=True), library=None)
    window.resize(*size)
    for bundle in loaded:
        window.compare_tab.add_bundle(bundle)
        window.runs_tab.import_bundle(bundle)
    window.messages.hide()
    window.statusBar().clearMessage()
    with_snapshot = [b for b in loaded if b.snapshot is not None]
    if with_snapshot:
        window.env_tab.show_source(str(with_snapshot[0].path))
    else:
        window.state.set_snapshot(core_env.capture())
    window.set_tab("compare" if tab == "layers" else tab)
    if tab == "layers":
        from reprodiag.gui.tabs.compare_tab import LAYERS

        window.compare_tab.show_panel(LAYERS)
    window.live.sample_now()  # the status bar's live load, as a person would see it
    window.show()
    _settle(app)
    for name in ("runs", "compare"):  # the plots of the tabs built, antialiased
        if window.tab_built(name):
            getattr(window, f"{name}_tab").view.refresh(force=True)
    _settle(app)
    written = save_png(window, out_path)
    window.close()
    window.deleteLater()
    _settle(app)
    return written
