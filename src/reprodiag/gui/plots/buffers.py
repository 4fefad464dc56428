"""Growing numpy buffers for live curves, and the exponential smoothing shown on them.

Appending is amortised O(1) (capacity doubles); `view()` hands pyqtgraph a slice without
copying. Non-finite values stay NaN so plots draw them as gaps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


class GrowingSeries:
    """A float64 buffer that grows by doubling; `view()` is the filled part."""

    def __init__(self, capacity: int = 256):
        self._data = np.empty(max(1, capacity), dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def extend(self, values: Iterable[float] | np.ndarray) -> None:
        chunk = np.asarray(values if isinstance(values, np.ndarray) else list(values),
                           dtype=np.float64)
        need = self._n + chunk.size
        if need > self._data.size:
            grown = np.empty(max(need, 2 * self._data.size), dtype=np.float64)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : need] = chunk
        self._n = need

    def clear(self) -> None:
        self._n = 0

    def view(self) -> np.ndarray:
        return self._data[: self._n]


def finite_or_nan(values) -> np.ndarray:
    """NaN in place of every non-finite value (a gap in the curve)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


class Smoother:
    """Exponential moving average, NaN-aware: a gap stays a gap and does not reset the state."""

    def __init__(self, weight: float = 0.0):
        self.weight = weight
        self._state = math.nan

    def reset(self) -> None:
        self._state = math.nan

    def extend(self, values: Iterable[float]) -> list[float]:
        out = []
        w = self.weight
        for v in values:
            if not math.isfinite(v):
                out.append(math.nan)
                continue
            self._state = v if math.isnan(self._state) or w <= 0 else w * self._state + (1 - w) * v
            out.append(self._state)
        return out
