"""Every difference between the two sides, as a suspect: run-config fields, settings in force,
data fingerprints and model sizes of each run pair; environment facts both sides captured;
repeats of one config on one side that disagree. Each difference belongs to a catalog entry
(`core/knowledge`); a cause is suspected once however many of its facts differ.

Facts one side did not capture are unknown there and suspect nothing; settings a canary's
own config set (its thread variables, PYTHONHASHSEED) belong to that config field, not to
the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from reprodiag.core.compare.runs import IDENTICAL, RunComparison, compare_runs
from reprodiag.core.diagnose.evidence import Evidence, predict_onednn
from reprodiag.core.knowledge import catalog
from reprodiag.core.knowledge.catalog import Entry
from reprodiag.core.knowledge.values import show
from reprodiag.core.runs.record import RunRecord

# Where a difference was seen, strongest evidence first.
CONFIG, SETTING, DATA, REPEAT, ENVIRONMENT = "config", "setting", "data", "repeat", "environment"
# How directly each source shows that the difference acted on the runs compared.
SOURCE_WEIGHT = {CONFIG: 1.0, SETTING: 1.0, DATA: 1.0, REPEAT: 1.0, ENVIRONMENT: 0.8}


@dataclass(frozen=True, kw_only=True)
class Difference:
    """One thing that differs between side A and side B, with the line that quotes it."""

    source: str
    key: str
    a: Any
    b: Any
    line: str


@dataclass(kw_only=True)
class Suspect:
    """A catalog entry with the differences that point at it; `pairs` are the indices of the
    run pairs whose own runs carry it (an environment suspect applies to every pair)."""

    entry: Entry
    differences: list[Difference] = field(default_factory=list)
    pairs: set[int] = field(default_factory=set)

    @property
    def weight(self) -> float:
        """Prior times how directly the strongest difference shows it acted."""
        return self.entry.prior * max(SOURCE_WEIGHT[d.source] for d in self.differences)

    @property
    def sources(self) -> set[str]:
        return {d.source for d in self.differences}

    def add(self, difference: Difference, pair: Optional[int] = None) -> None:
        if all((d.key, d.a, d.b, d.source) != (difference.key, difference.a, difference.b,
                                                difference.source) for d in self.differences):
            self.differences.append(difference)
        if pair is not None:
            self.pairs.add(pair)


@dataclass(frozen=True, kw_only=True)
class Repeat:
    """Two runs of one config on one side, and whether they agree bitwise."""

    side: int
    comparison: RunComparison

    @property
    def agrees(self) -> bool:
        return self.comparison.verdict == IDENTICAL


@dataclass(kw_only=True)
class Suspects:
    """All suspects of a comparison: per run pair, from the environment, and the repeats."""

    by_pair: list[dict[str, Suspect]]
    environment: dict[str, Suspect]
    repeats: list[Repeat]

    def for_pair(self, i: int) -> dict[str, Suspect]:
        """The suspects of pair i: its runs' own differences and the environment's."""
        out = dict(self.environment)
        for entry_id, suspect in self.by_pair[i].items():
            have = out.get(entry_id)
            if have is None:
                out[entry_id] = suspect
            else:
                merged = Suspect(entry=have.entry, differences=list(have.differences),
                                 pairs=set(have.pairs))
                for d in suspect.differences:
                    merged.add(d)
                merged.pairs |= suspect.pairs
                out[entry_id] = merged
        return out


def collect(ev: Evidence) -> Suspects:
    """Every difference of the comparison, grouped into suspects."""
    by_pair = [_pair_suspects(ev, i, p) for i, p in enumerate(ev.pairs)]
    environment: dict[str, Suspect] = {}
    for d in ev.comparison.env_differences:
        found = catalog.for_fact(d.key)
        if found.prior <= 0:
            continue
        _suspect(environment, found).add(Difference(
            source=ENVIRONMENT, key=d.key, a=d.a.value if d.a.ok else None,
            b=d.b.value if d.b.ok else None, line=ev.env_line(d)))
    for entry_id, difference in _derived(ev):
        _suspect(environment, catalog.entry(entry_id)).add(difference)
    return Suspects(by_pair=by_pair, environment=environment, repeats=repeats(ev))


def _suspect(table: dict[str, Suspect], found: Entry) -> Suspect:
    if found.id not in table:
        table[found.id] = Suspect(entry=found)
    return table[found.id]


def _pair_suspects(ev: Evidence, i: int, p: RunComparison) -> dict[str, Suspect]:
    la, lb = ev.labels
    table: dict[str, Suspect] = {}
    configured = set()
    for key, a, b in p.config_differences:
        found = catalog.for_config(key) or catalog.DEFAULT_SETTING
        configured.add(found.id)
        if found.prior > 0:
            _suspect(table, found).add(Difference(
                source=CONFIG, key=key, a=a, b=b,
                line=f"run config {key}: {show(a)} ({la}) vs {show(b)} ({lb}) [{p.title}]"), i)
    set_by_config = _set_by_config(p) | {key for key, _, _ in p.config_differences}
    for key, a, b in p.settings_differences:
        if key in set_by_config:
            continue
        setting = _setting_entry(p, key)
        if setting is None or setting.prior <= 0:
            continue
        _suspect(table, setting).add(Difference(
            source=SETTING, key=key, a=a, b=b,
            line=f"in force during the run: {key} {show(a)} ({la}) vs {show(b)} ({lb}) "
                 f"[{p.title}]"), i)
    ra, rb = p.ref, p.other
    if ra.dataset_hash and rb.dataset_hash and ra.dataset_hash != rb.dataset_hash:
        _suspect(table, catalog.entry("dataset")).add(Difference(
            source=DATA, key="dataset_hash", a=ra.dataset_hash, b=rb.dataset_hash,
            line=f"data fingerprint: {ra.dataset_hash} ({la}) vs {rb.dataset_hash} ({lb}) "
                 f"[{p.title}]"), i)
    if ra.n_params and rb.n_params and ra.n_params != rb.n_params:
        _suspect(table, catalog.entry("model")).add(Difference(
            source=DATA, key="parameters", a=ra.n_params, b=rb.n_params,
            line=f"model size: {ra.n_params} parameters ({la}) vs {rb.n_params} ({lb}) "
                 f"[{p.title}]"), i)
    return table


def _set_by_config(p: RunComparison) -> set[str]:
    """Settings a canary's own config put in place (worker_environment), differing because
    the configs differ: they belong to that config field, not to the environment."""
    if "custom" in (p.ref.config.model, p.other.config.model):
        return set()
    wa, wb = p.ref.config.worker_environment(), p.other.config.worker_environment()
    return {f"var.{name}" for name in set(wa) | set(wb) if wa.get(name) != wb.get(name)}


def _setting_entry(p: RunComparison, key: str) -> Optional[Entry]:
    """The entry of a differing setting; some keys mean different things per run kind."""
    sa, sb = p.ref.settings, p.other.settings
    if key == "framework_version":
        framework = sa.get("framework") or p.ref.config.framework
        return catalog.for_setting(f"{framework}_version")
    if key == "device_name":
        if sa.get("device_type") != sb.get("device_type"):
            return None  # a consequence of the device difference, which is its own suspect
        return catalog.for_setting("gpu_name" if sa.get("device_type") == "gpu" else "cpu_name")
    return catalog.for_setting(key)


def _derived(ev: Evidence) -> list[tuple[str, Difference]]:
    """Differences the facts imply without a fact of their own: TensorFlow's oneDNN state as
    TensorFlow decides it, and TF32 able to act on one side only."""
    out = []
    la, lb = ev.labels
    a, why_a = predict_onednn(ev, 0)
    b, why_b = predict_onednn(ev, 1)
    if a is not None and b is not None and a != b and "tensorflow" in ev.frameworks:
        out.append(("onednn", Difference(
            source=ENVIRONMENT, key="oneDNN (predicted)", a=a, b=b,
            line=f"oneDNN predicted {show(a)} in {la} ({why_a}) vs {show(b)} in {lb} "
                 f"({why_b})")))
    caps = [ev.capabilities(s) for s in (0, 1)]
    able = [any(c >= (8, 0) for c in side) for side in caps]
    if able[0] != able[1]:
        text = [", ".join(".".join(map(str, c)) for c in side) or "no GPU" for side in caps]
        out.append(("tf32", Difference(
            source=ENVIRONMENT, key="compute capability", a=text[0], b=text[1],
            line=f"compute capability {text[0]} ({la}) vs {text[1]} ({lb}): TF32 (on by "
                 "default in TensorFlow and for cuDNN in PyTorch) can act only in "
                 f"{la if able[0] else lb}")))
    return out


def repeats(ev: Evidence) -> list[Repeat]:
    """Each seeded config run more than once on a side, against its first run."""
    out = []
    for side, runs in enumerate(ev.runs):
        first: dict[Any, RunRecord] = {}
        for run in runs:
            if run.config.seed is None or not len(run.steps):
                continue
            key = run.config
            if key in first:
                out.append(Repeat(side=side, comparison=compare_runs(first[key], run)))
            else:
                first[key] = run
    return out
