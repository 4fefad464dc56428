"""The Environment tab: the fact tree, its filter, and the exports of the snapshot shown."""

from __future__ import annotations

import json
import sys

from PySide6.QtGui import QGuiApplication

from reprodiag.core.bundle import read_bundle
from reprodiag.core.env.model import Snapshot
from reprodiag.gui.widgets.env_tree import KEY_ROLE


def _show_bundle(window, path):
    bundle = read_bundle(path)
    window.env_tab.add_bundle(bundle)
    window.env_tab.show_source(str(path))
    return bundle


def test_tree_groups_marks_and_filters_facts(window, bundles):
    bundle = _show_bundle(window, bundles["server"])
    tree = window.env_tab.tree
    assert tree.fact_count() == len(bundle.snapshot.facts)
    groups = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]
    assert groups[:2] == ["Host", "CPU"] and "Variables" in groups
    assert tree.apply_filter("OMP_NUM_THREADS") == 1
    visible = tree.visible_facts()
    assert visible == ["var.OMP_NUM_THREADS"]
    item = next(i for i in tree._facts if i.data(0, KEY_ROLE) == "var.OMP_NUM_THREADS")
    assert item.font(0).bold() and "thread" in item.toolTip(0).lower()  # why it matters
    assert item.text(2)  # the why, in its own column
    window.env_tab.numerics_only.setChecked(True)
    window.env_tab.filter.setText("")
    numerics = tree.visible_facts()
    assert 0 < len(numerics) < tree.fact_count()
    assert "host.hostname" not in numerics


def test_copy_markdown_export_json_and_save_bundle(qtbot, window, bundles, tmp_path):
    bundle = _show_bundle(window, bundles["laptop"])
    window.env_tab.copy_markdown()
    assert QGuiApplication.clipboard().text().startswith("### Environment (reprodiag)")

    window.env_tab.export_json(str(tmp_path / "env.json"))
    again = Snapshot.from_json(json.loads((tmp_path / "env.json").read_text()))
    assert again.facts == bundle.snapshot.facts

    written = []
    window.env_tab.save_bundle(str(tmp_path / "env"), on_done=written.append)
    qtbot.waitUntil(lambda: bool(written), timeout=10_000)
    saved = read_bundle(written[0])
    assert written[0].name == "env.reprodiag.zip" and saved.runs == []
    assert saved.snapshot.facts == bundle.snapshot.facts


def test_switching_the_target_recaptures_in_the_background(qtbot, window, tmp_path):
    window.env_tab.set_target(str(tmp_path / "not-a-python"))
    assert window.state.target.endswith("not-a-python")
    qtbot.waitUntil(lambda: not window.env_tab.capturing, timeout=60_000)
    assert window.state.snapshot is None
    assert window.messages.level == "error" and "not-a-python" in window.messages.text()
    window.env_tab.set_target(sys.executable)
    qtbot.waitUntil(lambda: window.state.snapshot is not None, timeout=120_000)
    assert window.state.snapshot.facts
