"""Can a window be opened here? Checked before Qt loads, so a missing display or missing
system library gives one clear line instead of Qt's abort.

Qt's X11 plugin (xcb) needs a few system libraries that pip cannot install; without them
Qt prints several lines and aborts the process. Qt-free: used by the CLI.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

from reprodiag.errors import UserError

# Libraries Qt >= 6.5's xcb plugin loads beyond what every X11 desktop has, with the Debian /
# Ubuntu package that provides each.
XCB_LIBRARIES = {
    "xcb-cursor": "libxcb-cursor0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xkbcommon-x11": "libxkbcommon-x11-0",
}


def missing_xcb_packages(find=ctypes.util.find_library) -> list[str]:
    """Debian package names of the xcb libraries that cannot be found."""
    return [pkg for lib, pkg in XCB_LIBRARIES.items() if find(lib) is None]


def check_can_open_window(environ=os.environ, platform: str = sys.platform, find=None) -> None:
    """Raise UserError (one line) when a Qt window cannot open in this session."""
    if platform != "linux" or environ.get("QT_QPA_PLATFORM"):
        return  # macOS/Windows always have a platform plugin; an explicit choice is respected
    if not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        raise UserError("no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset); "
                        "run it in a desktop session, or render offscreen with "
                        "'reprodiag screenshot ... --out shot.png'")
    if environ.get("WAYLAND_DISPLAY"):
        return
    missing = missing_xcb_packages(*(() if find is None else (find,)))
    if missing:
        raise UserError("Qt needs system libraries that are missing for X11 windows; on Debian "
                        f"or Ubuntu: sudo apt install {' '.join(missing)}")
