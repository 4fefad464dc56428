"""The numerics knowledge reprodiag reasons with: the catalog of everything that can change
numbers (catalog.py), the stages and magnitudes a difference is described in (stages.py),
what an environment fact means (facts.py) and the fixes (fixes.py). Qt-free and
framework-free; the environment view, the diagnosis and `align` all read it."""
