"""RunConfig is the one source of the run options: the CLI's flags, the recorders' checks
and the choices of `export` are built from its fields (the form: tests/gui/test_widgets.py;
the worker's copy: tests/workers/test_canary_common.py)."""

from __future__ import annotations

import argparse
import typing

import pytest

from reprodiag import cli
from reprodiag.commands.common import configs_from_args
from reprodiag.core.runs.config import (
    DEVICES,
    FRAMEWORKS,
    SET_DEVICES,
    RunConfig,
    field_problem,
    run_options,
)
from reprodiag.errors import UserError
from reprodiag.record.common import Recording


def probes(option) -> list:
    """Values at and beyond each bound, every value of the type and a wrong one."""
    if option.kind == "choice":
        literal = RunConfig.model_fields[option.name].annotation
        return [*typing.get_args(literal), "nope", None, 1]
    if option.kind == "bool":
        return [True, False, None, 0, "yes"]
    values: list = [None, True, "7"]
    if option.kind == "int":
        values += [option.low - 1, option.low, option.high, option.high + 1, 2.5]
    else:
        values += [option.low, option.low + 1e-9, option.high, option.high * 1.001,
                   float("nan"), float("inf"), 1]
    return values


def accepted(option, value) -> bool:
    """What a front end must accept: what RunConfig accepts, among the choices it offers."""
    return field_problem(option.name, value) is None and (
        option.kind != "choice" or value in option.choices)


def _run_parser(command: str = "run") -> argparse.ArgumentParser:
    parser = cli.build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def test_every_config_field_is_an_option_with_its_title_description_and_bounds():
    options = {o.name: o for o in run_options()}
    assert list(options) == list(RunConfig.model_fields)
    assert all(o.title and o.description for o in options.values())
    assert options["seed"].optional and options["seed"].unset == "unseeded"
    assert (options["steps"].low, options["steps"].high) == (1, 1_000_000)
    assert options["lr"].low == 0 and options["lr"].low_exclusive
    assert options["model"].choices == ("mlp", "cnn", "segnet")  # never "custom": not runnable
    assert options["onednn"].kind == "bool" and options["onednn"].optional


def test_the_cli_run_options_are_the_config_fields():
    parser = _run_parser()
    flags = {a.dest: a for a in parser._actions}
    for option in run_options():
        action = flags[option.name]
        assert action.option_strings[0] == option.flag
        assert action.default == option.default, option.name
        assert action.help.startswith(option.description), option.name
        if option.kind == "choice":
            assert tuple(action.choices) == option.choices
    assert configs_from_args(parser.parse_args([])) == [RunConfig()]


def test_the_cli_takes_what_the_config_takes_and_names_the_flag_otherwise():
    parser = _run_parser()
    args = parser.parse_args(["--seed", "unseeded", "--threads", "default", "--no-shuffle",
                              "--onednn", "--batch-size", "8", "--lr", "0.5",
                              "--optimizer", "adam", "--hash-every", "1", "--seeds", "1", "none"])
    assert [c.seed for c in configs_from_args(args)] == [1, None]
    cfg = configs_from_args(args)[0]
    assert (cfg.threads, cfg.shuffle, cfg.onednn, cfg.batch_size, cfg.lr, cfg.optimizer,
            cfg.hash_every) == (None, False, True, 8, 0.5, "adam", 1)
    for flag, value in (("--steps", "0"), ("--batch-size", "65537"), ("--lr", "0"),
                        ("--seed", str(2**31)), ("--threads", "1025")):
        with pytest.raises(UserError, match=f"^{flag}: "):
            configs_from_args(parser.parse_args([flag, value]))


def test_export_offers_the_configs_frameworks_and_devices():
    parser = _run_parser("export")
    flags = {a.dest: a for a in parser._actions}
    assert tuple(flags["frameworks"].choices) == FRAMEWORKS
    assert tuple(flags["devices"].choices) == SET_DEVICES == tuple(d for d in DEVICES
                                                                   if d != "auto")


@pytest.mark.parametrize("name", ["seed", "hash_every"])
def test_the_recorders_check_their_settings_by_the_configs_bounds(name):
    option = next(o for o in run_options() if o.name == name)
    for value in probes(option):
        kwargs = {"seed": 0, "hash_every": 1, name: value}
        if accepted(option, value):
            Recording("torch", "TorchRecorder", label="", recording_scheme="s", **kwargs)
        else:
            with pytest.raises(UserError, match=name):
                Recording("torch", "TorchRecorder", label="", recording_scheme="s", **kwargs)


def test_a_recordings_config_keeps_only_facts_the_config_takes():
    for option in run_options():
        if option.name not in ("batch_size", "lr", "optimizer", "dtype"):
            continue
        for value in probes(option):
            rec = Recording("torch", "TorchRecorder", label="", seed=0, hash_every=1,
                            recording_scheme="torch-recorder/3")
            rec.facts[option.name] = value
            cfg = rec.config()
            kept = accepted(option, value) and value is not None
            assert (getattr(cfg, option.name) == value) == kept or value == option.default, (
                option.name, value)
            assert (option.name in rec.record.settings["config_unknown"]) == (not kept)
