"""Screenshots and reports from real bundles: files are written and hold real content."""

from __future__ import annotations

import pytest
from conftest import image_spread
from PySide6.QtGui import QGuiApplication, QImage

from reprodiag.errors import UserError
from reprodiag.gui.screenshot import render


@pytest.mark.parametrize("tab", ["environment", "runs", "compare", "layers"])
def test_offscreen_render_of_each_tab_is_not_blank(qtbot, tmp_path, bundles, tab):
    out = render([str(bundles["laptop"]), str(bundles["server"])], tab,
                 str(tmp_path / f"{tab}.png"), (1280, 800))
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)
    assert image_spread(out) > 20  # text, tables and curves, not a flat fill


def test_render_refuses_bad_input_with_one_line(tmp_path, bundles):
    with pytest.raises(UserError, match="broken.reprodiag.zip"):
        render([str(bundles["broken"])], "compare", str(tmp_path / "x.png"))
    with pytest.raises(UserError, match="unknown tab"):
        render([], "plots", str(tmp_path / "x.png"))
    with pytest.raises(UserError, match="does not exist"):
        render([], "runs", str(tmp_path / "missing" / "x.png"))


def test_window_screenshot_clipboard_and_plot_exports(qtbot, window, tmp_path, bundles):
    window.open_bundles([str(bundles["laptop"]), str(bundles["server"])], now=True)
    shot = window.save_screenshot(str(tmp_path / "window.png"))
    assert image_spread(shot) > 20
    tab_shot = window.save_screenshot(str(tmp_path / "tab.png"), tab_only=True)
    assert QImage(str(tab_shot)).height() < QImage(str(shot)).height()
    window.copy_screenshot()
    assert not QGuiApplication.clipboard().image().isNull()

    panel = window.compare_tab.view.loss_panel
    png = panel.export(tmp_path / "loss.png")
    assert QImage(str(png)).width() >= 1000 and image_spread(png) > 5
    svg = panel.export(tmp_path / "loss.svg")
    text = svg.read_text()
    assert "<svg" in text and ("<polyline" in text or "<path" in text)
    with pytest.raises(UserError):
        panel.export(tmp_path / "loss.gif")


def test_report_is_markdown_with_images_and_html(qtbot, window, tmp_path, bundles):
    window.open_bundles([str(bundles["laptop"]), str(bundles["server"])], now=True)
    window.env_tab.show_source(str(bundles["laptop"].resolve()))
    md, html = window.export_report(str(tmp_path / "issue.md"))
    text = md.read_text()
    assert text.startswith("# reprodiag report")
    assert "### reprodiag comparison: laptop (A) vs server (B)" in text  # core's renderer
    assert "var.OMP_NUM_THREADS" in text  # the environment diff
    assert "## Environment: laptop" in text
    images = sorted(p.name for p in (tmp_path / "issue_files").iterdir())
    assert images == ["compare-difference.png", "compare-loss.png"]
    for name in images:
        assert f"](issue_files/{name})" in text
        assert image_spread(tmp_path / "issue_files" / name) > 5
    page = html.read_text()
    assert "<html" in page.lower() and 'src="issue_files/compare-loss.png"' in page
    assert "identical" in page


def test_exported_plots_are_figures_of_one_size_with_print_sized_text(qtbot, window,
                                                                      tmp_path, bundles):
    """Whatever the panel's size on screen, an exported figure has the same size, its
    title, readable tick labels and the legend (even when hidden on screen); the panel is
    as it was afterwards."""
    from reprodiag.gui.plots.panel import FIGURE_POINTS, FIGURE_SCALE, FIGURE_SIZE

    window.open_bundles([str(bundles["laptop"]), str(bundles["server"])], now=True)
    panel = window.compare_tab.view.diff_panel
    panel.legend_button.setChecked(False)
    axis = panel.plot.getAxis("left")
    assert not panel.plot.titleLabel.isVisible()  # no note: no title row on screen
    sizes = set()
    for width in (600, 1400):
        window.resize(width, 700)
        qtbot.waitUntil(lambda: abs(panel.widget.ci.geometry().width()
                                    - panel.widget.width()) < 2)
        with panel.figure() as rect:
            assert (rect.width(), rect.height()) == FIGURE_SIZE
            assert axis.style["tickFont"].pointSizeF() == FIGURE_POINTS
            assert panel.legend.isVisible() and panel.legend.items
            assert all(f"{FIGURE_POINTS}pt" in label.item.toHtml()
                       for _sample, label in panel.legend.items)
            assert panel.title in panel.plot.titleLabel.text
        image = QImage(str(panel.export(tmp_path / f"diff-{width}.png")))
        sizes.add((image.width(), image.height()))
    assert sizes == {(FIGURE_SIZE[0] * FIGURE_SCALE, FIGURE_SIZE[1] * FIGURE_SCALE)}
    assert not panel.legend.isVisible() and axis.style["tickFont"] is None
    assert not panel.plot.titleLabel.isVisible()


def test_a_screenshot_without_bundles_imports_no_bundle_or_pydantic_code(tmp_path):
    """`reprodiag screenshot --out x.png` (the Environment tab, nothing loaded) builds only
    that tab: no bundle, run-config or pydantic code is imported."""
    import os
    import subprocess
    import sys

    out = tmp_path / "env.png"
    code = ("import sys\n"
            "from reprodiag.cli import main\n"
            f"assert main(['screenshot', '--out', {str(out)!r}]) == 0\n"
            "print(sorted(m for m in sys.modules if m == 'pydantic' or m.startswith("
            "('reprodiag.core.bundle', 'reprodiag.core.runs', 'reprodiag.gui.tabs.runs_tab'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert image_spread(out) > 20
