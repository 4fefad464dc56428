"""Loss, |loss difference| and step-time plots for a set of runs, refreshed from their records.

The view reads `RunRecord.steps` incrementally into numpy buffers; the owner's single timer
calls `refresh()`, which only touches curves that grew. Differences and first-divergence
markers come from `core.compare` (abs_diff_series / compare_runs), recomputed at most a few
times a second while runs stream. Non-finite losses are gaps with a marked first step.
"""

from __future__ import annotations

import math
import time
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

from reprodiag.core.compare import abs_diff_series, compare_runs
from reprodiag.core.runs.record import RunRecord
from reprodiag.gui import theme
from reprodiag.gui.plots.buffers import GrowingSeries, Smoother, finite_or_nan
from reprodiag.gui.plots.panel import PlotPanel

DOTS_UP_TO = 400  # difference curves with at most this many points also get dots
DIFF_REFRESH_S = 0.3  # comparisons are O(steps): a few times a second is live enough


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


@dataclass(eq=False)
class BandSpec:
    """One side's loss over seeds: mean and +- one std per step (core.compare.stats)."""

    name: str
    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    color: QColor


BAND_ALPHA = 55


def first_difference_step(cmp) -> int | None:
    """Where the loss curves first differ bitwise (else where parameters first differ)."""
    if cmp.first_bitwise_loss_diff_step is not None:
        return cmp.first_bitwise_loss_diff_step
    return cmp.first_param_diff_step


def _pen(color: QColor, style: Qt.PenStyle, width: float = 1.6):
    return pg.mkPen(color=color, width=width, style=style)


def _data_item(spec, name: str) -> pg.PlotDataItem:
    item = pg.PlotDataItem(name=name, pen=_pen(spec.color, spec.style), connect="finite",
                           symbol=None, symbolSize=4, symbolPen=None, symbolBrush=pg.mkBrush(spec.color))
    return item  # clipping and downsampling come from the PlotItem (plots/panel.py)


def _marker(x: float, y: float, symbol: str, color: QColor) -> pg.PlotDataItem:
    """A single symbol in data coordinates (follows the plot's log mode, unlike a scatter)."""
    return pg.PlotDataItem([x], [y], pen=None, symbol=symbol, symbolSize=12,
                           symbolPen=pg.mkPen(color, width=2), symbolBrush=pg.mkBrush(color))


