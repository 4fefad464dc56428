"""Loss, |loss difference| and step-time plots for a set of runs, refreshed from their records.

The view reads `RunRecord.steps` incrementally into numpy buffers; the owner's single timer
calls `refresh()`, which only touches curves that grew. Differences and first-divergence
markers are updated from the new steps only (plots/pair_diff.py), a few times a second while
runs stream. Non-finite losses are gaps with a marked first step.
While a shown run is running the plots are drawn for speed: no antialiasing, about one sample
per pixel, the step axis held at the runs' configured length and the value axis re-fitted only
when the data leave it (or fill under half of it), not every frame; so the cached axes are
rarely repainted. Still views, exports and `antialiased()` grabs are drawn at full quality.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from reprodiag.core.runs.record import CANCELLED, FAILED, RUNNING, RunRecord
from reprodiag.gui import theme
from reprodiag.gui.plots.buffers import GrowingSeries, Smoother, finite_or_nan
from reprodiag.gui.plots.pair_diff import PairDiff, first_difference_step
from reprodiag.gui.plots.panel import PlotPanel, antialiased

# Dotted difference curves whose visible part holds only gaps make pyqtgraph's scatter take
# np.nanmin of all-NaN data: harmless (no bounds), but numpy warns on stderr every frame.
warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning,
                        module="pyqtgraph.graphicsItems.ScatterPlotItem")

DOTS_UP_TO = 400  # difference curves with at most this many points also get dots
DIFF_REFRESH_S = 0.3  # difference and step-time curves: a few times a second is live enough
LIVE_SAMPLES_PER_PIXEL = 1.0  # while streaming (peak mode keeps each pixel's min and max)
STILL_SAMPLES_PER_PIXEL = 5.0  # pyqtgraph's default: exports at EXPORT_WIDTH stay smooth
X_PADDING = 0.02  # of the held step range, as autorange pads it
Y_MARGIN = 0.1  # room left above and below the data when the value axis is re-fitted
Y_TIGHT = 0.5  # ... which happens too when the data fill less than this much of it

__all__ = ["BandSpec", "CurveSpec", "CurvesView", "DiffSpec", "LegendEntry",
           "first_difference_step"]


@dataclass(eq=False)
class CurveSpec:
    """One run to draw: a key unique in the view, its legend name, colour and line style."""

    key: str
    name: str
    record: RunRecord
    color: QColor
    style: Qt.PenStyle = Qt.PenStyle.SolidLine


@dataclass(eq=False)
class DiffSpec:
    """One pair to draw as |loss(other) - loss(ref)|."""

    key: str
    name: str
    ref: RunRecord
    other: RunRecord
    color: QColor
    style: Qt.PenStyle = Qt.PenStyle.SolidLine


@dataclass(kw_only=True)
class LegendEntry:
    """One legend line that stands for several curves: a colour (drawn solid) or a line
    style (drawn in the text colour)."""

    name: str
    color: QColor | None = None
    style: Qt.PenStyle = Qt.PenStyle.SolidLine


@dataclass(eq=False)
class BandSpec:
    """One side's loss over seeds: mean and +- one std per step (core.compare.stats)."""

    name: str
    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    color: QColor


BAND_ALPHA = 55
STYLE_SAMPLE_COLOR = "#808080"  # legend lines that stand for a line style: readable on light and dark


def _pen(color: QColor, style: Qt.PenStyle, width: float = 1.6):
    return pg.mkPen(color=color, width=width, style=style)


def _look(live: bool) -> dict:
    """Drawing options of the curves: fast while runs stream, best otherwise."""
    return {"antialias": not live,
            "autoDownsampleFactor": LIVE_SAMPLES_PER_PIXEL if live else STILL_SAMPLES_PER_PIXEL}


