"""How catalog values read: a setting's value as a person reads it, a version as numbers."""

from __future__ import annotations

import re
from typing import Any, Optional


def show(value: Any) -> str:
    """A config or settings value as a person reads it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def version_tuple(text: Any) -> Optional[tuple[int, ...]]:
    """(2, 15, 1) from "2.15.1+cu121"; None when there is no leading version."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text)) if text is not None else None
    return tuple(int(x) for x in match.group(1).split(".")) if match else None
