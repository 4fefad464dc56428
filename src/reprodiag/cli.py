"""The `reprodiag` command: a thin front door over `reprodiag.core`.

With no command it opens the desktop app (imported lazily, so the headless commands work
where Qt is absent, as in Colab). Exit codes: 0 success, 2 bad input (one line on stderr),
1 internal error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import NoReturn, Optional, Sequence

from reprodiag import __version__
from reprodiag.commands.common import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_run_options,
    bool_flag,
    checked_interpreter,
    configs_from_args,
    out_path,
)
from reprodiag.errors import UserError

TABS = ("environment", "runs", "compare", "layers")  # as gui/screenshot.py (no Qt import here)
_ANONYMISE_HELP = "hide user name, host name and home folder in what is written"
# Subcommands in reprodiag/commands/<name>.py (see that package's docstring).
COMMAND_MODULES: tuple[str, ...] = ("explain", "stats", "import_env", "diagnose", "align",
                                     "colab_notebook")


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:  # noqa: D401 - argparse hook
        raise UserError(f"{message} (see '{self.prog} --help')")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x800, not {text!r}")
    if not (200 <= w <= 8000 and 200 <= h <= 8000):
        raise argparse.ArgumentTypeError("size must be between 200x200 and 8000x8000")
    return w, h


def _add_set_options(p: argparse.ArgumentParser) -> None:
    """`export`'s choice of frameworks and devices, from RunConfig's."""
    from reprodiag.core.runs.config import FRAMEWORKS, SET_DEVICES

    p.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS,
                   help="default: every installed one")
    p.add_argument("--devices", nargs="+", choices=SET_DEVICES,
                   help="default: cpu, plus gpu when one is present")


BUILTIN_COMMANDS = ("gui", "env", "run", "export", "compare", "screenshot")


def _command_names() -> tuple[str, ...]:
    return BUILTIN_COMMANDS + tuple(m.replace("_", "-") for m in COMMAND_MODULES)


def _command_of(argv: Sequence[str]) -> Optional[str]:
    """The subcommand named on the command line, if it is a known one."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in _command_names() else None


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The parser; given `command`, only that subcommand's options are built (the others
    import pydantic and numpy-heavy modules, which `reprodiag env` must not wait for)."""

    def wanted(name: str) -> bool:
        return command is None or command == name

    parser = _Parser(prog="reprodiag", description=(
        "Find out why machine-learning results differ between machines. "
        "With no command, opens the desktop app."))
    parser.add_argument("--version", action="version", version=f"reprodiag {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("gui", help="open the desktop app (optionally with bundles loaded)")
    p.add_argument("bundles", nargs="*", metavar="BUNDLE")

    p = sub.add_parser("env", help="print an environment snapshot")
    p.add_argument("--json", action="store_true", help="print the snapshot as JSON")
    p.add_argument("--python", metavar="PATH", help="snapshot another interpreter (venv, conda env)")
    p.add_argument("--deep", action="store_true",
                   help="also import the frameworks (in worker processes) for runtime facts")
    p.add_argument("--anonymise", action="store_true", help=_ANONYMISE_HELP)
    p.add_argument("--interpreters", action="store_true",
                   help="list the Python interpreters found here (those with a framework first)")

    p = sub.add_parser("run", help="run a seeded canary training and record every step")
    if wanted("run"):
        add_run_options(p)
    p.add_argument("--python", metavar="PATH", help="target interpreter (default: this one)")
    p.add_argument("--out", metavar="FILE", help="write a bundle (NAME.reprodiag.zip)")
    p.add_argument("--label", default="", help="label stored in the bundle")
    p.add_argument("--timeout", type=float, default=None, help="seconds before a run is stopped")
    p.add_argument("--json", action="store_true", help="print run summaries as JSON")
    p.add_argument("--anonymise", action="store_true", help=_ANONYMISE_HELP)

    p = sub.add_parser("export", help="run the standard canary set + snapshot into one bundle")
    p.add_argument("--out", metavar="FILE", required=True)
    p.add_argument("--label", default="", help="label stored in the bundle (default: host name)")
    p.add_argument("--quick", action="store_true", help="fewer steps (about a minute on a CPU)")
    if wanted("export"):
        _add_set_options(p)
    p.add_argument("--python", metavar="PATH", help="target interpreter (default: this one)")
    p.add_argument("--no-deep", action="store_true", help="skip importing frameworks for the snapshot")
    p.add_argument("--anonymise", action="store_true", help=_ANONYMISE_HELP)

    p = sub.add_parser("compare", help="compare two bundles run by run, and their environments")
    p.add_argument("a", metavar="A.reprodiag.zip")
    p.add_argument("b", metavar="B.reprodiag.zip")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true")
    p.add_argument("--run", nargs=2, metavar=("RUN_A", "RUN_B"), help="compare these two run ids")
    p.add_argument("--rtol", type=float, default=1e-5, help="relative loss tolerance")
    bool_flag(p, "anonymise", None, "hide user, host and home folder names "
               "(default: on for --markdown, which is made for public bug trackers)")

    p = sub.add_parser("screenshot", help="render the app offscreen to a PNG")
    p.add_argument("bundles", nargs="*", metavar="BUNDLE")
    p.add_argument("--tab", choices=TABS, default="environment")
    p.add_argument("--out", metavar="FILE.png", required=True)
    p.add_argument("--size", type=_size, default=(1280, 800), metavar="WxH")

    import importlib

    for name in COMMAND_MODULES:
        if wanted(name.replace("_", "-")):
            importlib.import_module(f"reprodiag.commands.{name}").register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(_command_of(argv)).parse_args(argv)
        return _dispatch(args)
    except UserError as exc:
        print(f"reprodiag: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("reprodiag: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if os.environ.get("REPRODIAG_DEBUG"):
            raise
        print(f"reprodiag: internal error: {type(exc).__name__}: {exc} "
              "(set REPRODIAG_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command or "gui"
    handler = getattr(args, "handler", None)
    if handler is not None:
        return handler(args)
    if command == "gui":
        return _cmd_gui(getattr(args, "bundles", []))
    return {"env": _cmd_env, "run": _cmd_run, "export": _cmd_export,
            "compare": _cmd_compare, "screenshot": _cmd_screenshot}[command](args)


def _require_gui() -> None:
    """Import Qt as the app's start-up needs it (one line when the gui extra is missing)."""
    try:
        from reprodiag.gui.compat import import_qt

        import_qt()  # first of all: it takes back the import hook PySide6 installs
        import pyqtgraph  # noqa: F401
    except ImportError:
        raise UserError("the desktop app needs the 'gui' extra: pip install \"reprodiag[gui]\"")


