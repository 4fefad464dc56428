"""`reprodiag diagnose A B`: the ranked probable causes of the difference, with their fixes.

A and B are bundles (NAME.reprodiag.zip) or environment reports (`reprodiag env --json`
output, torch collect_env, tf_env.txt, pip freeze); a report side has no runs, so only its
environment is diagnosed. A is the reference.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "diagnose", help="rank the probable causes of the difference between two sides",
        description="Compare A (the reference) and B run by run and fact by fact, and list "
                    "the probable causes of their difference, most likely first, each with "
                    "evidence, why it changes numbers, and the fix per framework.")
    p.add_argument("a", metavar="A", help="a bundle (.reprodiag.zip) or an environment report")
    p.add_argument("b", metavar="B", help="a bundle (.reprodiag.zip) or an environment report")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true")
    p.add_argument("--rtol", type=float, default=1e-5, help="relative loss tolerance")
    p.set_defaults(handler=run)


def load_side(path: str):
    """A bundle, or an environment report as a side without runs; UserError when neither."""
    from pathlib import Path

    from reprodiag.core.diagnose import Side
    from reprodiag.errors import UserError

    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"{path}: no such file")
    if p.is_dir():
        raise UserError(f"{path}: a folder; give a bundle (.reprodiag.zip) or a report file")
    try:
        with open(p, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror or exc})")
    if head == b"PK\x03\x04" or p.name.endswith(".zip"):
        from reprodiag.core.bundle import read_bundle

        return read_bundle(p)
    from reprodiag.core.env.foreign import import_report_file

    return Side(label=p.name, snapshot=import_report_file(p))


def run(args: argparse.Namespace) -> int:
    from reprodiag.core.compare import compare_bundles
    from reprodiag.core.compare.render import summary_line
    from reprodiag.core.diagnose import comparable_sides, diagnose_comparison
    from reprodiag.core.diagnose import render

    a, b = comparable_sides(load_side(args.a), load_side(args.b))
    bc = compare_bundles(a, b, rtol=args.rtol)
    diagnosis = diagnose_comparison(bc, snapshots=(a.snapshot, b.snapshot),
                                    runs=(a.runs, b.runs))
    summary = summary_line(bc) if bc.pairs or bc.unpaired_a or bc.unpaired_b else None
    if args.json:
        print(json.dumps(render.to_json(diagnosis, summary), indent=1, allow_nan=False))
    elif args.markdown:
        print(render.to_markdown(diagnosis, summary), end="")
    else:
        print(render.to_text(diagnosis, summary), end="")
    return 0
