"""Seed statistics of two sides: is the gap larger than seed-to-seed noise?

The tables and verdicts are core.compare.stats' Markdown (the report shows the same text).
`band_specs` gives each side's loss as its mean across seeds +- one standard deviation
(`stats.step_band`), which the Compare tab shades on its loss plot.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QTextBrowser, QWidget

from reprodiag.core.compare import stats
from reprodiag.core.runs.record import RunRecord
from reprodiag.gui.plots.curves import BandSpec

SIDE_COLORS = ("#7F7F7F", "#9467BD")  # A grey, B purple: apart from the runs' own colours


def seeded(group: stats.GroupStats) -> bool:
    """Both sides of the group have finished runs of at least two different seeds."""
    return all(side is not None and len(set(side.seeds)) >= 2 for side in (group.a, group.b))


def group_runs(runs: list[RunRecord], config) -> list[RunRecord]:
    """The runs of a group: those whose config, seed aside, is the group's."""
    return [r for r in runs if r.config.model_copy(update={"seed": None}) == config]


class SeedStatsView(QTextBrowser):
    """Verdict and table per config group that ran 2+ seeds on both sides."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setToolTip("Runs of the same config over several seeds: mean, spread and "
                        "whether the gap between the sides is larger than seed noise")
        self.groups: list[stats.GroupStats] = []
        self.markdown = ""
        self._sides: tuple[Any, Any] | None = None

    def set_sides(self, a: Any, b: Any) -> bool:
        """Statistics of two bundle-like sides; returns whether any group has 2+ seeds on
        both sides (otherwise nothing is shown and `markdown` is empty)."""
        self.groups = [g for g in stats.seed_groups(a, b) if seeded(g)]
        self._sides = (a, b)
        if not self.groups:
            self.clear_stats()
            return False
        self.markdown = stats.render_markdown(self.groups, (a.label, b.label))
        _title, _, body = self.markdown.partition("\n")
        self.setMarkdown(body)
        return True

    def clear_stats(self) -> None:
        self.groups, self.markdown, self._sides = [], "", None
        self.clear()

    def band_specs(self) -> list[BandSpec]:
        """Per group and side: the loss mean +- std across its seeds."""
        if self._sides is None:
            return []
        out = []
        many = len(self.groups) > 1
        for g in self.groups:
            for side, config, color in zip(self._sides, (g.config_a, g.config_b), SIDE_COLORS):
                runs = group_runs(list(side.runs), config)
                steps, mean, std = stats.step_band(runs)
                if len(steps):
                    name = f"{side.label} mean ± std, {len(runs)} seeds"
                    out.append(BandSpec(f"{name} ({g.title})" if many else name, steps, mean,
                                        std, QColor(color)))
        return out
