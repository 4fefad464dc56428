"""Environment snapshot speed: `reprodiag env --json` against PyTorch's collect_env, and
`reprodiag env --json --deep` against importing torch and TensorFlow in one process.

Every side is a whole fresh process. The default snapshot must also cover every fact that
collect_env reports: its output is parsed with reprodiag's own collect_env importer and each
fact key is looked up in the snapshot (facts that need torch imported are expected only
from --deep, whose coverage is checked the same way).
"""

from __future__ import annotations

import json

from benchmarks.harness import PYTHON, Result, Side, Sizes, interleaved, timed_process

SNAPSHOT = [PYTHON, "-m", "reprodiag", "env", "--json"]
COLLECT_ENV = [PYTHON, "-m", "torch.utils.collect_env"]
BOTH_FRAMEWORKS = [PYTHON, "-c", "import torch\nimport tensorflow"]
RUNTIME_PREFIXES = ("numerics.torch.", "framework.torch.")


def _coverage(collect_env_text: str, snapshot_json: str) -> tuple[int, list[str]]:
    """(facts collect_env reported, the keys among them the snapshot lacks).

    A variable collect_env reports as unset is covered by its absence: a snapshot lists the
    variables that are set (core/env/variables.py).
    """
    from reprodiag.core.env.foreign import collect_env

    reported = collect_env.parse(collect_env_text).facts
    have = set(json.loads(snapshot_json)["facts"])
    return len(reported), sorted(
        key for key, fact in reported.items() if key not in have
        and not (key.startswith("var.") and fact.value is None and not fact.unavailable))


def _probe_alone(script: str) -> float:
    """One deep probe run alone: the floor under a parallel --deep capture."""
    from reprodiag.paths import worker_script

    return timed_process([PYTHON, str(worker_script(script))]).seconds


def run(sizes: Sizes) -> list[Result]:
    out: dict[str, str] = {}

    def timed(name: str, argv: list[str]):
        def once() -> float:
            done = timed_process(argv)
            out[name] = done.stdout
            return done.seconds
        return once

    default = Result("env_default", "environment snapshot (default) vs torch collect_env",
                     "ratio", 0.2, Side("reprodiag env --json", "s"),
                     Side("python -m torch.utils.collect_env", "s"))
    interleaved(sizes.process_reps, timed("snapshot", SNAPSHOT),
                timed("collect_env", COLLECT_ENV), default)

    deep = Result("env_deep", "environment snapshot --deep vs importing torch + tensorflow",
                  "ratio", 0.8, Side("reprodiag env --json --deep", "s"),
                  Side("python -c 'import torch; import tensorflow'", "s"))
    interleaved(sizes.deep_reps, timed("deep", SNAPSHOT + ["--deep"]),
                timed("imports", BOTH_FRAMEWORKS), deep)

    if sizes.mode != "smoke":
        deep.extra["probe_alone_s"] = {name: _probe_alone(name)
                                       for name in ("probe_torch.py", "probe_tf.py")}
    total, missing = _coverage(out["collect_env"], out["snapshot"])
    _, missing_deep = _coverage(out["collect_env"], out["deep"])
    default.extra.update(collect_env_facts=total, missing_from_default=missing,
                         missing_from_deep=missing_deep)
    # Runtime facts only an imported torch can tell are the --deep snapshot's to cover.
    runtime_only = [k for k in missing if k.startswith(RUNTIME_PREFIXES)]
    default.checks["covers_collect_env"] = not missing_deep and len(runtime_only) == len(missing)
    if missing:
        default.notes.append(f"{len(missing)} of {total} collect_env facts are not in the "
                             f"default snapshot: {', '.join(missing)}")
    if missing_deep:
        default.notes.append(f"not even in the --deep snapshot: {', '.join(missing_deep)}")
    return [default, deep]
