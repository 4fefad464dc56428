"""Shared pieces of the report parsers: clean pasted text, and collect facts from it.

Pasted reports arrive with CRLF endings, no-break spaces, BOMs, markdown fences, quote
prefixes and the odd mis-decoded byte; `clean_text` undoes what can be undone, so each
parser sees plain lines. `Facts` is the parsers' notebook: first value wins (a report pasted
twice, or a later stray line, never overrides what came first) and notes say what was odd.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from reprodiag.core.env.model import Fact, unavailable

# What reports print instead of a value, lowercased -> the reason a fact records.
NOT_GIVEN = {
    "could not collect": "the report says: Could not collect",
    "no cuda": "no CUDA on that machine (the report says: No CUDA)",
    "n/a": "the report says: N/A",
    "_no response_": "not filled in",
    "": "left empty in the report",
}
_SPACES = re.compile(r"[\u00a0\u2000-\u200a\u202f\u205f\u3000]")
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff]")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HTML_TAG = re.compile(r"^\s*</?(details|summary|pre|code)\b[^>]*>\s*", re.IGNORECASE)
# A version as package managers print it: 1.2, 2.0.1+cu118, 1.14.0.dev20221104, 2.1.0-dev1.
VERSION = re.compile(r"^v?\d[\w.+!-]*$")
# UTF-8 read as cp1252/latin-1: a lead byte (Â, Ã, â) then what continuation bytes become.
_CONTINUATION = "".join(sorted(set(bytes(range(0x80, 0xC0)).decode("cp1252", "ignore"))
                               | set(map(chr, range(0x80, 0xC0)))))
_MOJIBAKE = re.compile(f"[\u00c2\u00c3\u00e2][{re.escape(_CONTINUATION)}]")


def repair_mojibake(text: str) -> str:
    """UTF-8 text that was decoded as cp1252 once (``Ã©`` for ``é``), decoded right."""
    if not _MOJIBAKE.search(text):
        return text
    for codec in ("cp1252", "latin-1"):
        try:
            return text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return text


def _unquote(lines: list[str]) -> list[str]:
    """Strip the ``> `` of a quoted GitHub reply when most lines carry it."""
    filled = [s for s in lines if s.strip()]
    if filled and sum(s.lstrip().startswith(">") for s in filled) > 0.8 * len(filled):
        return [re.sub(r"^\s*> ?", "", s) for s in lines]
    return lines


def clean_text(text: str) -> str:
    """LF line endings, plain spaces, no BOM/zero-width characters, no fences or tags."""
    text = repair_mojibake(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", _SPACES.sub(" ", text))
    lines = [_HTML_TAG.sub("", s) for s in _unquote(text.split("\n"))]
    return "\n".join(s for s in lines if not _FENCE.match(s))


def not_given(value: str) -> str | None:
    """The reason when `value` is a placeholder ("Could not collect", "N/A", ...), else None."""
    return NOT_GIVEN.get(value.strip().lower())


def to_bool(value: str) -> bool | None:
    """True/False from "True", "Yes", "False", "No" (old collect_env prints Yes/No)."""
    return {"true": True, "yes": True, "false": False, "no": False}.get(value.strip().lower())


def to_int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() else None


def normalize_name(name: str) -> str:
    """PEP 503 normalisation, as the live collector keys pkg.<name>: 'Scikit_Learn' ->
    'scikit-learn'."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def looks_like_version(text: str) -> bool:
    return bool(VERSION.match(text.strip())) and any(c.isdigit() for c in text)


def version_tuple(text: str) -> tuple[int, ...]:
    """Leading numeric parts of a version, for ordering: '8.9.0' -> (8, 9, 0)."""
    match = re.match(r"\d+(\.\d+)*", text)
    return tuple(int(p) for p in match.group(0).split(".")) if match else ()


@dataclass(kw_only=True)
class Facts:
    """Facts read from a report, in the order found; the first value for a key wins."""

    facts: dict[str, Fact] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def set(self, key: str, value: Any) -> None:
        if key not in self.facts:
            self.facts[key] = Fact(value)

    def missing(self, key: str, reason: str) -> None:
        if key not in self.facts:
            self.facts[key] = unavailable(reason)

    def put(self, key: str, text: str, convert=None) -> None:
        """A raw report value: a placeholder becomes unavailable, else `convert(text)`."""
        reason = not_given(text)
        if reason is not None:
            self.missing(key, reason)
            return
        value = convert(text.strip()) if convert else text.strip()
        if value is not None:
            self.set(key, value)

    def override(self, key: str, value: Any) -> None:
        self.facts[key] = Fact(value)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def has(self, key: str) -> bool:
        return key in self.facts

    def value(self, key: str, default: Any = None) -> Any:
        fact = self.facts.get(key)
        return fact.value if fact is not None and fact.ok else default

    def update(self, other: "Facts") -> None:
        for key, fact in other.facts.items():
            self.facts.setdefault(key, fact)
        for text in other.notes:
            self.note(text)
