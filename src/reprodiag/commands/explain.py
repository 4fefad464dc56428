"""`reprodiag explain`: which one setting makes the difference between two configs vanish.

The run options (as for `reprodiag run`) describe B, the config that shows the difference;
`--against KEY=VALUE ...` describes the reference A as B with those settings changed. Without
`--against`, the difference explained is B's own run-to-run variation. Progress goes to
stderr; the first Ctrl-C stops the running worker and prints what was found so far.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

DESCRIPTION = """\
Run config B (the run options) and the reference A (B with the --against changes)
locally, check that B repeats bitwise, then change one factor at a time on both
sides (deterministic ops, TF32 off, oneDNN off, 1 thread, float64, init on CPU,
CPU instead of GPU, same seed) and show which change makes the difference vanish
or shrink. Factors that cannot apply here are shown as n/a with the reason.
"""
EXAMPLES = """\
examples:
  reprodiag explain --threads 2 --against threads=1 --steps 50
  reprodiag explain --framework tensorflow --against deterministic=true
  reprodiag explain --seed 1 --against seed=0 --factors seed threads
"""


def _assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (like threads=1), not {text!r}")
    return key.strip().replace("-", "_"), value.strip()


def register(subparsers) -> None:
    from reprodiag.commands.common import add_run_options
    from reprodiag.core.diagnose.attribution import FACTOR_KEYS

    p = subparsers.add_parser(
        "explain", help="rerun changing one factor at a time: which one removes the difference",
        description=DESCRIPTION,
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(p)
    for action in p._actions:  # explain takes one config: hide the multi-run options
        if action.dest in ("seeds", "repeats"):
            action.help = argparse.SUPPRESS
    p.add_argument("--against", nargs="+", type=_assignment, default=[], metavar="KEY=VALUE",
                   help="the reference A: B with these config fields changed (e.g. threads=1 "
                        "seed=0 dtype=float64 deterministic=true; 'none' for unset); "
                        "default: B itself, to explain its run-to-run differences")
    p.add_argument("--factors", nargs="+", choices=FACTOR_KEYS, metavar="FACTOR",
                   help=f"only these factors (default: all of {', '.join(FACTOR_KEYS)})")
    p.add_argument("--python", metavar="PATH", help="target interpreter (default: this one)")
    p.add_argument("--timeout", type=float, default=None, help="seconds before a run is stopped")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true")
    p.set_defaults(handler=run)


def reference_config(other, against: list[tuple[str, str]]):
    """B's config with the --against fields changed; UserError (one line) if one is wrong."""
    from pydantic import ValidationError

    from reprodiag.commands.common import NONE_WORDS
    from reprodiag.core.runs.config import RunConfig
    from reprodiag.errors import UserError

    fields = RunConfig.model_fields
    data = other.model_dump()
    for key, value in against:
        if key not in fields:
            raise UserError(f"--against: no config field {key!r} "
                            f"(fields: {', '.join(fields)})")
        data[key] = None if value.lower() in NONE_WORDS else value
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err.get("loc", ())) or "config"
        raise UserError(f"--against {field}: {err.get('msg', 'invalid value')}") from None


def run(args) -> int:
    from reprodiag.commands.common import (
        EXIT_INTERRUPTED,
        EXIT_OK,
        checked_interpreter,
        configs_from_args,
    )
    from reprodiag.core.diagnose import attribution
    from reprodiag.errors import UserError

    if args.seeds or args.repeats != 1:
        raise UserError("explain takes one config: use --seed, not --seeds or --repeats")
    python = checked_interpreter(args.python)
    other = configs_from_args(args)[0]
    ref = reference_config(other, args.against) if args.against else None
    cancel = threading.Event()

    def progress(done: int, total: int, text: str) -> None:
        print(f"reprodiag: [{done}/{total}] {text}", file=sys.stderr, flush=True)

    def on_sigint(signum, frame) -> None:
        if cancel.is_set():  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        print("reprodiag: cancelling (Ctrl-C again to stop at once)", file=sys.stderr,
              flush=True)
        cancel.set()

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main else None
    try:
        result = attribution.attribute(ref if ref is not None else other,
                                       other if ref is not None else None,
                                       python=python, factors=args.factors,
                                       on_progress=progress, cancel=cancel,
                                       timeout=args.timeout)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    if args.json:
        print(json.dumps(attribution.to_json(result), indent=1, allow_nan=False))
    elif args.markdown:
        print(attribution.render_markdown(result))
    else:
        print(attribution.render_text(result))
    return EXIT_INTERRUPTED if result.cancelled else EXIT_OK
