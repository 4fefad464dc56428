"""The packaged app's own library paths never reach what it starts or what it records.

The frozen state is simulated in-process (frozen_helpers.FrozenApp: sys.frozen, sys._MEIPASS,
the variables PyInstaller sets, a real _internal/ holding a copy of libz); the workers and
probes are real processes. tests/test_packaging.py checks the same on the real frozen build.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from frozen_helpers import (
    REAL_PYTHON,
    USER_LIBRARY_PATH,
    FrozenApp,
    assert_original_environment,
    loaded_libz,
    write_env_report_worker,
)

from reprodiag.core.env import capture
from reprodiag.core.env.frozen import original_environ
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import FINISHED


@pytest.fixture
def app(tmp_path, monkeypatch) -> FrozenApp:
    made = FrozenApp.make(tmp_path)
    made.enter(monkeypatch)
    return made


def test_outside_the_frozen_app_the_environment_is_kept_as_it_is(monkeypatch, tmp_path):
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{tmp_path}:/usr/lib")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/somewhere")
    assert original_environ() == dict(os.environ)


def test_the_app_s_changes_are_undone(app):
    env = original_environ()
    assert env["LD_LIBRARY_PATH"] == USER_LIBRARY_PATH
    for name in ("LD_LIBRARY_PATH_ORIG", "QT_PLUGIN_PATH", "QML2_IMPORT_PATH",
                 "_PYI_ARCHIVE_FILE", "_PYI_APPLICATION_HOME_DIR", "_PYI_PARENT_PROCESS_LEVEL"):
        assert name not in env
    assert env["PATH"] == os.environ["PATH"]


def test_a_library_path_the_user_did_not_set_is_removed(app, monkeypatch):
    monkeypatch.setenv("LD_LIBRARY_PATH", str(app.internal))  # no _ORIG: the user had none
    monkeypatch.delenv("LD_LIBRARY_PATH_ORIG")
    assert "LD_LIBRARY_PATH" not in original_environ()


def test_only_the_app_s_entries_leave_a_path_list(app, monkeypatch):
    # PySide6's run-time hook prepends the app's folder to DYLD_LIBRARY_PATH on macOS
    monkeypatch.setenv("DYLD_LIBRARY_PATH", os.pathsep.join([str(app.internal), "/opt/mine"]))
    assert original_environ()["DYLD_LIBRARY_PATH"] == "/opt/mine"


def test_a_worker_gets_the_original_environment_and_not_the_app_s_libraries(app, tmp_path):
    script = write_env_report_worker(tmp_path)
    record = launcher.run(RunConfig(steps=1), REAL_PYTHON, script=script, timeout=120)
    assert record.status == FINISHED, record.reason
    assert_original_environment(record.settings, app)
    assert record.python == os.path.abspath(REAL_PYTHON)


def test_without_the_fix_the_worker_would_load_the_app_s_libz(app, tmp_path):
    """The check above can fail: a child given the app's environment as it is loads the
    copy of libz in _internal/ (this is the leak the issue describes)."""
    if loaded_libz() is None:
        pytest.skip("this Python does not load libz as a shared library")
    script = write_env_report_worker(tmp_path)
    out = subprocess.run([REAL_PYTHON, str(script)], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    settings = next(json.loads(line)["settings"] for line in out.splitlines()
                    if '"type": "env"' in line)
    assert any(path.startswith(str(app.internal)) for path in settings["maps"])


def test_probes_and_the_snapshot_see_the_user_s_variables(app):
    snapshot = capture(python=REAL_PYTHON)  # env_probe.py runs as a process
    assert snapshot.value("var.LD_LIBRARY_PATH") == USER_LIBRARY_PATH
    assert snapshot.python == REAL_PYTHON
    text = snapshot.dumps()
    assert str(app.internal) not in text
    assert "LD_LIBRARY_PATH_ORIG" not in text
