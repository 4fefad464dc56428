"""The desktop app: a thin PySide6 + pyqtgraph skin over `reprodiag.core` (never torch/TF)."""

import builtins

_python_import = builtins.__import__  # before PySide6 is first imported (by compat, next line)

from reprodiag.gui import compat  # noqa: E402

compat.restore_python_import(_python_import)  # see compat.py: shiboken's import hook
compat.protect_singletons()  # before any widget: see compat.py (PySide6 6.12.0 on Python < 3.12)
