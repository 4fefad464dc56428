"""The layer rules of docs/architecture.md, checked for real.

core: no Qt, torch or tensorflow; gui: no torch or tensorflow; workers: nothing of reprodiag.
Each layer is imported in a fresh interpreter so earlier imports in this process can't hide
a leak.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import reprodiag

PACKAGE = Path(reprodiag.__file__).parent
FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")
QT = ("PySide6", "pyqtgraph", "shiboken6")


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
