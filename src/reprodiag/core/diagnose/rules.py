"""The diagnosis: suspects ranked by the run evidence (reasoning.py), plus what the runs show
by themselves -- a run that failed or ran out of memory, a loss that turned non-finite,
throttled steps -- and notes on how the two sides were recorded, stated first.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from reprodiag.core.compare.runs import RunComparison
from reprodiag.core.diagnose.evidence import Evidence
from reprodiag.core.diagnose.findings import NOTE, Finding
from reprodiag.core.diagnose.reasoning import reason
from reprodiag.core.knowledge import catalog
from reprodiag.core.knowledge import fixes as fx
from reprodiag.core.knowledge.catalog import NOTE as NOTE_KIND
from reprodiag.core.runs.record import CANCELLED, FAILED, RunRecord
from reprodiag.core.wording import counted

NONFINITE_ALONE = 0.85  # a loss turned non-finite and no configured or data difference explains it
NONFINITE_CONSEQUENCE = 0.45  # ... and one does: the blow-up follows from it


def tooling_note(ev: Evidence) -> list[Finding]:
    """How the two sides were recorded, when that makes some comparisons unreliable."""
    lines = ev.comparison.tooling_differences
    if not lines:
        return []
    return [Finding(id="recording_tools", kind=NOTE,
                    title="The sides were recorded differently", likelihood=0.0,
                    evidence=list(lines),
                    why="Only runs recorded the same way compare bit for bit: another "
                        "reprodiag version may run other canary code or data, and another "
                        "recording scheme defines batch hashes and gradient norms differently.",
                    fixes=fx.note_fix("Record both sides with the same reprodiag (save the "
                                      "Colab notebook from the app you compare with)."),
                    source="docs/bundle-format.md")]


def failure_rule(ev: Evidence) -> list[Finding]:
    """A run that failed (not cancelled, not out of memory): its numbers stop there."""
    lines, pairs = [], []
    for p in ev.pairs:
        for tag, run in (("A", p.ref), ("B", p.other)):
            if run.status == FAILED and "memory" not in run.reason.lower():
                lines.append(f"{tag} ({run.display_name()}) failed: "
                             f"{run.reason or 'no reason given'}")
                pairs.append(ev.pair_ids(p))
    if not lines:
        return []
    return [Finding(id="run_failed", title="A run failed", likelihood=0.8, evidence=lines,
                    why="A run that failed stops early, so its results differ whatever the "
                        "numerics; the steps both runs have are still compared.",
                    fixes=fx.note_fix("Read the run's log (reprodiag gui, Runs tab) and rerun."),
                    source="", run_pairs=list(dict.fromkeys(pairs)))]


def nonfinite_rule(ev: Evidence, causes: list[Finding]) -> list[Finding]:
    """A loss that turned NaN/Inf on one side (or at another step than on the other)."""
    out = []
    la, lb = ev.labels
    strong = [f for f in causes if f.likelihood >= 0.5 and f.id in _EXPLAINS_BLOWUP]
    for p in ev.pairs:
        sa, sb = _first_nonfinite(p.ref), _first_nonfinite(p.other)
        if sa == sb:
            continue
        lines = []
        for label, at, other in ((la, sa, p.other), (lb, sb, p.ref)):
            if at is None:
                continue
            step, value = at
            there = _loss_at(other, step)
            lines.append(f"the loss of {label} became {value} at step {step} [{p.title}]"
                         + (f"; the other side's loss there: {there!r}" if there is not None
                            else ""))
        if p.layers is not None and p.layers.nonfinite is not None:
            nf = p.layers.nonfinite
            side = {"A": la, "B": lb}.get(nf.sides, nf.sides)
            lines.append(f"the first non-finite values appear in layer {nf.layer.label} "
                         f"({nf.layer.kind}, {nf.layer.phase}) at step {nf.step} in {side}")
        explained = [f for f in strong if ev.pair_ids(p) in f.run_pairs]
        if explained:
            lines.append(f"a consequence of {explained[0].title.lower()}, which ranks higher")
        out.append(Finding(
            id="nonfinite", title="The loss became non-finite on one side",
            likelihood=NONFINITE_CONSEQUENCE if explained else NONFINITE_ALONE,
            evidence=lines,
            why="A loss turns NaN or infinite when a value overflows or a NaN enters: a "
                "learning rate too high, a bad sample (NaN/Inf in the data), a log or division "
                "of zero, or too narrow a float type; from then on the runs cannot agree.",
            fixes=fx.note_fix("Find the first step and layer that went non-finite "
                              "(torch.autograd.set_detect_anomaly(True) in a debug run); check "
                              "the data for NaN/Inf, lower the learning rate or clip gradients "
                              "(torch.nn.utils.clip_grad_norm_), or compute in float64."),
            source="docs/numerics.md (failure)", run_pairs=[ev.pair_ids(p)]))
    return out


_EXPLAINS_BLOWUP = ("config", "dataset", "dtype", "seed", "unseeded")


def _first_nonfinite(run: RunRecord) -> Optional[tuple[int, str]]:
    loss = run.steps.loss
    bad = np.flatnonzero(~np.isfinite(loss))
    if not bad.size:
        return None
    value = float(loss[bad[0]])
    return int(run.steps.step[bad[0]]), ("NaN" if math.isnan(value) else repr(value))


def _loss_at(run: RunRecord, step: int) -> Optional[float]:
    rows = np.flatnonzero(run.steps.step == step)
    return float(run.steps.loss[rows[0]]) if rows.size else None


def memory_rule(ev: Evidence) -> list[Finding]:
    """Runs that ran out of memory."""
    la, lb = ev.labels
    lines, pairs = [], []
    for p in ev.pairs:
        for label, run in ((la, p.ref), (lb, p.other)):
            if "memory" in run.reason.lower():
                lines.append(f"run {run.display_name()} in {label} failed: {run.reason}")
                pairs.append(ev.pair_ids(p))
    if not lines:
        return []
    for key in ("cpu.ram_total", "gpu.0.memory_total"):
        a, b = ev.value(0, key), ev.value(1, key)
        if isinstance(a, int) and isinstance(b, int) and a != b:
            lines.append(f"{key}: {a / 2**30:.1f} GiB ({la}) vs {b / 2**30:.1f} GiB ({lb})")
    fixes, _ = fx.build("memory", fx.FixContext(frameworks=ev.frameworks))
    return [Finding(id="memory", title="Memory too small on one side", likelihood=0.9,
                    evidence=lines,
                    why="Too little RAM or GPU memory makes a run fail, forces a smaller batch "
                        "(which changes the numbers) or changes the cuDNN workspace.",
                    fixes=fixes, source="docs/numerics.md (Colab resource limits)",
                    run_pairs=list(dict.fromkeys(pairs)))]


def throttling_rule(ev: Evidence) -> list[Finding]:
    """One side's steps are much slower: a throttled or shared CPU/GPU (typical of Colab). A
    note, not a cause: speed does not change the numbers."""
    la, lb = ev.labels
    lines, pairs = [], []
    for p in ev.pairs:
        ta, tb = _median_step(p.ref), _median_step(p.other)
        if not ta or not tb or p.ref.config.model_copy(update={"seed": 0}) != \
                p.other.config.model_copy(update={"seed": 0}):
            continue  # only the same work on both sides is timed against each other
        ratio = max(ta, tb) / min(ta, tb)
        if ratio >= 2.0:
            slow = la if tb < ta else lb
            lines.append(f"median step time {ta * 1e3:.2f} ms ({la}) vs {tb * 1e3:.2f} ms "
                         f"({lb}): {slow} is {ratio:.1f}x slower [{p.title}]")
            pairs.append(ev.pair_ids(p))
    if not lines:
        return []
    colab = [label for s, label in enumerate(ev.labels) if ev.value(s, "host.colab") is True]
    if colab:
        lines.append(f"{' and '.join(colab)} ran on Google Colab")
    return [Finding(id="throttling", kind=NOTE,
                    title="Much slower steps on one side (throttling)",
                    likelihood=0.0, evidence=lines,
                    why="Speed does not change the numbers by itself, but a throttled or "
                        "shared machine (Colab CPU runtimes) makes timing comparisons "
                        "meaningless and tempts to change batch sizes.",
                    fixes=fx.note_fix("Compare throughput on the same runtime type, with the "
                                      "same batch size; on Colab check the runtime type and "
                                      "GPU."),
                    source="docs/numerics.md (Colab resource limits)", run_pairs=pairs)]


def _median_step(run: RunRecord) -> Optional[float]:
    times = run.steps.step_time[1:]
    times = times[np.isfinite(times) & (times > 0)]
    return float(np.median(times)) if len(times) >= 3 else None


OBSERVATION_RULES: tuple[Callable[[Evidence], list[Finding]], ...] = (
    tooling_note, failure_rule, memory_rule, throttling_rule)


def run_rules(ev: Evidence) -> list[Finding]:
    """Every finding, unmerged and unranked: the ranked suspects and what the runs show."""
    causes = reason(ev)
    out = list(causes)
    for rule in OBSERVATION_RULES:
        out += rule(ev)
    out += nonfinite_rule(ev, causes)
    return out


def notes(ev: Evidence) -> list[str]:
    """What the reader should know about what was compared: shorter or cancelled runs,
    facts only one side captured, and -- when nothing differs -- what to run next."""
    from reprodiag.core.compare.render import unknown_note

    la, lb = ev.labels
    out = []
    for p in ev.pairs:
        out += _length_notes(ev, p)
    quick = (_quick(ev.snapshots[0]), _quick(ev.snapshots[1]))
    unknown = unknown_note(ev.comparison, quick)
    if unknown:
        out.append("Not compared (captured on one side only, unknown on the other): "
                   + unknown)
    if not ev.comparison.env_compared and ev.pairs:
        missing = [label for label, has in zip(ev.labels, ev.comparison.has_snapshot) if not has]
        out.append(f"No environment snapshot in {' and '.join(missing)}: environment "
                   "differences could not be looked at.")
    if not ev.pairs and (ev.runs[0] or ev.runs[1]):
        out.append(f"No run of {la} pairs with a run of {lb} (different frameworks or "
                   "models): only the environments were compared.")
    return out


def _quick(snapshot) -> bool:
    """A snapshot reprodiag captured without its deep probes (not an imported report)."""
    from reprodiag.core.env.foreign import report_kind

    return snapshot is not None and not snapshot.deep and report_kind(snapshot) is None


def _length_notes(ev: Evidence, p: RunComparison) -> list[str]:
    out = []
    recording = [(k, a, b) for k, a, b in p.config_differences
                 if (entry := catalog.for_config(k)) is not None and entry.kind == NOTE_KIND]
    if recording:
        what = "; ".join(f"{k} {a} vs {b}" for k, a, b in recording)
        out.append(f"{p.title}: recorded differently ({what}); this changes what is recorded, "
                   "not what is computed.")
    for label, run in zip(ev.labels, (p.ref, p.other)):
        if run.status == CANCELLED:
            out.append(f"{label}'s run {run.display_name()} was cancelled after "
                       f"{counted(len(run.steps), 'step')}.")
    if p.partial:
        out.append(f"{p.title}: the runs have {len(p.ref.steps)} and {len(p.other.steps)} steps; "
                   f"they are compared over the {p.common_steps} both have"
                   + (", where they agree bitwise" if p.verdict == "identical" else "")
                   + "; final predictions are compared only for runs that both finished the "
                     "same steps.")
    return out