def _data_item(spec, name: str | None, look: dict) -> pg.PlotDataItem:
    """A curve; with a name it has its own legend line."""
    item = pg.PlotDataItem(name=name, pen=_pen(spec.color, spec.style), connect="finite",
                           symbol=None, symbolSize=4, symbolPen=None,
                           symbolBrush=pg.mkBrush(spec.color), **look)
    return item  # clipping and downsampling modes come from the PlotItem (plots/panel.py)


def _marker(x: float, y: float, symbol: str, color: QColor) -> pg.PlotDataItem:
    """A single symbol in data coordinates (follows the plot's log mode, unlike a scatter)."""
    return pg.PlotDataItem([x], [y], pen=None, symbol=symbol, symbolSize=12,
                           symbolPen=pg.mkPen(color, width=2), symbolBrush=pg.mkBrush(color))


class _RunCurve:
    """Buffers and plot items of one run."""

    def __init__(self, spec: CurveSpec, loss_plot: pg.PlotItem, time_plot: pg.PlotItem | None,
                 smoothing: float, look: dict, named: bool = True):
        self.spec = spec
        self.synced = 0
        self.x = GrowingSeries()
        self.loss = GrowingSeries()
        self.smooth = GrowingSeries()
        self.ms = GrowingSeries()
        self.smoother = Smoother(smoothing)
        self.named = named  # has its own legend line
        name = spec.name if named else None
        self.loss_item = _data_item(spec, name, look)
        loss_plot.addItem(self.loss_item)
        self.time_item = None
        if time_plot is not None:
            self.time_item = _data_item(spec, name, look)
            time_plot.addItem(self.time_item)
        self.nonfinite_step: int | None = None
        self.nonfinite_items: list = []
        self.time_drawn = -1  # steps in the step-time curve when it was last drawn

    def pull(self) -> bool:
        """Copy new steps from the record into the buffers; True when something was added.
        (Under the record's lock: its worker's reader thread may be appending.)"""
        with self.spec.record.lock:
            steps = self.spec.record.steps
            n = len(steps)
            if n <= self.synced:
                return False
            lo = self.synced
            new_loss = np.array(steps.loss[lo:n], dtype=np.float64)
            new_x = np.array(steps.step[lo:n], dtype=np.float64)
            new_ms = np.array(steps.step_time[lo:n], dtype=np.float64) * 1000.0
        self.x.extend(new_x)
        self.loss.extend(finite_or_nan(new_loss))
        self.smooth.extend(self.smoother.extend(new_loss.tolist()))
        self.ms.extend(finite_or_nan(new_ms))
        if self.nonfinite_step is None:
            bad = np.flatnonzero(~np.isfinite(new_loss))
            if bad.size:
                self.nonfinite_step = int(new_x[int(bad[0])])
        self.synced = n
        return True

    def resmooth(self, weight: float) -> None:
        self.smoother = Smoother(weight)
        self.smooth.clear()
        losses = np.asarray(self.spec.record.steps.loss[: self.synced], dtype=np.float64)
        self.smooth.extend(self.smoother.extend(losses.tolist()))

    def last_step(self) -> float | None:
        return float(self.x.view()[-1]) if len(self.x) else None

    def draw(self, smoothed: bool, look: dict) -> None:
        y = self.smooth.view() if smoothed else self.loss.view()
        self.loss_item.setData(self.x.view(), y, connect="finite", **look)

    def draw_time(self, look: dict, force: bool) -> bool:
        """The step-time curve, when it grew since it was last drawn (or `force`)."""
        if self.time_item is None or (self.time_drawn == len(self.x) and not force):
            return False
        self.time_item.setData(self.x.view(), self.ms.view(), connect="finite", **look)
        self.time_drawn = len(self.x)
        return True

    def mark_end(self, loss_plot: pg.PlotItem) -> None:
        """A dashed red line and an x where the loss stopped being a number, or where a
        failed run stopped."""
        if self.nonfinite_items:
            return
        if self.nonfinite_step is not None:
            step, text = self.nonfinite_step, f"NaN/Inf at {self.nonfinite_step}"
        elif self.spec.record.status == FAILED and len(self.x):
            step, text = int(self.x.view()[-1]), f"{self.spec.name} failed"
        else:
            return
        line = pg.InfiniteLine(
            pos=step, angle=90, pen=pg.mkPen(theme.DIVERGENCE_COLOR, width=1.2,
                                             style=Qt.PenStyle.DashLine),
            label=text, labelOpts={"position": 0.9, "color": theme.DIVERGENCE_COLOR},
        )
        line.setToolTip(f"{self.spec.name}: {self.spec.record.reason}"
                        if self.spec.record.reason else text)
        loss_plot.addItem(line, ignoreBounds=True)
        self.nonfinite_items.append(line)
        finite = np.isfinite(self.loss.view())
        if finite.any():
            last = int(np.flatnonzero(finite)[-1])
            y = float(self.loss.view()[last])
            mark = _marker(float(self.x.view()[last]), y, "x", QColor(theme.DIVERGENCE_COLOR))
            loss_plot.addItem(mark)
            self.nonfinite_items.append(mark)

    def remove(self, loss_plot: pg.PlotItem, time_plot: pg.PlotItem | None) -> None:
        loss_plot.removeItem(self.loss_item)
        if self.time_item is not None and time_plot is not None:
            time_plot.removeItem(self.time_item)
        for item in self.nonfinite_items:
            loss_plot.removeItem(item)


