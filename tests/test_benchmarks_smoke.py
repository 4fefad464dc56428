"""The benchmark suite runs end to end in its smoke mode (one tiny repetition of everything)
and reports every figure: a table on stdout, and JSON with the documented fields.

No timing is asserted: the numbers of a smoke run mean nothing, only their shape does.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {"gui_cold_start", "gui_screenshot", "gui_quit", "gui_quit_capturing", "env_default", "env_deep",
           "canary_overhead_mlp", "canary_overhead_cnn", "recorder_overhead_torch", "recorder_overhead_keras",
           "bundle_compare_time", "bundle_compare_memory", "live_plot_fps", "live_plot_stall",
           "canary_end_to_end", "layer_capture_bundle_size", "layer_capture_resnet50_step"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    return proc, out


@pytest.mark.framework
@pytest.mark.slow
def test_the_suite_runs_every_benchmark_and_prints_the_table(smoke):
    proc, _ = smoke
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    lines = lines[lines.index("") + 1:]  # after the line that says the numbers are a smoke run
    assert lines[0].split()[0] == "benchmark" and set(lines[1]) == {"-"}
    named = {line.split()[0] for line in lines[2:] if line.strip() and not line.startswith(" ")}
    assert FIGURES <= named


@pytest.mark.framework
@pytest.mark.slow
def test_the_json_holds_each_figure_with_its_repetitions_and_target(smoke):
    proc, out = smoke
    report = json.loads(out.read_text())
    assert report["schema"] == "reprodiag-benchmarks/1" and report["mode"] == "smoke"
    assert report["machine"]["cores"] and report["machine"]["python"]
    results = {r["name"]: r for r in report["results"]}
    assert set(results) == FIGURES
    for name, r in results.items():
        assert not r["error"], (name, r["error"])
        assert r["kind"] in ("ratio", "value") and r["target"] > 0, name
        sides = [r["subject"]] + ([r["baseline"]] if r["kind"] == "ratio" else [])
        for side in sides:
            assert side["samples"] and all(math.isfinite(v) and v > 0 for v in side["samples"])
            assert side["min"] <= side["median"] <= side["max"], name
        assert math.isfinite(r["figure"]) and r["met"] in (True, False), name
    gui = results["gui_cold_start"]
    assert gui["checks"]["no_framework_imported"] is True  # the GUI never imports torch/TF
    shot = results["gui_screenshot"]
    assert shot["checks"] == {"no_framework_imported": True, "no_bundle_or_pydantic_imported": True}
    assert results["bundle_compare_time"]["checks"]["compared_all_pairs"] is True
    assert results["live_plot_fps"]["checks"]["every_step_plotted"] is True
