"""reprodiag: find out why machine-learning results differ between machines."""

__version__ = "0.1.0"
