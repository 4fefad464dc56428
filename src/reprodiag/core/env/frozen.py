"""The environment the user started the frozen (PyInstaller) app with, for the processes it starts.

PyInstaller's bootloader puts the app's own folder (`sys._MEIPASS`, `_internal/`) first on
LD_LIBRARY_PATH and keeps the user's value in LD_LIBRARY_PATH_ORIG; its run-time hooks point
Qt's plugin paths (and on macOS DYLD_LIBRARY_PATH) into that folder; it adds `_PYI_*`
bookkeeping. A target Python started with that environment loads the app's libstdc++,
libssl and libz instead of its own, and a snapshot would record the app's paths as the
user's. So every worker, probe and tool gets `original_environ()`, and the snapshot's
variables are read from it. (Windows, where the bootloader calls SetDllDirectory, is not
handled: reprodiag's frozen app is built for Linux and macOS.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

LIBRARY_PATH_VARIABLES = ("LD_LIBRARY_PATH", "LIBPATH")  # LIBPATH: AIX, as in PyInstaller
SAVED_SUFFIX = "_ORIG"
BOOKKEEPING_PREFIX = "_PYI_"


def app_folder() -> str | None:
    """The frozen app's own folder (sys._MEIPASS); None when not running frozen."""
    if not getattr(sys, "frozen", False):
        return None
    return getattr(sys, "_MEIPASS", None)


def is_frozen() -> bool:
    return app_folder() is not None


def _inside(entry: str, folder: str) -> bool:
    entry = os.path.normpath(entry)
    return entry == folder or entry.startswith(folder + os.sep)


def original_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of `environ` (default os.environ) without the frozen app's own changes.

    Library paths come back from their saved *_ORIG value (or go, when the user had none);
    in every other variable, path entries inside the app's folder are dropped (the variable
    too when nothing else is left); `_PYI_*` variables go. Outside the frozen app: a copy.
    """
    env = dict(os.environ if environ is None else environ)
    folder = app_folder()
    if folder is None:
        return env
    folder = os.path.normpath(folder)
    restored: set[str] = set()
    for name in LIBRARY_PATH_VARIABLES:
        saved = env.pop(name + SAVED_SUFFIX, None)
        if saved is not None:
            env[name] = saved
            restored.add(name)
    for name, value in list(env.items()):
        if name.startswith(BOOKKEEPING_PREFIX):
            del env[name]
        elif name not in restored and folder in value:
            kept = [entry for entry in value.split(os.pathsep) if not _inside(entry, folder)]
            if any(kept):
                env[name] = os.pathsep.join(kept)
            else:
                del env[name]
    return env
