"""Fixtures for the GUI tests: offscreen Qt, a window with throwaway settings and run library,
and real bundles recorded once per session from real PyTorch CPU runs.

The second bundle is recorded by a separate Python process with OMP/MKL thread variables
set, so its environment snapshot really differs from the first one's.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported anywhere

import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from reprodiag.core.runs.config import RunConfig  # noqa: E402
from reprodiag.core.runs.session import record_runs  # noqa: E402
from reprodiag.gui import compat  # noqa: E402

# As the app's start-up does (app.create_application); here pytest-qt makes the QApplication.
compat.protect_singletons()

STEPS = 30

RECORD_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from reprodiag.core.runs.config import RunConfig
    from reprodiag.core.runs.session import record_runs
    configs = [RunConfig(steps={steps}, threads=2), RunConfig(steps={steps}, threads=1, seed=1)]
    result = record_runs(configs, out=Path(sys.argv[1]), label="server")
    assert all(r.status == "finished" for r in result.runs), [r.reason for r in result.runs]
""")


def pytest_collection_modifyitems(items):
    """The GUI tests that use `bundles` (recorded from real torch runs) run a framework."""
    here = Path(__file__).parent
    for item in items:
        if "bundles" in getattr(item, "fixturenames", ()) and here in Path(item.path).parents:
            item.add_marker(pytest.mark.framework)


@pytest.fixture(scope="session")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """{'laptop', 'server', 'broken'}: two real bundles of torch runs, and a corrupt file."""
    folder = tmp_path_factory.mktemp("bundles")
    laptop = folder / "laptop.reprodiag.zip"
    result = record_runs([RunConfig(steps=STEPS, threads=1), RunConfig(steps=STEPS, threads=1,
                                                                        seed=1)],
                         out=laptop, label="laptop")
    assert all(r.status == "finished" for r in result.runs), [r.reason for r in result.runs]
    server = folder / "server.reprodiag.zip"
    env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    subprocess.run([sys.executable, "-c", RECORD_SCRIPT.format(steps=STEPS), str(server)],
                   env=env, check=True, timeout=300)
    broken = folder / "broken.reprodiag.zip"
    broken.write_bytes(b"PK\x03\x04 this is not really a zip file")
    return {"laptop": laptop, "server": server, "broken": broken}


@pytest.fixture
def make_window(qtbot, tmp_path):
    """make_window() -> MainWindow with settings in tmp_path/settings.ini and library in tmp_path."""
    from reprodiag.core.runs.library import RunLibrary
    from reprodiag.gui.main_window import MainWindow
    from reprodiag.gui.settings import AppSettings

    def make(settings_path: Path | None = None):
        settings = AppSettings(str(settings_path or tmp_path / "settings.ini"))
        window = MainWindow(settings, RunLibrary(tmp_path / "runs"))
        # closed at the end of the test without the quit question: runs still going are
        # cancelled as the question's Quit would
        qtbot.addWidget(window, before_close_func=lambda w: setattr(w, "confirm_quit", False))
        window.show()
        return window

    return make


@pytest.fixture
def window(make_window):
    return make_window()


def image_spread(path: Path) -> float:
    """Standard deviation of the grey levels of a PNG: ~0 for a blank image."""
    from PySide6.QtGui import QImage

    image = QImage(str(path)).convertToFormat(QImage.Format.Format_Grayscale8)
    assert not image.isNull(), f"{path} is not an image"
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    data = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * height)
    return float(data.reshape(height, stride)[:, :width].std())
