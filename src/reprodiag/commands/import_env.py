"""`reprodiag import-env FILE`: a pasted environment report as a snapshot, or diffed.

FILE is torch collect_env output, a tf_env.txt, TensorFlow's System information, a pip
freeze / pip list / conda list dump, or ``-`` for standard input. ``--diff local`` compares it
with this machine's snapshot, ``--diff B.reprodiag.zip`` with a bundle's.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-env", help="read a pasted environment report (collect_env, tf_env, pip freeze)")
    p.add_argument("file", metavar="FILE", help="the report file, or - for standard input")
    p.add_argument("--json", action="store_true", help="print the snapshot (or diff) as JSON")
    p.add_argument("--diff", metavar="BUNDLE_OR_local",
                   help="compare with 'local' (this machine) or a bundle's snapshot")
    p.add_argument("--all", action="store_true",
                   help="with --diff: also list the facts the report does not cover")
    p.set_defaults(handler=run)


def _read_stdin():
    from reprodiag.core.env.foreign import MAX_BYTES, decode_report, import_report
    from reprodiag.errors import UserError

    data = sys.stdin.buffer.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise UserError("standard input: larger than 5 MB, too big for an environment report")
    return import_report(decode_report(data, "standard input"), name="standard input")


def _other_side(spec: str):
    """(label, snapshot) of 'local' or a bundle file."""
    from reprodiag.errors import UserError

    if spec == "local":
        from reprodiag.core.env import capture

        return "local", capture()
    from reprodiag.core.bundle import read_bundle

    bundle = read_bundle(spec)
    if bundle.snapshot is None:
        raise UserError(f"{spec}: the bundle holds no environment snapshot to compare with")
    return bundle.label or spec, bundle.snapshot


def _print_diff(report, label: str, other, args) -> None:
    from reprodiag.core.compare import diff_env
    from reprodiag.core.compare.envdiff import fact_text
    from reprodiag.core.env.foreign import comparable

    differences = diff_env(report, other if args.all else comparable(other, report))
    if args.json:
        print(json.dumps([{"key": d.key, "report": d.a.to_json(), label: d.b.to_json(),
                           "severity": d.severity, "numerics": d.numerics, "why": d.why}
                          for d in differences], indent=1, default=str))
        return
    print(f"Differences: {report.python} (report) | {label}: {len(differences)}")
    for d in differences:
        mark = "!" if d.numerics else " "
        print(f" {mark} {d.key}: {fact_text(d.a)[:60]}  |  {fact_text(d.b)[:60]}")


def run(args: argparse.Namespace) -> int:
    from reprodiag.core.env import render_text
    from reprodiag.core.env.foreign import import_report_file, report_kind

    report = _read_stdin() if args.file == "-" else import_report_file(args.file)
    if args.diff:
        label, other = _other_side(args.diff)
        _print_diff(report, label, other, args)
    elif args.json:
        print(report.dumps())
    else:
        print(f"Imported from {report.python}: {report_kind(report)}")
        print(render_text(report))
    return 0
