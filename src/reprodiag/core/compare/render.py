"""Renderings of a BundleComparison: plain text (terminal), Markdown (a GitHub issue), JSON.

All three show the same content in the same order: the overall verdict, one entry per run
pair (verdict, where the runs part, by how much), unpaired runs, and the environment
differences with the numerics-relevant ones first.
"""

from __future__ import annotations

import math
from typing import Any

from reprodiag.core.compare import BundleComparison
from reprodiag.core.compare.envdiff import ABSENT, EnvDifference
from reprodiag.core.compare.layers import LayerComparison, LayerRef
from reprodiag.core.compare.runs import VERDICT_LABELS, RunComparison
from reprodiag.core.knowledge.facts import CHANGES_NUMERICS, MAY_CHANGE
from reprodiag.core.env.model import GROUPS, Fact
from reprodiag.core.runs.layers import LayerRecord
from reprodiag.core.runs.record import STATUS_LABELS, RunRecord
from reprodiag.core.wording import counted

COMPARISON_FORMAT = "reprodiag-comparison"
COMPARISON_VERSION = 1
_IMPACT = {CHANGES_NUMERICS: "high", MAY_CHANGE: "medium"}
_DASH = "-"


# ---------------------------------------------------------------- shared formatting helpers

def fmt_num(value: float | None, dash: str = _DASH) -> str:
    """A number in 3 significant digits; `dash` for none or non-finite (shared by the
    renderers and the GUI tables)."""
    if value is None or not math.isfinite(value):
        return dash
    return "0" if value == 0 else f"{value:.3g}"


def fmt_step(value: int | None, dash: str = _DASH) -> str:
    """A step number, or `dash` when there is none."""
    return dash if value is None else str(value)


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _impact(d: EnvDifference) -> str:
    return _IMPACT.get(d.severity, "info")


def _run_state(run: RunRecord) -> str:
    return f"{STATUS_LABELS[run.status]}, {counted(len(run.steps), 'step')}"


def _value(v: Any) -> str:
    return "unset" if v is None else str(v)


def _changes(diffs: list[tuple[str, Any, Any]]) -> str:
    return "; ".join(f"{k} {_value(a)} vs {_value(b)}" for k, a, b in diffs)


def summary_line(bc: BundleComparison) -> str:
    """One line: the overall verdict, how many pairs and unpaired runs."""
    n_unpaired = len(bc.unpaired_a) + len(bc.unpaired_b)
    overall = bc.overall_verdict
    verdict = VERDICT_LABELS[overall] if overall is not None else "nothing to compare"
    text = f"Overall: {verdict} ({len(bc.pairs)} run pair{'s' if len(bc.pairs) != 1 else ''}"
    if n_unpaired:
        text += f", {n_unpaired} unpaired run{'s' if n_unpaired != 1 else ''}"
    return text + ")"


def _env_note(bc: BundleComparison) -> str:
    """Why the environments were not compared, or "" when they were."""
    missing = [label for label, has in zip(bc.labels, bc.has_snapshot) if not has]
    return "" if not missing else f"no environment snapshot in {' and '.join(missing)}"


def _scheme(run) -> str:
    """The run's recording scheme, for people ("" is what reprodiag 0.1.0 wrote)."""
    return run.recording_scheme or "reprodiag 0.1.0"


def _diff_lines(p: RunComparison) -> list[str]:
    """The facts of one pair as short lines, shared by text and Markdown."""
    params = (f"parameters parted {p.param_parting}" if p.param_hashes_sparse
              else f"first parameter difference: step {fmt_step(p.first_param_diff_step)}")
    parting = (f"{params}; "
               f"first loss difference beyond tolerance: step {fmt_step(p.first_loss_diff_step)} "
               f"(bitwise: step {fmt_step(p.first_bitwise_loss_diff_step)}); "
               f"{counted(p.common_steps, 'common step')}")
    size = (f"loss |A-B|: max {fmt_num(p.max_abs_diff)} (relative {fmt_num(p.max_rel_diff)}), "
            f"final {fmt_num(p.final_abs_diff)} (relative {fmt_num(p.final_rel_diff)}); "
            f"rtol={p.rtol:g}, atol={p.atol:g}")
    if p.nonfinite_steps:
        size += f"; {counted(p.nonfinite_steps, 'step')} with a non-finite loss left out"
    lines = [parting, size]
    if p.magnitude is not None and p.first_gap_step is not None:
        lines.append(f"first difference at step {p.first_gap_step}: relative "
                     f"{fmt_num(p.first_gap_rel)} ({p.magnitude.value})")
    if p.schemes_differ:
        lines.append("batch hashes and gradient norms not compared: recorded under different "
                     f"definitions ({_scheme(p.ref)} vs {_scheme(p.other)})")
    if p.config_differences:
        lines.append("config differs: " + _changes(p.config_differences))
    if p.settings_differences:
        lines.append("settings in force differ: " + _short(_changes(p.settings_differences), 400))
    if p.layers is not None:
        lines.append("layers: " + p.layers.summary)
    return lines


