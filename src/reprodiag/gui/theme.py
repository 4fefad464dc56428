"""Colours that follow the system light/dark palette: plot background, run colours, severity.

Qt switches the application palette with the system colour scheme; widgets that paint with
their own colours (pyqtgraph plots, severity tints) ask here on every palette change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QColor, QGuiApplication, QPalette

if TYPE_CHECKING:
    from reprodiag.core.runs.numbering import RunNumbers

# Okabe-Ito plus a few: distinguishable for colour-blind readers, on light and dark grounds.
RUN_COLORS = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8C564B", "#7F7F7F",
    "#BCBD22", "#17BECF",
)
DIVERGENCE_COLOR = "#D62728"


def palette() -> QPalette:
    return QGuiApplication.palette()


def is_dark(pal: QPalette | None = None) -> bool:
    pal = pal or palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def run_color(index: int) -> QColor:
    """The colour of the index-th run (cycles)."""
    return QColor(RUN_COLORS[index % len(RUN_COLORS)])


def numbered_color(numbers: RunNumbers, run_id: str) -> QColor:
    """The colour of a numbered run (#1 the first colour): the Runs and Compare tabs alike."""
    return run_color(numbers.color_index(run_id))


def plot_background() -> QColor:
    return palette().color(QPalette.ColorRole.Base)


def plot_foreground() -> QColor:
    return palette().color(QPalette.ColorRole.Text)


def muted_text() -> QColor:
    return palette().color(QPalette.ColorRole.PlaceholderText)


def severity_color(severity: int) -> QColor:
    """A translucent tint for a fact's severity (3 changes numerics, 2 may, 1 informational)."""
    dark = is_dark()
    if severity >= 3:
        c = QColor(220, 60, 60, 90 if dark else 60)
    elif severity == 2:
        c = QColor(230, 160, 0, 80 if dark else 55)
    else:
        c = QColor(0, 0, 0, 0)
    return c


def verdict_color(verdict: str) -> QColor:
    """Text colour for a verdict: identical green, equivalent amber, diverged red."""
    dark = is_dark()
    if verdict == "identical":
        return QColor("#5BD18B" if dark else "#1E7B3E")
    if verdict == "equivalent":
        return QColor("#F0B94A" if dark else "#9A6500")
    if verdict in ("diverged", "failed"):
        return QColor("#FF7B72" if dark else "#B42318")
    return plot_foreground()
