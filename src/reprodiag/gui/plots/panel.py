"""A titled pyqtgraph plot with export (PNG/SVG), copy-to-clipboard and a placeholder text.

Exports and copies are figures for a bug report: the plot laid out afresh at FIGURE_SIZE with
light colours, print-sized text, its title and its legend, whatever its size on screen.
"""

from __future__ import annotations

import contextlib
import html
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QGuiApplication, QImage, QPainter
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
from reprodiag.gui.plots.axes import ValueAxis

# An exported figure: laid out at this size (logical pixels: about a bug tracker's column)
# and drawn at FIGURE_SCALE device pixels each, so it stays sharp on a HiDPI screen.
FIGURE_SIZE = (900, 520)
FIGURE_SCALE = 2
FIGURE_POINTS = 10  # tick labels, legend
FIGURE_TITLE_POINTS = 12
FIGURE_BACKGROUND, FIGURE_FOREGROUND = QColor("white"), QColor("#202020")
LEGEND_POINTS = 8
LEGEND_ENTRY_EXTRA = 40  # pixels of a legend line besides its text: the sample, the gaps
MARGINS, FIGURE_MARGINS = (2, 2, 6, 2), (12, 10, 18, 14)  # around the plot and legend


@contextlib.contextmanager
def _closed_paths_tolerated():
    """pyqtgraph 0.14's SVG exporter cannot parse the 'Z' (close path) that Qt 6 writes
    (pyqtgraph#3495). Every closed path it meets ends at its start point already, so the
    'Z' is dropped before pyqtgraph rewrites the coordinates; patched only while exporting."""
    module: Any = importlib.import_module("pyqtgraph.exporters.SVGExporter")  # patched by name
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
        self.widget.ci.setContentsMargins(*MARGINS)
        self.plot: pg.PlotItem = self.widget.addPlot(row=0, col=0,
                                                     axisItems={"left": ValueAxis("left")})
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        # Long runs stay cheap to draw: only the visible range, about one peak per pixel.
        # Set here, on the PlotItem: its addItem() overrides what a curve set for itself.
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        self.labels = {"left": y_label, "bottom": x_label}
        for side, text in self.labels.items():
            self.plot.setLabel(side, text)
        # Axes (with their grid lines) are repainted only when their range or look changes,
        # not with every frame of a live curve: while runs stream the step axis is held.
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.legend = pg.LegendItem(colCount=2, labelTextSize=f"{LEGEND_POINTS}pt", verSpacing=-6)
        # pyqtgraph's legend keeps its screen size under any transformation (for a legend over
        # a zoomable plot); ours sits in the layout, and must scale with an exported figure
        self.legend.setFlag(self.legend.GraphicsItemFlag.ItemIgnoresTransformations, False)
        self.widget.addItem(self.legend, row=1, col=0)
        self.plot.legend = self.legend  # PlotItem.addItem/removeItem keep it in step
        self.legend.setVisible(False)
        self._note: list[str] = []

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
        self.legend_button = QToolButton()
        self.legend_button.setText("Legend")
        self.legend_button.setCheckable(True)
        self.legend_button.setChecked(True)
        self.legend_button.setToolTip("Show or hide the legend under the plot (exports always "
                                      "have it)")
        self.legend_button.toggled.connect(lambda _on: self.update_legend())

        top = QHBoxLayout()
        top.setContentsMargins(4, 0, 4, 0)
        top.addWidget(heading)
        top.addStretch(1)
        top.addWidget(self.legend_button)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.note_label.setTextFormat(Qt.TextFormat.RichText)
        self.note_label.setStyleSheet(f"color: {theme.DIVERGENCE_COLOR}; padding: 0 4px;")
        self.note_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note_label.hide()
        layout.addWidget(self.note_label)
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

    def update_legend(self, width: int | None = None, points: float = LEGEND_POINTS,
                      shown: bool | None = None) -> None:
        """Show the legend only with entries (and unless hidden), in as many columns as the
        width allows."""
        items = self.legend.items
        self.legend_button.setEnabled(bool(items))
        if shown is None:
            shown = self.legend_button.isChecked()
        self.legend.setVisible(bool(items) and shown)
        if not items:
            return
        font = QFont(self.font())
        font.setPointSizeF(points)
        metrics = QFontMetrics(font)
        widths = [metrics.horizontalAdvance(label.text) + LEGEND_ENTRY_EXTRA
                  for _sample, label in items]
        room = (self.widget.width() if width is None else width) - 16
        # lines fill the rows left to right: each column is as wide as its widest line
        columns = next((n for n in range(len(widths), 1, -1)
                        if sum(max(widths[c::n]) for c in range(n)) <= room), 1)
        if columns != self.legend.columnCount:
            self.legend.setColumnCount(columns)

    def set_note(self, lines: list[str]) -> None:
        """Lines above the plot in the warning colour (a run that failed, and why); [] for
        none. On screen they wrap in a label over the plot; a figure has them in its title."""
        if list(lines) != self._note:
            self._note = list(lines)
            self.note_label.setText("<br>".join(html.escape(line) for line in lines))
            self.note_label.setVisible(bool(lines))

    def note(self) -> list[str]:
        return list(self._note)

    def _show_title(self, heading: list[str], points: float, width: int) -> None:
        """The figure's title rows: `heading` lines, then the note's, each cut to the width
        (pyqtgraph widens the plot to its title's), or none at all."""
        font = QFont(self.font())
        font.setPointSizeF(points)
        metrics = QFontMetrics(font)
        room = width - int(self.plot.getAxis("left").width()) - 30  # over the plot area only

        def fit(line: str) -> str:
            return html.escape(metrics.elidedText(line, Qt.TextElideMode.ElideRight, room))

        rows = [f"<b style='color:{FIGURE_FOREGROUND.name()}'>{fit(line)}</b>"
                for line in heading] + [
            f"<span style='color:{theme.DIVERGENCE_COLOR}'>{fit(line)}</span>"
            for line in self._note]
        if not rows:
            self.plot.setTitle(None)
            return
        self.plot.setTitle("<br>".join(rows), size=f"{points}pt", justify="left")
        height = int(len(rows) * points * 1.9) + 6
        self.plot.titleLabel.setMaximumHeight(height)
        self.plot.layout.setRowFixedHeight(0, height)

    def hint(self) -> str:
        return "" if self._hint.isHidden() else self._hint.text()

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
        self._colour(theme.plot_background(), theme.plot_foreground())
        self._hint.setStyleSheet(f"color: {theme.muted_text().name()}; font-size: 11pt;")

    def _colour(self, bg: QColor, fg: QColor) -> None:
        self.widget.setBackground(bg)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(fg))
            axis.setTextPen(pg.mkPen(fg))
        self._style_legend(self.legend.opts["labelTextSize"], fg)
        fill = QColor(bg)
        fill.setAlpha(200)
        self.legend.setBrush(pg.mkBrush(fill))

    # export
    @contextlib.contextmanager
    def figure(self) -> Iterator[QRectF]:
        """The plot laid out as a figure for a bug report while inside the block (yields its
        rectangle in the scene): FIGURE_SIZE, light colours, print-sized text, the title
        and the legend; curves antialiased. As it was on screen after the block."""
        ci = self.widget.ci
        before = ci.geometry()
        rect = QRectF(0, 0, *FIGURE_SIZE)
        ticks = QFont(self.font())
        ticks.setPointSizeF(FIGURE_POINTS)
        label_size = {"font-size": f"{FIGURE_POINTS + 1}pt"}
        try:
            with antialiased(self.plot):
                self._colour(FIGURE_BACKGROUND, FIGURE_FOREGROUND)
                self._show_title([self.title], FIGURE_TITLE_POINTS, FIGURE_SIZE[0])
                for side, text in self.labels.items():
                    self.plot.getAxis(side).setTickFont(ticks)
                    self.plot.setLabel(side, text, **label_size)
                self._style_legend(f"{FIGURE_POINTS}pt", FIGURE_FOREGROUND)
                self.update_legend(FIGURE_SIZE[0], FIGURE_POINTS, shown=True)
                ci.setContentsMargins(*FIGURE_MARGINS)
                self._lay_out(rect)
                yield rect
        finally:
            for side, text in self.labels.items():
                axis = self.plot.getAxis(side)
                axis.setTickFont(None)
                axis.labelStyle = {}  # setLabel keeps the last style unless given another
                self.plot.setLabel(side, text)
            self.legend.opts["labelTextSize"] = f"{LEGEND_POINTS}pt"
            self.plot.setTitle(None)
            self._apply_palette()
            ci.setContentsMargins(*MARGINS)
            self.update_legend()
            self._lay_out(before)

    def _lay_out(self, rect: QRectF) -> None:
        """Lay the plot, its title and its legend out in `rect` now, not at the next event:
        an export renders (and a restored screen paints) right after."""
        self.legend.layout.activate()
        self.legend.updateSize()  # which also moves it to the layout's corner, until:
        ci = self.widget.ci
        ci.layout.invalidate()
        ci.setGeometry(rect)
        ci.layout.activate()

    def _style_legend(self, size: str, color: QColor) -> None:
        """Text size and colour of every legend line (pyqtgraph's setters reach only lines
        added later)."""
        self.legend.setLabelTextSize(size)
        self.legend.setLabelTextColor(color)
        for _sample, label in self.legend.items:
            label.setText(label.text)
        self.legend.updateSize()

    def figure_image(self) -> QImage:
        """The figure as an image of FIGURE_SIZE x FIGURE_SCALE pixels."""
        with self.figure() as rect:
            image = QImage(int(rect.width() * FIGURE_SCALE), int(rect.height() * FIGURE_SCALE),
                           QImage.Format.Format_ARGB32)
            image.fill(FIGURE_BACKGROUND)
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
            try:
                self.widget.scene().render(painter, QRectF(image.rect()), rect)
            finally:
                painter.end()
        image.setDotsPerMeterX(int(image.dotsPerMeterX() * FIGURE_SCALE))
        image.setDotsPerMeterY(int(image.dotsPerMeterY() * FIGURE_SCALE))
        return image

    def export(self, path: str | Path) -> Path:
        """Write the figure as PNG or SVG (chosen by the file suffix)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".svg":
            with self.figure(), _closed_paths_tolerated():
                pg.exporters.SVGExporter(self.widget.ci).export(str(path))
        elif suffix == ".png":
            # PySide6's stubs type the format as bytes; the binding takes (and needs) a str
            if not self.figure_image().save(str(path), "PNG"):  # type: ignore[call-overload]
                raise UserError(f"{path}: the plot could not be written")
        else:
            raise UserError(f"{path}: plots export as .png or .svg")
        if not path.exists():
            raise UserError(f"{path}: the plot could not be written")
        return path

    def image(self) -> QImage:
        """The plot as it is on screen."""
        with antialiased(self.plot):
            return self.widget.grab().toImage()

    def copy_image(self) -> None:
        QGuiApplication.clipboard().setImage(self.figure_image())

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
