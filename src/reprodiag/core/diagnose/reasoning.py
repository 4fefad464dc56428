"""From suspects to findings: score each suspect in every run pair that differs, keep its best
share, and write the finding with the evidence that quotes both sides and says why it fits
(or does not).

Configured differences that are not numerics settings (learning rate, optimizer, batch
size, model, steps, shuffling, augmentation) form one finding, "configured differently":
together they are one explanation, and the user's fix is to configure both sides alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from reprodiag.core.compare.runs import IDENTICAL, RunComparison
from reprodiag.core.diagnose.evidence import Evidence
from reprodiag.core.diagnose.findings import Finding
from reprodiag.core.diagnose.ranking import (
    Fit,
    Observation,
    entry_of,
    fit,
    hidden,
    observe,
    unexplained_weight,
)
from reprodiag.core.diagnose.suspects import (
    REPEAT,
    Difference,
    Repeat,
    Suspect,
    Suspects,
    collect,
)
from reprodiag.core.knowledge import fixes as fx
from reprodiag.core.knowledge.catalog import CONFIG, GPU, Entry
from reprodiag.core.knowledge.stages import Stage
from reprodiag.core.knowledge.values import show
from reprodiag.core.wording import counted, distinguishing

CONFIGURED = "config"  # the finding id of configured differences
NO_EFFECT_CAP = 0.15  # a difference the runs show no effect of
ENV_ONLY_CAP = 0.7  # a difference with no run to test it against
SHOW_HIDDEN = 0.1  # a hidden cause is shown from this likelihood on


@dataclass(kw_only=True)
class Candidate:
    """One finding in the making: its entries, differences, best share and where."""

    key: str
    entries: list[Entry]
    differences: list[Difference] = field(default_factory=list)
    likelihood: float = 0.0
    best: Optional[Observation] = None
    best_fit: Optional[Fit] = None
    pairs: list[RunComparison] = field(default_factory=list)
    observed: bool = True  # False: a hidden cause (no recorded difference)
    seen_in_differing_pair: bool = False


def _group_key(e: Entry) -> str:
    return CONFIGURED if e.kind == CONFIG else e.id


# A cause's own mechanism at a stage where another entry says it better.
REFINED = {("device", Stage.INIT): "rng_device", ("gpu_model", Stage.INIT): "rng_device"}
SAME_MACHINE = 0.02  # weight of an unrecorded cause between two runs of one side


def reason(ev: Evidence) -> list[Finding]:
    """The cause findings of a comparison, unranked (merge ranks them)."""
    suspects = collect(ev)
    repeat_suspects = _add_repeats(ev, suspects)
    candidates: dict[str, Candidate] = {}
    consumed: set[str] = set()
    observations = [(observe(i, p), suspects.for_pair(i), unexplained_weight(ev))
                    for i, p in enumerate(ev.pairs)
                    if p.verdict != IDENTICAL and p.stage is not None]
    observations += [(observe(-1, r.comparison), {"run_to_run": s}, SAME_MACHINE)
                     for r, s in repeat_suspects]
    unexplained: list[tuple[float, Observation]] = []
    for obs, present, w0 in observations:
        scored: dict[str, list[tuple[float, Fit, Entry, Optional[Suspect]]]] = {}
        for s in present.values():
            e = s.entry
            if obs.stage is not None and (e.id, obs.stage) in REFINED:
                consumed.add(e.id)
                e = entry_of(REFINED[(e.id, obs.stage)])
            f = fit(e, s, obs)
            scored.setdefault(_group_key(e), []).append((s.weight * f.factor, f, e, s))
        for entry_id, prior in hidden(ev, obs, suspects, present).items():
            e = entry_of(entry_id)
            f = fit(e, None, obs)
            scored.setdefault(e.id, []).append((prior * f.factor, f, e, None))
        total = w0 + sum(w for members in scored.values() for w, *_ in members)
        if obs.index >= 0:
            unexplained.append((w0 / total, obs))
        for key, members in scored.items():
            share = sum(w for w, *_ in members) / total
            best_w, best_f, _, _ = max(members, key=lambda m: m[0])
            cand = candidates.get(key)
            if cand is None:
                cand = candidates[key] = Candidate(
                    key=key, entries=[], observed=any(s is not None for *_, s in members))
            for _, _, e, member in members:
                if e not in cand.entries:
                    cand.entries.append(e)
                for d in (member.differences if member else []):
                    if d not in cand.differences:
                        cand.differences.append(d)
            cand.seen_in_differing_pair = True
            if best_f.fits:
                cand.pairs.append(obs.pair)
            if share > cand.likelihood:
                cand.likelihood, cand.best, cand.best_fit = share, obs, best_f
    _add_undiffering(ev, suspects, candidates, bool(ev.pairs), consumed)
    findings = [_finding(ev, c) for c in candidates.values()
                if c.observed or c.likelihood >= SHOW_HIDDEN]
    findings += _unexplained(ev, unexplained, candidates)
    return findings


def _add_repeats(ev: Evidence, suspects: Suspects) -> list[tuple[Repeat, Suspect]]:
    """Repeats of one config on one side that disagree: nondeterminism seen directly. Each
    is an observation of its own, and the nondeterminism it shows is a suspect for every
    pair too."""
    la, lb = ev.labels
    out = []
    for r in suspects.repeats:
        if r.agrees or r.comparison.stage is None:
            continue
        c = r.comparison
        where = (la, lb)[r.side]
        difference = Difference(
            source=REPEAT, key=f"repeat:{c.title}", a=c.ref.run_id, b=c.other.run_id,
            line=f"two runs of {c.title} in {where} with the same config and seed differ: "
                 + ev.stage_line(c, titled=False))
        shared = suspects.environment.setdefault("run_to_run",
                                                 Suspect(entry=entry_of("run_to_run")))
        shared.add(difference)
        own = Suspect(entry=entry_of("run_to_run"))
        own.add(difference)
        out.append((r, own))
    return out


def _add_undiffering(ev: Evidence, suspects: Suspects, candidates: dict[str, Candidate],
                     have_pairs: bool, consumed: set[str]) -> None:
    """Differences no differing pair tested: with runs that agree they showed no effect;
    with no runs at all, only the environment can speak for them."""
    tables = [suspects.environment] + suspects.by_pair
    for table in tables:
        for s in table.values():
            if s.entry.id in consumed:
                continue
            key = _group_key(s.entry)
            cand = candidates.get(key)
            if cand is None:
                cand = candidates[key] = Candidate(key=key, entries=[s.entry])
            if s.entry not in cand.entries:
                cand.entries.append(s.entry)
            for d in s.differences:
                if d not in cand.differences:
                    cand.differences.append(d)
            if cand.seen_in_differing_pair:
                continue
            if have_pairs:
                cand.likelihood = max(cand.likelihood, min(NO_EFFECT_CAP, s.weight * 0.15))
            else:
                cand.likelihood = max(cand.likelihood, _env_only(ev, s))


def _env_only(ev: Evidence, s: Suspect) -> float:
    """The likelihood of an environment difference nothing ran against."""
    if _env_only_reason(ev, s.entry):
        return 0.05
    return min(ENV_ONLY_CAP, s.weight * 0.75)


def _env_only_reason(ev: Evidence, e: Entry) -> str:
    """Why an environment difference cannot act on either side ("" when it can)."""
    if e.devices == frozenset({GPU}) and not ev.has_gpu:
        return f"does not fit: {e.what} acts only on a GPU, and neither side has one"
    if e.id == "tf32" and not any(c >= (8, 0) for side in (0, 1) for c in ev.capabilities(side)):
        return ("does not fit: TF32 acts only on GPUs of compute capability 8.0 or later, and "
                "neither side has one")
    if e.frameworks and not (set(e.frameworks) & set(ev.frameworks)):
        return f"does not fit: {e.what} acts only in {', '.join(sorted(e.frameworks))}"
    return ""


# ---------------------------------------------------------------- writing the finding


_PAIR_TAG = re.compile(r"^(.*) \[([^\[\]]+)\]$")


def merged_pair_lines(lines: list[str]) -> list[str]:
    """Lines that say the same of several run pairs ('... [<pair title>]') as one line
    naming what tells those pairs apart: '... [2 run pairs: seed=0, seed=1]'."""
    groups: dict[str, list[str]] = {}
    for line in lines:
        match = _PAIR_TAG.match(line)
        text, title = (match.group(1), match.group(2)) if match else (line, "")
        groups.setdefault(text, []).append(title)
    out = []
    for text, titles in groups.items():
        titles = [t for t in dict.fromkeys(titles) if t]
        if len(titles) <= 1:
            out.append(f"{text} [{titles[0]}]" if titles else text)
            continue
        names = [n or t for n, t in zip(distinguishing(titles), titles)]
        out.append(f"{text} [{len(titles)} run pairs: {', '.join(names)}]")
    return out


def _finding(ev: Evidence, c: Candidate) -> Finding:
    primary = c.entries[0]
    pairs = c.pairs or ([c.best.pair] if c.best else [])
    evidence = merged_pair_lines([d.line for d in c.differences])[:10]
    if c.best is not None:
        evidence.append(ev.stage_line(c.best.pair))
        if c.best_fit is not None:
            evidence.append(c.best_fit.reason)
    elif ev.pairs and c.observed:
        agreeing = [p for p in ev.pairs if p.verdict == IDENTICAL]
        if agreeing:
            verb = "agrees" if len(agreeing) == 1 else "agree"
            evidence.append(f"no effect seen: {counted(len(agreeing), 'run pair')} {verb} "
                            f"bitwise despite this difference ({ev.stage_line(agreeing[0])})")
    elif not ev.pairs:
        reason = _env_only_reason(ev, primary)
        evidence.append(reason or "no runs to test it against: compare canary runs of both "
                                  "sides (reprodiag export) to see whether it changes the "
                                  "numbers")
    if c.key == CONFIGURED:
        evidence.insert(0, "the runs were configured differently: this is not an environment "
                           "difference")
    if primary.id == "run_to_run":
        evidence[1:1] = _nondeterminism_details(c)
    title, finding_id = _title(c, primary)
    return Finding(
        id=finding_id, title=title, likelihood=c.likelihood, evidence=evidence,
        why=" ".join(dict.fromkeys(e.why for e in c.entries)),
        fixes=_fixes(ev, c, pairs), source="; ".join(dict.fromkeys(e.source for e in c.entries)),
        run_pairs=[ev.pair_ids(p) for p in pairs])


def _nondeterminism_details(c: Candidate) -> list[str]:
    """The settings in force that decide determinism, and an op the run logged as having no
    deterministic implementation."""
    runs = [run for p in c.pairs for run in (p.ref, p.other)]
    if not runs:
        return []
    s = runs[0].settings
    keys = ("deterministic", "deterministic_warn_only", "cudnn_benchmark", "cudnn_deterministic",
            "op_determinism", "threads")
    lines = []
    in_force = [f"{k} = {show(s[k])}" for k in keys if k in s]
    if in_force:
        lines.append("settings in force: " + ", ".join(in_force))
    no_kernel = [text for run in runs for text in run.log
                 if "deterministic implementation" in text or "determinism not supported" in text]
    if no_kernel:
        lines.append("an op has no deterministic implementation: " + no_kernel[0][:300])
    elif s.get("deterministic") and s.get("deterministic_warn_only"):
        lines.append("deterministic algorithms were on with warn_only=True: an op without a "
                     "deterministic implementation may still have run nondeterministically")
    return lines


def _title(c: Candidate, primary: Entry) -> tuple[str, str]:
    if c.key == CONFIGURED:
        shown = [d for d in c.differences if d.source == "config"] or c.differences
        parts = [f"{d.key} {show(d.a)} vs {show(d.b)}" for d in shown[:3]]
        return "Runs configured differently" + (f" ({'; '.join(parts)})" if parts else ""), \
            CONFIGURED
    unseeded = any(None in (p.ref.config.seed, p.other.config.seed) for p in c.pairs)
    if primary.id == "seed" and (unseeded or any(d.key == "seed" and None in (d.a, d.b)
                                                 for d in c.differences)):
        return "Unseeded run", "unseeded"
    if primary.id == "dataset" and not c.observed:
        return ("Different training data or preprocessing (the data was not fingerprinted)",
                "dataset")
    values = [d for d in c.differences if d.source != REPEAT and not d.key.endswith("hash")]
    named = [d for d in values if d.key.endswith("name")]
    if primary.id == "gpu_model" and named:
        return f"Different GPU: {show(named[0].a)} vs {show(named[0].b)}", primary.id
    if len({(show(d.a), show(d.b)) for d in values}) == 1 and values:
        a, b = show(values[0].a), show(values[0].b)
        if len(a) + len(b) <= 48:
            return f"{primary.title} ({a} vs {b})", primary.id
    return primary.title, primary.id


def _fixes(ev: Evidence, c: Candidate, pairs: list[RunComparison]) -> list[fx.Fix]:
    first = pairs[0] if pairs else (ev.pairs[0] if ev.pairs else None)
    a_config = first.ref.config if first is not None else None
    b_config = first.other.config if first is not None else None
    gpu = ev.has_gpu if first is None else any(
        (r.settings.get("device_type") or r.config.device) in ("gpu", "auto")
        for p in pairs or [first] for r in (p.ref, p.other))
    tf_version = ev.value(1, "framework.tensorflow.version") or ev.value(
        0, "framework.tensorflow.version")
    frameworks = sorted({p.ref.config.framework for p in pairs}) if pairs else ev.frameworks
    ctx = fx.FixContext(frameworks=[f for f in ("torch", "tensorflow") if f in frameworks],
                        gpu=gpu, a_config=a_config, b_config=b_config,
                        values=tuple((d.key, d.a, d.b) for d in c.differences),
                        tf_version=tf_version)
    out: list[fx.Fix] = []
    changes: dict = {}
    for e in c.entries:
        built, more = fx.build(e.fix, ctx)
        out += [f for f in built if f not in out]
        changes.update(more)
    if changes and a_config is not None and b_config is not None:
        if any(k not in type(a_config).model_fields for k in changes):
            return out
        sides = "b" if all(getattr(a_config, k) == v for k, v in changes.items()) else "both"
        out = fx.with_rerun(out, changes, sides)
        out.extend(fx.canary_fixes(b_config, changes, sides))
    return out


def _unexplained(ev: Evidence, shares: list[tuple[float, Observation]],
                 candidates: dict[str, Candidate]) -> list[Finding]:
    """What nothing recorded explains, said as such, with what to record next."""
    if not shares:
        return []
    share, obs = max(shares, key=lambda s: s[0])
    best_other = max((c.likelihood for c in candidates.values()), default=0.0)
    if share < 0.2 and best_other >= 0.5:
        return []
    p = obs.pair
    evidence = [ev.stage_line(p),
                "no recorded difference between the sides fits this well: the cause is "
                "something reprodiag did not record"]
    if not ev.comparison.env_compared:
        evidence.append("the environments were not compared (a side has no snapshot)")
    if ev.comparison.env_unknown:
        evidence.append(f"{len(ev.comparison.env_unknown)} environment facts were captured on "
                        "one side only")
    fixes = fx.note_fix(
        "Record more to narrow it down: two runs of one config on each side (they show "
        "whether the runs are repeatable), deep snapshots of both sides (reprodiag env "
        "--deep), and `reprodiag explain` to rerun changing one factor at a time.")
    return [Finding(id="unexplained", title="Not explained by anything recorded",
                    likelihood=share, evidence=evidence,
                    why="The runs part, but none of the differences reprodiag recorded can "
                        "produce what they show at that stage and size.",
                    fixes=fixes, source="docs/numerics.md",
                    run_pairs=[ev.pair_ids(p)])]
