"""Work-arounds for PySide6 behaviour the app cannot live with.

1. Bindings that drop references to None on CPython < 3.12 (protect_singletons).

PySide6 6.12.0 (abi3 wheels, cp310+) returns None from void methods without taking a
reference. On Python 3.12+ None is immortal and nothing happens; on 3.10/3.11 every call
of a void Qt method (setText, setValue, ...) takes one reference away from None, and after
a few thousand calls Python aborts with "Fatal Python error: none_dealloc". When that loss
is measured here, None, True and False get a huge reference count once -- what Python 3.12
does for every program (PEP 683) -- so the app runs for years of calls instead of seconds.

2. shiboken's import hook (restore_python_import). Importing PySide6 replaces
`builtins.__import__` with `__feature_import__`, which runs `inspect.getsource` on every
Python module that imports something afterwards (for the opt-in `__feature__` switches,
which reprodiag does not use). The window imports pydantic, bundles and the Runs/Compare
tabs after the first frame; getsource then asks pydantic.errors for `__wrapped__`, its
module `__getattr__` imports pydantic._internal._validators while that module is still
half-imported, and now and then the import fails ("cannot import name 'import_string' from
partially initialized module"), so the Runs tab is never built. It also makes every later
import slower (docs/performance.md, GUI cold start).

Neither runs on import: the app's start-up calls import_qt() before PySide6 is first
imported (cli.py) and protect_singletons() before its first widget (app.create_application).
"""

from __future__ import annotations

import builtins
import ctypes
import platform
import sys
from typing import Any, Callable

PROBE_CALLS = 64
BOOST = 1 << 48  # references granted once; each faulty call costs one

active = False


def import_qt() -> None:
    """Import PySide6 for the app, without the import hook it installs (see 2. above).

    The app's start-up calls this before anything imports PySide6 (`reprodiag gui` and
    `screenshot` in cli.py): the hook can only be taken back if the import function it
    replaces was saved first. When PySide6 was imported earlier, the hook stays.
    """
    python_import = builtins.__import__
    import PySide6.QtCore  # noqa: F401 - installs shiboken's hook on the first import

    restore_python_import(python_import)


def references_lost_per_call() -> float:
    """References None loses per call of a void Qt method (0 with correct bindings)."""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(PROBE_CALLS):
        probe.setObjectName("probe")
    return (before - sys.getrefcount(None)) / PROBE_CALLS


def protect_singletons() -> bool:
    """Make None/True/False effectively immortal if the bindings leak their references."""
    global active
    if active or sys.version_info >= (3, 12) or platform.python_implementation() != "CPython":
        return active
    if references_lost_per_call() <= 0:
        return False
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object
        ctypes.c_ssize_t.from_address(id(obj)).value += BOOST
    active = True
    return True


def restore_python_import(python_import: Callable[..., Any]) -> bool:
    """Put back `python_import` (builtins.__import__ as it was before PySide6 was imported)
    if shiboken's `__feature_import__` replaced it; True when it did. Nothing changes when
    PySide6 was already imported before it was saved (then the hook is what was saved)."""
    current = builtins.__import__
    if current is python_import or getattr(current, "__name__", "") != "__feature_import__":
        return False
    builtins.__import__ = python_import
    return True
