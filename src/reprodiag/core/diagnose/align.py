"""Make side B match side A: pinned installs, variables to export, a determinism block.

Built from two environment snapshots. Only what can change numbers is aligned: packages and
variables the fact metadata marks numerics-relevant (meta.describe), plus TensorFlow's
predicted oneDNN state. The code blocks are the reproducibility baseline for both sides.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Optional

from reprodiag.core.compare import BundleComparison, EnvDifference, diff_env
from reprodiag.core.compare.render import md_cell
from reprodiag.core.knowledge import fixes as fx
from reprodiag.core.diagnose.evidence import FRAMEWORKS, Evidence, predict_onednn
from reprodiag.core.knowledge.facts import describe
from reprodiag.core.env.model import Snapshot
from reprodiag.core.env.variables import REDACTED

ALIGN_FORMAT = "reprodiag-align"
ALIGN_VERSION = 1


@dataclass(kw_only=True)
class AlignPlan:
    """What to run on B so that it matches A, in the order to run it."""

    labels: tuple[str, str] = ("A", "B")
    packages: list[tuple[str, Optional[str], Optional[str]]] = field(default_factory=list)
    pip_lines: list[str] = field(default_factory=list)
    conda_lines: list[str] = field(default_factory=list)
    env_exports: dict[str, Optional[str]] = field(default_factory=dict)  # None: unset it
    code: dict[str, str] = field(default_factory=dict)  # framework -> block
    notes: list[str] = field(default_factory=list)

    @property
    def export_lines(self) -> list[str]:
        """POSIX shell lines: `export NAME=value`, or `unset NAME`."""
        return [f"unset {k}" if v is None else f"export {k}={shlex.quote(v)}"
                for k, v in self.env_exports.items()]

    @property
    def empty(self) -> bool:
        return not (self.pip_lines or self.conda_lines or self.env_exports)

    def to_json(self) -> dict:
        return {"format": ALIGN_FORMAT, "format_version": ALIGN_VERSION,
                "labels": list(self.labels),
                "packages": [{"name": n, "a": a, "b": b} for n, a, b in self.packages],
                "pip_lines": self.pip_lines, "conda_lines": self.conda_lines,
                "env_exports": dict(self.env_exports), "export_lines": self.export_lines,
                "code": dict(self.code), "notes": list(self.notes)}


def _packages(diffs: list[EnvDifference]) -> tuple[list, dict[str, str], dict[str, str], list]:
    """Numerics-relevant packages that differ: (rows, pip pins, conda pins, B-only names)."""
    rows, pip, conda, extra = [], {}, {}, []
    for d in diffs:
        name = d.key[len("pkg."):]
        base = name[len("conda."):] if name.startswith("conda.") else name
        if d.group != "pkg" or d.unknown or not describe("pkg." + base).numerics:
            continue
        va = d.a.value if d.a.ok else None
        vb = d.b.value if d.b.ok else None
        rows.append((name, va, vb))
        if va is None:
            extra.append(name)
        elif base != name:
            conda[base] = str(va)
        else:
            pip[name] = str(va)
    return rows, pip, conda, extra


def _variables(diffs: list[EnvDifference], notes: list[str]) -> dict[str, Optional[str]]:
    out: dict[str, Optional[str]] = {}
    for d in diffs:
        if d.group != "var" or d.unknown or not d.numerics or not d.a.ok:
            continue
        name, value = d.key[len("var."):], d.a.value
        if value == REDACTED:
            notes.append(f"{name} differs but its value in A is redacted; copy it by hand")
            continue
        out[name] = None if value is None else str(value)
    return out


def align(a: Snapshot, b: Snapshot, frameworks: Optional[list[str]] = None, *,
          labels: tuple[str, str] = ("A", "B")) -> AlignPlan:
    """The plan that makes environment `b` match environment `a`."""
    plan = AlignPlan(labels=labels)
    la, lb = labels
    diffs = diff_env(a, b)
    plan.packages, pip, conda, extra = _packages(diffs)
    plan.pip_lines = fx.pip_install_lines(pip)
    plan.conda_lines = [f"conda install {' '.join(f'{n}={v}' for n, v in sorted(conda.items()))}"
                        ] if conda else []
    if extra:
        plan.notes.append(f"{lb} has {', '.join(extra)}, which {la} lacks; uninstall where the "
                          f"code does not need it (pip uninstall {' '.join(extra)})")
    plan.env_exports = _variables(diffs, plan.notes)
    pa, pb = a.value("host.python.version"), b.value("host.python.version")
    if pa and pb and str(pa).split(".")[:2] != str(pb).split(".")[:2]:
        plan.notes.append(f"{la} runs Python {pa}, {lb} Python {pb}: create {lb}'s environment "
                          f"with Python {'.'.join(str(pa).split('.')[:2])} first")
    ev = Evidence(comparison=BundleComparison(labels=labels, env=diffs, has_snapshot=(True, True)),
                  snapshots=(a, b))
    fws = [fw for fw in FRAMEWORKS if fw in (frameworks or ev.frameworks)]
    onednn_a, why_a = predict_onednn(ev, 0)
    onednn_b, why_b = predict_onednn(ev, 1)
    if "tensorflow" in fws and None not in (onednn_a, onednn_b) and onednn_a != onednn_b:
        plan.notes.append(f"TensorFlow's oneDNN is predicted {'on' if onednn_a else 'off'} in {la}"
                          f" ({why_a}) and {'on' if onednn_b else 'off'} in {lb} ({why_b}); the "
                          "code block turns it off on both sides")
    tf_version = b.value("framework.tensorflow.version") or a.value("framework.tensorflow.version")
    for fw in fws:
        plan.code[fw] = fx.determinism_block(fw, seed=0, threads=1, tf32=False, onednn=False,
                                             tf_version=tf_version)
    return plan


# ---------------------------------------------------------------- renderings

_CODE_INTRO = ("at the top of the training script, on both sides (seeds, deterministic "
               "kernels, TF32 off, one CPU thread)")


def render_align_text(plan: AlignPlan) -> str:
    """The plan for a terminal: numbered steps, commands indented for copying."""
    la, lb = plan.labels
    out = [f"Make {lb} (B) match {la} (A)", ""]
    step = 1
    if plan.pip_lines or plan.conda_lines:
        out.append(f"{step}. Install A's versions in B's environment:")
        out += [f"     {name}: {b or 'absent'} -> {a or 'absent'}" for name, a, b in plan.packages]
        out += [f"   {line}" for line in plan.conda_lines + plan.pip_lines]
        out.append("")
        step += 1
    if plan.env_exports:
        out.append(f"{step}. Set these variables before Python starts:")
        out += [f"   {line}" for line in plan.export_lines]
        out.append("")
        step += 1
    for fw, code in plan.code.items():
        out.append(f"{step}. {fw} code, {_CODE_INTRO}:")
        out += [f"   {line}" if line else "" for line in code.splitlines()]
        out.append("")
        step += 1
    if plan.empty:
        out.append("No numerics-relevant package or variable differs.")
    if plan.notes:
        out.append("Notes:")
        out += [f"  - {note}" for note in plan.notes]
    return "\n".join(out).rstrip() + "\n"


def render_align_markdown(plan: AlignPlan) -> str:
    """The plan as Markdown: fenced blocks a reader can copy."""
    la, lb = plan.labels
    out = [f"### Make {md_cell(lb)} (B) match {md_cell(la)} (A)", ""]
    if plan.packages:
        out += ["| package | B now | A (target) |", "|---|---|---|"]
        out += [f"| `{md_cell(n)}` | {md_cell(b or 'absent')} | {md_cell(a or 'absent')} |"
                for n, a, b in plan.packages]
        out.append("")
    if plan.pip_lines or plan.conda_lines:
        out += ["Install A's versions in B's environment:", "", "```bash",
                *plan.conda_lines, *plan.pip_lines, "```", ""]
    if plan.env_exports:
        out += ["Set before Python starts:", "", "```bash", *plan.export_lines, "```", ""]
    for fw, code in plan.code.items():
        out += [f"`{fw}` code, {_CODE_INTRO}:", "", "```python", code.rstrip(), "```", ""]
    if plan.empty:
        out += ["No numerics-relevant package or variable differs.", ""]
    out += [f"- {md_cell(note, 500)}" for note in plan.notes]
    return "\n".join(out).rstrip() + "\n"
