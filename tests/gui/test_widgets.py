"""Widgets on their own: the config form, the curves (NaN gaps), buffers, the PySide6 guard."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np

from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import parse_line
from reprodiag.core.runs.record import RunRecord
from reprodiag.gui import compat
from reprodiag.gui.plots.buffers import GrowingSeries, Smoother
from reprodiag.gui.plots.curves import CurveSpec, CurvesView, DiffSpec
from reprodiag.gui.theme import run_color
from reprodiag.core.runs.config import run_options
from reprodiag.gui.widgets.config_form import ConfigForm
from reprodiag.gui.widgets.live_status import format_sample


def test_config_form_starts_at_the_defaults_and_round_trips(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    assert form.config() == RunConfig()
    cfg = RunConfig(framework="tensorflow", model="cnn", device="auto", seed=None, steps=17,
                    batch_size=8, lr=0.25, optimizer="adam", dtype="float64",
                    deterministic=True, tf32=True, threads=3, shuffle=False, augment=True,
                    onednn=False)
    form.set_config(cfg)
    assert form.config() == cfg
    assert form.widget("seed").text() == "unseeded"
    assert form.config(device="gpu").device == "gpu"
    assert all(form.widget(name).toolTip() for name in RunConfig.model_fields)


def test_config_form_fields_and_bounds_are_runconfigs(qtbot):
    """Every field is offered with RunConfig's title, choices, bounds and unset word."""
    form = ConfigForm()
    qtbot.addWidget(form)
    layout = form.layout()
    for option in run_options():
        widget = form.widget(option.name)
        assert layout.labelForField(widget).text() == option.title + ":"
        if option.kind == "choice":
            assert [widget.itemText(i) for i in range(widget.count())] == list(option.choices)
        elif option.kind == "int":
            low = option.low - (1 if option.optional else 0)
            assert (widget.minimum(), widget.maximum()) == (low, option.high), option.name
            if option.optional:
                assert widget.specialValueText() == option.unset
        elif option.kind == "float":
            assert option.low < widget.minimum() < option.low + 1e-4
            assert widget.maximum() == option.high
        elif option.optional:
            assert widget.itemText(0) == option.unset


def _record(losses: list[float], seed_hash: str = "p") -> RunRecord:
    """A record filled through the real protocol parser (NaN/Infinity are valid JSON here)."""
    record = RunRecord(config=RunConfig(steps=len(losses)))
    record.apply(parse_line(json.dumps({"type": "hello", "worker": "t", "protocol": 1})))
    for i, loss in enumerate(losses):
        record.apply(parse_line(json.dumps({
            "type": "step", "step": i, "loss": loss, "grad_norm": 1.0, "lr": 0.1,
            "step_time": 0.001, "param_hash": f"{seed_hash}{i}", "batch_hash": f"b{i}"})))
    return record


def test_non_finite_losses_are_gaps_with_a_marker(qtbot):
    view = CurvesView()
    qtbot.addWidget(view)
    good = _record([2.0, 1.5, 1.2, 1.0, 0.9])
    bad = _record([2.0, 1.5, 40.0, math.inf, math.nan], seed_hash="q")
    view.set_curves([CurveSpec("a", "#1", good, run_color(0)),
                     CurveSpec("b", "#2", bad, run_color(1))])
    view.set_diffs([DiffSpec("b", "#2 vs #1", good, bad, run_color(1))])
    x, y = view._curves["b"].loss_item.getData()
    assert list(x) == [0, 1, 2, 3, 4] and np.isnan(y[3:]).all()
    curve = view._curves["b"]
    assert curve.nonfinite_step == 3 and len(curve.nonfinite_items) == 2  # line + x mark
    diff = view._diffs["b"]
    assert diff.marker_step == 2  # where the losses first differ (the plotted quantity)
    view.log_y.setChecked(True)  # NaN/Inf on a log axis: no crash, marker redrawn
    assert len(curve.nonfinite_items) == 2
    view.log_y.setChecked(False)
    view.smoothing.setValue(0.5)
    _x, smooth = curve.loss_item.getData()
    assert smooth[1] == 0.5 * 2.0 + 0.5 * 1.5 and np.isnan(smooth[3])