def unknown_note(bc: BundleComparison, quick: tuple[bool, bool] = (False, False)) -> str:
    """How many facts only one side captured, which side lacks them, and how to get them;
    `quick` says which sides are quick snapshots (a deep capture would add what they lack)."""
    unknown = bc.env_unknown
    if not unknown:
        return ""
    labels = bc.labels
    lacking = sorted({labels[0] if d.a_text == "not captured" else labels[1] for d in unknown})
    groups = sorted({".".join(d.key.split(".")[:2]) for d in unknown})
    shallow = [label for label, q in zip(labels, quick) if q and label in lacking]
    hint = ""
    if shallow:
        what = "is a quick snapshot" if len(shallow) == 1 else "are quick snapshots"
        hint = (f" ({' and '.join(shallow)} {what}: capture deeply with `reprodiag env --deep`, "
                "or export without --quick)")
    return (f"{counted(len(unknown), 'fact')} ({', '.join(groups[:6])}{', ...' if len(groups) > 6 else ''})"
            f" missing in {' or '.join(lacking)}{hint}")


LAYER_TABLE_ROWS = 12  # rows of the per-layer table in text and Markdown (JSON has all)
LAYER_HEADER = ["layer", "kind", "phase", "rel. error", "ULPs", "class"]


def _layer_rows(lc: LayerComparison | None) -> list[list[str]]:
    """The compact per-layer table of a pair whose layers differ: the parting record and
    those after it (at most LAYER_TABLE_ROWS), on the first step where they differ."""
    if lc is None or lc.parting is None:
        return []
    return [[row.layer.label, row.layer.kind, row.layer.phase, _fmt_rel(row.rel_error),
             "inf" if math.isinf(row.ulps) else f"{row.ulps:.0f}", row.magnitude]
            for row in lc.rows[:LAYER_TABLE_ROWS]]


def _fmt_rel(value: float) -> str:
    return "inf" if math.isinf(value) else ("0" if value == 0 else f"{value:.2g}")


def _text_table(header: list[str], rows: list[list[str]], indent: str) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in [header, *rows]]


# ---------------------------------------------------------------- text

