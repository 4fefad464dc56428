"""The diagnosis result model: findings (probable causes, each with its evidence and fixes)
and notes (what was compared, what was not), with a JSON form, so the CLI, the GUI's
Diagnosis panel and the report all show the same thing. Likelihood is a number in 0..1 with
a word for people; a "note" finding (how the two sides were recorded) carries no likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reprodiag.core.knowledge.fixes import Fix

__all__ = ["CAUSE", "NOTE", "Diagnosis", "Finding", "Fix", "likelihood_word", "merge"]

VERY_LIKELY, LIKELY, POSSIBLE = "very likely", "likely", "possible"
CAUSE, NOTE = "cause", "note"
FRAMEWORK_CHOICES = ("torch", "tensorflow", "any")


def likelihood_word(likelihood: float) -> str:
    """The word shown for a likelihood: "very likely", "likely" or "possible"."""
    if likelihood >= 0.75:
        return VERY_LIKELY
    if likelihood >= 0.5:
        return LIKELY
    return POSSIBLE


@dataclass(kw_only=True)
class Finding:
    """A probable cause of the difference between side A and side B, ranked by likelihood;
    or (kind NOTE) a fact about how the two sides were recorded that the reader must know
    before trusting the rest."""

    id: str
    title: str
    likelihood: float
    evidence: list[str] = field(default_factory=list)
    why: str = ""
    fixes: list[Fix] = field(default_factory=list)
    source: str = ""
    run_pairs: list[tuple[str, str]] = field(default_factory=list)  # (A run id, B run id)
    kind: str = CAUSE

    @property
    def likelihood_word(self) -> str:
        return "note" if self.kind == NOTE else likelihood_word(self.likelihood)

    def to_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "title": self.title,
                "likelihood": round(self.likelihood, 3), "likelihood_word": self.likelihood_word,
                "evidence": list(self.evidence), "why": self.why,
                "fixes": [f.to_json() for f in self.fixes], "source": self.source,
                "run_pairs": [list(p) for p in self.run_pairs]}


@dataclass(kw_only=True)
class Diagnosis:
    """The findings (notes first, then causes most likely first) and the notes on what was
    and was not compared."""

    labels: tuple[str, str] = ("A", "B")
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # What to say when no cause was found: nothing differs, or nothing could be compared.
    headline: str = ("No probable cause found: the runs and environments show no difference "
                     "that changes numbers.")

    @property
    def causes(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == CAUSE]

    def __iter__(self):
        return iter(self.findings)

    def __getitem__(self, index):
        return self.findings[index]

    def __len__(self) -> int:
        return len(self.findings)


def merge(findings: list[Finding]) -> list[Finding]:
    """One finding per id (highest likelihood wins the title; evidence and pairs are unioned),
    notes first, then causes ranked by likelihood, ties kept in the order given."""
    by_id: dict[str, Finding] = {}
    order: list[str] = []
    for f in findings:
        have = by_id.get(f.id)
        if have is None:
            by_id[f.id] = Finding(id=f.id, title=f.title, likelihood=f.likelihood,
                                  evidence=list(f.evidence), why=f.why, fixes=list(f.fixes),
                                  source=f.source, run_pairs=list(f.run_pairs), kind=f.kind)
            order.append(f.id)
            continue
        if f.likelihood > have.likelihood:
            have.title, have.likelihood, have.why = f.title, f.likelihood, f.why
        have.evidence += [e for e in f.evidence if e not in have.evidence]
        have.run_pairs += [p for p in f.run_pairs if p not in have.run_pairs]
        have.fixes += [x for x in f.fixes if x not in have.fixes]
    rank = {fid: i for i, fid in enumerate(order)}
    return sorted(by_id.values(), key=lambda f: (f.kind != NOTE, -f.likelihood, rank[f.id]))
