"""What cli.py and the subcommands share: exit codes, the canary run options (built from
RunConfig's fields), and the checks of --python and --out.

Cheap to import: pydantic and the config model are imported when a parser is built or
arguments are read, not here.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable, Optional

from reprodiag.errors import UserError

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
# Words that mean "no value" for an optional number (besides the field's own, e.g. unseeded).
NONE_WORDS = ("none", "default", "unset")


def bool_flag(p: argparse.ArgumentParser, name: str, default: Optional[bool], help_: str) -> None:
    p.add_argument(f"--{name}", dest=name.replace("-", "_"), action=argparse.BooleanOptionalAction,
                   default=default, help=help_)


def _optional_number(kind: Callable[[str], Any], unset: str) -> Callable[[str], Any]:
    """An argparse type: a number, or None for 'none' and the field's own word for unset."""
    words = NONE_WORDS + (unset,)

    def parse(text: str) -> Any:
        if text.lower() in words:
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number or '{unset}', not {text!r}")

    return parse


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The canary options of `run` and `explain`: one flag per RunConfig field (its name,
    choices, description and default), plus --seeds and --repeats."""
    from reprodiag.core.runs.config import run_option, run_options

    for option in run_options():
        help_ = option.description
        if option.kind == "bool":
            if option.optional:
                help_ += f" (default: {option.unset})"
            bool_flag(p, option.name.replace("_", "-"), option.default, help_)
            continue
        kwargs: dict[str, Any] = {"default": option.default, "help": help_}
        if option.kind == "choice":
            kwargs["choices"] = option.choices
        else:
            number: Callable[[str], Any] = int if option.kind == "int" else float
            if option.optional:
                number = _optional_number(number, option.unset)
                kwargs["help"] += f"; '{option.unset}' or 'none' for none"
            kwargs["type"] = number
        p.add_argument(option.flag, **kwargs)
    seed = run_option("seed")
    p.add_argument("--seeds", type=_optional_number(int, seed.unset), nargs="+",
                   help="run once per seed (overrides --seed)")
    p.add_argument("--repeats", type=int, default=1, help="run each config N times")


def configs_from_args(args: argparse.Namespace) -> list:
    """The RunConfigs the run options ask for (one per seed and repeat); bad values: one line."""
    from pydantic import ValidationError

    from reprodiag.core.runs.config import RunConfig

    seeds = args.seeds if args.seeds else [args.seed]
    if args.repeats < 1:
        raise UserError("--repeats must be at least 1")
    values = {name: getattr(args, name) for name in RunConfig.model_fields}
    configs = []
    for seed in seeds:
        try:
            cfg = RunConfig(**{**values, "seed": seed})
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(x) for x in err.get("loc", ())) or "config"
            raise UserError(f"--{field.replace('_', '-')}: {err.get('msg', 'invalid value')}")
        configs.extend([cfg] * args.repeats)
    return configs


def checked_interpreter(path: Optional[str]) -> Optional[str]:
    """Validate a --python path early (it must run Python), one clear line when it is wrong."""
    from reprodiag.core.env.interpreters import verify_interpreter

    return None if path is None else verify_interpreter(path)


def out_path(path: str, example: str = "NAME.reprodiag.zip") -> Path:
    """An --out path whose folder exists; one line naming the problem otherwise."""
    out = Path(path).expanduser()
    if out.is_dir():
        raise UserError(f"{path}: is a folder; give a file name like {example}")
    if not out.parent.exists():
        raise UserError(f"{path}: folder {out.parent} does not exist")
    return out
