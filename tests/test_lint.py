"""The code base stays clean: ruff (rules in pyproject.toml), mypy with no error over all of
src/reprodiag ([tool.mypy]), and wide records built by keyword."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "reprodiag"
# Dataclasses of three or more fields that are not keyword-only, and why.
POSITIONAL_RECORDS = {
    # worker scripts run under the target interpreter, Python 3.8 and newer (kw_only is 3.10)
    "workers/canary_common.py:Dataset",
    # issue 20 reworks the views that build them (runs_tab.py, compare_tab.py)
    "gui/plots/curves.py:CurveSpec",
    "gui/plots/curves.py:DiffSpec",
    "gui/plots/curves.py:BandSpec",
}


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (it comes with the dev group)")
    proc = subprocess.run([ruff, "check", "--output-format", "concise", "src", "tests"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_finds_no_error():
    """mypy (installed with the dev group) over src/reprodiag, configured in pyproject.toml;
    about 30 s the first time, a second once its cache (.mypy_cache) is there."""
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=900)
    assert proc.returncode == 0 and "Success: no issues found" in proc.stdout, (
        proc.stdout[-6000:] + proc.stderr[-2000:])


def _dataclasses():
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            for deco in node.decorator_list:
                call = deco if isinstance(deco, ast.Call) else None
                name = ast.unparse(call.func if call else deco)
                if name in ("dataclass", "dataclasses.dataclass"):
                    kw_only = call is not None and any(
                        k.arg == "kw_only" and ast.literal_eval(k.value) is True
                        for k in call.keywords)
                    fields = [s for s in node.body if isinstance(s, ast.AnnAssign)
                              and "ClassVar" not in ast.unparse(s.annotation)]
                    yield f"{path.relative_to(SRC).as_posix()}:{node.name}", kw_only, len(fields)


def test_wide_records_are_keyword_only():
    """Every dataclass with three or more fields is @dataclass(kw_only=True), so it is built
    by keyword; the few exceptions say why in POSITIONAL_RECORDS."""
    found = list(_dataclasses())
    assert len(found) > 20  # the scan is real
    positional = {name for name, kw_only, n in found if not kw_only and n >= 3}
    assert positional == POSITIONAL_RECORDS
