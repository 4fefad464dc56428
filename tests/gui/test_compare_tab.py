"""The Compare tab with real bundles: pairs, verdicts, plots, environment diff, bad bundles."""

from __future__ import annotations

from PySide6.QtCore import Qt

from reprodiag.core.compare.runs import VERDICTS
from reprodiag.gui.tabs.compare_tab import PAIRS


def _load(qtbot, window, paths):
    window.open_bundles([str(p) for p in paths])
    qtbot.waitUntil(lambda: len(window.compare_tab.sources) == len(paths), timeout=30_000)
    return window.compare_tab


def test_two_bundles_populate_every_view(qtbot, window, bundles):
    tab = _load(qtbot, window, [bundles["laptop"], bundles["server"]])
    assert window.current_tab_name() == "compare"
    assert [s.label for s in tab.sources] == ["laptop", "server"]
    assert tab.reference.currentText() == "laptop"

    # one comparison (server vs laptop) with both configs paired, verdicts from core
    assert len(tab.comparisons) == 1 and len(tab.comparisons[0].pairs) == 2
    assert tab.verdicts.rowCount() == 2
    verdicts = [tab.verdicts.verdict(r) for r in range(2)]
    assert set(verdicts) <= set(VERDICTS)
    assert "identical" in verdicts  # seed=1, one thread on both sides: bitwise equal
    # plots: four loss curves with every step drawn, two difference curves
    assert len(tab.view.curve_keys) == 4
    assert all(tab.view.point_count(k) == 30 for k in tab.view.curve_keys)
    assert "server" in tab.summary.text() and "laptop" in tab.summary.text()

    # the environments really differ: the server was recorded with OMP_NUM_THREADS=2
    keys = [d.key for d in tab.env_diff.diffs]
    assert "var.OMP_NUM_THREADS" in keys
    assert tab.env_diff.diffs[0].numerics  # numerics-relevant facts come first
    differing = tab.env_diff.rowCount()
    tab.show_all.setChecked(True)
    assert tab.env_diff.rowCount() > differing  # the same facts too
    tab.show_all.setChecked(False)
    assert tab.env_diff.rowCount() == differing

    # the diagnosis names the cause (core.diagnose), and the report-ready Markdown is kept
    assert tab.findings.findings
    assert "thread" in tab.findings.markdown.lower()

    # the bundles' snapshots are offered in the Environment tab
    env = window.env_tab
    assert env.source.count() == 3
    env.show_source(str(bundles["server"]))
    assert env.tree.fact_count() > 50
    assert env.tree.apply_filter("OMP_NUM_THREADS") >= 1


def test_unticking_the_other_side_leaves_nothing_to_compare(qtbot, window, bundles):
    tab = _load(qtbot, window, [bundles["laptop"], bundles["server"]])
    server = tab.sources[1]
    tab.tree.set_checked(server.key, None, False)
    assert tab.comparisons == [] and tab.verdicts.rowCount() == 0
    tab.tree.set_checked(server.key, None, True)
    run = server.runs[0]
    tab.tree.set_checked(server.key, run.run_id, False)
    assert len(tab.comparisons[0].pairs) == 1
    assert len(tab.comparisons[0].unpaired_a) == 1
    assert tab.verdicts.rowCount() == 2  # one pair + one unpaired run


def test_switching_the_reference_swaps_the_sides(qtbot, window, bundles):
    tab = _load(qtbot, window, [bundles["laptop"], bundles["server"]])
    tab.reference.setCurrentIndex(tab.reference.findText("server"))
    tab.reference.activated.emit(tab.reference.currentIndex())  # as a user's pick does
    assert tab.comparisons[0].labels == ("server", "laptop")
    assert tab.env_diff.horizontalHeaderItem(1).text() == "server"


def test_a_bad_bundle_shows_its_error_and_keeps_the_others(qtbot, window, bundles):
    tab = _load(qtbot, window, [bundles["laptop"], bundles["broken"], bundles["server"]])
    broken = [s for s in tab.sources if not s.ok]
    assert len(broken) == 1 and "broken.reprodiag.zip" in broken[0].error
    assert window.messages.level == "error"
    assert "broken.reprodiag.zip" in window.messages.text()
    # the good ones are loaded and compared as if the bad one were not there
    assert [s.label for s in tab.sources if s.ok] == ["laptop", "server"]
    assert len(tab.comparisons) == 1 and tab.verdicts.rowCount() == 2
    top = tab.tree.topLevelItem([s.key for s in tab.sources].index(broken[0].key))
    assert top.text(0).startswith("✖") and not (top.flags() & Qt.ItemFlag.ItemIsUserCheckable)


