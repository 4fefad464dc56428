"""Sides are named the same way in the window and in the CLI's compare and diagnose."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from reprodiag.core.compare import compare_bundles
from reprodiag.core.diagnose import comparable_sides
from reprodiag.core.naming import distinct_names, file_name, side_names


def _side(label: str, path: str | None):
    return SimpleNamespace(label=label, path=None if path is None else Path(path), runs=[],
                           snapshot=None)


def test_shared_names_take_their_file_names_then_numbers_in_the_order_given():
    assert file_name(Path("/x/colab.reprodiag.zip")) == "colab"
    assert file_name(Path("/x/run.zip")) == "run" and file_name(Path(".zip")) == ".zip"
    assert distinct_names([("vm", Path("a/colab.reprodiag.zip")),
                           ("vm", Path("b/laptop.reprodiag.zip"))]) == ["vm (colab)",
                                                                        "vm (laptop)"]
    assert distinct_names([("vm", Path("a/run.reprodiag.zip")),
                           ("vm", Path("b/run.reprodiag.zip"))]) == ["vm", "vm (2)"]
    assert distinct_names([("", Path("a/colab.reprodiag.zip")),
                           ("laptop", None)]) == ["colab", "laptop"]
    # a name that already is another side's numbered name is not taken twice
    assert distinct_names([("vm", None), ("vm (2)", None), ("vm", None)]) == [
        "vm", "vm (2)", "vm (3)"]


def test_compare_and_diagnose_tell_two_machines_of_one_name_apart():
    a, b = _side("vm", "/tmp/t1.reprodiag.zip"), _side("vm", "/tmp/t2.reprodiag.zip")
    assert side_names(a, b) == ("vm (t1)", "vm (t2)")
    assert compare_bundles(a, b).labels == ("vm (t1)", "vm (t2)")
    sa, sb = comparable_sides(a, b)
    assert (sa.label, sb.label) == ("vm (t1)", "vm (t2)")
    assert side_names(_side("", None), _side("", None)) == ("A", "B")

