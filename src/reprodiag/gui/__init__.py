"""The desktop app: a thin PySide6 + pyqtgraph skin over `reprodiag.core` (never torch/TF)."""

from reprodiag.gui import compat

compat.protect_singletons()  # before any widget: see compat.py (PySide6 6.12.0 on Python < 3.12)
