"""The diagnosis result model: a Finding (a probable cause with its evidence) and its Fixes.

Plain dataclasses with a JSON form, so the CLI, the GUI's Findings panel and the report all
show the same thing. Likelihood is a number in 0..1 with a word for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERY_LIKELY, LIKELY, POSSIBLE = "very likely", "likely", "possible"
FRAMEWORK_CHOICES = ("torch", "tensorflow", "any")


def likelihood_word(likelihood: float) -> str:
    """The word shown for a likelihood: "very likely", "likely" or "possible"."""
    if likelihood >= 0.75:
        return VERY_LIKELY
    if likelihood >= 0.45:
        return LIKELY
    return POSSIBLE


@dataclass(frozen=True)
class Fix:
    """One way to remove a cause for one framework ("any" = framework-independent).

    `code` is Python (or a shell command for "any") to paste; `env` the variables to export
    before Python starts; `rerun_config_changes` the RunConfig fields a canary rerun takes
    to apply this fix, and `rerun_sides` whether changing B's config alone suffices ("b",
    A already runs that way) or both sides need it ("both").
    """

    framework: str
    code: str = ""
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    rerun_config_changes: dict[str, Any] = field(default_factory=dict)
    rerun_sides: str = "both"

    def to_json(self) -> dict:
        return {"framework": self.framework, "code": self.code, "env": dict(self.env),
                "note": self.note, "rerun_config_changes": dict(self.rerun_config_changes),
                "rerun_sides": self.rerun_sides}

    @property
    def shell_exports(self) -> str:
        """`export NAME=value` lines for `env`, quoted for a POSIX shell."""
        from shlex import quote

        return "\n".join(f"export {k}={quote(v)}" for k, v in self.env.items())


@dataclass
class Finding:
    """A probable cause of the difference between side A and side B, ranked by likelihood."""

    id: str
    title: str
    likelihood: float
    evidence: list[str] = field(default_factory=list)
    why: str = ""
    fixes: list[Fix] = field(default_factory=list)
    source: str = ""
    run_pairs: list[tuple[str, str]] = field(default_factory=list)  # (A run id, B run id)

    @property
    def likelihood_word(self) -> str:
        return likelihood_word(self.likelihood)

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "likelihood": round(self.likelihood, 3),
                "likelihood_word": self.likelihood_word, "evidence": list(self.evidence),
                "why": self.why, "fixes": [f.to_json() for f in self.fixes],
                "source": self.source, "run_pairs": [list(p) for p in self.run_pairs]}


def merge(findings: list[Finding]) -> list[Finding]:
    """One finding per id (highest likelihood wins the title; evidence and pairs are unioned),
    ranked by likelihood, ties kept in rule order."""
    by_id: dict[str, Finding] = {}
    order: list[str] = []
    for f in findings:
        have = by_id.get(f.id)
        if have is None:
            by_id[f.id] = Finding(f.id, f.title, f.likelihood, list(f.evidence), f.why,
                                  list(f.fixes), f.source, list(f.run_pairs))
            order.append(f.id)
            continue
        if f.likelihood > have.likelihood:
            have.title, have.likelihood, have.why = f.title, f.likelihood, f.why
        have.evidence += [e for e in f.evidence if e not in have.evidence]
        have.run_pairs += [p for p in f.run_pairs if p not in have.run_pairs]
        have.fixes += [x for x in f.fixes if x not in have.fixes]
    rank = {fid: i for i, fid in enumerate(order)}
    return sorted(by_id.values(), key=lambda f: (-f.likelihood, rank[f.id]))
