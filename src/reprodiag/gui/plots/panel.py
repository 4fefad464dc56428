"""A titled pyqtgraph plot with export (PNG/SVG), copy-to-clipboard and a placeholder text."""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path

import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFont, QFontMetrics, QGuiApplication, QImage
from PySide6.QtWidgets import (
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from reprodiag.errors import UserError
from reprodiag.gui import theme

EXPORT_WIDTH = 1600  # pixels of an exported PNG: crisp in a bug report
LEGEND_POINTS = 8


@contextlib.contextmanager
def _closed_paths_tolerated():
    """pyqtgraph 0.14's SVG exporter cannot parse the 'Z' (close path) that Qt 6 writes
    (pyqtgraph#3495). Every closed path it meets ends at its start point already, so the
    'Z' is dropped before pyqtgraph rewrites the coordinates; patched only while exporting."""
    module = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    original = module.correctCoordinates

    def tolerant(node, defs, item, options):
        for path in node.getElementsByTagName("path"):
            d = path.getAttribute("d")
            if "Z" in d:
                path.setAttribute("d", " ".join(t for t in d.split() if t not in ("Z", "z")))
        return original(node, defs, item, options)

    module.correctCoordinates = tolerant
    try:
        yield
    finally:
        module.correctCoordinates = original


@contextlib.contextmanager
def antialiased(plot: pg.PlotItem):
    """Every curve and symbol of `plot` antialiased inside the block, as it was after it.

    Live curves are drawn without antialiasing (plots/curves.py); a grab of the widget made
    while they stream should still look like a still view. (Image exports need no help:
    pyqtgraph's exporters draw antialiased anyway.)"""
    parts = [part for item in plot.listDataItems() for part in (item.curve, item.scatter)
             if isinstance(item, pg.PlotDataItem)]
    before = [part.opts.get("antialias", True) for part in parts]
    for part in parts:
        part.opts["antialias"] = True
        part.update()
    try:
        yield
    finally:
        for part, was in zip(parts, before):
            part.opts["antialias"] = was
            part.update()


class PlotPanel(QWidget):
    """One plot: title row with an export menu, the plot, and a centred hint when empty."""

    def __init__(self, title: str, y_label: str, x_label: str = "step",
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.title = title
        # The legend sits under the plot, never over the curves; it is part of every export.
        self.widget = pg.GraphicsLayoutWidget()
        self.widget.setMinimumSize(220, 150)
        self.widget.ci.setContentsMargins(2, 2, 6, 2)
        self.plot: pg.PlotItem = self.widget.addPlot(row=0, col=0)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        # Long runs stay cheap to draw: only the visible range, about one peak per pixel.
        # Set here, on the PlotItem: its addItem() overrides what a curve set for itself.
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        self.plot.setLabel("left", y_label)
        self.plot.setLabel("bottom", x_label)
        # Axes (with their grid lines) are repainted only when their range or look changes,
        # not with every frame of a live curve: while runs stream the step axis is held.
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.legend = pg.LegendItem(colCount=2, labelTextSize=f"{LEGEND_POINTS}pt", verSpacing=-6)
        self.widget.addItem(self.legend, row=1, col=0)
        self.plot.legend = self.legend  # PlotItem.addItem/removeItem keep it in step
        self.legend.setVisible(False)

        heading = QLabel(f"<b>{title}</b>")
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setToolTip(f"Save the {title.lower()} plot as PNG or SVG, "
                                      "or copy it to the clipboard")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("Export as PNG…", lambda: self._ask_export("png"))
        menu.addAction("Export as SVG…", lambda: self._ask_export("svg"))
        menu.addAction("Copy image", self.copy_image)
        self.export_button.setMenu(menu)

        top = QHBoxLayout()
        top.setContentsMargins(4, 0, 4, 0)
        top.addWidget(heading)
        top.addStretch(1)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.widget, 1)

        self._hint = QLabel(self.widget)
        self._hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._hint.setWordWrap(True)
        self._hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._hint.hide()
        self.widget.installEventFilter(self)
        self._apply_palette()

    # hint shown over an empty plot
    def set_hint(self, text: str) -> None:
        self._hint.setText(text)
        self._hint.setVisible(bool(text))
        self._place_hint()

    def update_legend(self) -> None:
        """Show the legend only with entries, in as many columns as the width allows."""
        items = self.legend.items
        self.legend.setVisible(bool(items))
        if not items:
            return
        font = QFont(self.font())
        font.setPointSizeF(LEGEND_POINTS)
        metrics = QFontMetrics(font)
        widest = max(metrics.horizontalAdvance(label.text) for _sample, label in items) + 44
        columns = max(1, min(len(items), (self.widget.width() - 16) // widest))
        if columns != self.legend.columnCount:
            self.legend.setColumnCount(columns)

    def hint(self) -> str:
        return self._hint.text() if self._hint.isVisible() else ""

    def _place_hint(self) -> None:
        w, h = self.widget.width(), self.widget.height()
        self._hint.setGeometry(int(w * 0.1), int(h * 0.3), int(w * 0.8), int(h * 0.4))

    def eventFilter(self, obj, event) -> bool:
        if obj is self.widget and event.type() == QEvent.Type.Resize:
            self._place_hint()
            self.update_legend()
        return False

    # theme
    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        fg = theme.plot_foreground()
        self.widget.setBackground(theme.plot_background())
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(fg))
            axis.setTextPen(pg.mkPen(fg))
        self.legend.setLabelTextColor(fg)
        bg = theme.plot_background()
        bg.setAlpha(200)
        self.legend.setBrush(pg.mkBrush(bg))
        self._hint.setStyleSheet(f"color: {theme.muted_text().name()}; font-size: 11pt;")

    # export
    def export(self, path: str | Path) -> Path:
        """Write the plot as PNG or SVG (chosen by the file suffix)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".svg":
            with _closed_paths_tolerated():
                pg.exporters.SVGExporter(self.widget.scene()).export(str(path))
        elif suffix == ".png":
            exporter = pg.exporters.ImageExporter(self.widget.scene())
            exporter.parameters()["width"] = EXPORT_WIDTH
            exporter.export(str(path))
        else:
            raise UserError(f"{path}: plots export as .png or .svg")
        if not path.exists():
            raise UserError(f"{path}: the plot could not be written")
        return path

    def image(self) -> QImage:
        with antialiased(self.plot):
            return self.widget.grab().toImage()

    def copy_image(self) -> None:
        QGuiApplication.clipboard().setImage(self.image())

    def _ask_export(self, kind: str) -> None:
        from reprodiag.gui.widgets.dialogs import ask_save_path, report_error

        default = self.title.lower().replace(" ", "-").replace("|", "") + f".{kind}"
        path = ask_save_path(self, f"Export {self.title}", default,
                             "PNG image (*.png)" if kind == "png" else "SVG image (*.svg)")
        if path:
            try:
                self.export(path)
            except (UserError, OSError) as exc:
                report_error(self, str(exc))
