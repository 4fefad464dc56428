"""Run reprodiag's benchmark suite: every figure beside its baseline, as a table and as JSON.

    .venv/bin/python -m benchmarks [--quick | --smoke] [--only NAME ...] [--json OUT]
                                   [--markdown OUT]

Modes: full (the figures in docs/performance.md, ~10 minutes on a 2-core VM), --quick (fewer
repetitions and smaller sizes, ~2 minutes), --smoke (one tiny repetition of everything: it
checks the suite works, its numbers mean nothing). Exit code 0 when every benchmark could
measure (targets met or not), 1 when one failed to run.
"""

from __future__ import annotations

import argparse
import dataclasses
import compileall
import importlib
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

if __package__ in (None, ""):  # run as a script: benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import MODES, ROOT, BenchmarkError, Result, Side, Sizes  # noqa: E402

SCHEMA = "reprodiag-benchmarks/1"
# name -> module in this package with run(sizes) -> list[Result]; in the order they run.
BENCHMARKS = {
    "gui": "gui_start",
    "env": "env_snapshot",
    "canary": "canary_overhead",
    "recorder": "recorder_overhead",
    "bundle": "bundle_compare",
    "live": "live_plot",
    "e2e": "canary_e2e",
    "layers": "layer_capture",
}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh
                        if line.lower().startswith("model name")), cpu)
    except OSError:
        pass
    memory = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    versions: dict[str, Optional[str]] = {}
    for names in (("reprodiag",), ("numpy",), ("torch",), ("tensorflow",), ("keras",),
                  ("PySide6", "PySide6-Essentials"), ("pyqtgraph",)):
        versions[names[0]] = None
        for dist in names:
            try:
                versions[names[0]] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory,
            "platform": platform.platform(), "python": platform.python_version(),
            "versions": versions, "gpu": None}


def load_average() -> Optional[list[float]]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def prepare() -> None:
    """Byte-compile reprodiag, as an installed package is: start-up figures then do not
    include compiling sources (this checkout may run with PYTHONDONTWRITEBYTECODE)."""
    compileall.compile_dir(str(ROOT / "src" / "reprodiag"), quiet=1)
    compileall.compile_dir(str(ROOT / "benchmarks"), quiet=1)


def run_benchmarks(names: list[str], sizes: Sizes, log=print) -> list[Result]:
    results: list[Result] = []
    for name in names:
        started = time.perf_counter()
        log(f"[{name}] running ({sizes.mode})...")
        try:
            module = importlib.import_module(f"benchmarks.{BENCHMARKS[name]}")
            got = module.run(sizes)
        except BenchmarkError as exc:
            got = [Result(name, f"{name} (could not run)", "value", 0.0, Side("", ""),
                          error=str(exc))]
        results.extend(got)
        log(f"[{name}] done in {time.perf_counter() - started:.1f} s")
    return results


# ---------------------------------------------------------------------------- output


def fmt(value: Optional[float], unit: str) -> str:
    if value is None:
        return "-"
    if unit.startswith("s"):
        rest = unit[1:]
        for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(value) >= scale or scale == 1e-6:
                return f"{value / scale:.3g} {name}{rest}"
    return f"{value:.3g} {unit}"


def side_text(side: Optional[dict]) -> str:
    if not side or side["median"] is None:
        return "-"
    unit = side["unit"]
    if side["min"] == side["max"]:
        return fmt(side["median"], unit)
    return f"{fmt(side['median'], unit)} [{fmt(side['min'], unit)} – {fmt(side['max'], unit)}]"


def figure_text(row: dict) -> str:
    if row["error"]:
        return "error"
    if row["figure"] is None:
        return "-"
    if row["kind"] == "ratio":
        spread = row["pair_ratios"]
        text = f"{row['figure']:.3g}x"
        if spread["min"] is not None and spread["min"] != spread["max"]:
            text += f" [{spread['min']:.3g}–{spread['max']:.3g}]"
        return text
    return fmt(row["figure"], row["subject"]["unit"])


def verdict(row: dict) -> str:
    return {True: "met", False: "NOT MET", None: "-"}[row["met"]]


def rows(report: dict) -> list[list[str]]:
    return [[r["name"], side_text(r["subject"]), side_text(r["baseline"]), figure_text(r),
             r["target_text"], verdict(r)] for r in report["results"]]


HEADER = ["benchmark", "subject: median [min – max]", "baseline: median [min – max]",
          "figure", "target", ""]


def table(report: dict) -> str:
    body = [HEADER] + rows(report)
    widths = [max(len(r[i]) for r in body) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in body]
    lines.insert(1, "-" * len(lines[0]))
    notes = [f"  {r['name']}: {n}" for r in report["results"] for n in r["notes"]]
    errors = [f"  {r['name']}: {r['error']}" for r in report["results"] if r["error"]]
    return "\n".join(lines + (["", "notes:"] + notes if notes else [])
                     + (["", "errors:"] + errors if errors else []))


def markdown(report: dict) -> str:
    out = ["| " + " | ".join(HEADER[:-1] + ["met"]) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows(report)]
    return "\n".join(out) + "\n"


def report_json(results: list[Result], sizes: Sizes, started: float, load: list) -> dict:
    return {"schema": SCHEMA, "mode": sizes.mode,
            "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(),
            "duration_s": round(time.time() - started, 1), "machine": machine(),
            "load_average": {"start": load, "end": load_average()},
            "sizes": sizes.__dict__, "results": [r.to_json() for r in results]}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer repetitions, smaller sizes")
    mode.add_argument("--smoke", action="store_true", help="one tiny repetition (for tests)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="where the canary overhead benchmark trains (gpu: needs CUDA)")
    parser.add_argument("--json", metavar="OUT", help="write the results as JSON")
    parser.add_argument("--markdown", metavar="OUT", help="write the table as Markdown")
    args = parser.parse_args(argv)
    sizes = dataclasses.replace(MODES["smoke" if args.smoke else "quick" if args.quick else "full"],
                                device=args.device)
    names = [n for n in BENCHMARKS if not args.only or n in args.only]

    started, load = time.time(), load_average()
    prepare()
    results = run_benchmarks(names, sizes, log=lambda text: print(text, file=sys.stderr))
    report = report_json(results, sizes, started, load)
    if sizes.mode != "full":
        print(f"mode {sizes.mode}: fewer repetitions and smaller sizes than the targets are "
              "set for; judge targets on a full run.\n")
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(report))
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