def test_live_curves_grow_incrementally(qtbot):
    view = CurvesView()
    qtbot.addWidget(view)
    record = _record([2.0, 1.9])
    view.set_curves([CurveSpec("a", "#1", record, run_color(0))])
    assert view.point_count("a") == 2
    record.apply(parse_line(json.dumps({"type": "step", "step": 2, "loss": 1.8,
                                        "grad_norm": 1.0, "lr": 0.1, "step_time": 0.001,
                                        "param_hash": "x", "batch_hash": "y"})))
    assert view.refresh() and view.point_count("a") == 3
    assert not view.refresh()  # nothing new: nothing redrawn


def test_growing_series_and_smoother():
    s = GrowingSeries(capacity=2)
    s.extend(range(5))
    s.extend([5.0])
    assert list(s.view()) == [0, 1, 2, 3, 4, 5]
    out = Smoother(0.5).extend([1.0, math.nan, 3.0])
    assert out[0] == 1.0 and math.isnan(out[1]) and out[2] == 2.0


def test_status_text_names_cpu_ram_and_gpus():
    text = format_sample({"cpu_percent": 12.4, "ram_used": 6 * 2**30, "ram_total": 16 * 2**30,
                          "gpus": [{"index": 0, "util": 45, "mem_used": 2**31,
                                    "mem_total": 2**34, "temperature": 61}]})
    assert text == "CPU 12% · RAM 6.0/16.0 GiB · GPU0 45% 2.0/16.0 GiB 61°C"


