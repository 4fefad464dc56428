"""`reprodiag align A B`: the commands that make side B's environment match side A's.

A and B are bundles or environment reports (as for `reprodiag diagnose`); their snapshots
give pinned `pip install` lines for the packages that matter, the variables to export, and
a determinism code block per framework.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "align", help="print the commands that make B's environment match A's",
        description="From the environment difference of A (the target) and B, print pinned "
                    "pip installs, variables to export, and the determinism code block per "
                    "framework, to run on B.")
    p.add_argument("a", metavar="A", help="the side to match: a bundle or an environment report")
    p.add_argument("b", metavar="B", help="the side to change: a bundle or an environment report")
    p.add_argument("--frameworks", nargs="+", choices=("torch", "tensorflow"),
                   help="code blocks for these (default: those installed on either side)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from reprodiag.commands.diagnose import load_side
    from reprodiag.core.diagnose import (
        align,
        comparable_sides,
        render_align_markdown,
        render_align_text,
    )
    from reprodiag.errors import UserError

    a, b = comparable_sides(load_side(args.a), load_side(args.b))
    if a.snapshot is None or b.snapshot is None:
        path = args.a if a.snapshot is None else args.b
        raise UserError(f"{path}: holds no environment snapshot to align")
    plan = align(a.snapshot, b.snapshot, args.frameworks, labels=(a.label, b.label))
    if args.json:
        print(json.dumps(plan.to_json(), indent=1))
    elif args.markdown:
        print(render_align_markdown(plan), end="")
    else:
        print(render_align_text(plan), end="")
    return 0
