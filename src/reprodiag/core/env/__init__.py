"""Environment snapshots: capture one (capture.py), show it (render.py), find interpreters."""

from reprodiag.core.env.capture import capture
from reprodiag.core.env.interpreters import Interpreter, find_interpreters
from reprodiag.core.env.model import Fact, Snapshot, unavailable
from reprodiag.core.env.render import render_markdown, render_text

__all__ = [
    "Fact",
    "Interpreter",
    "Snapshot",
    "capture",
    "find_interpreters",
    "render_markdown",
    "render_text",
    "unavailable",
]
