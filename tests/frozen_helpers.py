"""The packaged (PyInstaller) app's state, simulated in-process, and a worker that reports the
environment it got.

`FrozenApp.enter(monkeypatch)` sets what PyInstaller's bootloader and run-time hooks set:
`sys.frozen`, `sys._MEIPASS` (a real `_internal/` folder holding a copy of the libz this
Python loads, and the real reprodiag package linked as `reprodiag/`), LD_LIBRARY_PATH with
that folder first and the user's value in LD_LIBRARY_PATH_ORIG, Qt's plugin paths and
`_PYI_*` bookkeeping. A child started with that environment really loads the copied libz.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import reprodiag

REAL_PYTHON = sys.executable  # the interpreter running the tests, a target for the app
USER_LIBRARY_PATH = "/opt/user-libs/lib"  # the LD_LIBRARY_PATH the user started the app with
REPORTED = ("LD_LIBRARY_PATH", "LD_LIBRARY_PATH_ORIG", "QT_PLUGIN_PATH", "QML2_IMPORT_PATH",
            "DYLD_LIBRARY_PATH", "PATH")

# Speaks the worker protocol: its `env` settings are the variables above, the names of
# _PYI_* variables, and the files mapped into the process after importing zlib (whose libz
# the dynamic linker looks up on LD_LIBRARY_PATH).
ENV_REPORT_WORKER = textwrap.dedent(f"""\
    import json, os, sys, zlib
    def emit(**obj):
        sys.stdout.write(json.dumps(obj) + "\\n")
        sys.stdout.flush()
    emit(type="hello", protocol=1, worker="env_report", pid=os.getpid(), python="3")
    try:
        with open("/proc/self/maps") as fh:
            maps = sorted({{line.split()[-1] for line in fh if line.split()[-1].startswith("/")}})
    except OSError:
        maps = []
    settings = {{"env." + name: os.environ.get(name) for name in {REPORTED!r}}}
    settings["pyi"] = sorted(n for n in os.environ if n.startswith("_PYI_"))
    settings["maps"] = maps
    emit(type="env", settings=settings, dataset_hash="", init_param_hash="", n_params=0)
    emit(type="done", summary={{}})
""")


def loaded_libz() -> Path | None:
    """The libz shared library this process has mapped (via zlib), if it is one."""
    import zlib  # noqa: F401 - maps libz into this process

    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                path = line.split()[-1]
                if "/libz.so" in path and os.path.isfile(path):
                    return Path(path)
    except OSError:
        pass
    return None


@dataclass(kw_only=True)
class FrozenApp:
    """A fake one-folder app: dist/reprodiag/reprodiag (the executable) and _internal/."""

    root: Path

    @property
    def internal(self) -> Path:
        return self.root / "_internal"

    @property
    def executable(self) -> Path:
        return self.root / "reprodiag"

    @classmethod
    def make(cls, folder: Path) -> FrozenApp:
        app = cls(root=folder / "dist" / "reprodiag")
        app.internal.mkdir(parents=True)
        (app.internal / "base_library.zip").write_bytes(b"PK\x05\x06" + bytes(18))
        (app.internal / "reprodiag").symlink_to(Path(reprodiag.__file__).resolve().parent)
        app.executable.write_text("#!/bin/sh\necho 'reprodiag: not a Python' >&2\nexit 2\n")
        app.executable.chmod(0o755)
        libz = loaded_libz()
        if libz is not None:  # under the name the dynamic linker looks for
            shutil.copy2(libz, app.internal / "libz.so.1")
        return app

    def enter(self, monkeypatch) -> None:
        """Be this app from now on, until monkeypatch undoes it (sys.executable is the app's
        executable then: the test's interpreter is REAL_PYTHON)."""
        internal = str(self.internal)
        monkeypatch.setattr(sys, "frozen", True, raising=False)
        monkeypatch.setattr(sys, "_MEIPASS", internal, raising=False)
        monkeypatch.setattr(sys, "executable", str(self.executable))
        monkeypatch.setenv("LD_LIBRARY_PATH", f"{internal}{os.pathsep}{USER_LIBRARY_PATH}")
        monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", USER_LIBRARY_PATH)
        monkeypatch.setenv("QT_PLUGIN_PATH", os.path.join(internal, "PySide6", "Qt", "plugins"))
        monkeypatch.setenv("QML2_IMPORT_PATH", os.path.join(internal, "PySide6", "Qt", "qml"))
        monkeypatch.setenv("_PYI_ARCHIVE_FILE", str(self.executable))
        monkeypatch.setenv("_PYI_APPLICATION_HOME_DIR", internal)
        monkeypatch.setenv("_PYI_PARENT_PROCESS_LEVEL", "1")


def write_env_report_worker(folder: Path) -> Path:
    script = folder / "env_report_worker.py"
    script.write_text(ENV_REPORT_WORKER)
    return script


def assert_original_environment(settings: dict, app: FrozenApp) -> None:
    """What an env-report worker saw is the user's environment, none of the app's."""
    assert settings["env.LD_LIBRARY_PATH"] == USER_LIBRARY_PATH
    for name in ("LD_LIBRARY_PATH_ORIG", "QT_PLUGIN_PATH", "QML2_IMPORT_PATH"):
        assert settings[f"env.{name}"] is None, name
    assert settings["pyi"] == []
    internal = str(app.internal)
    assert not [v for v in settings.values() if isinstance(v, str) and internal in v]
    assert not [path for path in settings["maps"] if path.startswith(internal)], \
        "the worker loaded the app's own libraries"
