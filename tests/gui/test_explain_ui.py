"""'Explain this difference' in the window: real worker runs, one factor at a time.

The conftest bundles pair a 1-thread run with a 2-thread one (seed 0); explaining that pair
with the threads factor runs 4 short torch canaries and must mark threads "vanishes".
"""

from __future__ import annotations

import psutil
import pytest

from reprodiag.core.diagnose.attribution import VANISHES
from reprodiag.core.runs.config import RunConfig
from reprodiag.gui.widgets.explain_dialog import heat_color, open_explain


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.mark.framework
def test_explain_marks_threads_as_the_factor_that_removes_the_difference(qtbot, window,
                                                                          bundles, tmp_path):
    window.open_bundles([str(bundles["laptop"]), str(bundles["server"])], now=True)
    tab = window.compare_tab
    assert tab.explain_button.isEnabled()
    a, b, labels = tab.explain_pair()
    assert (a.config.threads, b.config.threads) == (1, 2)  # the pair that differs
    assert labels == ("laptop", "server")

    dialog = tab.explain(factors=["threads"])
    assert dialog is not None and dialog.isVisible() and dialog.running
    qtbot.waitUntil(lambda: not dialog.running, timeout=240_000)
    assert not dialog.error, dialog.error
    result = dialog.attribution_result
    assert not result.cancelled and result.runs == 4
    assert dialog.progress.value() == dialog.progress.maximum() == 4

    # the heatmap: a baseline row, then the factor; threads vanishes, in green
    assert dialog.table.rowCount() == 2
    assert dialog.table.verticalHeaderItem(1).text() == "threads = 1"
    assert dialog.outcome("threads") == VANISHES
    cell = dialog.table.item(1, 0)
    assert cell.background().color().green() > cell.background().color().red()
    assert cell.background().color() == heat_color(1.0)
    assert "threads = 1" in dialog.findings.text() and "vanishes" in dialog.findings.text()
    assert window.explanations == [result]  # kept for the report

    md, _html = window.export_report(str(tmp_path / "explained.md"))
    text = md.read_text()
    assert "## Explained differences" in text and "### reprodiag attribution" in text


@pytest.mark.framework
def test_cancel_stops_the_experiment_and_leaves_no_worker(qtbot, window):
    before = _children()
    dialog = open_explain(window, window.state, RunConfig(steps=8, threads=1),
                          RunConfig(steps=8, threads=2), ["threads"], ("one", "two"))
    qtbot.waitUntil(lambda: dialog.status.text().startswith("A (reference)"), timeout=60_000)
    dialog.close()  # closing cancels
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)
    assert dialog.attribution_result is not None and dialog.attribution_result.cancelled
    assert "cancelled" in dialog.status.text()
    qtbot.waitUntil(lambda: not (_children() - before), timeout=30_000)


def test_runs_tab_explains_only_against_a_reference(qtbot, window, bundles):
    from reprodiag.core.bundle import read_bundle

    runs = window.runs_tab
    bundle = read_bundle(bundles["server"])
    runs.add_records(bundle.runs, "bundle")
    ids = [r.run_id for r in bundle.runs]
    assert "reference" in runs.explain_unavailable(ids[1])
    runs.set_reference(ids[0])
    assert runs.explain_unavailable(ids[1]) == ""
    assert runs.explain(ids[0]) is None  # the reference itself
    assert window.messages.level == "warning"
