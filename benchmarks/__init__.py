"""reprodiag's benchmark suite: speed and memory where users feel them, each figure measured
beside its baseline in the same run (see run.py; the figures are in docs/performance.md)."""