class _RunCurve:
    """Buffers and plot items of one run."""

    def __init__(self, spec: CurveSpec, loss_plot: pg.PlotItem, time_plot: pg.PlotItem | None,
                 smoothing: float):
        self.spec = spec
        self.synced = 0
        self.x = GrowingSeries()
        self.loss = GrowingSeries()
        self.smooth = GrowingSeries()
        self.ms = GrowingSeries()
        self.smoother = Smoother(smoothing)
        self.loss_item = _data_item(spec, spec.name)
        loss_plot.addItem(self.loss_item)
        self.time_item = None
        if time_plot is not None:
            self.time_item = _data_item(spec, spec.name)
            time_plot.addItem(self.time_item)
        self.nonfinite_step: int | None = None
        self.nonfinite_items: list = []

    def pull(self) -> bool:
        """Copy new steps from the record into the buffers; True when something was added."""
        steps = self.spec.record.steps
        n = len(steps)
        if n <= self.synced:
            return False
        lo = self.synced
        new_loss = steps.loss[lo:n]
        self.x.extend(steps.step[lo:n])
        self.loss.extend(finite_or_nan(new_loss))
        self.smooth.extend(self.smoother.extend(new_loss))
        self.ms.extend(finite_or_nan(t * 1000.0 for t in steps.step_time[lo:n]))
        if self.nonfinite_step is None:
            for s, v in zip(steps.step[lo:n], new_loss):
                if not math.isfinite(v):
                    self.nonfinite_step = s
                    break
        self.synced = n
        return True

    def resmooth(self, weight: float) -> None:
        self.smoother = Smoother(weight)
        self.smooth.clear()
        self.smooth.extend(self.smoother.extend(self.spec.record.steps.loss[: self.synced]))

    def draw(self, smoothed: bool) -> None:
        y = self.smooth.view() if smoothed else self.loss.view()
        self.loss_item.setData(self.x.view(), y, connect="finite")
        if self.time_item is not None:
            self.time_item.setData(self.x.view(), self.ms.view(), connect="finite")

    def mark_nonfinite(self, loss_plot: pg.PlotItem) -> None:
        """A dashed red line and an x where the loss stopped being a number."""
        if self.nonfinite_step is None or self.nonfinite_items:
            return
        step = self.nonfinite_step
        line = pg.InfiniteLine(
            pos=step, angle=90, pen=pg.mkPen(theme.DIVERGENCE_COLOR, width=1.2,
                                             style=Qt.PenStyle.DashLine),
            label=f"NaN/Inf at {step}", labelOpts={"position": 0.9, "color": theme.DIVERGENCE_COLOR},
        )
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

    def __init__(self, spec: DiffSpec, plot: pg.PlotItem, index: int = 0):
        self.spec = spec
        self.label_position = 0.95 - 0.07 * (index % 6)  # stagger the step labels
        self.item = _data_item(spec, spec.name)
        plot.addItem(self.item)
        self.marker_step: int | None = None
        self.marker_items: list = []
        self.seen = (-1, -1)
        self.nonzero = False

    def update(self, plot: pg.PlotItem) -> bool:
        ref, other = self.spec.ref, self.spec.other
        seen = (len(ref.steps), len(other.steps))
        if seen == self.seen:
            return False
        self.seen = seen
        steps, diff = abs_diff_series(ref, other)
        diff = np.where(diff > 0, diff, np.nan)  # a zero has no place on a log axis
        shown = int(np.isfinite(diff).sum())
        self.nonzero = shown > 0
        # isolated differences between zeros are single points: dots keep them visible
        self.item.setSymbol("o" if 0 < shown <= DOTS_UP_TO else None)
        self.item.setData(steps.astype(np.float64), diff, connect="finite")
        step = first_difference_step(compare_runs(ref, other))
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
        self._last_diff = 0.0
        self._update_hints()

    def panels(self) -> dict[str, PlotPanel]:
        out = {"loss": self.loss_panel, "difference": self.diff_panel}
        if self.time_panel is not None:
            out["step-time"] = self.time_panel
        return out

    @property
    def curve_keys(self) -> list[str]:
        return list(self._curves)

    def point_count(self, key: str) -> int:
        """Points currently drawn for a run (what the plot shows, for tests and status)."""
        curve = self._curves.get(key)
        if curve is None:
            return 0
        x, _ = curve.loss_item.getData()
        return 0 if x is None else len(x)

    def set_curves(self, specs: list[CurveSpec]) -> None:
        wanted = {s.key: s for s in specs}
        time_plot = self.time_panel.plot if self.time_panel is not None else None
        for key in [k for k, c in self._curves.items()
                    if k not in wanted or _changed(c.spec, wanted[k])]:
            self._curves.pop(key).remove(self.loss_panel.plot, time_plot)
        for key, spec in wanted.items():
            if key not in self._curves:
                self._curves[key] = _RunCurve(spec, self.loss_panel.plot, time_plot,
                                              self.smoothing.value())
        self._update_hints()
        self.refresh(force=True)

    def set_diffs(self, specs: list[DiffSpec]) -> None:
        wanted = {s.key: s for s in specs}
        for key in [k for k, d in self._diffs.items()
                    if k not in wanted or _changed(d.spec, wanted[k])]:
            self._diffs.pop(key).remove(self.diff_panel.plot)
        for key, spec in wanted.items():
            if key not in self._diffs:
                self._diffs[key] = _DiffCurve(spec, self.diff_panel.plot, len(self._diffs))
        self.refresh(force=True)

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
        changed = False
        smoothed = self.smoothing.value() > 0
        for curve in self._curves.values():
            if curve.pull() or force:
                curve.draw(smoothed)
                curve.mark_nonfinite(self.loss_panel.plot)
                changed = True
        now = time.monotonic()
        if force or now - self._last_diff >= DIFF_REFRESH_S:
            self._last_diff = now
            for diff in self._diffs.values():
                changed = diff.update(self.diff_panel.plot) or changed
            self._update_hints()
        return changed

    def _update_hints(self) -> None:
        for panel in self.panels().values():
            panel.update_legend()
        self.loss_panel.set_hint("" if self._curves else "No runs to show yet.")
        if self.time_panel is not None:
            self.time_panel.set_hint("" if self._curves else "Step times appear while runs stream.")
        if not self._diffs:
            self.diff_panel.set_hint(self._diff_hint)
        elif not any(d.nonzero for d in self._diffs.values()):
            started = any(d.seen[0] > 0 and d.seen[1] > 0 for d in self._diffs.values())
            self.diff_panel.set_hint("Every loss difference so far is 0 (the verdict also "
                                     "compares the parameters)."
                                     if started else "Waiting for steps…")
        else:
            self.diff_panel.set_hint("")

    def _set_log_y(self, on: bool) -> None:
        self.loss_panel.plot.setLogMode(y=on)
        for curve in self._curves.values():
            for item in curve.nonfinite_items:
                self.loss_panel.plot.removeItem(item)
            curve.nonfinite_items = []
            curve.mark_nonfinite(self.loss_panel.plot)

    def _set_smoothing(self, weight: float) -> None:
        for curve in self._curves.values():
            curve.resmooth(weight)
        self.refresh(force=True)


def _changed(old, new) -> bool:
    """Same key but another record, name or look: the items are rebuilt."""
    return (getattr(old, "record", None) is not getattr(new, "record", None)
            or getattr(old, "ref", None) is not getattr(new, "ref", None)
            or getattr(old, "other", None) is not getattr(new, "other", None)
            or old.name != new.name or old.color != new.color or old.style != new.style)
