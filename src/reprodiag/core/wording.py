"""Words for counts in messages: '1 pair', '2 pairs', '1 run with the fix'."""

from __future__ import annotations


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """'1 pair' / '0 pairs' / '3 pairs'; `plural` for nouns that do not just take an 's'."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"
