"""Guard against PySide6 releases whose bindings drop references to None on CPython < 3.12.

PySide6 6.12.0 (abi3 wheels, cp310+) returns None from void methods without taking a
reference. On Python 3.12+ None is immortal and nothing happens; on 3.10/3.11 every call
of a void Qt method (setText, setValue, ...) takes one reference away from None, and after
a few thousand calls Python aborts with "Fatal Python error: none_dealloc". When that loss
is measured here, None, True and False get a huge reference count once -- what Python 3.12
does for every program (PEP 683) -- so the app runs for years of calls instead of seconds.
"""

from __future__ import annotations

import ctypes
import platform
import sys

from PySide6.QtCore import QObject

PROBE_CALLS = 64
BOOST = 1 << 48  # references granted once; each faulty call costs one

active = False


def references_lost_per_call() -> float:
    """References None loses per call of a void Qt method (0 with correct bindings)."""
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
