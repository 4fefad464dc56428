"""Fact-by-fact difference of two environment snapshots, most consequential first.

A fact missing from one side is *unknown* there (a quick snapshot lacks what a deep one
probes; an imported report lacks most things), not different: it is listed with its missing
side reading "not captured" and `unknown` set, and never counts as a difference by itself.
Two groups are complete lists, where a missing key does say something: a variable missing
from a side that recorded its variables is unset there, and a package missing from a side
that recorded its packages is not installed. Two unavailable facts count as the same
(neither side has a value), whatever their reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reprodiag.core.knowledge.facts import describe, is_volatile
from reprodiag.core.env.model import GROUPS, Fact, Snapshot, group_of

ABSENT = Fact(unavailable="absent")
NOT_INSTALLED = Fact(unavailable="not installed")
NO_GPU = Fact(unavailable="no such GPU")
# Groups whose facts a snapshot records as a complete list (see the module docstring).
COMPLETE_GROUPS = ("var", "pkg")
_GROUP_ORDER = {g: i for i, g in enumerate(GROUPS)}


@dataclass(frozen=True, kw_only=True)
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
    unknown: bool = False  # not captured on one side: not a difference by itself

    @property
    def a_text(self) -> str:
        return fact_text(self.a, self.group)

    @property
    def b_text(self) -> str:
        return fact_text(self.b, self.group)


def fact_text(fact: Fact, group: str = "") -> str:
    """The fact as a person reads it; "not captured" when the snapshot does not have it,
    "not set" for a variable that is not set."""
    if fact == ABSENT:
        return "not captured"
    if fact in (NOT_INSTALLED, NO_GPU):
        return fact.unavailable or ""
    if group == "var" and fact.ok and fact.value is None:
        return "not set"
    return fact.text()


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
    """Known differences first, numerics-relevant first, then higher severity, then group
    display order, then key."""
    return (d.unknown, not d.numerics, -d.severity, _GROUP_ORDER.get(d.group, len(_GROUP_ORDER)),
            _natural(d.key))


def _recorded_groups(snapshot: Snapshot) -> set[str]:
    return {g for g in COMPLETE_GROUPS if any(k.startswith(g + ".") for k in snapshot.facts)}


def _fact(snapshot: Snapshot, key: str, complete: set[str]) -> Fact:
    """A side's fact, with a missing key read as its group says (see the module docstring);
    a GPU's fact is "no such GPU" on a side that counted fewer GPUs."""
    fact = snapshot.facts.get(key)
    if fact is not None:
        return fact
    group = group_of(key)
    if group in complete:
        return Fact(None) if group == "var" else NOT_INSTALLED
    gpu = re.match(r"gpu\.(\d+)\.", key)
    count = snapshot.value("gpu.count")
    if gpu and isinstance(count, int) and not isinstance(count, bool) and count <= int(gpu[1]):
        return NO_GPU
    return ABSENT


def diff_env(a: Snapshot, b: Snapshot, *, include_same: bool = False) -> list[EnvDifference]:
    """The facts that differ between `a` and `b` (all facts with include_same), ranked; facts
    captured on one side only are listed too, marked `unknown`."""
    out = []
    complete_a, complete_b = _recorded_groups(a), _recorded_groups(b)
    for key in set(a.facts) | set(b.facts):
        fa, fb = _fact(a, key, complete_a), _fact(b, key, complete_b)
        unknown = ABSENT in (fa, fb)
        same = not unknown and same_fact(fa, fb)
        if (same or is_volatile(key)) and not include_same:
            continue
        meta = describe(key)
        out.append(EnvDifference(key=key, group=group_of(key), a=fa, b=fb,
                                 severity=meta.severity, numerics=meta.numerics, why=meta.why,
                                 same=same, unknown=unknown))
    out.sort(key=order_key)
    return out