class _DiffCurve:
    """The |loss difference| curve of one pair, with its first-divergence marker."""

    def __init__(self, spec: DiffSpec, plot: pg.PlotItem, index: int, look: dict,
                 named: bool = True):
        self.spec = spec
        self.label_position = 0.95 - 0.07 * (index % 6)  # stagger the step labels
        self.named = named
        self.item = _data_item(spec, spec.name if named else None, look)
        plot.addItem(self.item)
        self.marker_step: int | None = None
        self.marker_items: list = []
        self.pair = PairDiff(spec.ref, spec.other)
        self.shown = GrowingSeries()  # the differences above 0, NaN elsewhere
        self.nonzero = False
        self.nonfinite_step: int | None = None  # where a loss first is NaN/inf (no difference)

    @property
    def seen(self) -> tuple[int, int]:
        return len(self.spec.ref.steps), len(self.spec.other.steps)

    def update(self, plot: pg.PlotItem, look: dict, force: bool = False) -> bool:
        """Take in new steps of the pair; redraw when they changed anything (or `force`)."""
        rebuilds = self.pair.rebuilds
        if not self.pair.update() and not force:
            return False
        diff = self.pair.diff.view()
        if self.pair.rebuilds != rebuilds:  # compared whole again: not an extension
            self.shown.clear()
            self.nonfinite_step = None
        new = diff[len(self.shown):]
        if self.nonfinite_step is None and np.isnan(new).any():
            at = len(self.shown) + int(np.flatnonzero(np.isnan(new))[0])
            self.nonfinite_step = int(self.pair.steps.view()[at])
        self.shown.extend(np.where(new > 0, new, np.nan))  # a zero has no place on a log axis
        steps, diff = self.pair.steps.view(), self.shown.view()
        shown = int(np.count_nonzero(np.isfinite(diff)))
        self.nonzero = shown > 0
        # isolated differences between zeros are single points: dots keep them visible
        self.item.setSymbol("o" if 0 < shown <= DOTS_UP_TO else None)
        self.item.setData(steps, diff, connect="finite", **look)
        step = self.pair.first_difference_step
        if step != self.marker_step:
            self._set_marker(plot, step, steps, diff)
        return True

    def _set_marker(self, plot: pg.PlotItem, step: int | None, steps, diff) -> None:
        for item in self.marker_items:
            plot.removeItem(item)
        self.marker_items = []
        self.marker_step = step
        if step is None:
            return
        color = self.spec.color
        line = pg.InfiniteLine(
            pos=step, angle=90, pen=pg.mkPen(color, width=1.2, style=Qt.PenStyle.DotLine),
            label=f"{step}", labelOpts={"position": self.label_position, "color": color},
        )
        line.setToolTip(f"{self.spec.name}: first difference at step {step}")
        plot.addItem(line, ignoreBounds=True)
        self.marker_items.append(line)
        where = np.flatnonzero(steps == step)
        if where.size and np.isfinite(diff[where[0]]):
            dot = _marker(float(step), float(diff[where[0]]), "o", color)
            plot.addItem(dot)
            self.marker_items.append(dot)

    def remove(self, plot: pg.PlotItem) -> None:
        plot.removeItem(self.item)
        for item in self.marker_items:
            plot.removeItem(item)