def test_many_qt_calls_do_not_exhaust_none():
    """PySide6 6.12.0 on Python < 3.12 drops a reference to None per void call; the guard the
    app's start-up installs (gui/compat.py) must keep a long session alive (without it this
    process aborts)."""
    code = ("from reprodiag.gui.app import create_application\n"
            "app = create_application(offscreen=True)\n"
            "from PySide6.QtCore import QObject\n"
            "o = QObject()\n"
            "for _ in range(200_000):\n"
            "    o.setObjectName('x')\n"
            "print('alive')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "alive", out.stderr[-500:]
    assert compat.references_lost_per_call() == 0 or compat.active


def _step_line(i: int, loss: float, param_hash: str) -> bytes:
    return json.dumps({"type": "step", "step": i, "loss": loss, "grad_norm": 1.0, "lr": 0.1,
                       "step_time": 0.001, "param_hash": param_hash, "batch_hash": f"b{i}"}).encode()


def _streams(n: int) -> tuple[list[bytes], list[bytes]]:
    """Two runs' step lines: parameters part at step 7, losses at 12, a NaN at 20 in one."""
    ref = [_step_line(i, 2.0 / (i + 1), f"p{i}") for i in range(n)]
    other = [_step_line(i, 2.0 / (i + 1) + (1e-6 * i if i >= 12 else 0.0) if i != 20 else math.nan,
                        f"p{i}" if i < 7 else f"q{i}") for i in range(n)]
    return ref, other


def _running(config_steps: int) -> RunRecord:
    record = RunRecord(config=RunConfig(steps=config_steps))
    record.apply(parse_line(json.dumps({"type": "hello", "worker": "t", "protocol": 1})))
    return record


def test_incremental_pair_diff_equals_the_whole_run_comparison():
    from reprodiag.core.compare import abs_diff_series, compare_runs
    from reprodiag.gui.plots.pair_diff import PairDiff, first_difference_step

    ref_lines, other_lines = _streams(40)
    ref, other = _running(40), _running(40)
    pair = PairDiff(ref, other)
    seen = []
    # uneven chunks, the other run ahead of the reference most of the time
    for a, b in [(0, 3), (2, 5), (9, 9), (9, 15), (21, 30), (40, 33), (40, 40)]:
        for line in ref_lines[len(ref.steps):a]:
            ref.apply(parse_line(line))
        for line in other_lines[len(other.steps):b]:
            other.apply(parse_line(line))
        pair.update()
        seen.append(pair.first_difference_step)
    steps, diff = abs_diff_series(ref, other)
    assert np.array_equal(pair.steps.view(), steps) and pair.rebuilds == 0
    assert np.array_equal(pair.diff.view(), diff, equal_nan=True)
    assert pair.first_difference_step == first_difference_step(compare_runs(ref, other)) == 12
    assert seen[:2] == [None, None] and 7 in seen  # parameters part before the losses do
    assert not pair.update()  # nothing new

    # step numbers that do not increase (apply() refuses them; a record read from elsewhere
    # might not): compared whole, still the same answer
    shuffled = _running(3)
    for i in (0, 2, 1):
        shuffled.steps.append(parse_line(_step_line(i, 1.0 + i, "p")))
    odd = PairDiff(ref, shuffled)
    assert odd.update() and odd.rebuilds == 1
    steps, diff = abs_diff_series(ref, shuffled)
    assert np.array_equal(odd.steps.view(), steps) and np.array_equal(odd.diff.view(), diff)


def test_pair_diff_compares_parameter_hashes_only_where_both_runs_took_one():
    from reprodiag.core.compare import compare_runs
    from reprodiag.gui.plots.pair_diff import PairDiff

    # the reference hashes every step, the other every 4th ("" between): equal where both hashed
    dense, sparse = _running(12), _running(12)
    for i in range(12):
        dense.apply(parse_line(_step_line(i, 1.0, f"p{i}")))
        sparse.apply(parse_line(_step_line(i, 1.0, f"p{i}" if i % 4 == 0 else "")))
    pair = PairDiff(dense, sparse)
    pair.update()
    assert pair.first_param_step is None and pair.first_difference_step is None
    assert compare_runs(dense, sparse).first_param_diff_step is None

    # a difference shows at the first step both hashed after it
    parted = _running(12)
    for i in range(12):
        parted.apply(parse_line(_step_line(i, 1.0, ("p" if i < 6 else "q") + str(i)
                                           if i % 4 == 0 else "")))
    pair = PairDiff(dense, parted)
    pair.update()
    assert pair.first_param_step == 8


def test_streaming_draws_fast_and_a_still_view_is_antialiased(qtbot):
    from reprodiag.gui.plots.panel import antialiased

    view = CurvesView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    ref_lines, other_lines = _streams(400)
    ref, other = _running(400), _running(400)
    view.set_curves([CurveSpec("a", "#1", ref, run_color(0)), CurveSpec("b", "#2", other, run_color(1))])
    view.set_diffs([DiffSpec("b", "#2 vs #1", ref, other, run_color(1))])
    markers = []
    for lo in range(0, 60, 10):  # streams in, refreshed after each chunk
        for line in ref_lines[lo:lo + 10]:
            ref.apply(parse_line(line))
        for line in other_lines[lo:lo + 10]:
            other.apply(parse_line(line))
        view.refresh(force=True)
        markers.append(view._diffs["b"].marker_step)
    assert view.live and markers[0] == 7 and markers[-1] == 12  # moved to the loss difference
    item = view._curves["a"].loss_item
    assert not item.curve.opts["antialias"] and item.opts["autoDownsampleFactor"] == 1.0
    # the step axis is held at the configured length, not fitted to the 60 steps so far
    for panel in view.panels().values():
        low, high = panel.plot.viewRange()[0]
        assert low <= 0 and 399 <= high < 420 and not panel.plot.getViewBox().autoRangeEnabled()[0]
    # a grab of the live plot is drawn antialiased (and the live look comes back after)
    plot = view.loss_panel.plot
    fast = view.loss_panel.widget.grab().toImage()
    with antialiased(plot):
        assert item.curve.opts["antialias"]
        smooth = view.loss_panel.widget.grab().toImage()
    assert not item.curve.opts["antialias"] and smooth != fast

    # the user zooms the step axis: streaming leaves it there
    view.diff_panel.plot.setXRange(5, 30, padding=0)
    for line in ref_lines[60:100]:
        ref.apply(parse_line(line))
    view.refresh()
    assert np.allclose(view.diff_panel.plot.viewRange()[0], [5, 30])

    ref.finish("finished")
    other.finish("finished")
    view.refresh()
    assert not view.live and item.curve.opts["antialias"]
    assert view._diffs["b"].item.curve.opts["antialias"] and item.opts["autoDownsampleFactor"] == 5.0
    assert view.loss_panel.plot.getViewBox().autoRangeEnabled()[0]  # fits the data again
    assert view.point_count("a") == 100


def test_verdict_table_gives_the_parameter_parting_range_when_hashes_are_sparse(qtbot):
    from types import SimpleNamespace

    from reprodiag.core.compare import compare_bundles
    from reprodiag.gui.widgets.verdict_table import COLUMNS, VerdictTable

    dense, sparse = _running(12), _running(12)
    for i in range(12):  # hashed every step / every 4th; the parameters part at step 6
        dense.apply(parse_line(_step_line(i, 1.0, f"p{i}")))
        sparse.apply(parse_line(_step_line(i, 1.0, ("p" if i < 6 else "q") + str(i)
                                           if i % 4 == 0 else "")))
    for run in (dense, sparse):
        run.finish("finished")
    bc = compare_bundles(SimpleNamespace(label="a", runs=[dense], snapshot=None),
                         SimpleNamespace(label="b", runs=[sparse], snapshot=None))
    table = VerdictTable()
    qtbot.addWidget(table)
    table.set_comparisons([bc], lambda run: 1, lambda run: run_color(0))
    assert table.item(0, COLUMNS.index("1st param diff")).text() == "4 to 8"


def _axis_texts(qtbot, axis) -> list[str]:
    """The tick labels the axis draws (pyqtgraph's own drawing specs) once its layout has
    settled: an axis widens for longer labels a layout pass after it first measures them."""
    from PySide6.QtGui import QImage, QPainter

    def texts() -> tuple[list[str], float]:
        image = QImage(10, 10, QImage.Format.Format_ARGB32)
        painter = QPainter(image)
        try:
            _axis, _ticks, specs = axis.generateDrawSpecs(painter)
        finally:
            painter.end()
        return [text for _rect, _flags, text in specs], axis.geometry().width()

    seen: list = []
    qtbot.waitUntil(lambda: seen.append(texts()) or seen[-2:-1] == seen[-1:])
    return seen[-1][0]


def _diff_view(qtbot, differences: list[float]) -> CurvesView:
    """A difference plot of two real records whose losses differ by `differences`."""
    view = CurvesView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    ref = _record([1.0] * len(differences))
    other = _record([1.0 + d for d in differences], seed_hash="q")
    view.set_curves([CurveSpec("a", "#1", ref, run_color(0)),
                     CurveSpec("b", "#2", other, run_color(1))])
    view.set_diffs([DiffSpec("b", "#2 vs #1", ref, other, run_color(1))])
    box, axis = view.diff_panel.plot.getViewBox(), view.diff_panel.plot.getAxis("left")
    qtbot.waitUntil(lambda: box.height() > 150)
    box.autoRange()
    qtbot.waitUntil(lambda: list(axis.range) == list(box.viewRange()[1]))
    return view


def test_the_difference_axis_labels_enough_ticks_to_read_values(qtbot):
    """pyqtgraph labels one tick (or none) across a decade; the |loss diff| axis labels
    several, whether the differences span a decade, a factor of 1.2 or many decades."""
    from reprodiag.gui.plots.axes import power_text

    view = _diff_view(qtbot, [6e-8, 1.2e-7, 2.4e-7, 1.2e-7])
    texts = _axis_texts(qtbot, view.diff_panel.plot.getAxis("left"))
    assert len(texts) >= 3 and "10⁻⁷" in texts and "2·10⁻⁷" in texts, texts

    view = _diff_view(qtbot, [2.0e-7, 2.2e-7, 2.4e-7])
    texts = _axis_texts(qtbot, view.diff_panel.plot.getAxis("left"))
    assert len(texts) >= 2 and all("·10⁻⁷" in t for t in texts), texts

    view = _diff_view(qtbot, [1e-9, 1e-6, 1e-3, 0.5])
    texts = _axis_texts(qtbot, view.diff_panel.plot.getAxis("left"))
    assert len(texts) >= 4 and all(t.startswith("10") or t == "1" for t in texts), texts
    assert [power_text(x) for x in (1e-7, 2.5e-7, 0.5, 20, 1e-3)] == [
        "10⁻⁷", "2.5·10⁻⁷", "0.5", "20", "10⁻³"]


def test_a_log_axis_too_short_for_one_label_draws_none():
    """A squeezed plot has less room than one label needs: no labels, and no error (the
    window's run list of 50 cancelled runs squeezed the plots below it that far)."""
    from reprodiag.gui.plots.axes import LABELLED, log_ticks

    assert dict(log_ticks(-0.6, 0.0, label_pixels=40, pixels=20))[LABELLED] == []
    assert len(dict(log_ticks(-0.6, 0.0, label_pixels=40, pixels=400))[LABELLED]) >= 2


def test_a_failed_run_says_so_in_the_plots_not_waiting(qtbot):
    """A run that failed before its first step is named with its reason where its curve
    and its differences would be; one that failed later is marked where it stopped."""
    from reprodiag.core.runs.record import FAILED

    view = CurvesView()
    qtbot.addWidget(view)
    ref = _record([2.0, 1.5, 1.2])
    never = RunRecord(config=RunConfig(steps=3))
    never.start()
    never.finish(FAILED, "worker exited with code 1: No module named 'torch'")
    view.set_curves([CurveSpec("a", "#1", ref, run_color(0)),
                     CurveSpec("b", "#2", never, run_color(1))])
    view.set_diffs([DiffSpec("b", "#2 vs #1", ref, never, run_color(1))])
    view.refresh(force=True)
    assert view.diff_panel.hint() == ("No steps to compare:\n#2 failed: worker exited with "
                                      "code 1: No module named 'torch'")
    assert "Waiting" not in view.diff_panel.hint()
    assert view.loss_panel.note() == ["#2 failed: worker exited with code 1: No module named "
                                      "'torch'"]
    assert view.loss_panel.note_label.text().startswith("#2 failed: worker exited")
    assert not view.loss_panel.note_label.isHidden()
    with view.loss_panel.figure():  # an exported figure carries it in its title
        assert "#2 failed: worker exited" in view.loss_panel.plot.titleLabel.text

    alone = CurvesView()
    qtbot.addWidget(alone)
    alone.set_curves([CurveSpec("b", "#2", never, run_color(1))])
    assert alone.loss_panel.hint().startswith("#2 failed: worker exited")

    later = _record([2.0, 1.6], seed_hash="q")
    later.finish(FAILED, "killed by signal 9")
    view.set_curves([CurveSpec("a", "#1", ref, run_color(0)),
                     CurveSpec("c", "#3", later, run_color(2))])
    view.set_diffs([DiffSpec("c", "#3 vs #1", ref, later, run_color(2))])
    view.refresh(force=True)
    curve = view._curves["c"]
    line = curve.nonfinite_items[0]
    assert line.value() == 1 and line.label.textItem.toPlainText() == "#3 failed"
    assert view.diff_panel.hint() == "" and view.diff_panel.note() == [
        "#3 failed: killed by signal 9"]


def test_a_loss_not_finite_from_the_start_is_said_in_the_difference_plot(qtbot):
    """Runs whose every common step has one side NaN/inf have no difference to draw: the
    plot says where the loss stopped being finite, not that every difference is 0."""
    view = CurvesView()
    qtbot.addWidget(view)
    ref = _record([2.0, 1.5, 1.2])
    bad = _record([math.nan, math.inf, math.nan], seed_hash="q")
    view.set_curves([CurveSpec("a", "#1", ref, run_color(0)),
                     CurveSpec("b", "#2", bad, run_color(1))])
    view.set_diffs([DiffSpec("b", "#2 vs #1", ref, bad, run_color(1))])
    view.refresh(force=True)
    hint = view.diff_panel.hint()
    assert hint.startswith("#2 vs #1: a loss is not finite from step 0"), hint
    assert "is 0" not in hint

    same = _record([2.0, 1.5, 1.2])  # and bitwise equal runs still read as such
    view.set_diffs([DiffSpec("s", "#3 vs #1", ref, same, run_color(2))])
    view.refresh(force=True)
    assert view.diff_panel.hint().startswith("Every loss difference so far is 0")


def test_run_table_shows_status_labels(qtbot):
    """The status column shows the label (a run whose loss turned non-finite), not the
    identifier its bundle keeps."""
    from reprodiag.core.runs.record import DIVERGED, STATUS_LABELS
    from reprodiag.gui.widgets.run_table import COLUMNS, RunTable

    record = _record([1.0, float("nan")])
    record.finish(DIVERGED)
    table = RunTable()
    qtbot.addWidget(table)
    table.add(record, "1", "this session", run_color(0), shown=True)
    status = table.item(0, COLUMNS.index("Status"))
    assert status.text() == STATUS_LABELS[DIVERGED] == "non-finite loss"
    assert "non-finite" in status.toolTip()
