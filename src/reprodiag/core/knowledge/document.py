"""docs/numerics.md, written from the catalog: the project's reference of why runs differ.

    python -m reprodiag.core.knowledge.document docs/numerics.md

A test holds the committed file equal to this rendering, so the document and the code the
diagnosis runs on cannot drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

from reprodiag.core.knowledge.catalog import ENTRIES, NOTE, Entry
from reprodiag.core.knowledge.stages import (
    ANY_MAGNITUDE,
    EPSILON,
    HALF_MAX,
    LAST_BITS_EPS,
    LAST_BITS_ULPS,
    MAGNITUDE_MEANING,
    REDUCTION_ULPS,
    STAGE_MEANING,
    TF32_MAX,
    Stage,
)

HEAD = """# Why two training runs differ

This page is written from reprodiag's numerics catalog (`src/reprodiag/core/knowledge/`);
the diagnosis, the environment view's "why it matters" and `reprodiag align` all read the
same catalog. Regenerate it with
`python -m reprodiag.core.knowledge.document docs/numerics.md` (a test checks it is current).

## How the diagnosis reasons

Every difference between the two sides is a suspect: a run-config field, a setting the runs
reported in force, an environment fact both sides captured, a data fingerprint, two runs of
one config on one side that disagree. A fact one side did not capture is unknown there, not
different. The runs then say where they part (the *stage*) and by how much (the
*magnitude* of the first difference). A suspect explains that only if its cause can first
show at that stage with that magnitude, acts on the device and framework the runs used, and
was not measured equal inside both runs (an alibi). Its weight is its prior times that fit;
causes nothing recorded can show (nondeterministic kernels, an unseeded input pipeline, data
not fingerprinted) take part with small priors, and so does "something not recorded". A
finding's likelihood is its share of the weight in the run pair it explains best: two
suspects that fit equally share it, and neither reads "very likely" (>= 0.75; "likely" is
>= 0.5).

## Stages, earliest first
"""

MAGNITUDES = f"""
## Magnitudes of a first difference

Relative difference |a - b| / max(|a|, |b|) of the first value that differs (the step-0
loss, a step-0 gradient norm, or the first loss that differs after that). The rounding
bounds scale with the type's machine epsilon (float32: {EPSILON['float32']:.3g}, float64:
{EPSILON['float64']:.3g}): last bits up to {LAST_BITS_EPS} epsilons (for a layer's sampled
values: at most {LAST_BITS_ULPS} ULP apart), reduction order up to {REDUCTION_ULPS} epsilons;
then TF32 scale up to {TF32_MAX:g}, half-precision scale up to {HALF_MAX:g}, gross beyond.
"""


def _stages(entry: Entry) -> str:
    strong = [s.value for s in Stage if s in entry.stages]
    weak = [s.value for s in Stage if s in entry.weak_stages and s not in entry.stages]
    text = ", ".join(strong) or "none (changes no computed value)"
    return text + (f" (rarely: {', '.join(weak)})" if weak else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The Markdown document."""
    out = [HEAD]
    out += [f"- **{s.value}**: {STAGE_MEANING[s]}." for s in Stage]
    out.append(MAGNITUDES)
    out += [f"- **{m.value}**: {MAGNITUDE_MEANING[m]}." for m in MAGNITUDE_MEANING]
    out += ["", "## The catalog", "",
            "| id | what | can first show at | first difference | acts on | prior | why | "
            "source |", "|---|---|---|---|---|---|---|---|"]
    for e in ENTRIES:
        if e.kind == NOTE:
            continue
        sizes = "any" if e.magnitudes == ANY_MAGNITUDE else ", ".join(
            m.value for m in MAGNITUDE_MEANING if m in e.magnitudes)
        where = "/".join(sorted(e.devices)).upper() or "any device"
        if e.frameworks and len(e.frameworks) == 1:
            where += f", {next(iter(e.frameworks))} only"
        out.append(f"| `{e.id}` | {_cell(e.what)} | {_cell(_stages(e))} | {sizes} | {where} | "
                   f"{e.prior:g} | {_cell(e.why)} | {_cell(e.source)} |")
    out += ["", "## Facts that do not change numbers", "",
            "Listed so the environment view can say why they do not matter.", ""]
    out += [f"- `{e.id}` ({_cell(e.what)}): {_cell(e.why)}" for e in ENTRIES if e.kind == NOTE]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m reprodiag.core.knowledge.document docs/numerics.md",
              file=sys.stderr)
        return 2
    Path(argv[0]).write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
