"""File dialogs and in-window error reporting shared by the tabs.

The dialogs open in the folder of the last file opened or saved through one of them, which
the window's settings keep between sessions.
"""

from __future__ import annotations

import os

from PySide6.QtWidgets import QCheckBox, QFileDialog, QGridLayout, QWidget

BUNDLE_FILTER = "reprodiag bundles (*.reprodiag.zip *.zip);;All files (*)"
OPEN_FILTER = ("reprodiag bundles and environment reports (*.reprodiag.zip *.zip *.txt *.md "
               "*.log *.json);;reprodiag bundles (*.reprodiag.zip *.zip);;"
               "Environment reports (*.txt *.md *.log *.json);;All files (*)")
ANONYMISE_TEXT = "Anonymise (recommended)"
ANONYMISE_TIP = ("Replace user names, host names and home folders with placeholders: reports "
                 "often end up on public bug trackers")


def _settings(widget: QWidget | None):
    """The AppSettings of the main window `widget` sits in (through dialogs), or None."""
    while widget is not None:
        settings = getattr(widget, "settings", None)
        if settings is not None and hasattr(settings, "last_folder"):
            return settings
        widget = widget.parentWidget()
    return None


def start_folder(parent: QWidget) -> str:
    """Where a file dialog opens: the last folder used, if it is still there ('' else)."""
    settings = _settings(parent)
    folder = settings.last_folder if settings is not None else ""
    return folder if folder and os.path.isdir(folder) else ""


def remember_folder(parent: QWidget, path: str) -> None:
    """The folder of a file just chosen becomes where the next dialog opens."""
    settings = _settings(parent)
    if settings is not None and path:
        settings.last_folder = os.path.dirname(os.path.abspath(path))


def ask_save_path(parent: QWidget, title: str, default: str, filters: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, title,
                                          os.path.join(start_folder(parent), default), filters)
    remember_folder(parent, path)
    return path or None


def ask_report_path(parent: QWidget, default: str) -> tuple[str, bool] | None:
    """A save dialog for a report with an "Anonymise (recommended)" box, ticked by default;
    (path, anonymise) or None when cancelled. Qt's own dialog, so the box can live in it."""
    dialog = QFileDialog(parent, "Export report", os.path.join(start_folder(parent), default),
                         "Markdown (*.md)")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setDefaultSuffix("md")
    anonymise = QCheckBox(ANONYMISE_TEXT)
    anonymise.setChecked(True)
    anonymise.setToolTip(ANONYMISE_TIP)
    layout = dialog.layout()
    if isinstance(layout, QGridLayout):
        layout.addWidget(anonymise, layout.rowCount(), 0, 1, layout.columnCount())
    if not dialog.exec() or not dialog.selectedFiles():
        return None
    remember_folder(parent, dialog.selectedFiles()[0])
    return dialog.selectedFiles()[0], anonymise.isChecked()


def ask_open_paths(parent: QWidget, title: str, filters: str = BUNDLE_FILTER) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, title, start_folder(parent), filters)
    if paths:
        remember_folder(parent, paths[0])
    return list(paths)


def ask_open_path(parent: QWidget, title: str, filters: str) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, title, start_folder(parent), filters)
    remember_folder(parent, path)
    return path or None


def report(widget: QWidget, text: str, level: str = "error") -> None:
    """Show a one-line message in the widget's main window (its message bar)."""
    window = widget.window()
    show = getattr(window, "show_message", None)
    if show is not None:
        show(text, level)
    else:  # a widget used on its own (tests, embedding): keep it visible on stderr
        import sys

        print(f"reprodiag: {level}: {text}", file=sys.stderr)


def report_error(widget: QWidget, text: str) -> None:
    report(widget, text, "error")
