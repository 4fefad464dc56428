"""Import reprodiag's worker scripts as modules, the way they import each other.

Workers are run by path with their folder on sys.path (canary_torch does `import
canary_common`); a benchmark that drives a worker's code in its own process does the same.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def import_workers(*names: str) -> list[ModuleType]:
    from reprodiag.paths import worker_script

    folder = str(worker_script("canary_common.py").parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return [importlib.import_module(name) for name in names]
