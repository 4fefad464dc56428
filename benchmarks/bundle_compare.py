"""Load + validate + compare two bundles of R runs x S steps, against reading the same
numbers from CSV with numpy; and the peak memory of doing it (a child's ru_maxrss).

The bundles are made once per size by scripts/bundle_make.py (write_bundle from synthetic
RunRecords) and kept in a cache folder under the system temp folder, remade whenever the
bundle code changes.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from benchmarks.harness import ROOT, SCRIPTS, Result, Side, Sizes, interleaved, script

MAKER_VERSION = 1  # bump when bundle_make.py changes what it writes


def _sources_digest() -> str:
    """Changes whenever the code that writes bundles (or makes these) changes."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "reprodiag" / "core" / "bundle").glob("*.py")) + [
            SCRIPTS / "bundle_make.py"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def bundles(sizes: Sizes) -> Path:
    """The cached folder with a.reprodiag.zip, b.reprodiag.zip and csv/ for these sizes."""
    folder = (Path(tempfile.gettempdir()) / "reprodiag-bench-cache"
              / f"bundles-{sizes.bundle_runs}x{sizes.bundle_steps}-v{MAKER_VERSION}")
    stamp = folder / "made-by.json"
    want = {"maker": MAKER_VERSION, "sources": _sources_digest()}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return folder
    script("bundle_make.py", str(folder), str(sizes.bundle_runs), str(sizes.bundle_steps))
    stamp.write_text(json.dumps(want))
    return folder


def run(sizes: Sizes) -> list[Result]:
    folder = bundles(sizes)
    shape = f"{sizes.bundle_runs} runs x {sizes.bundle_steps:,} steps"
    speed = Result("bundle_compare_time", f"load + validate + compare two bundles of {shape}",
                   "ratio", 2.0, Side("read_bundle x2 + compare_bundles", "s"),
                   Side("np.loadtxt of the same steps.csv files", "s"))
    memory = Result("bundle_compare_memory", f"peak memory, load + compare of {shape}",
                    "value", 300.0, Side("peak RSS of the process", "MB"),
                    Side("peak RSS, numpy baseline", "MB"))
    phases: list[dict] = []

    def ours() -> float:
        out = script("bundle_load.py", "reprodiag", str(folder))
        memory.subject.samples.append(out["peak_rss_mb"])
        phases.append(out["phases"])
        speed.checks["compared_all_pairs"] = out["pairs"] == sizes.bundle_runs
        return out["seconds"]

    def numpy_side() -> float:
        out = script("bundle_load.py", "numpy", str(folder))
        memory.baseline.samples.append(out["peak_rss_mb"])
        return out["seconds"]

    interleaved(sizes.bundle_reps, ours, numpy_side, speed)
    speed.extra["phases_s"] = {k: sorted(p[k] for p in phases)[len(phases) // 2]
                               for k in phases[0]}
    return [speed, memory]
