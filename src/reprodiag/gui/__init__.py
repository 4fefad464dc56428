"""The desktop app: a thin PySide6 + pyqtgraph skin over `reprodiag.core` (never torch/TF).

Importing this package changes nothing: the PySide6 work-arounds run at the app's start-up
(gui/compat.py).
"""
