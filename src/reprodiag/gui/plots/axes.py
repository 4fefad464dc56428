"""A value axis whose log scale stays readable: labelled ticks in every view, not one or none.

pyqtgraph labels only whole decades on a log axis: across less than two decades that is one
label or none (issue #1505), across many it skips decades. `ValueAxis` labels decades when
the view spans three or more (every n-th when they would crowd), else 1, 2, 5 x 10^k (then
every digit), else plain values; the ticks in between stay as unlabelled grid lines. On a
linear scale it is pyqtgraph's axis.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFontMetricsF

LABEL_SPACING = 1.8  # label heights from one labelled tick to the next, at the closest
MAX_MINOR_PER_PIXEL = 1 / 4  # unlabelled ticks (grid lines): at most one every 4 pixels
LABELLED, UNLABELLED = 1.0, 0.0  # the 'spacing' our tick levels carry to tickStrings
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_text(x: float) -> str:
    """'10⁻⁷', '2·10⁻⁷', '2.5·10⁻⁷'; plain from 0.1 to 999 ('0.5', '20')."""
    if not (x > 0 and math.isfinite(x)):
        return ""
    exponent = math.floor(math.log10(x))
    mantissa = float(f"{x / 10.0 ** exponent:.2g}")
    if mantissa >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    if -1 <= exponent <= 2:
        return f"{x:.3g}"
    digits = f"{mantissa:g}"
    power = "10" + str(exponent).translate(SUPERSCRIPT)
    return power if digits == "1" else f"{digits}·{power}"


def _within(values, lo: float, hi: float) -> list[float]:
    eps = 1e-9 * max(1.0, hi - lo)
    return [float(v) for v in values if lo - eps <= v <= hi + eps]


def _rank(value: float) -> int:
    """Which ticks to label first: 10^k, then 5, 2, 3 x 10^k, then the other digits."""
    digit = round(10 ** (value - math.floor(value + 1e-9)), 6)
    return {1.0: 0, 5.0: 1, 2.0: 2, 3.0: 3}.get(digit, 4)


def _spread(values: list[float], gap: float, rank=_rank) -> list[float]:
    """The best-ranked values that keep `gap` apart (log10 units)."""
    kept: list[float] = []
    for v in sorted(values, key=lambda v: (rank(v), v)):
        if all(abs(v - k) >= gap for k in kept):
            kept.append(v)
    return sorted(kept)


def _nice_step(span: float) -> float:
    """1, 2 or 5 x 10^k, about span/4."""
    raw = span / 4
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def log_ticks(lo: float, hi: float, label_pixels: float, pixels: float) -> list[tuple[float, list]]:
    """Tick levels for a log axis over [lo, hi] (log10 units) that is `pixels` long, whose
    labels want `label_pixels` from one to the next: labelled, then unlabelled."""
    per_pixel = (hi - lo) / max(pixels, 1.0)
    gap = label_pixels * per_pixel
    edge = 0.5 * label_pixels / LABEL_SPACING * per_pixel  # half a label: drawn inside the axis
    first, last = math.floor(lo), math.ceil(hi)
    inner = (lo + edge, hi - edge)
    digits = _within([d + math.log10(m) for d in range(first, last + 1) for m in range(1, 10)],
                     lo, hi)
    decades = _within(range(first, last + 1), *inner)
    if len(decades) >= 3:
        step = max(1, math.ceil(gap - 1e-9))
        labelled: list[float] = [d for d in decades if d % step == 0]
        fine = digits if len(digits) <= pixels * MAX_MINOR_PER_PIXEL else _within(
            range(first, last + 1), lo, hi)
    else:
        labelled = _spread(_within(digits, *inner), gap)
        fine = digits
        if len(labelled) < 2 and inner[0] < inner[1]:  # < a factor of ~2: as on a linear axis
            a, b = 10.0 ** inner[0], 10.0 ** inner[1]
            unit = _nice_step(b - a)
            values = np.arange(math.ceil(a / unit) * unit, b + unit / 2, unit)
            labelled = _spread([math.log10(v) for v in values if a <= v <= b], gap,
                               rank=lambda _v: 0)
            fine = []
    taken = np.asarray(labelled, dtype=float)
    unlabelled = [v for v in fine if not np.any(np.isclose(taken, v, atol=1e-9))]
    return [(LABELLED, labelled), (UNLABELLED, unlabelled)]


class ValueAxis(pg.AxisItem):
    """The left axis of reprodiag's plots (see the module's docstring)."""

    def tickValues(self, minVal: float, maxVal: float, size: float):  # noqa: N802, N803 - pyqtgraph's names
        if not self.logMode:
            return super().tickValues(minVal, maxVal, size)
        lo, hi = sorted((float(minVal), float(maxVal)))
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo <= 0:
            return []
        font = self.style["tickFont"] or self.font()
        return log_ticks(lo, hi, LABEL_SPACING * QFontMetricsF(font).height(), size)

    def tickStrings(self, values: list[float], scale: float, spacing: float):  # noqa: N802
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        if spacing == UNLABELLED:
            return [""] * len(values)
        return [power_text(10.0 ** v * scale) for v in values]
