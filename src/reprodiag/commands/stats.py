"""`reprodiag stats A B`: is the gap between two bundles larger than seed-to-seed noise?

Runs in each bundle are grouped by config without the seed (record them with
`reprodiag run --seeds 0 1 2 3 4 --out NAME.reprodiag.zip`); matching groups of A and B get
mean, std and 95% confidence interval of final loss and metric per side, Welch's t-test,
Hedges' g and a verdict.
"""

from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "stats", help="per-config statistics over seeds: is A vs B beyond seed noise?",
        description=__doc__.split("\n", 1)[1].strip())
    p.add_argument("a", metavar="A.reprodiag.zip")
    p.add_argument("b", metavar="B.reprodiag.zip")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="significance level, shared between final loss and metric (0.05)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true")
    p.set_defaults(handler=run)


def run(args) -> int:
    from reprodiag.commands.common import EXIT_OK
    from reprodiag.core.bundle import read_bundle
    from reprodiag.core.compare import stats
    from reprodiag.errors import UserError

    if not 0 < args.alpha < 1:
        raise UserError("--alpha must be between 0 and 1")
    a, b = read_bundle(args.a), read_bundle(args.b)
    labels = (a.label or "A", b.label or "B")
    groups = stats.seed_groups(a, b, alpha=args.alpha)
    if args.json:
        print(json.dumps(stats.to_json(groups, labels), indent=1, allow_nan=False))
    elif args.markdown:
        print(stats.render_markdown(groups, labels))
    else:
        print(stats.render_text(groups, labels))
    return EXIT_OK
