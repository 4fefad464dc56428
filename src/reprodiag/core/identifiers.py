"""The base of reprodiag's enums of stable identifiers (Stage, Magnitude, Verdict, RunStatus).

A member is its identifier: it compares equal to that string, JSON and bundles keep it, and
str() gives it (not 'Verdict.IDENTICAL'), so messages read the same as before the enums.
Views show each enum's separate map of display labels.
"""

from __future__ import annotations

from enum import Enum


class Identifier(str, Enum):
    def __str__(self) -> str:
        return self.value