def test_a_bundle_label_is_shown_as_text_never_as_markup(qtbot, window, bundles, tmp_path):
    from reprodiag.core.bundle import read_bundle, write_bundle

    laptop = read_bundle(bundles["laptop"])
    crafted = tmp_path / "crafted.reprodiag.zip"
    label = "<img src='/etc/passwd'><b>x</b>"
    write_bundle(crafted, snapshot=laptop.snapshot, runs=laptop.runs, label=label)
    tab = _load(qtbot, window, [bundles["server"], crafted])
    summary = tab.summary.text()
    assert "&lt;img src=" in summary and "<img" not in summary


def _relabelled(folder, bundle_path, label: str, name: str = "run.reprodiag.zip"):
    """A copy of a real bundle under another label and file name."""
    from reprodiag.core.bundle import read_bundle, write_bundle

    bundle = read_bundle(bundle_path)
    folder.mkdir(parents=True, exist_ok=True)
    return write_bundle(folder / name, snapshot=bundle.snapshot, runs=bundle.runs, label=label)


def test_names_follow_the_order_given_whichever_file_loads_first(qtbot, window, bundles,
                                                                  tmp_path):
    """Two machines that both call themselves 'vm': told apart by their file names, the first
    given is the reference, and the header, the details, the title and the Environment tab
    agree -- also when the second file finishes loading first."""
    from reprodiag.core.bundle import read_bundle

    colab = _relabelled(tmp_path, bundles["laptop"], "vm", "colab.reprodiag.zip")
    laptop = _relabelled(tmp_path, bundles["server"], "vm", "laptop.reprodiag.zip")
    tab = window.compare_tab
    window.set_tab("compare")
    tab.place([str(colab), str(laptop)])
    tab.add_bundle(read_bundle(laptop))  # the second one is read first
    assert [s.label for s in tab.sources] == ["vm"]
    tab.add_bundle(read_bundle(colab))
    assert [s.label for s in tab.sources] == ["vm (colab)", "vm (laptop)"]
    assert tab.reference.currentText() == "vm (colab)"
    assert tab.summary.text().startswith("<b>vm (colab)</b> vs <b>vm (laptop)</b>")
    assert tab.details_title.text() == "<b>vm (colab)</b> (reference) vs"
    assert tab.env_other.currentText() == "vm (laptop)"
    assert window.windowTitle() == "vm (colab) vs vm (laptop) — reprodiag"
    items = [window.env_tab.source.itemText(i) for i in range(window.env_tab.source.count())]
    assert items[1:] == ["Bundle: vm (laptop)", "Bundle: vm (colab)"]  # in loading order


def test_the_environment_compared_with_follows_the_order_given_until_the_user_picks(
        qtbot, window, bundles, tmp_path):
    """Three sources whose last one loads before the second: the details compare the
    reference with the second given, not with whichever loaded first; a user's pick stays
    when more sources arrive."""
    from reprodiag.core.bundle import read_bundle

    colab = _relabelled(tmp_path, bundles["laptop"], "colab", "colab.reprodiag.zip")
    tab = window.compare_tab
    window.set_tab("compare")
    paths = [bundles["laptop"], bundles["server"], colab]
    tab.place([str(p) for p in paths])
    tab.add_bundle(read_bundle(bundles["laptop"]))
    tab.add_bundle(read_bundle(colab))  # the third one is read before the second
    assert tab.env_other.currentText() == "colab"
    tab.add_bundle(read_bundle(bundles["server"]))
    assert [s.label for s in tab.sources] == ["laptop", "server", "colab"]
    assert tab.env_other.currentText() == "server"
    assert tab.details_title.text() == "<b>laptop</b> (reference) vs"

    tab.env_other.setCurrentIndex(tab.env_other.findText("colab"))
    tab.env_other.activated.emit(tab.env_other.currentIndex())  # as a user's pick does
    tab.add_bundle(read_bundle(_relabelled(tmp_path, bundles["server"], "ws", "ws.reprodiag.zip")))
    assert tab.env_other.currentText() == "colab"


