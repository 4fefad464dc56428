"""The pre-flight check that turns Qt's abort on a display-less or library-less Linux into
one clear line."""

import subprocess
import sys

import pytest

from reprodiag.display import XCB_LIBRARIES, check_can_open_window, missing_xcb_packages
from reprodiag.errors import UserError


def test_no_display_is_one_clear_line():
    with pytest.raises(UserError, match="no display"):
        check_can_open_window(environ={}, platform="linux")


def test_missing_xcb_libraries_name_the_packages_to_install():
    def find(lib):
        return None if lib == "xcb-cursor" else f"lib{lib}.so"

    with pytest.raises(UserError, match="sudo apt install libxcb-cursor0$"):
        check_can_open_window(environ={"DISPLAY": ":0"}, platform="linux", find=find)


def test_what_passes():
    def found(lib):
        return f"lib{lib}.so"

    check_can_open_window(environ={"DISPLAY": ":0"}, platform="linux", find=found)
    check_can_open_window(environ={"WAYLAND_DISPLAY": "wayland-0"}, platform="linux",
                          find=lambda lib: None)
    check_can_open_window(environ={"QT_QPA_PLATFORM": "offscreen"}, platform="linux")
    check_can_open_window(environ={}, platform="darwin")
    assert missing_xcb_packages(find=found) == []
    assert len(missing_xcb_packages(find=lambda lib: None)) == len(XCB_LIBRARIES)


def test_cli_without_display_exits_2_with_one_line():
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    proc = subprocess.run([sys.executable, "-m", "reprodiag", "gui"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "no display" in proc.stderr
