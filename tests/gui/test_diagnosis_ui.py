"""The diagnosis features in the window, driven for real: pasted environment reports, fixes
to copy and rerun, the align plan, seed statistics with bands, the Colab notebook and the
anonymised report. (Explain, which starts worker runs, is in test_explain_ui.py.)"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication

from reprodiag.colab_notebook import notebook_text
from reprodiag.core.bundle import read_bundle
from reprodiag.core.env.model import Fact, Snapshot
from reprodiag.gui.main_window import COLAB_HINT
from reprodiag.gui.tabs.compare_tab import DIAGNOSIS, MATCH, SEEDS
from reprodiag.gui.widgets.findings_view import rerun_configs

FOREIGN = Path(__file__).parents[1] / "data" / "foreign"


def _load(qtbot, window, paths):
    window.open_bundles([str(p) for p in paths], now=True)
    return window.compare_tab


def _edited(bundle, path: Path, label: str, **facts) -> object:
    """The bundle with some snapshot facts changed, as if it came from another machine."""
    snap = bundle.snapshot
    python = facts.pop("python", snap.python)
    changed = Snapshot(facts={**snap.facts, **{k: Fact(v) for k, v in facts.items()}},
                       captured_at=snap.captured_at, deep=snap.deep, python=python)
    return dataclasses.replace(bundle, path=path, label=label, snapshot=changed)


# ---------------------------------------------------------------- pasted reports

def test_a_pasted_pip_list_becomes_an_environment_diffed_on_its_packages(qtbot, window,
                                                                          bundles):
    tab = _load(qtbot, window, [bundles["laptop"]])
    dialog = window.paste_report()
    assert dialog.isVisible() and window.current_tab_name() == "compare"

    # text that is no report: one line in the dialog, which stays open
    dialog.text.setPlainText("hello, this is not an environment report")
    dialog.add_button.click()
    assert dialog.isVisible() and dialog.error.isVisible()
    assert "not an environment report" in dialog.error.text()
    assert "\n" not in dialog.error.text()
    assert len(tab.sources) == 1

    dialog.text.setPlainText((FOREIGN / "pip_list_columns.txt").read_text())
    dialog.name.setText("colab pip")
    dialog.add_button.click()
    assert not dialog.isVisible()
    report = tab.sources[-1]
    assert report.label == "colab pip" and report.runs == []
    assert "pip list" in report.origin
    top = tab.tree.topLevelItem(1)
    assert top.text(0) == "colab pip" and "pip list" in top.toolTip(0)

    # the diff against the bundle lists packages only: a pip list tells nothing of the CPU
    assert tab.env_other.currentText() == "colab pip"
    keys = [d.key for d in tab.env_diff.diffs]
    assert "pkg.torch" in keys  # 2.3.0+cpu in the report, this venv's torch in the bundle
    assert all(k.startswith(("pkg.", "framework.")) for k in keys), keys
    assert "environments only" in tab.summary.text()
    # align works against it too: B (the report) gets A's versions pinned
    assert "install" in tab.align_view.blocks
    assert "pip install" in tab.align_view.blocks["install"].text
    # and the Environment tab offers the report's facts
    env = window.env_tab
    env.show_source(report.key)
    assert env.shown_snapshot()[1] == "colab pip" and env.tree.fact_count() >= 5


def test_a_report_file_opens_like_a_bundle(qtbot, window, bundles):
    tab = _load(qtbot, window, [bundles["laptop"], FOREIGN / "collect_env_windows_2x.txt"])
    assert [s.ok for s in tab.sources] == [True, True]
    report = tab.sources[1]
    assert report.label == "collect_env_windows_2x.txt" and "collect_env" in report.origin
    assert report.snapshot.value("host.source") == "torch collect_env report"
    assert tab.env_diff.diffs  # Windows vs this Linux machine differ


# ---------------------------------------------------------------- fixes

def test_fix_blocks_copy_their_code_and_rerun_starts_the_fixed_config(qtbot, window, bundles):
    tab = _load(qtbot, window, [bundles["laptop"], bundles["server"]])
    assert tab.side_tabs.tabText(DIAGNOSIS).startswith("Diagnosis (")
    blocks = tab.findings.fix_blocks()
    assert blocks
    for fix, block in blocks[:2]:
        block.copy_button.click()
        assert QGuiApplication.clipboard().text() in (fix.code.rstrip("\n"), fix.shell_exports)
        assert QGuiApplication.clipboard().text()
    assert window.messages.text().endswith("copied to the clipboard")

    threads = next(c for c in tab.findings.cards if c.finding.id == "threads")
    env_blocks = [b for fix, b in threads.blocks if fix.env and b.text == fix.shell_exports]
    assert env_blocks and "export OMP_NUM_THREADS=" in env_blocks[0].text
    env_blocks[0].copy_button.click()
    assert QGuiApplication.clipboard().text().startswith("export ")

    assert len(threads.rerun_buttons) == 1
    fix = next(f for f in threads.finding.fixes if f.rerun_config_changes)
    runs = {r.run_id: r for s in tab.sources for r in s.runs}
    expected = rerun_configs(threads.finding, fix, runs)
    a_id, b_id = threads.finding.run_pairs[0]
    assert runs[b_id].config.threads != runs[a_id].config.threads  # 2 vs 1
    assert expected[-1] == runs[b_id].config.model_copy(update=fix.rerun_config_changes)

    threads.rerun_buttons[0].click()
    # The reruns go beside the reference in this view, and the fix is checked when they end.
    assert window.current_tab_name() == "compare"
    started = [r.config for r in window.state.session.records()]
    assert started == expected
    assert started[-1].threads == runs[a_id].config.threads
    assert any(s.label.startswith("fix: threads=") for s in tab.sources)
    assert "running" in tab.findings.fix_check.text()
    qtbot.waitUntil(lambda: tab.fix_checks[0].result != "", timeout=120_000)
    check = tab.fix_checks[0]
    assert check.worked is True, check.result
    assert "the fix worked" in tab.findings.fix_check.text()
    assert "bitwise identical" in check.result


def test_a_recorded_training_of_ones_own_gets_no_rerun(bundles):
    bundle = read_bundle(bundles["laptop"])
    from reprodiag.core.diagnose.findings import Finding, Fix

    a, b = bundle.runs[0], dataclasses.replace(bundle.runs[1])
    b.config = b.config.model_copy(update={"model": "custom"})
    finding = Finding(id="x", title="x", likelihood=0.9, run_pairs=[(a.run_id, b.run_id)])
    fix = Fix(framework="any", rerun_config_changes={"threads": 1}, rerun_sides="both")
    runs = {a.run_id: a, b.run_id: b}
    assert rerun_configs(finding, fix, runs) == []
    b.config = b.config.model_copy(update={"model": "mlp"})
    assert [c.threads for c in rerun_configs(finding, fix, runs)] == [1, 1]


# ---------------------------------------------------------------- make it match

def test_align_panel_pins_the_reference_package_versions(qtbot, window, bundles, tmp_path):
    bundle = read_bundle(bundles["laptop"])
    numpy = bundle.snapshot.value("pkg.numpy")
    assert numpy
    tab = window.compare_tab
    tab.add_bundle(bundle)
    tab.add_bundle(_edited(bundle, tmp_path / "old.reprodiag.zip", "old numpy",
                           **{"pkg.numpy": "1.21.0"}))
    tab.show_panel(MATCH)
    assert tab.align_view.plan is not None
    install = tab.align_view.blocks["install"]
    assert f'"numpy=={numpy}"' in install.text
    install.copy_button.click()
    assert QGuiApplication.clipboard().text() == install.text
    assert "code.torch" in tab.align_view.blocks
    assert "torch.use_deterministic_algorithms(True)" in tab.align_view.blocks["code.torch"].text
    assert tab.align_view.markdown.startswith("### Make old numpy (B) match laptop (A)")
    # the env diff shows the same package
    assert "pkg.numpy" in [d.key for d in tab.env_diff.diffs]


# ---------------------------------------------------------------- seed statistics

def test_seed_statistics_and_bands_appear_for_two_seeds_per_side(qtbot, window, bundles,
                                                                   tmp_path):
    copy = tmp_path / "again.reprodiag.zip"
    shutil.copyfile(bundles["laptop"], copy)
    tab = _load(qtbot, window, [bundles["laptop"], copy])
    assert [s.label for s in tab.sources] == ["laptop", "laptop (again)"]
    assert tab.side_tabs.isTabVisible(SEEDS)
    groups = tab.seed_view.groups
    assert len(groups) == 1 and groups[0].a.n == 2 and groups[0].b.n == 2
    assert groups[0].verdict.beyond_noise is False  # the same runs: within noise
    assert "Within seed-to-seed noise" in tab.seed_view.toPlainText()
    assert "final loss" in tab.seed_view.toPlainText()
    assert tab.seed_view.markdown.startswith("### Seed statistics: laptop (A) vs laptop (again)")
    assert tab.view.bands_box.isVisibleTo(tab) and len(tab.view.band_names) == 2
    tab.view.bands_box.setChecked(False)
    tab.view.bands_box.setChecked(True)

    # with one seed left on a side there is no spread to compare: no statistics, no bands
    tab.show_panel(SEEDS)
    tab.tree.set_checked(tab.sources[1].key, tab.sources[1].runs[1].run_id, False)
    assert not tab.side_tabs.isTabVisible(SEEDS)
    assert tab.side_tabs.currentIndex() == DIAGNOSIS
    assert tab.view.band_names == [] and not tab.view.bands_box.isVisibleTo(tab)
    assert tab.seed_view.markdown == ""


# ---------------------------------------------------------------- Colab, report

def test_colab_notebook_is_saved_with_instructions(qtbot, window, tmp_path):
    actions = {a.text().replace("&", ""): a for a in window.menuBar().actions()[-1].menu()
               .actions()}
    assert "Get the Colab notebook…" in actions and actions["Get the Colab notebook…"].toolTip()
    saved = window.save_colab_notebook(str(tmp_path / "reprodiag"))
    assert saved == tmp_path / "reprodiag.ipynb"
    assert saved.read_text(encoding="utf-8") == notebook_text()  # carries this reprodiag
    assert window.messages.text() == f"Saved the Colab notebook to {saved}. {COLAB_HINT}"
    assert window.messages.level == "info"
    assert window.save_colab_notebook(str(tmp_path / "missing" / "x.ipynb")) is None
    assert window.messages.level == "error"


@pytest.mark.parametrize("anonymise", [True, False])
def test_report_holds_the_diagnosis_and_is_anonymised_by_default(qtbot, window, bundles,
                                                                  tmp_path, anonymise):
    bundle = read_bundle(bundles["laptop"])
    python = "/home/alicia/venvs/train/bin/python"
    tab = window.compare_tab
    tab.add_bundle(bundle)
    other = _edited(bundle, tmp_path / "alicia.reprodiag.zip", "workstation", python=python,
                    **{"host.python.executable": python, "pkg.numpy": "1.21.0"})
    tab.add_bundle(other)
    window.env_tab.show_source(str(other.path))
    md, _html = window.export_report(str(tmp_path / "issue.md"), anonymise=anonymise)
    text = md.read_text()
    assert "### reprodiag diagnosis: laptop (A) vs workstation (B)" in text
    assert "### Make workstation (B) match laptop (A)" in text
    assert "numpy==" in text
    if anonymise:
        assert "alicia" not in text and "~/venvs/train/bin/python" in text
    else:
        assert python in text


def test_report_includes_seed_statistics(qtbot, window, bundles, tmp_path):
    copy = tmp_path / "again.reprodiag.zip"
    shutil.copyfile(bundles["laptop"], copy)
    _load(qtbot, window, [bundles["laptop"], copy])
    md, _html = window.export_report(str(tmp_path / "seeds.md"))
    text = md.read_text()
    assert "### Seed statistics: laptop (A) vs laptop (again) (B)" in text
    assert "Within seed-to-seed noise" in text


def test_every_new_control_has_a_tooltip(qtbot, window, bundles):
    from test_window import _own_controls

    tab = _load(qtbot, window, [bundles["laptop"], bundles["server"]])
    assert tab.findings.cards and tab.align_view.blocks
    dialog = window.paste_report()
    controls = list(_own_controls(window))
    assert any(c is dialog.add_button for c in controls)
    assert any(c is tab.findings.cards[0].blocks[0][1].copy_button for c in controls)
    missing = [f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r}"
               for w in controls if not w.toolTip()]
    assert not missing, missing
    dialog.reject()


def test_export_dialog_offers_anonymise_ticked(qtbot, window, tmp_path):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QCheckBox, QFileDialog

    from reprodiag.gui.widgets.dialogs import ANONYMISE_TEXT, ask_report_path

    seen = {}

    def answer():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(20, answer)
            return
        box = next(b for b in dialog.findChildren(QCheckBox) if b.text() == ANONYMISE_TEXT)
        seen["ticked"], seen["tip"] = box.isChecked(), box.toolTip()
        box.setChecked(False)
        dialog.selectFile(str(tmp_path / "plain"))
        dialog.accept()

    QTimer.singleShot(0, answer)
    path, anonymise = ask_report_path(window, "reprodiag-report.md")
    assert seen["ticked"] and "public" in seen["tip"]
    assert anonymise is False and Path(path).name.startswith("plain")
