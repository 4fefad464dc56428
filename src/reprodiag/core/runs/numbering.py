"""Run numbers, as the views show them ('#3', '3 laptop') and colour them.

One rule for the Runs and Compare tabs: runs are numbered 1, 2, ... in the order they are
first numbered, and a run may take another's number (in a comparison, a run paired with a
reference run shares its number, and so its colour). The views colour run n with the
palette's (n - 1)-th colour (gui/theme.run_color).
"""

from __future__ import annotations


class RunNumbers:
    """Numbers by run id: `number` gives the next one to a run not seen yet."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self._given = 0

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._numbers

    def number(self, run_id: str) -> int:
        """The run's number, the next free one the first time it is asked for."""
        if run_id not in self._numbers:
            self._given += 1
            self._numbers[run_id] = self._given
        return self._numbers[run_id]

    def share(self, run_id: str, partner_id: str) -> int:
        """Give `run_id` the number of `partner_id` (numbering the partner if need be)."""
        self._numbers[run_id] = self.number(partner_id)
        return self._numbers[run_id]

    def color_index(self, run_id: str) -> int:
        """Which palette colour the run is drawn in (0 for run #1)."""
        return self.number(run_id) - 1
