"""The diagnosis rules: each turns run evidence and the environment diff into findings.

Ranking follows one principle: evidence in the runs themselves (a config field or a setting
in force that differs, at the stage where the runs part) beats an environment-only
difference. Run evidence at a matching stage scores 0.9-0.97; an environment difference
scores at most 0.7, less when the runs part elsewhere or agree. Sources cite NUMERICS.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from reprodiag.core.compare.runs import (
    IDENTICAL,
    STAGE_ACCUMULATED,
    STAGE_BATCHES,
    STAGE_DATASET,
    STAGE_FORWARD,
    STAGE_INIT,
    RunComparison,
    compare_runs,
)
from reprodiag.core.diagnose import fixes as fx
from reprodiag.core.diagnose.evidence import Evidence, predict_onednn, ran_on, show
from reprodiag.core.diagnose.findings import Finding, Fix
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.record import RunRecord

RUN_AT_STAGE, RUN_ELSEWHERE, RUN_AGREES = 0.95, 0.55, 0.2
ENV_CAP = 0.7
KERNEL_STAGES = (STAGE_FORWARD, STAGE_ACCUMULATED)
ANY_STAGE = (STAGE_INIT, STAGE_BATCHES, STAGE_FORWARD, STAGE_ACCUMULATED)

SRC_RAND = "PyTorch docs notes/randomness.rst"
SRC_D9M = "NVIDIA/framework-reproducibility doc/d9m"
SRC_VERSIONS = "NVIDIA/framework-reproducibility#28"

FixBuilder = Callable[[Evidence, Optional[RunConfig]], tuple[list[Fix], dict]]


@dataclass(frozen=True)
class Cause:
    """A cause that shows as differing run settings and/or differing environment facts."""

    id: str
    title: str
    why: str
    source: str
    fixes: FixBuilder
    config: tuple[str, ...] = ()  # RunConfig fields
    settings: tuple[str, ...] = ()  # settings in force (the worker's `env` line)
    env: str = ""  # regex over env fact keys
    stages: tuple[str, ...] = ANY_STAGE
    on: Optional[str] = None  # the device kind it acts on: "cpu", "gpu" or None (both)
    framework: Optional[str] = None  # run evidence only from pairs of this framework
    base: float = 0.5  # likelihood of an environment-only difference, before stage weighting
    top: float = RUN_AT_STAGE
    applies: Optional[Callable[[Evidence], bool]] = None
    extra_env: Optional[Callable[[Evidence], list[str]]] = None


def _acts(cause: Cause, p: RunComparison) -> bool:
    return cause.on is None or ran_on(p, cause.on)


def env_likelihood(ev: Evidence, cause: Cause) -> float:
    """Environment-only evidence, weighted by what the runs show."""
    if not ev.pairs:
        factor = 1.0
    elif any(p.stage in cause.stages and _acts(cause, p) for p in ev.differing_pairs):
        factor = 1.15
    elif not ev.differing_pairs:
        factor = 0.4
    else:
        factor = 0.6
    return min(ENV_CAP, cause.base * factor)


def _sides(a_config: Optional[RunConfig], changes: dict) -> str:
    ok = a_config is not None and all(getattr(a_config, k) == v for k, v in changes.items())
    return "b" if ok else "both"


def evaluate(ev: Evidence, cause: Cause) -> Optional[Finding]:
    """The finding for one table cause, or None when nothing points at it."""
    if cause.applies is not None and not cause.applies(ev):
        return None
    likelihood, lines, pairs, first = 0.0, [], [], None
    for p in ev.pairs:
        if cause.framework and p.ref.config.framework != cause.framework:
            continue
        hits = ev.run_diffs(p, cause.config, cause.settings)
        if not hits:
            continue
        if p.verdict == IDENTICAL:
            score = RUN_AGREES
        elif not _acts(cause, p):
            score = 0.1
        else:
            score = cause.top if p.stage in cause.stages else RUN_ELSEWHERE
        likelihood = max(likelihood, score)
        first = first or p
        lines += hits + [ev.stage_line(p)]
        pairs.append(ev.pair_ids(p))
    env_lines, shown = [], set()
    for d in ev.env_diffs(cause.env):  # one line per pair of values (pkg.x = framework.x...)
        if (d.a_text, d.b_text) not in shown:
            shown.add((d.a_text, d.b_text))
            env_lines.append(ev.env_line(d))
    env_lines += cause.extra_env(ev) if cause.extra_env else []
    if env_lines:
        likelihood = max(likelihood, env_likelihood(ev, cause))
        if not pairs:
            for p in ev.differing_pairs:
                if p.stage in cause.stages and _acts(cause, p):
                    pairs.append(ev.pair_ids(p))
                    lines.append(ev.stage_line(p))
    if not lines and not env_lines:
        return None
    a_config = first.ref.config if first else None
    fixes, changes = cause.fixes(ev, a_config)
    if changes:
        sides = _sides(a_config, changes)
        fixes = fx.with_rerun(fixes, changes, sides)
        if first is not None:
            fixes.extend(fx.canary_fixes(first.other.config, changes, sides))
    return Finding(cause.id, cause.title, likelihood, lines + env_lines[:8], cause.why, fixes,
                   cause.source, pairs)


# ---------------------------------------------------------------- fix builders

def _threads(ev: Evidence, a: Optional[RunConfig]):
    n = (a.threads if a is not None and a.threads else 1)
    return fx.thread_fixes(ev.frameworks, n), {"threads": n}


def _determinism(ev: Evidence, a: Optional[RunConfig]):
    tf_version = ev.value(1, "framework.tensorflow.version") or ev.value(
        0, "framework.tensorflow.version")
    return fx.determinism_fixes(ev.frameworks, tf_version), {"deterministic": True}


def _dtype(ev: Evidence, a: Optional[RunConfig]):
    dtype = a.dtype if a is not None else "float32"
    return fx.dtype_fixes(ev.frameworks, dtype), ({"dtype": dtype} if a is not None else {})


def _device(ev: Evidence, a: Optional[RunConfig]):
    if a is None or a.device == "auto":  # "auto" resolves per machine: no config to change
        return fx.device_fixes(ev.frameworks, "gpu" if ev.has_gpu else "cpu"), {}
    return fx.device_fixes(ev.frameworks, a.device), {"device": a.device}


def _tf32(ev: Evidence, a: Optional[RunConfig]):
    return fx.tf32_fixes(ev.frameworks), {"tf32": False}


def _onednn(ev: Evidence, a: Optional[RunConfig]):
    return fx.onednn_fixes(ev.frameworks, False), {"onednn": False}


def _autotune(ev: Evidence, a: Optional[RunConfig]):
    return fx.autotune_fixes(ev.frameworks), {"deterministic": True}


def _cublas(ev: Evidence, a: Optional[RunConfig]):
    return fx.cublas_fixes(ev.frameworks), {}


def _hashseed(ev: Evidence, a: Optional[RunConfig]):
    return fx.note_fix("Export it before Python starts, on both sides.", "",
                       {"PYTHONHASHSEED": "0"}), {}


def _isa(ev: Evidence, a: Optional[RunConfig]):
    def has(flag: str) -> bool:
        return all(ev.value(s, f"cpu.flags.{flag}") is True for s in (0, 1))

    isa = "avx512" if has("avx512f") else "avx2" if has("avx2") else "default"
    return fx.isa_fixes(ev.frameworks, isa), {}


def _blas(ev: Evidence, a: Optional[RunConfig]):
    return fx.note_fix("Install the same NumPy/framework builds on both sides (see "
                       "'reprodiag align'); MKL_CBWR=COMPATIBLE makes MKL choose the same "
                       "code path on every CPU.", "", {"MKL_CBWR": "COMPATIBLE"}), {}


def _platform(ev: Evidence, a: Optional[RunConfig]):
    return fx.note_fix(
        "Different operating systems or C libraries change defaults (oneDNN on Windows) and "
        "libm rounding; pin the framework settings explicitly and compare within a "
        "tolerance (reprodiag compare --rtol 1e-4)."), {}


def _version_fix(name: str) -> FixBuilder:
    def build(ev: Evidence, a: Optional[RunConfig]):
        version = ev.value(0, f"pkg.{name}") or ev.value(0, f"framework.{name}.version")
        if version is None:
            key = {"numpy": "numpy_version", "keras": "keras_version"}.get(name,
                                                                        "framework_version")
            version = next((p.ref.settings.get(key) for p in ev.pairs
                            if p.ref.settings.get(key)), None)
        return (fx.version_fixes(name, version) if version else []), {}
    return build


def _cuda_fixes(ev: Evidence, a: Optional[RunConfig]):
    torch = ev.value(0, "pkg.torch") or ev.value(0, "framework.torch.version")
    out = fx.version_fixes("torch", torch) if torch and "+" in str(torch) else []
    return out + fx.note_fix(
        "Install the framework build with A's CUDA/cuDNN (for TensorFlow, the same "
        "tensorflow version brings the same CUDA and cuDNN)."), {}


# ---------------------------------------------------------------- predictions

def _onednn_prediction(ev: Evidence) -> list[str]:
    a, why_a = predict_onednn(ev, 0)
    b, why_b = predict_onednn(ev, 1)
    if a is None or b is None or a == b:
        return []
    la, lb = ev.labels
    return [f"oneDNN predicted {show(a)} in {la} ({why_a}) vs {show(b)} in {lb} ({why_b})"]


def _tf32_capable(ev: Evidence) -> bool:
    return any(c >= (8, 0) for s in (0, 1) for c in ev.capabilities(s))


def _tf32_one_side(ev: Evidence) -> list[str]:
    a = any(c >= (8, 0) for c in ev.capabilities(0))
    b = any(c >= (8, 0) for c in ev.capabilities(1))
    if a == b:
        return []
    la, lb = ev.labels
    cap_a = ", ".join(".".join(map(str, c)) for c in ev.capabilities(0)) or "no GPU"
    cap_b = ", ".join(".".join(map(str, c)) for c in ev.capabilities(1)) or "no GPU"
    return [f"compute capability {cap_a} ({la}) vs {cap_b} ({lb}): TF32 (on by default in "
            f"TensorFlow and for cuDNN in PyTorch) can act only in {la if a else lb}"]


# ---------------------------------------------------------------- the table

CAUSES: tuple[Cause, ...] = (
    Cause("dtype", "Different floating-point type",
          "float32 and float64 round every operation differently (and the parameter and "
          "batch hashes include the dtype); only like can be compared with like.",
          "tensorflow#56529", _dtype, config=("dtype",),
          settings=("dtype", "param_dtype", "floatx", "default_dtype"),
          env=r"numerics\..*(dtype|floatx|policy|autocast).*", base=0.45),
    Cause("device", "Different device (CPU vs GPU)",
          "CPU and GPU kernels sum in different orders and draw from different random "
          "streams, so results differ from the first step.",
          SRC_RAND + "; pytorch#2976", _device, config=("device",),
          settings=("device_type",), env=r"gpu\.count|var\.CUDA_VISIBLE_DEVICES",
          stages=KERNEL_STAGES, base=0.5),
    Cause("threads", "Different CPU thread counts",
          "Parallel reductions split their sums by thread, so a different thread count adds "
          "in a different order: the first loss agrees, then rounding differences grow.",
          SRC_D9M + " (CPU thread count)", _threads, config=("threads",),
          settings=("threads", "interop_threads", "intra_op_threads", "inter_op_threads",
                    "var.OMP_NUM_THREADS", "var.MKL_NUM_THREADS", "var.OPENBLAS_NUM_THREADS"),
          env=r"numerics\.(torch\.num(_interop)?_threads|tensorflow\.(intra|inter)_op_threads)"
              r"|var\.(OMP|MKL|OPENBLAS)_NUM_THREADS|cpu\.usable_cores",
          stages=KERNEL_STAGES, on="cpu", base=0.45),
    Cause("op_determinism", "Deterministic ops on one side only",
          "With op determinism on, the framework picks kernels with a fixed reduction order "
          "(no atomic adds, no autotuning); with it off, other kernels sum differently.",
          SRC_RAND + "; " + SRC_D9M + "/tensorflow_status.md", _determinism,
          config=("deterministic",),
          settings=("deterministic", "op_determinism", "cudnn_deterministic",
                    "var.TF_DETERMINISTIC_OPS", "var.TF_CUDNN_DETERMINISTIC"),
          env=r"numerics\..*determinis.*|var\.(TF_DETERMINISTIC_OPS|TF_CUDNN_DETERMINISTIC)",
          stages=KERNEL_STAGES, base=0.5),
    Cause("onednn", "oneDNN CPU kernels on one side only",
          "TensorFlow's oneDNN kernels compute with a different operation order than the "
          "Eigen defaults; TensorFlow turns them on by itself on Linux x86 CPUs with "
          "AVX512-VNNI/BF16, AVX-VNNI or AMX, and on Windows.",
          "tensorflow core/util/port.cc; tensorflow#61510", _onednn, config=("onednn",),
          settings=("onednn_enabled", "var.TF_ENABLE_ONEDNN_OPTS"),
          env=r"numerics\.tensorflow\.onednn|var\.TF_ENABLE_ONEDNN_OPTS",
          stages=KERNEL_STAGES, on="cpu", framework="tensorflow", base=0.6,
          applies=lambda ev: "tensorflow" in ev.frameworks, extra_env=_onednn_prediction),
    Cause("tf32", "TF32 on one side only",
          "TF32 rounds float32 matmul and convolution inputs to 10 mantissa bits on GPUs of "
          "compute capability 8.0 and later, so results change unless both sides agree.",
          "PyTorch docs notes/cuda.rst; pytorch#67384; TF API docs", _tf32, config=("tf32",),
          settings=("tf32", "cuda_matmul_allow_tf32", "cudnn_allow_tf32",
                    "float32_matmul_precision", "var.NVIDIA_TF32_OVERRIDE"),
          env=r"numerics\..*(tf32|matmul_precision|fp32_precision).*|var\.NVIDIA_TF32_OVERRIDE",
          stages=KERNEL_STAGES, on="gpu", base=0.6, applies=_tf32_capable,
          extra_env=_tf32_one_side),
    Cause("cudnn_autotune", "cuDNN autotuning (benchmark mode)",
          "With autotuning cuDNN times several convolution algorithms and keeps the fastest, "
          "which can differ per run and per machine, and the algorithms round differently.",
          SRC_RAND, _autotune, settings=("cudnn_benchmark",),
          env=r"numerics\..*benchmark.*|var\.TF_CUDNN_USE_AUTOTUNE", stages=KERNEL_STAGES,
          on="gpu", base=0.45, applies=lambda ev: ev.has_gpu),
    Cause("cublas_workspace", "cuBLAS workspace setting differs",
          "Without CUBLAS_WORKSPACE_CONFIG=:4096:8, cuBLAS (CUDA >= 10.2) may pick "
          "nondeterministic reduction strategies.", SRC_RAND, _cublas,
          env=r"var\.CUBLAS_WORKSPACE_CONFIG", stages=KERNEL_STAGES, on="gpu", base=0.35,
          applies=lambda ev: ev.has_gpu),
    Cause("cpu_isa", "Different CPU instruction sets",
          "The CPU instruction set (AVX2 vs AVX-512, AMX, VNNI, Intel vs AMD) picks which "
          "vectorised kernels run, and they round differently.", "pytorch#155552, #82881",
          _isa, settings=("cpu_capability", "machine"),
          env=r"cpu\.flags\.(avx2|avx512f|avx512_vnni|avx512_bf16|avx_vnni|amx_tile|fma)"
              r"|numerics\.torch\.cpu_capability|cpu\.(vendor|model)|host\.arch",
          stages=KERNEL_STAGES, on="cpu", base=0.45),
    Cause("blas", "Different BLAS library",
          "The BLAS library (MKL vs OpenBLAS) and its build decide how matrix products are "
          "blocked and summed.", "pytorch#82881", _blas, settings=("mkldnn_available",),
          env=r"framework\.numpy\.(blas|blas_version|lapack)|framework\.torch\.config\."
              r"(blas_info|lapack_info|use_mkl|use_mkldnn)|pkg\.(mkl|intel-openmp)",
          stages=KERNEL_STAGES, on="cpu", base=0.3),
    Cause("hashseed", "Python hash seed differs",
          "PYTHONHASHSEED fixes Python's hash randomisation, which otherwise changes set and "
          "dict iteration order between processes.", SRC_D9M, _hashseed,
          env=r"var\.PYTHONHASHSEED", base=0.3),
    Cause("platform", "Different operating system or C library",
          "The operating system changes framework defaults (oneDNN on Windows) and the C "
          "library's math functions can differ in the last bit.", "tensorflow#61510",
          _platform, env=r"host\.(system|os|libc)",
          stages=KERNEL_STAGES, base=0.3),
    *(Cause(f"{name}_version", f"Different {name} version",
            f"{name} versions change kernels, defaults (e.g. the TF32 flag) and random "
            "streams; bit equality is only expected with the same version.", SRC_VERSIONS,
            _version_fix(name), settings=settings,
            env=rf"framework\.{name}\.version|pkg\.{name}", framework=fw, base=base,
            top=0.85)
      for name, fw, settings, base in (
          ("torch", "torch", ("framework_version",), 0.6),
          ("tensorflow", "tensorflow", ("framework_version",), 0.6),
          ("keras", "tensorflow", ("keras_version",), 0.55),
          ("numpy", None, ("numpy_version",), 0.35),
          ("jax", None, (), 0.5))),
    Cause("cuda_version", "Different CUDA version",
          "CUDA libraries ship different kernels and heuristics per version, so GPU results "
          "change across versions.", SRC_VERSIONS, _cuda_fixes, settings=("cuda_version",),
          env=r"framework\.torch\.cuda|framework\.tensorflow\.build\.cuda_version"
              r"|gpu\.cuda_toolkit", stages=ANY_STAGE, on="gpu", base=0.55,
          applies=lambda ev: ev.has_gpu),
    Cause("cudnn_version", "Different cuDNN version",
          "cuDNN versions ship different convolution algorithms and heuristics.",
          SRC_VERSIONS, _cuda_fixes, settings=("cudnn_version",),
          env=r"framework\.torch\.cudnn(_runtime)?|framework\.tensorflow\.build\.cudnn_version"
              r"|gpu\.cudnn_system", stages=ANY_STAGE, on="gpu", base=0.5,
          applies=lambda ev: ev.has_gpu),
    Cause("driver_version", "Different GPU driver",
          "The driver supplies the CUDA runtime's JIT compiler and library loader; it can "
          "change kernels and speed.", SRC_VERSIONS,
          lambda ev, a: (fx.tolerance_fixes("Use the same driver where you control it; on "
                                            "Colab the driver is fixed per runtime."), {}),
          env=r"gpu\.(driver|cuda_driver)", on="gpu", base=0.3,
          applies=lambda ev: all(ev.gpu_count(s) > 0 for s in (0, 1))),
)


# ---------------------------------------------------------------- rules with their own logic

def seed_rule(ev: Evidence) -> list[Finding]:
    """Different seeds, or an unseeded run: the runs start from different parameters."""
    out = []
    la, lb = ev.labels
    for p in ev.pairs:
        sa, sb = p.ref.config.seed, p.other.config.seed
        if sa is not None and sb is not None and sa == sb:
            continue
        unseeded = sa is None or sb is None
        drew_a, drew_b = p.ref.settings.get("seed_effective"), p.other.settings.get(
            "seed_effective")
        lines = [f"run config seed: {_seed(sa, drew_a)} ({la}) vs {_seed(sb, drew_b)} ({lb})"
                 f" [{p.title}]", ev.stage_line(p)]
        score = (RUN_AT_STAGE + 0.02 if p.stage in (STAGE_INIT, STAGE_BATCHES) else
                 RUN_AGREES if p.verdict == IDENTICAL else RUN_ELSEWHERE)
        seed = sa if sa is not None else 0
        changes = {"seed": seed}
        sides = _sides(p.ref.config, changes)
        fixes = fx.with_rerun(fx.seed_fixes(ev.frameworks, seed), changes, sides)
        fixes.extend(fx.canary_fixes(p.other.config, changes, sides))
        title = "Unseeded run" if unseeded else "Different random seeds"
        why = ("An unseeded run draws its initial parameters, shuffling and augmentation from "
               "a fresh random state every time." if unseeded else
               "The seed decides the initial parameters, shuffling and augmentation; different "
               "seeds start from different points.")
        out.append(Finding("unseeded" if unseeded else "seed", title, score, lines, why, fixes,
                           SRC_RAND + "; TF API docs (tf.keras.utils.set_random_seed)",
                           [ev.pair_ids(p)]))
    return out


def _seed(seed, drew) -> str:
    return f"none (unseeded, drew {drew})" if seed is None else str(seed)


def dataset_rule(ev: Evidence) -> list[Finding]:
    la, lb = ev.labels
    return [Finding(
        "dataset", "Different training data", 0.97,
        [f"dataset hash: {p.ref.dataset_hash} ({la}) vs {p.other.dataset_hash} ({lb}) "
         f"[{p.title}]"],
        "The runs trained on different data, so no step can be compared.", "",
        fx.note_fix("Record both sides with the same reprodiag version, which ships the same "
                    "data."), "", [ev.pair_ids(p)])
        for p in ev.pairs if p.stage == STAGE_DATASET]


def data_order_rule(ev: Evidence) -> list[Finding]:
    """Same start, different batches: shuffling or augmentation draws differently."""
    out = []
    for p in ev.pairs:
        if p.stage != STAGE_BATCHES:
            continue
        hits = ev.run_diffs(p, ("shuffle", "augment", "batch_size"),
                            ("shuffle", "augment", "batch_size", "numpy_version"))
        changes = {k: a for k, a, _ in p.config_differences if k in ("shuffle", "augment")}
        sides = _sides(p.ref.config, changes)
        fixes = fx.data_order_fixes(ev.frameworks, p.ref.config.seed or 0)
        if changes:
            fixes = fx.with_rerun(fixes, changes, sides)
            fixes.extend(fx.canary_fixes(p.other.config, changes, sides))
        out.append(Finding(
            "data_order", "Different batch order or augmentation",
            RUN_AT_STAGE if hits else 0.75, hits + [ev.stage_line(p)],
            "The runs start from the same parameters but are fed different batches: "
            "shuffling or augmentation is unseeded, configured differently, or draws from a "
            "different random stream.", fixes, SRC_D9M + " (input pipeline)", [ev.pair_ids(p)]))
    return out


def rng_device_rule(ev: Evidence) -> list[Finding]:
    """Same seed, different initial parameters, drawn on different devices or GPUs."""
    out = []
    la, lb = ev.labels
    for p in ev.pairs:
        if p.stage != STAGE_INIT or p.ref.config.seed != p.other.config.seed \
                or p.ref.config.dtype != p.other.config.dtype:
            continue
        da, db = p.ref.settings.get("device_type"), p.other.settings.get("device_type")
        na, nb = p.ref.settings.get("device_name"), p.other.settings.get("device_name")
        if da and db and da != db:
            line = f"initial values drawn on {da} ({la}) vs {db} ({lb})"
            why = ("CPU and CUDA random generators are different streams: the same seed gives "
                   "different numbers on different device types.")
        elif da == db == "gpu" and na != nb:
            line = f"initial values drawn on {na} ({la}) vs {nb} ({lb})"
            why = ("CUDA random output for large tensors depends on the GPU's SM count, so "
                   "the same seed draws different values on different GPU models.")
        else:
            continue
        out.append(Finding("rng_device", "Random numbers drawn on different devices", 0.9,
                           [line, ev.stage_line(p)], why, fx.rng_device_fixes(ev.frameworks),
                           "pytorch#2976, #79496, #62467", [ev.pair_ids(p)]))
    return out


# Weighting of an environment-only GPU model difference (the rule itself is below).
GPU_MODEL = Cause("gpu_model", "Different GPU model", "", SRC_VERSIONS,
                  lambda ev, a: ([], {}), on="gpu", base=0.6)


def gpu_model_rule(ev: Evidence) -> list[Finding]:
    """Different GPU models or architectures (compute capability, SM count)."""
    la, lb = ev.labels
    lines = [ev.env_line(d) for d in ev.env_diffs(
        r"gpu\.\d+\.(name|compute_capability|sm_count|memory_total)")]
    pairs, score = [], 0.0
    for p in ev.pairs:
        if p.ref.settings.get("device_type") == p.other.settings.get("device_type") == "gpu":
            hits = ev.run_diffs(p, (), ("device_name", "compute_capability"))
            if hits:
                lines += hits + [ev.stage_line(p)]
                pairs.append(ev.pair_ids(p))
                score = max(score, 0.9 if p.verdict != IDENTICAL else RUN_AGREES)
    names = [", ".join(map(str, ev.gpu_facts(s, "name"))) for s in (0, 1)]
    if not lines and not (all(names) and names[0] != names[1]):
        return []
    if lines and not pairs:
        score = env_likelihood(ev, GPU_MODEL)
    title = (f"Different GPU: {names[0]} ({la}) vs {names[1]} ({lb})" if all(names)
             else "Different GPU model")
    caps = [ev.capabilities(s) for s in (0, 1)]
    if caps[0] and caps[1] and caps[0][0][0] != caps[1][0][0]:
        lines.append("different GPU architectures: bit equality is not expected across them")
    return [Finding(
        "gpu_model", title, score, lines,
        "The GPU model sets the architecture (compute capability), which kernels run, TF32 "
        "support and the SM count that CUDA random streams depend on.",
        fx.tolerance_fixes("Across GPU architectures compare within a tolerance "
                           "(reprodiag compare --rtol 1e-3) and against seed-to-seed noise; on "
                           "Colab check the GPU model of each session (nvidia-smi -L)."),
        SRC_VERSIONS + "; pytorch#62467", pairs)]


def run_to_run_rule(ev: Evidence) -> list[Finding]:
    """Two runs of one config on one machine differ: nondeterminism inside the run."""
    cases: list[tuple[str, RunRecord, RunRecord]] = []
    for side, runs in zip(ev.labels, ev.runs):
        first: dict[RunConfig, RunRecord] = {}
        for run in runs:
            if run.config.seed is None or not len(run.steps):
                continue
            if run.config in first:
                cases.append((side, first[run.config], run))
            else:
                first[run.config] = run
    same_machine = not ev.comparison.numerics_env_differences
    for p in ev.pairs:
        if p.ref.config == p.other.config and p.ref.config.seed is not None \
                and not p.settings_differences and same_machine and ev.comparison.env_compared:
            cases.append(("both sides", p.ref, p.other))
    findings = []
    for where, x, y in cases:
        c = compare_runs(x, y)
        if c.verdict == IDENTICAL:
            continue
        findings.append(_nondeterminism_finding(ev, where, c))
    return findings


def _nondeterminism_finding(ev: Evidence, where: str, c: RunComparison) -> Finding:
    s = c.ref.settings
    lines = [f"two runs of {c.title} in {where} with the same config and seed differ: "
             + ev.stage_line(c, titled=False)]
    in_force = [f"{k} = {show(s[k])}" for k in ("deterministic", "deterministic_warn_only",
                                                "cudnn_benchmark", "cudnn_deterministic",
                                                "op_determinism", "threads") if k in s]
    if in_force:
        lines.append("settings in force: " + ", ".join(in_force))
    no_kernel = [text for run in (c.ref, c.other) for text in run.log
                 if "deterministic implementation" in text or "determinism not supported" in text]
    if no_kernel:
        lines.append("an op has no deterministic implementation: " + no_kernel[0][:300])
    elif s.get("deterministic") and s.get("deterministic_warn_only"):
        lines.append("deterministic algorithms were on with warn_only=True: an op without a "
                     "deterministic implementation may still have run nondeterministically")
    tf_version = ev.value(0, "framework.tensorflow.version")
    fixes = fx.with_rerun(fx.determinism_fixes(ev.frameworks, tf_version),
                          {"deterministic": True}, "both")
    fixes += fx.thread_fixes(ev.frameworks, 1)
    return Finding("run_to_run", "Run-to-run nondeterminism", 0.97, lines,
                   "The same program on the same machine gives different numbers: kernels that "
                   "sum with atomic adds (index_add_, scatter_add_, pooling backward, "
                   "embedding_bag) or autotuning choose a different order each run.",
                   fixes, SRC_RAND + "; " + SRC_D9M, [(c.ref.run_id, c.other.run_id)])


def failure_rule(ev: Evidence) -> list[Finding]:
    """A run that failed, stopped or went to NaN: its numbers cannot be compared."""
    lines, pairs = [], []
    for p in ev.pairs:
        problems = [x for x in p.problems if "memory" not in x.lower()]  # memory_rule's
        if problems:
            lines += problems
            pairs.append(ev.pair_ids(p))
    if not lines:
        return []
    return [Finding("run_failed", "A run failed or diverged", 0.8, lines,
                    "A run that failed, was cancelled or whose loss became NaN/Inf stops "
                    "early, so its results differ whatever the numerics.",
                    fx.note_fix("Read the run's log (reprodiag gui, Runs tab) and rerun; a "
                                "loss that becomes NaN needs a lower learning rate or float64."),
                    "", pairs)]


def memory_rule(ev: Evidence) -> list[Finding]:
    """Runs that ran out of memory, or a side with much less RAM or GPU memory."""
    la, lb = ev.labels
    lines, pairs = [], []
    for p in ev.pairs:
        for label, run in ((la, p.ref), (lb, p.other)):
            if "memory" in run.reason.lower():
                lines.append(f"run {run.display_name()} in {label} failed: {run.reason}")
                pairs.append(ev.pair_ids(p))
    for key in ("cpu.ram_total", "gpu.0.memory_total"):
        a, b = ev.value(0, key), ev.value(1, key)
        if isinstance(a, int) and isinstance(b, int) and min(a, b) > 0 \
                and max(a, b) >= 2 * min(a, b) and min(a, b) < 16 * 2**30:
            lines.append(f"{key}: {a / 2**30:.1f} GiB ({la}) vs {b / 2**30:.1f} GiB ({lb})")
    if not lines:
        return []
    return [Finding("memory", "Memory too small on one side", 0.9 if pairs else 0.25, lines,
                    "Too little RAM or GPU memory makes a run fail, forces a smaller batch "
                    "(which changes the numbers) or changes the cuDNN workspace.",
                    fx.note_fix("Use the same batch size on both sides; on Colab choose a "
                                "high-RAM runtime or a GPU with more memory."),
                    "NUMERICS.md (Colab resource limits)", pairs)]


def throttling_rule(ev: Evidence) -> list[Finding]:
    """One side's steps are much slower: a throttled or shared CPU/GPU (typical of Colab)."""
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
    return [Finding("throttling", "Much slower steps on one side (throttling)", 0.3, lines,
                    "Speed does not change the numbers by itself, but a throttled or shared "
                    "machine (Colab CPU runtimes) makes timing comparisons meaningless and "
                    "tempts to change batch sizes.",
                    fx.note_fix("Compare throughput on the same runtime type, with the same "
                                "batch size; on Colab check the runtime type and GPU."),
                    "NUMERICS.md (Colab resource limits)", pairs)]


def _median_step(run: RunRecord) -> Optional[float]:
    times = run.steps.step_time[1:]
    times = times[np.isfinite(times) & (times > 0)]
    return float(np.median(times)) if len(times) >= 3 else None


SPECIAL_RULES: tuple[Callable[[Evidence], list[Finding]], ...] = (
    dataset_rule, seed_rule, rng_device_rule, data_order_rule, run_to_run_rule,
    gpu_model_rule, failure_rule, memory_rule, throttling_rule,
)


def run_rules(ev: Evidence) -> list[Finding]:
    """Every rule's findings, unmerged and unranked."""
    out: list[Finding] = []
    for rule in SPECIAL_RULES:
        out += rule(ev)
    for cause in CAUSES:
        finding = evaluate(ev, cause)
        if finding is not None:
            out.append(finding)
    return out