def to_text(bc: BundleComparison) -> str:
    """A plain-text report for a terminal."""
    a, b = bc.labels
    out = ["reprodiag comparison", f"  A: {a}", f"  B: {b}", summary_line(bc), ""]
    if bc.tooling_differences:
        out += [f"! Note: {line}" for line in bc.tooling_differences] + [""]
    for i, p in enumerate(bc.pairs, 1):
        out.append(f"Run pair {i}: {p.title}   (A: {_run_state(p.ref)} | B: {_run_state(p.other)})")
        out.append(f"  verdict: {VERDICT_LABELS[p.verdict]}")
        out.append(f"  where they part: {p.stage.value if p.stage else _DASH}")
        out.append(f"  {p.explanation}")
        out.extend(f"  {line}" for line in _diff_lines(p))
        table = _layer_rows(p.layers)
        if table and p.layers is not None:
            out.append(f"  layers at step {p.layers.step}, from the parting one "
                       f"({len(table)} of {len(p.layers.rows)}):")
            out.extend(_text_table(LAYER_HEADER, table, "    "))
        out.extend(f"  ! {problem}" for problem in p.problems)
        out.append("")
    for side, runs in ((a, bc.unpaired_a), (b, bc.unpaired_b)):
        if runs:
            names = ", ".join(r.display_name() for r in runs)
            out.append(f"Unpaired runs in {side}: {names}")
    if bc.unpaired_a or bc.unpaired_b:
        out.append("")
    note = _env_note(bc)
    if note:
        out.append(f"Environment not compared: {note}.")
        return "\n".join(out) + "\n"
    known = bc.env_differences
    out.append(f"Environment differences: {len(known)}"
               + (" (numerics-relevant first)" if known else ""))
    for d in known:
        out.append(f"  {_impact(d):6} {d.key}: {_short(d.a_text, 60)}  |  {_short(d.b_text, 60)}")
        if d.numerics:
            out.append(f"         {d.why}")
    unknown = bc.env_unknown
    if unknown:
        out.append(f"Captured on one side only (unknown on the other, not compared): "
                   f"{unknown_note(bc)}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- Markdown

def md_cell(text: Any, limit: int = 80) -> str:
    """Table-cell safe: one line, pipes and angle brackets escaped."""
    s = _short(str(text), limit)
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Markdown table lines; cells must already be escaped with md_cell."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def to_markdown(bc: BundleComparison) -> str:
    """A Markdown report ready to paste into a GitHub issue (only differences shown)."""
    a, b = bc.labels
    out = [f"### reprodiag comparison: {md_cell(a)} (A) vs {md_cell(b)} (B)", "",
           f"**{summary_line(bc)}**", ""]
    out += [f"> **Note:** {md_cell(line, 600)}  " for line in bc.tooling_differences]
    if bc.tooling_differences:
        out.append("")
    if bc.pairs:
        rows = [[str(i), md_cell(p.title), md_cell(_run_state(p.ref)), md_cell(_run_state(p.other)),
                 f"**{VERDICT_LABELS[p.verdict]}**", md_cell(p.stage.value if p.stage else _DASH),
                 (p.param_parting_cell or _DASH),
                 fmt_step(p.first_loss_diff_step), fmt_num(p.max_abs_diff), fmt_num(p.final_abs_diff)]
                for i, p in enumerate(bc.pairs, 1)]
        out += md_table(["#", "run", "A", "B", "verdict", "where they part",
                          "first param diff step", "first loss diff step", "max abs loss diff",
                          "final abs loss diff"], rows)
        out.append("")
        for i, p in enumerate(bc.pairs, 1):
            out.append(f"{i}. **{md_cell(p.title)}**: {md_cell(p.explanation, 400)}")
            out.extend(f"   - {md_cell(line, 500)}" for line in _diff_lines(p))
            out.extend(f"   - :warning: {md_cell(problem, 300)}" for problem in p.problems)
            table = _layer_rows(p.layers)
            if table:
                out += ["", *("   " + line for line in md_table(
                    LAYER_HEADER, [[md_cell(c) for c in row] for row in table])), ""]
        out.append("")
    for side, runs in ((a, bc.unpaired_a), (b, bc.unpaired_b)):
        if runs:
            names = ", ".join(md_cell(r.display_name()) for r in runs)
            out.append(f"Unpaired runs in {md_cell(side)}: {names}  ")
    if bc.unpaired_a or bc.unpaired_b:
        out.append("")
    note = _env_note(bc)
    if note:
        out.append(f"Environment not compared: {note}.")
        return "\n".join(out) + "\n"
    known = bc.env_differences
    important = [d for d in known if d.numerics or d.severity >= MAY_CHANGE]
    minor = [d for d in known if d not in important]
    out.append(f"#### Environment differences ({len(known)})")
    out.append("")
    if not known:
        out.append("The environments do not differ in any fact both recorded.")
    if bc.env_unknown:
        out += [f"Captured on one side only (unknown on the other, not compared): "
                f"{md_cell(unknown_note(bc), 600)}", ""]
    if important:
        out += md_table(["impact", "fact", "A", "B", "why it matters"],
                         [[_impact(d), f"`{md_cell(d.key)}`", md_cell(d.a_text), md_cell(d.b_text),
                           md_cell(d.why, 300)] for d in important])
        out.append("")
    if minor:
        out += [f"<details><summary>{len(minor)} informational differences</summary>", ""]
        out += md_table(["fact", "A", "B"],
                         [[f"`{md_cell(d.key)}`", md_cell(d.a_text), md_cell(d.b_text)] for d in minor])
        out += ["", "</details>"]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- JSON

def jsonable(value: Any) -> Any:
    """Plain JSON types only; NaN and Infinity become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if hasattr(value, "item"):  # numpy scalars
        return jsonable(value.item())
    return str(value)


def _fact_json(fact: Fact) -> dict | None:
    return None if fact == ABSENT else fact.to_json()


def _run_json(run: RunRecord) -> dict:
    return {
        "run_id": run.run_id,
        "name": run.display_name(),
        "config": run.config.model_dump(),
        "status": run.status,
        "reason": run.reason,
        "recording_scheme": run.recording_scheme,
        "steps": len(run.steps),
        "final_loss": float(run.steps.loss[-1]) if len(run.steps) else None,
    }


def _pair_json(p: RunComparison) -> dict:
    return {
        "title": p.title,
        "a": _run_json(p.ref),
        "b": _run_json(p.other),
        "verdict": p.verdict,
        "stage": p.stage.value if p.stage else None,
        "explanation": p.explanation,
        "common_steps": p.common_steps,
        "first_gap_step": p.first_gap_step,
        "first_gap_rel": p.first_gap_rel,
        "magnitude": p.magnitude.value if p.magnitude else None,
        "same_length": p.same_length,
        "nonfinite_steps": p.nonfinite_steps,
        "first_param_diff_step": p.first_param_diff_step,
        "last_param_match_step": p.last_param_match_step,
        "param_hashes_sparse": p.param_hashes_sparse,
        "first_loss_diff_step": p.first_loss_diff_step,
        "first_bitwise_loss_diff_step": p.first_bitwise_loss_diff_step,
        "first_grad_norm_diff_step": p.first_grad_norm_diff_step,
        "first_batch_diff_step": p.first_batch_diff_step,
        "schemes_differ": p.schemes_differ,
        "max_abs_diff": p.max_abs_diff,
        "max_rel_diff": p.max_rel_diff,
        "final_abs_diff": p.final_abs_diff,
        "final_rel_diff": p.final_rel_diff,
        "rtol": p.rtol,
        "atol": p.atol,
        "problems": list(p.problems),
        "config_differences": [{"field": k, "a": x, "b": y} for k, x, y in p.config_differences],
        "settings_differences": [{"key": k, "a": x, "b": y} for k, x, y in p.settings_differences],
        "layers": _layers_json(p.layers),
    }


def _layer_ref_json(ref: LayerRef | None) -> dict | None:
    return None if ref is None else _layer_ref_fields(ref)


def _layer_ref_fields(ref: LayerRef) -> dict:
    return {"name": ref.name, "kind": ref.kind, "phase": ref.phase, "tensor": ref.tensor}


def _side_json(record: LayerRecord | None) -> dict | None:
    return None if record is None else {"hash": record.hash, "norm": record.norm,
                                        "max_abs": record.max_abs, "nonfinite": record.nonfinite,
                                        "shape": list(record.shape), "dtype": record.dtype}


def _layers_json(lc: LayerComparison | None) -> dict | None:
    """The layer comparison (None when a run has no layer fingerprints); an infinite
    relative error or ULP count is written as null, as every non-finite number here."""
    if lc is None:
        return None
    nonfinite = lc.nonfinite
    return {
        "summary": lc.summary, "steps": list(lc.steps), "step": lc.step,
        "parting": _layer_ref_json(lc.parting), "rel_error": lc.rel_error, "ulps": lc.ulps,
        "magnitude": lc.magnitude, "input_matched": lc.input_matched,
        "nonfinite": None if nonfinite is None else {**_layer_ref_fields(nonfinite.layer),
                                                      "step": nonfinite.step,
                                                      "sides": nonfinite.sides},
        "rows": [{**_layer_ref_fields(r.layer), "equal": r.equal, "rel_error": r.rel_error,
                  "ulps": r.ulps, "magnitude": r.magnitude, "a": _side_json(r.a),
                  "b": _side_json(r.b)} for r in lc.rows],
    }


def to_json(bc: BundleComparison) -> dict:
    """The comparison as a JSON-serialisable dict (json.dumps(..., allow_nan=False) works)."""
    env = [{"key": d.key, "group": d.group, "group_title": GROUPS.get(d.group, d.group),
            "a": _fact_json(d.a), "b": _fact_json(d.b), "a_text": d.a_text, "b_text": d.b_text,
            "severity": d.severity, "numerics": d.numerics, "why": d.why, "same": d.same,
            "unknown": d.unknown}
           for d in bc.env]
    return jsonable({
        "format": COMPARISON_FORMAT,
        "format_version": COMPARISON_VERSION,
        "labels": {"a": bc.labels[0], "b": bc.labels[1]},
        "overall_verdict": bc.overall_verdict,
        "notes": bc.tooling_differences,
        "producers": {"a": bc.producers[0], "b": bc.producers[1]},
        "pairs": [_pair_json(p) for p in bc.pairs],
        "unpaired": {"a": [_run_json(r) for r in bc.unpaired_a],
                     "b": [_run_json(r) for r in bc.unpaired_b]},
        "environment": {"compared": bc.env_compared,
                        "has_snapshot": {"a": bc.has_snapshot[0], "b": bc.has_snapshot[1]},
                        "differences": env},
    })
