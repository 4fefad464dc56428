"""What each environment fact means for reproducibility, read from the catalog: how much it
matters (severity 1-3), whether it can change numbers, and why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from reprodiag.core.knowledge.catalog import (
    CHANGES_NUMERICS,
    INFO,
    MAY_CHANGE,
    Entry,
    for_fact,
)

__all__ = ["CHANGES_NUMERICS", "INFO", "MAY_CHANGE", "FactMeta", "describe", "is_volatile"]

# Facts that are not a difference between environments -- readings that change from moment
# to moment on one machine, and notes on where an imported report came from -- so an
# environment diff leaves them out unless asked for everything.
_VOLATILE = re.compile(r"^(cpu\.ram_available|gpu\.\d+\.memory_used|host\.source(_notes)?)$")


def is_volatile(key: str) -> bool:
    """True for readings that differ between two snapshots of the same environment."""
    return bool(_VOLATILE.match(key))


@dataclass(frozen=True, kw_only=True)
class FactMeta:
    """How a fact bears on results: numerics-relevant or not, severity 1-3, one-line why, and
    the catalog entry it belongs to."""

    numerics: bool
    severity: int
    why: str
    entry: str


def meta_of(found: Entry) -> FactMeta:
    return FactMeta(numerics=found.numerics, severity=found.severity, why=found.why,
                    entry=found.id)


@lru_cache(maxsize=8192)
def describe(key: str) -> FactMeta:
    """Severity, numerics relevance and a one-sentence reason for a fact key; never raises."""
    return meta_of(for_fact(str(key)))
