"""Package lists: pip freeze (direct references, editables, markers), pip list columns,
the legacy form, conda list; keys and derived framework facts as the live collector's."""

from pathlib import Path

import pytest

from reprodiag.core.env import capture
from reprodiag.core.env.foreign import import_report, import_report_file, report_kind
from reprodiag.core.env.foreign.pip_list import Package, parse_pip_line
from reprodiag.errors import UserError

DATA = Path(__file__).parents[1] / "data" / "foreign"


@pytest.mark.parametrize("line, expected", [
    ("numpy==1.26.4", Package(name="numpy", version="1.26.4")),
    ("    Keras==2.4.3", Package(name="Keras", version="2.4.3")),
    ("pkg===1.0-weird", Package(name="pkg", version="1.0-weird")),
    ("typing_extensions==4.11.0 ; python_version >= '3.8'",
     Package(name="typing_extensions", version="4.11.0")),
    ("numpy (1.14.2)", Package(name="numpy", version="1.14.2")),
    ("mypkg (0.1, /home/u/src)", Package(name="mypkg", version="0.1")),
    ("tensorflow                    2.2.0", Package(name="tensorflow", version="2.2.0")),
    ("torch @ https://x.org/whl/torch-2.2.0%2Bcu121-cp310-cp310-linux_x86_64.whl",
     Package(name="torch", version="2.2.0+cu121")),
    ("foo @ https://example.org/foo-1.2.3.tar.gz", Package(name="foo", version="1.2.3")),
    ("WARNING: You are using pip version 20.1", "noise"),
    ("Package    Version", "noise"),
    ("---------- -------", "noise"),
    ("numpy>=1.20", "range"),
    ("this is a sentence about numpy", None),
])
def test_pip_lines(line, expected):
    assert parse_pip_line(line) == expected


def test_pip_freeze_with_direct_references():
    s = import_report_file(DATA / "pip_freeze_direct_refs.txt")
    assert report_kind(s) == "pip freeze"
    assert s.value("framework.torch.version") == "2.2.0+cu121"
    assert s.value("framework.torchvision.version") == "0.17.0"
    assert s.value("framework.torch.cudnn") == "8.9.2.26"
    assert s.value("pkg.scikit-learn") == "1.4.2" and s.value("pkg.typing-extensions") == "4.11.0"
    assert s.get("pkg.mylib").unavailable.startswith("editable")
    assert s.get("pkg.local-tool").unavailable.startswith("installed from a direct reference")
    # a complete list: what is not in it is not installed, as the live collector says
    assert s.get("framework.numpy.version").unavailable == "not installed"
    assert s.get("framework.tensorflow.version").unavailable == "not installed"


def test_pip_list_columns():
    s = import_report_file(DATA / "pip_list_columns.txt")
    assert report_kind(s) == "pip list"
    assert s.value("pkg.pillow") == "10.3.0" and s.value("pkg.mypkg") == "0.1.dev0"
    assert s.value("framework.keras.version") == "3.3.3"
    assert s.value("framework.tensorflow.version") == "2.16.1"


def test_conda_list():
    s = import_report_file(DATA / "conda_list.txt")
    assert report_kind(s) == "conda list"
    assert s.value("framework.torch.version") == "1.11.0" and s.value("pkg.torch") == "1.11.0"
    assert s.value("pkg.tqdm") == "4.64.0" and s.value("pkg.requests") == "2.27.1"
    assert s.value("pkg.conda.cudatoolkit") == "11.3.1" and s.value("pkg.conda.python") == "3.9.12"
    assert "pkg.conda.pytorch" not in s.facts


def test_pip_freeze_of_this_environment_matches_the_live_snapshot():
    """The same packages, read from `pip freeze`-style text, give the live pkg.* facts."""
    live = capture()
    packages = {k: f.value for k, f in live.facts.items()
                if k.startswith("pkg.") and not k.startswith("pkg.conda.") and f.ok}
    assert packages
    freeze = "\n".join(f"{k[len('pkg.'):]}=={v}" for k, v in packages.items())
    report = import_report(freeze)
    for key, value in packages.items():
        assert report.value(key) == value
    for key in ("framework.torch.version", "framework.numpy.version",
                "framework.tensorflow.version"):
        assert report.get(key) == live.get(key)


def test_requirements_file_is_refused_with_a_reason():
    with pytest.raises(UserError, match="version ranges"):
        import_report("numpy>=1.20\ntorch>=2.0\n", name="requirements.txt")
