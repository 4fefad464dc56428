"""Load + validate + compare two bundles, or read the same numbers from CSV with numpy.

`bundle_load.py reprodiag FOLDER` times read_bundle(A), read_bundle(B) and
compare_bundles(A, B); `bundle_load.py numpy FOLDER` times np.loadtxt of every run's
steps.csv (the numeric columns). Imports are done before the clock starts on both sides.
One JSON line: seconds, peak resident memory of this process (ru_maxrss) and phases.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

NUMERIC_COLUMNS = (0, 1, 2, 5, 6)  # step, loss, grad_norm, lr, step_time


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def with_reprodiag(folder: Path) -> dict:
    from reprodiag.core.bundle import read_bundle
    from reprodiag.core.compare import compare_bundles

    before = peak_rss_mb()
    t0 = time.perf_counter()
    a = read_bundle(folder / "a.reprodiag.zip")
    t1 = time.perf_counter()
    b = read_bundle(folder / "b.reprodiag.zip")
    t2 = time.perf_counter()
    comparison = compare_bundles(a, b)
    t3 = time.perf_counter()
    verdicts = [p.verdict for p in comparison.pairs]
    return {"seconds": t3 - t0, "phases": {"read_a": t1 - t0, "read_b": t2 - t1,
                                           "compare": t3 - t2},
            "pairs": len(verdicts), "verdicts": sorted(set(verdicts)),
            "steps": sum(len(r.steps) for r in a.runs + b.runs), "rss_before_mb": before}


def with_numpy(folder: Path) -> dict:
    files = sorted((folder / "csv").glob("*.csv"))
    before = peak_rss_mb()
    t0 = time.perf_counter()
    tables = [np.loadtxt(f, delimiter=",", skiprows=1, usecols=NUMERIC_COLUMNS) for f in files]
    t1 = time.perf_counter()
    return {"seconds": t1 - t0, "files": len(files),
            "steps": sum(len(t) for t in tables), "rss_before_mb": before}


def main() -> int:
    which, folder = sys.argv[1], Path(sys.argv[2])
    result = with_reprodiag(folder) if which == "reprodiag" else with_numpy(folder)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
