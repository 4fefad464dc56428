"""Names of the sides being compared, told apart the same way in the window and the CLI.

A side is named by its label, else its file's name; sides that share a name add their
file's name ('vm (colab)', 'vm (laptop)'); any still alike are numbered by their place in the
list ('vm', 'vm (2)'). The same list always gives the same names, whichever file was read
first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence


def file_name(path: Path) -> str:
    """A bundle's file name without the '.reprodiag.zip' (or '.zip') ending."""
    name = path.name
    for suffix in (".reprodiag.zip", ".zip"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def distinct_names(sides: Sequence[tuple[str, Optional[Path]]]) -> list[str]:
    """For (name, file path or None) in the order given: names that tell the sides apart."""
    names = [name or (file_name(path) if path is not None else "") for name, path in sides]
    labels = []
    for i, ((_, path), name) in enumerate(zip(sides, names)):
        stem = file_name(path) if path is not None else ""
        twins = [p for j, ((_, p), n) in enumerate(zip(sides, names)) if n == name and j != i]
        if twins and stem and stem != name and all(
                p is None or file_name(p) != stem for p in twins):
            name = f"{name} ({stem})"
        labels.append(name)
    taken: set[str] = set()
    out = []
    for label in labels:
        unique, n = label, 2
        while unique in taken or (unique != label and unique in labels):
            unique, n = f"{label} ({n})", n + 1
        taken.add(unique)
        out.append(unique)
    return out


def side_names(a: Any, b: Any, fallbacks: tuple[str, str] = ("A", "B")) -> tuple[str, str]:
    """The names of two bundle-like sides (`label`, `path` attributes), told apart."""
    sides = []
    for side, fallback in zip((a, b), fallbacks):
        path = getattr(side, "path", None)
        path = Path(path) if isinstance(path, (str, Path)) else None
        label = str(getattr(side, "label", "") or "")
        sides.append((label or (file_name(path) if path is not None else fallback), path))
    first, second = distinct_names(sides)
    return first, second
