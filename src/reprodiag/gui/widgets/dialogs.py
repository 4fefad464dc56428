"""File dialogs and in-window error reporting shared by the tabs."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QWidget

BUNDLE_FILTER = "reprodiag bundles (*.reprodiag.zip *.zip);;All files (*)"


def ask_save_path(parent: QWidget, title: str, default: str, filters: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, title, default, filters)
    return path or None


def ask_open_paths(parent: QWidget, title: str, filters: str = BUNDLE_FILTER) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, title, "", filters)
    return list(paths)


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
