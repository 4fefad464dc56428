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
    """PySide6 6.12.0 on Python < 3.12 drops a reference to None per void call; the guard in
    reprodiag.gui.compat must keep a long session alive (without it this process aborts)."""
    code = ("import reprodiag.gui\n"
            "from PySide6.QtCore import QObject\n"
            "o = QObject()\n"
            "for _ in range(200_000):\n"
            "    o.setObjectName('x')\n"
            "print('alive')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "alive", out.stderr[-500:]
    assert compat.references_lost_per_call() == 0 or compat.active