class CurvesView(QWidget):
    """The run plots: loss (log-y toggle, smoothing), |loss diff| (log), step time."""

    def __init__(self, show_step_time: bool = True, parent: QWidget | None = None,
                 diff_hint: str = "Differences against the reference run appear here."):
        super().__init__(parent)
        self.loss_panel = PlotPanel("Loss", "loss")
        self.diff_panel = PlotPanel("|Loss difference| vs reference", "|Δ loss|")
        self.diff_panel.plot.setLogMode(y=True)
        self.diff_panel.plot.getAxis("left").enableAutoSIPrefix(False)
        self.time_panel = PlotPanel("Step time", "ms") if show_step_time else None
        self._diff_hint = diff_hint

        self.log_y = QCheckBox("Log loss axis")
        self.log_y.setToolTip("Show the loss on a logarithmic axis (differences are always log)")
        self.log_y.toggled.connect(self._set_log_y)
        self.smoothing = QDoubleSpinBox()
        self.smoothing.setRange(0.0, 0.99)
        self.smoothing.setSingleStep(0.1)
        self.smoothing.setDecimals(2)
        self.smoothing.setSpecialValueText("off")
        self.smoothing.setToolTip("Exponential smoothing of the loss curves (display only; "
                                  "comparisons always use the exact values)")
        self.smoothing.valueChanged.connect(self._set_smoothing)

        controls = QHBoxLayout()
        controls.setContentsMargins(4, 0, 4, 0)
        controls.addWidget(self.log_y)
        controls.addSpacing(12)
        label = QLabel("Smoothing:")
        label.setToolTip(self.smoothing.toolTip())
        controls.addWidget(label)
        controls.addWidget(self.smoothing)
        self.bands_box = QCheckBox("Seed bands")
        self.bands_box.setToolTip("Shade each side's mean loss ± one standard deviation across "
                                  "its seeds under the run curves")
        self.bands_box.setChecked(True)
        self.bands_box.toggled.connect(self._show_bands)
        self.bands_box.hide()
        controls.addSpacing(12)
        controls.addWidget(self.bands_box)
        controls.addStretch(1)

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.loss_panel, 0, 0)
        grid.addWidget(self.diff_panel, 0, 1)
        if self.time_panel is not None:
            grid.addWidget(self.time_panel, 1, 0, 1, 2)
            grid.setRowStretch(0, 3)
            grid.setRowStretch(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addLayout(grid, 1)

        self._curves: dict[str, _RunCurve] = {}
        self._diffs: dict[str, _DiffCurve] = {}
        self._bands: list[tuple[BandSpec, list]] = []  # spec, its plot items
        self._legends: dict[str, list[LegendEntry] | None] = {}  # panel: shared legend entries
        self._last_diff = 0.0
        self._live = False  # a shown run is running: plots drawn for speed
        self._held: dict[tuple[str, int], tuple] = {}  # (panel, axis): the range held there
        self._update_hints()

    def panels(self) -> dict[str, PlotPanel]:
        out = {"loss": self.loss_panel, "difference": self.diff_panel}
        if self.time_panel is not None:
            out["step-time"] = self.time_panel
        return out

    @property
    def curve_keys(self) -> list[str]:
        return list(self._curves)

    def steps_pulled(self, key: str) -> int | None:
        """Steps of a run read into its curve so far (None: the run is not drawn)."""
        curve = self._curves.get(key)
        return curve.synced if curve is not None else None

    def point_count(self, key: str) -> int:
        """Points currently drawn for a run (what the plot shows, for tests and status)."""
        curve = self._curves.get(key)
        if curve is None:
            return 0
        x, _ = curve.loss_item.getOriginalDataset()  # getData() is after downsampling
        return 0 if x is None else len(x)

    @property
    def live(self) -> bool:
        """True while a shown run is running (fast drawing, step axis held)."""
        return self._live

    @contextlib.contextmanager
    def antialiased(self):
        """Draw every curve antialiased inside the block (a screenshot while runs stream)."""
        with contextlib.ExitStack() as stack:
            for panel in self.panels().values():
                stack.enter_context(antialiased(panel.plot))
            yield

    def set_curves(self, specs: list[CurveSpec], legend: list[LegendEntry] | None = None) -> None:
        """The runs to draw. Without `legend` each curve has its own legend line; with it the
        loss (and step-time) legends show those entries instead."""
        wanted = {s.key: s for s in specs}
        time_plot = self.time_panel.plot if self.time_panel is not None else None
        named = legend is None
        for key in [k for k, c in self._curves.items() if k not in wanted or c.named != named
                    or _changed(c.spec, wanted[k])]:
            self._curves.pop(key).remove(self.loss_panel.plot, time_plot)
        for key, spec in wanted.items():
            if key not in self._curves:
                self._curves[key] = _RunCurve(spec, self.loss_panel.plot, time_plot,
                                              self.smoothing.value(), _look(self._live), named)
        self._legends["loss"] = self._legends["step-time"] = legend
        self._fill_legends()
        self._update_hints()
        self.refresh(force=True)

    def set_diffs(self, specs: list[DiffSpec], legend: list[LegendEntry] | None = None) -> None:
        """The pairs to draw as differences; `legend` as in set_curves."""
        wanted = {s.key: s for s in specs}
        named = legend is None
        for key in [k for k, d in self._diffs.items() if k not in wanted or d.named != named
                    or _changed(d.spec, wanted[k])]:
            self._diffs.pop(key).remove(self.diff_panel.plot)
        for key, spec in wanted.items():
            if key not in self._diffs:
                self._diffs[key] = _DiffCurve(spec, self.diff_panel.plot, len(self._diffs),
                                              _look(self._live), named)
        self._legends["difference"] = legend
        self._fill_legends()
        self.refresh(force=True)

    def legend_names(self, panel: str) -> list[str]:
        """The lines of a panel's legend, as shown."""
        return [label.text for _sample, label in self.panels()[panel].legend.items]

    def _fill_legends(self) -> None:
        """Panels given legend entries show those (and the seed bands), in that order."""
        for name, panel in self.panels().items():
            entries = self._legends.get(name)
            if entries is None:
                continue
            legend = panel.legend
            legend.clear()
            for entry in entries:
                sample = pg.PlotDataItem(pen=_pen(entry.color or QColor(STYLE_SAMPLE_COLOR),
                                                  entry.style))
                legend.addItem(sample, entry.name)
            if name == "loss":
                for spec, items in self._bands:
                    legend.addItem(items[-1], spec.name)
            for sample, _label in legend.items:  # a click would hide nothing but the sample
                sample.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            panel.update_legend()

    def set_bands(self, specs: list[BandSpec]) -> None:
        """Seed bands on the loss plot (replacing any); the check box shows when there are any."""
        plot = self.loss_panel.plot
        for _spec, items in self._bands:
            for item in items:
                plot.removeItem(item)
        self._bands = []
        for spec in specs:
            x = spec.steps.astype(float)
            edge = pg.mkPen(QColor(0, 0, 0, 0))  # invisible, but a curve the fill can follow
            low = pg.PlotDataItem(x, spec.mean - spec.std, pen=edge, connect="finite")
            high = pg.PlotDataItem(x, spec.mean + spec.std, pen=edge, connect="finite")
            fill_color = QColor(spec.color)
            fill_color.setAlpha(BAND_ALPHA)
            fill = pg.FillBetweenItem(low, high, brush=pg.mkBrush(fill_color))
            mean = pg.PlotDataItem(x, spec.mean, name=spec.name, connect="finite",
                                   pen=_pen(spec.color, Qt.PenStyle.DashLine, 2.4))
            for item in (low, high, fill, mean):
                item.setZValue(-10)
                plot.addItem(item, ignoreBounds=item is fill)
                item.setVisible(self.bands_box.isChecked())
            self._bands.append((spec, [low, high, fill, mean]))
        self.bands_box.setVisible(bool(specs))
        self._fill_legends()
        self.loss_panel.update_legend()

    @property
    def band_names(self) -> list[str]:
        return [spec.name for spec, _items in self._bands]

    def _show_bands(self, on: bool) -> None:
        for _spec, items in self._bands:
            for item in items:
                item.setVisible(on)

    def refresh(self, force: bool = False) -> bool:
        """Draw what arrived since the last call; True when anything changed."""
        live = any(c.spec.record.status == RUNNING for c in self._curves.values())
        if live != self._live:  # streaming started or ended: every curve changes its look
            self._live = live
            force = True
            if not live:
                self._release_axes()
        look = _look(live)
        changed = False
        smoothed = self.smoothing.value() > 0
        for curve in self._curves.values():
            if curve.pull() or force:
                curve.draw(smoothed, look)
                curve.mark_end(self.loss_panel.plot)
                changed = True
        if live and changed:
            self._hold_axes(["loss"])
        now = time.monotonic()
        if force or now - self._last_diff >= DIFF_REFRESH_S:
            self._last_diff = now
            slow = []
            for curve in self._curves.values():
                slow.append(curve.draw_time(look, force))
            for diff in self._diffs.values():
                slow.append(diff.update(self.diff_panel.plot, look, force))
            if live and any(slow):
                self._hold_axes(["difference", "step-time"])
            changed = changed or any(slow)
            self._update_hints()
        return changed

    def _x_end(self) -> float:
        """The last step the shown runs will reach: running runs' configured step count."""
        ends = [c.last_step() for c in self._curves.values()]
        ends += [c.spec.record.config.steps - 1 for c in self._curves.values()
                 if c.spec.record.status == RUNNING]
        return max([e for e in ends if e is not None] or [0.0])

    def _hold_axes(self, names: list[str]) -> None:
        """While runs stream: hold the step axis at [0, the runs' last step], and the value
        axis until the data leave it or fill under Y_TIGHT of it; an autorange every frame
        would repaint both axes (and the plot twice) each time. An axis the user zoomed or
        panned is left where they put it."""
        end = max(1.0, self._x_end())
        panels = self.panels()
        for name in names:
            panel = panels.get(name)
            if panel is None:
                continue
            box = panel.plot.getViewBox()
            if self._holdable(name, 0, box) and end > self._held.get((name, 0), (-1.0,))[0]:
                panel.plot.setXRange(0.0, end, padding=X_PADDING)
                self._held[(name, 0)] = (end, tuple(box.viewRange()[0]))
            y = box.childrenBounds()[1]
            if y is None or not np.all(np.isfinite(y)) or not self._holdable(name, 1, box):
                continue
            lo, hi = y
            held = self._held.get((name, 1))
            if held is not None:
                low, high = held[1]
                if low <= lo and hi <= high and hi - lo >= Y_TIGHT * (high - low):
                    continue
            span = (hi - lo) or abs(hi) or 1.0
            panel.plot.setYRange(lo - Y_MARGIN * span, hi + Y_MARGIN * span, padding=0.0)
            self._held[(name, 1)] = (None, tuple(box.viewRange()[1]))

    def _holdable(self, name: str, axis: int, box) -> bool:
        """Not held yet, or still where it was held (not moved by the user)."""
        held = self._held.get((name, axis))
        return held is None or _same_range(box.viewRange()[axis], held[1])

    def _release_axes(self) -> None:
        """Streaming ended: axes held by `_hold_axes` (and not moved since) fit the data again."""
        panels = self.panels()
        for (name, axis), (_end, held) in self._held.items():
            plot = panels[name].plot
            if _same_range(plot.viewRange()[axis], held):
                plot.enableAutoRange(axis=axis)
        self._held = {}

    def stopped(self, records: list[RunRecord]) -> list[str]:
        """'#2 failed: <why>' for each of these runs that failed or was cancelled."""
        names = {c.spec.record.run_id: c.spec.name for c in self._curves.values()}
        out, seen = [], set()
        for record in records:
            if record.status not in (FAILED, CANCELLED) or record.run_id in seen:
                continue
            seen.add(record.run_id)
            why = record.reason if record.reason and record.reason != record.status else ""
            out.append(f"{names.get(record.run_id) or record.display_name()} {record.status}"
                       + (f": {why}" if why else ""))
        return out

    def _update_hints(self) -> None:
        """The text over an empty plot says why it is empty; a run that failed or was
        cancelled is named with its reason above the plot it is missing from."""
        for panel in self.panels().values():
            panel.update_legend()
        curves = list(self._curves.values())
        stopped = self.stopped([c.spec.record for c in curves])
        if not curves:
            self.loss_panel.set_hint("No runs to show yet.")
        elif not any(len(c.x) for c in curves):
            self.loss_panel.set_hint("\n".join(stopped) or "Waiting for steps…")
        else:
            self.loss_panel.set_hint("")
        self.loss_panel.set_note(stopped if not self.loss_panel.hint() else [])
        if self.time_panel is not None:
            self.time_panel.set_hint("" if self._curves else "Step times appear while runs stream.")
        diffs = list(self._diffs.values())
        stopped = self.stopped([r for d in diffs for r in (d.spec.ref, d.spec.other)])
        started = any(d.seen[0] > 0 and d.seen[1] > 0 for d in diffs)
        if not diffs:
            hint = self._diff_hint
        elif any(d.nonzero for d in diffs):
            hint = ""
        elif any(d.nonfinite_step is not None for d in diffs):
            hint = "\n".join(f"{d.spec.name}: a loss is not finite from step {d.nonfinite_step}"
                             for d in diffs if d.nonfinite_step is not None)
            hint += "\n(no difference to draw; the Loss plot marks where)"
        elif started:
            hint = "Every loss difference so far is 0 (the verdict also compares the parameters)."
        elif stopped:
            hint = "No steps to compare:\n" + "\n".join(stopped)
        else:
            hint = "Waiting for steps…"
        self.diff_panel.set_hint(hint)
        self.diff_panel.set_note(stopped if diffs and not hint.startswith("No steps") else [])

    def _set_log_y(self, on: bool) -> None:
        self.loss_panel.plot.setLogMode(y=on)
        for curve in self._curves.values():
            for item in curve.nonfinite_items:
                self.loss_panel.plot.removeItem(item)
            curve.nonfinite_items = []
            curve.mark_end(self.loss_panel.plot)

    def _set_smoothing(self, weight: float) -> None:
        for curve in self._curves.values():
            curve.resmooth(weight)
        self.refresh(force=True)


def _same_range(a, b) -> bool:
    return bool(np.allclose(a, b, rtol=1e-9, atol=1e-9))


def _changed(old, new) -> bool:
    """Same key but another record, name or look: the items are rebuilt."""
    return (getattr(old, "record", None) is not getattr(new, "record", None)
            or getattr(old, "ref", None) is not getattr(new, "ref", None)
            or getattr(old, "other", None) is not getattr(new, "other", None)
            or old.name != new.name or old.color != new.color or old.style != new.style)
