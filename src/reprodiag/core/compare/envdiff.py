"""Fact-by-fact difference of two environment snapshots, most consequential first.

A fact present on one side only is a difference whose missing side reads "absent". Two
unavailable facts count as the same (neither side has a value), whatever their reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reprodiag.core.env.meta import describe, is_volatile
from reprodiag.core.env.model import GROUPS, Fact, Snapshot, group_of

ABSENT = Fact(unavailable="absent")
_GROUP_ORDER = {g: i for i, g in enumerate(GROUPS)}


@dataclass(frozen=True)
class EnvDifference:
    """One fact on both sides, with what it means for reproducibility."""

    key: str
    group: str
    a: Fact
    b: Fact
    severity: int
    numerics: bool
    why: str
    same: bool

    @property
    def a_text(self) -> str:
        return fact_text(self.a)

    @property
    def b_text(self) -> str:
        return fact_text(self.b)


def fact_text(fact: Fact) -> str:
    """The fact as a person reads it; "absent" when the snapshot does not have it."""
    return "absent" if fact == ABSENT else fact.text()


def _normal(value: Any) -> Any:
    """Tuples and lists compare equal (a live snapshot vs one read back from JSON)."""
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


def same_fact(a: Fact, b: Fact) -> bool:
    """Equal values (bool never equals a number), or both unavailable, or both absent."""
    if a == ABSENT or b == ABSENT:
        return a == b
    if not a.ok or not b.ok:
        return a.ok == b.ok
    return _equal_values(a.value, b.value)


def _equal_values(x: Any, y: Any) -> bool:
    if isinstance(x, bool) != isinstance(y, bool):
        return False
    if isinstance(x, (list, tuple, dict)) or isinstance(y, (list, tuple, dict)):
        return _normal(x) == _normal(y)
    return x == y


def _natural(key: str) -> tuple:
    """Sort key with digit runs compared as numbers, so gpu.10 comes after gpu.2."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", key))


def order_key(d: EnvDifference) -> tuple:
    """Numerics-relevant first, then higher severity, then group display order, then key."""
    return (not d.numerics, -d.severity, _GROUP_ORDER.get(d.group, len(_GROUP_ORDER)),
            _natural(d.key))


def diff_env(a: Snapshot, b: Snapshot, *, include_same: bool = False) -> list[EnvDifference]:
    """The facts that differ between `a` and `b` (all facts with include_same), ranked."""
    out = []
    for key in set(a.facts) | set(b.facts):
        fa, fb = a.facts.get(key, ABSENT), b.facts.get(key, ABSENT)
        same = same_fact(fa, fb)
        if (same or is_volatile(key)) and not include_same:
            continue
        meta = describe(key)
        out.append(EnvDifference(key=key, group=group_of(key), a=fa, b=fb,
                                 severity=meta.severity, numerics=meta.numerics, why=meta.why,
                                 same=same))
    out.sort(key=order_key)
    return out