def test_same_names_in_the_same_file_names_are_numbered_in_the_order_given(qtbot, window,
                                                                          bundles, tmp_path):
    first = _relabelled(tmp_path / "a", bundles["laptop"], "vm")
    second = _relabelled(tmp_path / "b", bundles["server"], "vm")
    tab = _load(qtbot, window, [second, first])
    assert [s.label for s in tab.sources] == ["vm", "vm (2)"]
    assert tab.sources[0].path == second and tab.reference.currentText() == "vm"
    assert window.windowTitle() == "vm vs vm (2) — reprodiag"


def test_one_pair_is_one_pair(qtbot, window, bundles):
    tab = _load(qtbot, window, [bundles["laptop"], bundles["server"]])
    server = tab.sources[1]
    tab.tree.set_checked(server.key, server.runs[0].run_id, False)
    assert "— 1 pair (" in tab.summary.text() and "1 pairs" not in tab.summary.text()
    assert tab.side_tabs.tabText(PAIRS) == "Run pairs (1)"
    assert tab.pairs_count.text().startswith("1 pair of runs with the same config, 1 run "
                                             "without a partner")


def test_four_environments_share_a_compact_legend_under_the_plot(qtbot, window, bundles,
                                                                tmp_path):
    """4 environments x 2 runs: one legend line per line style (environment) and per colour
    (run), not 8, below the curves; the Legend button hides it."""
    paths = [bundles["laptop"], bundles["server"],
             _relabelled(tmp_path, bundles["laptop"], "colab", "colab.reprodiag.zip"),
             _relabelled(tmp_path, bundles["server"], "workstation", "ws.reprodiag.zip")]
    tab = _load(qtbot, window, paths)
    view = tab.view
    assert len(view.curve_keys) == 8
    assert view.legend_names("loss") == ["laptop (reference)", "server", "colab", "workstation",
                                         "1 seed=0", "2 seed=1"]
    assert view.legend_names("difference") == ["server", "colab", "workstation", "1 seed=0",
                                               "2 seed=1"]
    panel = view.loss_panel
    qtbot.waitUntil(lambda: panel.legend.isVisible() and panel.legend.columnCount > 1)
    plot_box = panel.plot.getViewBox().sceneBoundingRect()
    legend_box = panel.legend.sceneBoundingRect()
    assert legend_box.top() >= plot_box.bottom()  # under the curves, not over them
    assert plot_box.height() > 2 * legend_box.height()
    panel.legend_button.click()
    assert not panel.legend.isVisible()
    qtbot.waitUntil(lambda: panel.plot.getViewBox().sceneBoundingRect().height()
                    > plot_box.height())
    panel.legend_button.click()
    assert panel.legend.isVisible()


def test_the_layers_view_shows_where_the_threads_pair_parts(qtbot, window, bundles):
    from reprodiag.gui.tabs.compare_tab import LAYERS

    tab = _load(qtbot, window, [bundles["laptop"], bundles["server"]])
    tab.show_panel(LAYERS)
    view = tab.layers_view
    # the pair that differs (1 vs 2 threads) is shown first; the seed=1 pair is identical
    assert view.pair_box.count() == 2
    lc = view.comparison
    assert lc is not None and lc.parting is not None and lc.step == 0
    assert lc.parting.phase == "backward" and lc.parting.kind == "linear"
    grid = view.grid
    assert grid.rowCount() == len(lc.grid_layers) and grid.columnCount() == len(lc.steps)
    assert [grid.horizontalHeaderItem(j).text() for j in range(grid.columnCount())] == [
        str(s) for s in lc.steps]
    marked = [i for i in range(grid.rowCount()) if grid.verticalHeaderItem(i).text().startswith("◆")]
    assert len(marked) == 1 and lc.parting.label in grid.verticalHeaderItem(marked[0]).text()
    cell = grid.item(marked[0], lc.steps.index(lc.step))
    assert cell.text().startswith("◆") and (grid.currentRow(), grid.currentColumn()) == (
        marked[0], 0)
    tip = cell.toolTip()
    assert "laptop" in tip and "server" in tip and "norm" in tip and "ULPs" in tip
    assert lc.parting.label in view.detail.text()  # the side panel shows the current cell
    assert grid.item(0, 0).text() == "="  # the batch is equal on both sides
    # choosing the identical pair in the run table shows it: nothing parts
    identical = next(r for r in range(tab.verdicts.rowCount())
                     if tab.verdicts.verdict(r) == "identical")
    tab.verdicts.selectRow(identical)
    assert view.comparison.parting is None and "no layer differs" in view.summary.text().lower()
