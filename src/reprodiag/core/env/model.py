"""The environment snapshot: a flat map of stable fact keys to values.

Keys are dotted and start with their group: ``host.os``, ``cpu.flags.avx2``,
``gpu.0.name``, ``framework.torch.version``, ``numerics.torch.allow_tf32_matmul``,
``var.CUDA_VISIBLE_DEVICES``, ``pkg.numpy``. A fact holds either a JSON value or the reason
it is unavailable -- reading a fact never raises. Flat keys make diffs and filters trivial.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

SNAPSHOT_FORMAT = "reprodiag-env"
SNAPSHOT_VERSION = 1

# Group prefix -> title, in display order.
GROUPS: dict[str, str] = {
    "host": "Host",
    "cpu": "CPU",
    "gpu": "GPU",
    "framework": "Frameworks",
    "numerics": "Numerics settings",
    "var": "Variables",
    "pkg": "Packages",
}


@dataclass(frozen=True)
class Fact:
    """A value (`Fact(value)`), or why there is none (`Fact(unavailable=why)`)."""

    value: Any = None
    unavailable: Optional[str] = field(default=None, kw_only=True)

    @property
    def ok(self) -> bool:
        return self.unavailable is None

    def text(self) -> str:
        """The value as a person reads it."""
        if not self.ok:
            return f"unavailable: {self.unavailable}"
        v = self.value
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, (list, tuple)):
            return ", ".join(str(x) for x in v)
        if v is None:
            return "none"
        return str(v)

    def to_json(self) -> dict:
        return {"value": self.value} if self.ok else {"unavailable": self.unavailable}

    @classmethod
    def from_json(cls, obj: Any) -> "Fact":
        if isinstance(obj, dict) and "unavailable" in obj:
            return cls(unavailable=str(obj["unavailable"]))
        if isinstance(obj, dict) and "value" in obj:
            return cls(value=obj["value"])
        raise ValueError("a fact is an object with 'value' or 'unavailable'")


def unavailable(reason: str) -> Fact:
    return Fact(unavailable=reason)


def group_of(key: str) -> str:
    return key.split(".", 1)[0]


@dataclass(kw_only=True)
class Snapshot:
    """All facts about one environment (one interpreter on one machine)."""

    facts: dict[str, Fact] = field(default_factory=dict)
    captured_at: float = 0.0
    deep: bool = False
    python: str = ""  # the interpreter the snapshot describes

    def get(self, key: str) -> Fact:
        return self.facts.get(key, unavailable("not captured"))

    def value(self, key: str, default: Any = None) -> Any:
        f = self.facts.get(key)
        return f.value if f is not None and f.ok else default

    def grouped(self) -> dict[str, dict[str, Fact]]:
        """Facts by group, groups in display order, keys sorted within a group."""
        out: dict[str, dict[str, Fact]] = {g: {} for g in GROUPS}
        for key in sorted(self.facts):
            out.setdefault(group_of(key), {})[key] = self.facts[key]
        return {g: fs for g, fs in out.items() if fs}

    def to_json(self) -> dict:
        return {
            "format": SNAPSHOT_FORMAT,
            "format_version": SNAPSHOT_VERSION,
            "captured_at": self.captured_at,
            "deep": self.deep,
            "python": self.python,
            "facts": {k: f.to_json() for k, f in sorted(self.facts.items())},
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=False)

    @classmethod
    def from_json(cls, obj: Any) -> "Snapshot":
        """Validate and load; raises ValueError with a short reason on bad input."""
        if not isinstance(obj, dict) or obj.get("format") != SNAPSHOT_FORMAT:
            raise ValueError("not a reprodiag environment snapshot")
        if obj.get("format_version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported snapshot format_version {obj.get('format_version')!r}")
        facts = obj.get("facts")
        if not isinstance(facts, dict):
            raise ValueError("snapshot 'facts' must be an object")
        captured = obj.get("captured_at", 0.0)
        if isinstance(captured, bool) or not isinstance(captured, (int, float)):
            raise ValueError("snapshot 'captured_at' must be a number")
        return cls(
            facts={str(k): Fact.from_json(v) for k, v in facts.items()},
            captured_at=float(captured),
            deep=bool(obj.get("deep", False)),
            python=str(obj.get("python", "")),
        )