def _cmd_gui(bundles: list[str]) -> int:
    from reprodiag.display import check_can_open_window

    _require_gui()
    check_can_open_window()
    from reprodiag.gui.app import main as gui_main

    return gui_main(bundles)


def _cmd_screenshot(args) -> int:
    _require_gui()
    from reprodiag.gui.screenshot import render

    out = render(args.bundles, args.tab, args.out, args.size)
    print(out)
    return EXIT_OK


def _cmd_env(args) -> int:
    from reprodiag.core.env import capture, render_text

    if args.interpreters:
        from reprodiag.core.env.interpreters import find_interpreters

        for interp in find_interpreters():
            print(f"{interp.path}\t{interp.label}")
        return EXIT_OK
    python = checked_interpreter(args.python)
    snapshot = capture(python=python, deep=args.deep)
    if args.anonymise:
        from reprodiag.core.anonymise import anonymise_snapshot

        snapshot = anonymise_snapshot(snapshot)
    print(snapshot.dumps() if args.json else render_text(snapshot))
    return EXIT_OK


def _cmd_run(args) -> int:
    from reprodiag.core.runs.progress import ConsoleProgress
    from reprodiag.core.runs.session import record_runs

    python = checked_interpreter(args.python)
    out = out_path(args.out) if args.out else None
    configs = configs_from_args(args)
    progress = ConsoleProgress(sys.stderr)
    result = record_runs(configs, python=python, out=out, label=args.label,
                         timeout=args.timeout, on_message=progress.on_message,
                         with_snapshot=out is not None, anonymise=args.anonymise)
    for record in result.runs:
        progress.finished(record)
    if args.json:
        print(json.dumps([_summary_json(r) for r in result.runs], indent=1))
    if out is not None:
        print(f"wrote {result.path}")
    return EXIT_OK if all(r.status in ("finished", "diverged") for r in result.runs) else EXIT_INTERNAL


def _summary_json(record) -> dict:
    return {"run_id": record.run_id, "config": record.config.model_dump(),
            "status": record.status, "reason": record.reason, "steps": len(record.steps),
            "summary": record.summary, "init_param_hash": record.init_param_hash}


def _cmd_export(args) -> int:
    from reprodiag.core.runs.progress import ConsoleProgress
    from reprodiag.core.runs.session import export_standard_set

    python = checked_interpreter(args.python)
    out = out_path(args.out)
    progress = ConsoleProgress(sys.stderr)
    result = export_standard_set(out, python=python, label=args.label, quick=args.quick,
                                 frameworks=args.frameworks, devices=args.devices,
                                 deep=not args.no_deep, on_message=progress.on_message,
                                 on_note=progress.note, anonymise=args.anonymise)
    for record in result.runs:
        progress.finished(record)
    from reprodiag.core.wording import counted

    print(f"wrote {result.path} ({counted(len(result.runs), 'run')})")
    return EXIT_OK


def _cmd_compare(args) -> int:
    from reprodiag.core.anonymise import anonymise_report
    from reprodiag.core.bundle import read_bundle
    from reprodiag.core.compare import compare_bundles
    from reprodiag.core.compare import render, stats

    a, b = read_bundle(args.a), read_bundle(args.b)
    if args.run:
        a, b = _select_runs(a, args.run[0]), _select_runs(b, args.run[1])
    comparison = compare_bundles(a, b, rtol=args.rtol)
    groups = [g for g in stats.seed_groups(a, b) if g.a and g.b and min(g.a.n, g.b.n) >= 2]
    labels = comparison.labels
    report: dict | str
    if args.json:
        report = render.to_json(comparison)
        if groups:
            report["seed_stats"] = stats.to_json(groups, labels)
    else:
        fmt, fmt_stats = ((render.to_markdown, stats.render_markdown) if args.markdown
                          else (render.to_text, stats.render_text))
        text = fmt(comparison)
        if groups:  # several seeds per side: is the gap larger than seed-to-seed noise?
            text = text.rstrip("\n") + "\n\n" + fmt_stats(groups, labels)
        report = text
    if args.anonymise or (args.anonymise is None and args.markdown):
        report = anonymise_report(report, a.snapshot, b.snapshot)
    print(json.dumps(report, indent=1, allow_nan=False) if args.json else report)
    return EXIT_OK


def _select_runs(bundle, run_id: str):
    """The bundle narrowed to one run, by id (or a unique id prefix)."""
    import dataclasses

    matches = [r for r in bundle.runs if r.run_id == run_id] or [
        r for r in bundle.runs if r.run_id.startswith(run_id)]
    if len(matches) != 1:
        ids = ", ".join(r.run_id for r in bundle.runs[:6])
        what = "no run" if not matches else "more than one run"
        raise UserError(f"{bundle.path}: {what} with id {run_id!r} (runs: {ids})")
    return dataclasses.replace(bundle, runs=matches)
