"""The layer rules of docs/architecture.md, checked for real.

The import contracts in pyproject.toml ([tool.importlinter]) are checked by `lint-imports`
over every import in the source, lazy ones included; a copy of the package with planted
violations shows the check fails when a contract is broken. Then each layer is imported in
a fresh interpreter and sys.modules checked (core: no Qt, torch or tensorflow; gui: no torch
or tensorflow), which also catches imports made by name that no linter sees; and the worker
scripts are parsed for any import of reprodiag (they run where it may be absent).
"""

import ast
import json
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import reprodiag

PACKAGE = Path(reprodiag.__file__).parent
ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")
QT = ("PySide6", "pyqtgraph", "shiboken6")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")  # comes with the dev group


def _lint_imports(root: Path, pyproject: Path) -> subprocess.CompletedProcess:
    """lint-imports on the package found under `root` (the source tree of a checkout)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", str(pyproject)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def _contracts() -> list[dict]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["importlinter"]["contracts"]


def test_the_import_contracts_are_kept():
    proc = _lint_imports(ROOT / "src", ROOT / "pyproject.toml")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in proc.stdout


def test_a_broken_contract_fails_the_check(tmp_path):
    """Plant one violation per contract in a copy of the package: each is reported broken."""
    copy = tmp_path / "reprodiag"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    plants = {
        "core/atomic.py": "import torch  # planted\n",
        "cli.py": "def planted():\n    import tensorflow\n",
        "core/anonymise.py": "from reprodiag.record import common  # planted: core above record\n",
        "workers/probe_torch.py": "from reprodiag.errors import UserError  # planted\n",
    }
    for name, line in plants.items():
        path = copy / name
        path.write_text(path.read_text() + "\n" + line)
    proc = _lint_imports(tmp_path, ROOT / "pyproject.toml")
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())  # contract names are wrapped to the terminal width
    assert f"Contracts: 0 kept, {len(_contracts())} broken." in out, out[-3000:]


def test_the_workers_contract_names_every_other_part_of_the_package():
    contract = next(c for c in _contracts() if c.get("source_modules") == ["reprodiag.workers"])
    parts = {f"reprodiag.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE)])}
    assert set(contract["forbidden_modules"]) == parts - {"reprodiag.workers"}


def _modules_after_importing(package: str) -> set[str]:
    code = f"""
import importlib, json, pkgutil, sys
import {package} as root
failed = []
for m in pkgutil.walk_packages(root.__path__, "{package}."):
    if ".workers" in m.name:
        continue
    try:
        importlib.import_module(m.name)
    except Exception as exc:
        failed.append(f"{{m.name}}: {{exc!r}}")
print(json.dumps({{"modules": sorted(sys.modules), "failed": failed}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["failed"] == [], result["failed"]
    return {m.split(".")[0] for m in result["modules"]}


def test_core_imports_no_qt_and_no_framework():
    top = _modules_after_importing("reprodiag.core")
    assert not top & set(FRAMEWORKS + QT), sorted(top & set(FRAMEWORKS + QT))


def test_gui_imports_no_framework():
    top = _modules_after_importing("reprodiag.gui")
    assert "PySide6" in top  # the check is real: the gui package was imported
    assert not top & set(FRAMEWORKS), sorted(top & set(FRAMEWORKS))


def test_cli_module_imports_neither_qt_nor_frameworks():
    code = "import sys, reprodiag.cli; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    top = {m.split(".")[0] for m in out.stdout.split()}
    assert not top & set(FRAMEWORKS + QT)


def test_workers_import_nothing_of_reprodiag():
    scripts = sorted((PACKAGE / "workers").glob("*.py"))
    assert len(scripts) >= 3
    for script in scripts:
        tree = ast.parse(script.read_text(), filename=str(script))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else ["<relative>"]
            for name in names:
                assert not name.startswith("reprodiag") and name != "<relative>", (
                    f"{script.name} imports {name}: workers run under the target interpreter, "
                    "where reprodiag may be absent")
