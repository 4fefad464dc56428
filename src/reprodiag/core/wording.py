"""Words for messages: counts ('1 pair', '2 pairs') and what tells similar names apart."""

from __future__ import annotations


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """'1 pair' / '0 pairs' / '3 pairs'; `plural` for nouns that do not just take an 's'."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def distinguishing(names: list[str]) -> list[str]:
    """The words of each name that not all of them share ('seed=0', 'seed=1' from two run
    titles that differ only there; "" for a name with no word of its own); the only name
    stays whole."""
    words = [name.split() for name in names]
    shared = set.intersection(*map(set, words)) if len(words) > 1 else set()
    return [" ".join(w for w in ws if w not in shared) for ws in words]
