"""Fixes: the Fix record and its snippets per cause and framework -- code to paste, variables
to export, canary flags, pinned installs.

Every snippet is complete, working Python for the framework it names (a test runs them);
"any" fixes are shell commands or variables. The APIs are the ones docs/numerics.md cites.
The catalog (catalog.py) names, for each cause, the builder here that makes its fixes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional

from reprodiag.core.knowledge.values import version_tuple
from reprodiag.core.runs.config import RunConfig

TORCH, TF, ANY = "torch", "tensorflow", "any"
CUBLAS_WORKSPACE = ":4096:8"


@dataclass(frozen=True, kw_only=True)
class Fix:
    """One way to remove a cause for one framework ("any" = framework-independent).

    `code` is Python (or a shell command for "any") to paste; `env` the variables to export
    before Python starts (`unset` those to remove); `rerun_config_changes` the RunConfig
    fields a canary rerun takes to apply this fix, and `rerun_sides` whether changing B's
    config alone suffices ("b", A already runs that way) or both sides need it ("both").
    """

    framework: str
    code: str = ""
    env: dict[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    note: str = ""
    rerun_config_changes: dict[str, Any] = field(default_factory=dict)
    rerun_sides: str = "both"

    def to_json(self) -> dict:
        return {"framework": self.framework, "code": self.code, "env": dict(self.env),
                "unset": list(self.unset), "note": self.note,
                "rerun_config_changes": dict(self.rerun_config_changes),
                "rerun_sides": self.rerun_sides}

    @property
    def shell_exports(self) -> str:
        """`export NAME=value` and `unset NAME` lines, quoted for a POSIX shell."""
        from shlex import quote

        lines = [f"export {k}={quote(v)}" for k, v in self.env.items()]
        return "\n".join(lines + [f"unset {name}" for name in self.unset])


Snippets = dict[str, tuple[str, dict[str, str], str]]  # framework -> (code, env, note)


def _for(frameworks: list[str], snippets: Snippets) -> list[Fix]:
    """Fixes for the frameworks involved (in `frameworks` order), plus an "any" snippet."""
    return [Fix(framework=fw, code=snippets[fw][0], env=snippets[fw][1], note=snippets[fw][2])
            for fw in [*frameworks, ANY] if fw in snippets]


def with_rerun(fixes: list[Fix], changes: dict[str, Any], sides: str) -> list[Fix]:
    """The fixes carrying the canary config changes that apply them (see Fix)."""
    return [replace(f, rerun_config_changes=dict(changes), rerun_sides=sides) for f in fixes]


# ---------------------------------------------------------------- single causes

def seed_fixes(frameworks: list[str], seed: int = 0) -> list[Fix]:
    """Seed every generator the framework draws from; PYTHONHASHSEED before Python starts."""
    env = {"PYTHONHASHSEED": str(seed)}
    return _for(frameworks, {
        TORCH: (f"import random\n\nimport numpy as np\nimport torch\n\nrandom.seed({seed})\n"
                f"np.random.seed({seed})\ntorch.manual_seed({seed})  # CPU and every CUDA device\n",
                env, "Seed before the model is built and before data loading starts."),
        TF: (f"import tensorflow as tf\n\ntf.keras.utils.set_random_seed({seed})"
             "  # Python, NumPy and TensorFlow\n",
             env, "Seed before the model is built."),
    })


def rng_device_fixes(frameworks: list[str]) -> list[Fix]:
    """Draw random tensors on the CPU, then move them: CPU and CUDA streams differ."""
    return _for(frameworks, {
        TORCH: ("import torch\n\ntorch.manual_seed(0)\nweights = torch.randn(256, 64)"
                "  # drawn by the CPU generator\n"
                "weights = weights.to(\"cuda\" if torch.cuda.is_available() else \"cpu\")\n",
                {}, "Create the model on the CPU (model = Net(); model.to(device)) so its "
                    "initial values come from the CPU generator on every machine."),
        TF: ("import tensorflow as tf\n\ntf.keras.utils.set_random_seed(0)\n"
             "with tf.device(\"/CPU:0\"):\n    init = tf.random.normal((256, 64))"
             "  # drawn on the CPU\n",
             {}, "Build the model under tf.device('/CPU:0'), then train on the GPU."),
    })


def data_order_fixes(frameworks: list[str], seed: int = 0) -> list[Fix]:
    """Seed shuffling, augmentation and loader workers."""
    return _for(frameworks, {
        TORCH: ("import random\n\nimport numpy as np\nimport torch\n\n\n"
                "def seed_worker(worker_id):\n    worker_seed = torch.initial_seed() % 2**32\n"
                "    np.random.seed(worker_seed)\n    random.seed(worker_seed)\n\n\n"
                f"g = torch.Generator()\ng.manual_seed({seed})\n"
                "# DataLoader(dataset, shuffle=True, generator=g, worker_init_fn=seed_worker)\n",
                {}, "Pass the generator and worker_init_fn to every DataLoader; seed the "
                    "augmentation library too."),
        TF: ("import tensorflow as tf\n\nds = tf.data.Dataset.range(100)\n"
             f"ds = ds.shuffle(100, seed={seed}, reshuffle_each_iteration=True)\n",
             {}, "Give every shuffle and random augmentation op a seed."),
    })


def dtype_fixes(frameworks: list[str], dtype: str) -> list[Fix]:
    """Compute in the same floating-point type on both sides."""
    return _for(frameworks, {
        TORCH: (f"import torch\n\ntorch.set_default_dtype(torch.{dtype})\n",
                {}, f"Create and cast the model and inputs in {dtype} (model.to(torch.{dtype}))."),
        TF: (f"import tensorflow as tf\n\ntf.keras.backend.set_floatx(\"{dtype}\")\n"
             f"tf.keras.mixed_precision.set_global_policy(\"{dtype}\")\n",
             {}, "Compare like with like; float64 separates the algorithm from rounding."),
    })


def device_fixes(frameworks: list[str], device: str) -> list[Fix]:
    """Run both sides on the same kind of device."""
    if device == "cpu":
        env = {"CUDA_VISIBLE_DEVICES": ""}
        return _for(frameworks, {
            TORCH: ("import torch\n\ndevice = torch.device(\"cpu\")\n", env,
                    "Move the model and every batch to this device."),
            TF: ("import tensorflow as tf\n\ntf.config.set_visible_devices([], \"GPU\")"
                 "  # before any op runs\n", env, ""),
        })
    return _for(frameworks, {
        TORCH: ("import torch\n\ndevice = torch.device(\"cuda\" if torch.cuda.is_available() "
                "else \"cpu\")\nprint(device)  # must print cuda on both sides\n", {},
                "Both sides need a GPU for a like-with-like comparison."),
        TF: ("import tensorflow as tf\n\nprint(tf.config.list_physical_devices(\"GPU\"))"
             "  # must list a GPU on both sides\n", {}, ""),
    })


def thread_fixes(frameworks: list[str], threads: int = 1) -> list[Fix]:
    """The same CPU thread count on both sides (1 is the most portable)."""
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return _for(frameworks, {
        TORCH: (f"import torch\n\ntorch.set_num_threads({threads})\n"
                f"torch.set_num_interop_threads({threads})  # before any parallel work\n",
                env, "Use the same count on both sides."),
        TF: (f"import tensorflow as tf\n\ntf.config.threading.set_intra_op_parallelism_threads"
             f"({threads})\ntf.config.threading.set_inter_op_parallelism_threads({threads})\n",
             env, "Call before TensorFlow runs its first op; same count on both sides."),
    })


def tf_determinism(tf_version: Optional[str] = None) -> tuple[str, dict[str, str], str]:
    """Op determinism for this TensorFlow version: the API from 2.8, variables before."""
    v = version_tuple(tf_version)
    if v is not None and v < (2, 1):
        return ("", {"TF_CUDNN_DETERMINISTIC": "1"},
                "TensorFlow 1.14-2.0: only cuDNN can be made deterministic, by this variable.")
    if v is not None and v < (2, 8):
        return ("", {"TF_DETERMINISTIC_OPS": "1"},
                "TensorFlow 2.1-2.7: set before tensorflow is imported.")
    return ("import tensorflow as tf\n\ntf.config.experimental.enable_op_determinism()\n", {},
            "An op with no deterministic kernel raises UnimplementedError instead of "
            "running nondeterministically.")


TORCH_DETERMINISM_NOTE = (
    "An op with no deterministic implementation raises RuntimeError naming it; "
    "torch.use_deterministic_algorithms(True, warn_only=True) runs it with a warning "
    "instead, and that op stays nondeterministic.")


def determinism_fixes(frameworks: list[str], tf_version: Optional[str] = None, *,
                      gpu: bool = True) -> list[Fix]:
    """Deterministic kernels: atomics-free GPU ops, no cuDNN autotuning, and on a GPU a fixed
    cuBLAS workspace (meaningless, so left out, where no GPU is involved)."""
    cuda = ("torch.backends.cudnn.benchmark = False\n"
            "torch.backends.cudnn.deterministic = True\n") if gpu else ""
    return _for(frameworks, {
        TORCH: ("import torch\n\ntorch.use_deterministic_algorithms(True)\n" + cuda,
                {"CUBLAS_WORKSPACE_CONFIG": CUBLAS_WORKSPACE} if gpu else {},
                TORCH_DETERMINISM_NOTE),
        TF: tf_determinism(tf_version),
    })


def autotune_fixes(frameworks: list[str]) -> list[Fix]:
    """No cuDNN autotuning: the same convolution algorithm every run."""
    return _for(frameworks, {
        TORCH: ("import torch\n\ntorch.backends.cudnn.benchmark = False\n"
                "torch.backends.cudnn.deterministic = True\n", {}, ""),
        TF: ("", {"TF_CUDNN_USE_AUTOTUNE": "0"},
             "enable_op_determinism() also turns autotuning off."),
    })


def cublas_fixes(frameworks: list[str]) -> list[Fix]:
    return _for(frameworks, {ANY: ("", {"CUBLAS_WORKSPACE_CONFIG": CUBLAS_WORKSPACE},
                                   "Set before CUDA starts (before the framework is imported).")})


def tf32_fixes(frameworks: list[str]) -> list[Fix]:
    """TF32 off: float32 matmuls and convolutions keep their full mantissa."""
    return _for(frameworks, {
        TORCH: ("import torch\n\ntorch.backends.cuda.matmul.allow_tf32 = False\n"
                "torch.backends.cudnn.allow_tf32 = False\n"
                "torch.set_float32_matmul_precision(\"highest\")\n", {}, ""),
        TF: ("import tensorflow as tf\n\n"
             "tf.config.experimental.enable_tensor_float_32_execution(False)\n", {}, ""),
        ANY: ("", {"NVIDIA_TF32_OVERRIDE": "0"},
              "Forces TF32 off inside NVIDIA libraries, whatever the framework flags say."),
    })


def onednn_fixes(frameworks: list[str], enabled: bool = False) -> list[Fix]:
    """The same oneDNN setting on both sides, chosen before TensorFlow is imported."""
    value = "1" if enabled else "0"
    return _for([TF] if TF not in frameworks else frameworks, {
        TF: (f"import os\n\nos.environ[\"TF_ENABLE_ONEDNN_OPTS\"] = \"{value}\""
             "  # before tensorflow is imported\nimport tensorflow as tf\n",
             {"TF_ENABLE_ONEDNN_OPTS": value}, "Set it on both sides."),
    })


def isa_fixes(frameworks: list[str], isa: str) -> list[Fix]:
    """Cap the CPU instruction set both sides dispatch to ('avx2', 'avx512' or 'default')."""
    onednn = {"avx512": "AVX512_CORE", "avx2": "AVX2"}.get(isa, "SSE41")
    return _for(frameworks, {
        TORCH: ("import torch\n\nprint(torch.backends.cpu.get_cpu_capability())"
                "  # must print the same on both sides\n",
                {"ATEN_CPU_CAPABILITY": isa, "MKL_CBWR": "COMPATIBLE"},
                "If the capabilities still differ, compare within a tolerance."),
        TF: ("", {"ONEDNN_MAX_CPU_ISA": onednn, "TF_ENABLE_ONEDNN_OPTS": "0"},
             "Eigen kernels still follow the CPU; compare within a tolerance."),
    })


def tolerance_fixes(note: str) -> list[Fix]:
    """Where bit equality is not to be expected: a shell check plus what to compare instead."""
    return [Fix(framework=ANY, code="nvidia-smi -L", note=note)]


def note_fix(note: str, code: str = "", env: Optional[dict[str, str]] = None) -> list[Fix]:
    return [Fix(framework=ANY, code=code, env=dict(env or {}), note=note)]


# ---------------------------------------------------------------- canary reruns

_FLAG_ORDER = ("device", "seed", "steps", "batch_size", "lr", "optimizer", "dtype",
               "deterministic", "tf32", "threads", "shuffle", "augment", "onednn")


def canary_command(config: RunConfig, explicit: frozenset[str] = frozenset()) -> str:
    """The `reprodiag run` command line that reruns exactly this canary config; the fields
    in `explicit` (what a fix changes) are written even when they hold the default."""
    default = RunConfig()
    parts = ["reprodiag", "run", "--framework", config.framework, "--model", config.model]
    for name in _FLAG_ORDER:
        value = getattr(config, name)
        if value == getattr(default, name) and name != "device" and name not in explicit:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{name.replace('_', '-')}")
        elif value is None:
            parts += [flag, "none"] if name == "seed" else []
        else:
            parts += [flag, str(value)]
    return " ".join(parts)


def canary_fixes(b_config: RunConfig, changes: dict[str, Any], sides: str) -> list[Fix]:
    """The canary rerun fix, or none for a user's own recorded training (it cannot be rerun)."""
    return [] if b_config.model == "custom" else [canary_fix(b_config, changes, sides)]


def canary_fix(b_config: RunConfig, changes: dict[str, Any], sides: str) -> Fix:
    """Rerun B's canary with `changes` applied (and A's too when `sides` is "both")."""
    fixed = b_config.model_copy(update=changes)
    where = "B's canary" if sides == "b" else "the canary on both sides"
    return Fix(framework=ANY, code=canary_command(fixed, frozenset(changes)),
               note=f"Rerun {where} with this setting.",
               rerun_config_changes=dict(changes), rerun_sides=sides)


def determinism_block(framework: str, *, seed: int = 0, threads: Optional[int] = 1,
                      tf32: bool = False, onednn: Optional[bool] = False,
                      tf_version: Optional[str] = None) -> str:
    """One paste-able block making a script as reproducible as the framework allows."""
    if framework == TORCH:
        lines = ["import os", "",
                 f"os.environ.setdefault(\"CUBLAS_WORKSPACE_CONFIG\", \"{CUBLAS_WORKSPACE}\")"
                 "  # before CUDA starts",
                 "import random", "", "import numpy as np",
                 "import torch", "",
                 f"random.seed({seed})", f"np.random.seed({seed})", f"torch.manual_seed({seed})",
                 "torch.use_deterministic_algorithms(True)",
                 "torch.backends.cudnn.benchmark = False",
                 "torch.backends.cudnn.deterministic = True",
                 f"torch.backends.cuda.matmul.allow_tf32 = {tf32}",
                 f"torch.backends.cudnn.allow_tf32 = {tf32}"]
        if not tf32:
            lines.append("torch.set_float32_matmul_precision(\"highest\")")
        if threads:
            lines.append(f"torch.set_num_threads({threads})")
        return "\n".join(lines) + "\n"
    lines = []
    if onednn is not None:
        lines += ["import os", "",
                  f"os.environ[\"TF_ENABLE_ONEDNN_OPTS\"] = \"{int(onednn)}\""
                  "  # before tensorflow is imported"]
    code, env, _ = tf_determinism(tf_version)
    if env:
        lines += ([] if lines else ["import os", ""]) + [
            f"os.environ[\"{k}\"] = \"{v}\"" for k, v in env.items()]
    lines += ["import tensorflow as tf", "",
              f"tf.keras.utils.set_random_seed({seed})  # Python, NumPy and TensorFlow"]
    if code:
        lines.append("tf.config.experimental.enable_op_determinism()")
    lines.append(f"tf.config.experimental.enable_tensor_float_32_execution({tf32})")
    if threads:
        lines += [f"tf.config.threading.set_intra_op_parallelism_threads({threads})",
                  f"tf.config.threading.set_inter_op_parallelism_threads({threads})"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- pinned installs

_TORCH_INDEX = "https://download.pytorch.org/whl/"
_TORCH_FAMILY = ("torch", "torchvision", "torchaudio")


def pip_install_lines(pins: dict[str, str]) -> list[str]:
    """`pip install` lines pinning each package to a version; PyTorch builds with a local tag
    (+cpu, +cu121, +rocm6.0) come from PyTorch's own index, one line per tag."""
    plain: list[str] = []
    by_tag: dict[str, list[str]] = {}
    for name, version in sorted(pins.items()):
        public, _, tag = str(version).partition("+")
        if name in _TORCH_FAMILY and tag:
            by_tag.setdefault(tag, []).append(f'"{name}=={public}+{tag}"')
        else:
            plain.append(f'"{name}=={public}"')
    lines = [f"pip install {' '.join(plain)}"] if plain else []
    lines += [f"pip install {' '.join(specs)} --index-url {_TORCH_INDEX}{tag}"
              for tag, specs in sorted(by_tag.items())]
    return lines


def version_fixes(name: str, version: str) -> list[Fix]:
    return [Fix(framework=ANY, code="\n".join(pip_install_lines({name: version})),
                note=f"Install A's {name} on B (bit equality needs the same version).")]


# ---------------------------------------------------------------- per-cause builders

@dataclass(frozen=True, kw_only=True)
class FixContext:
    """What a cause's fix builder may read: the frameworks and devices of the pair, the two
    configs of the first pair the cause acts in (None without runs), the differences behind
    the cause as (key, A value, B value), and A's framework versions."""

    frameworks: list[str]
    gpu: bool = False
    a_config: Optional[RunConfig] = None
    b_config: Optional[RunConfig] = None
    values: tuple[tuple[str, Any, Any], ...] = ()
    tf_version: Optional[str] = None

    def a_value(self, *keys: str) -> Any:
        """A's value of the first of `keys` among the differences (None when none is)."""
        for key in keys:
            for k, a, _ in self.values:
                if k == key:
                    return a
        return None


Built = tuple[list[Fix], dict[str, Any]]  # the fixes, and the canary config changes applying them


def _config_fix(ctx: FixContext) -> Built:
    a = ctx.a_config
    fields = list(dict.fromkeys(k for k, _, _ in ctx.values
                                if a is not None and k in RunConfig.model_fields))
    if a is None or not fields:
        return note_fix("Configure both sides the same way and rerun."), {}
    changes = {k: getattr(a, k) for k in fields}
    text = ", ".join(f"{k}={getattr(a, k)}" for k in fields)
    if a.model == "custom":
        return note_fix(f"Train B with A's setting ({text}) and record it again; this is a "
                        "difference in your configuration, not in the environment."), changes
    return note_fix(f"Rerun B with A's configuration ({text}): this is a difference in the "
                    "run configuration, not in the environment."), changes


def _seed_fix(ctx: FixContext) -> Built:
    seed = ctx.a_config.seed if ctx.a_config is not None and ctx.a_config.seed is not None else 0
    return seed_fixes(ctx.frameworks, seed), {"seed": seed}


def _dtype_fix(ctx: FixContext) -> Built:
    dtype = ctx.a_config.dtype if ctx.a_config is not None else "float32"
    return dtype_fixes(ctx.frameworks, dtype), ({"dtype": dtype} if ctx.a_config else {})


def _device_fix(ctx: FixContext) -> Built:
    a = ctx.a_config
    if a is None or a.device == "auto":  # "auto" resolves per machine: no config to change
        return device_fixes(ctx.frameworks, "gpu" if ctx.gpu else "cpu"), {}
    return device_fixes(ctx.frameworks, a.device), {"device": a.device}


def _threads_fix(ctx: FixContext) -> Built:
    n = ctx.a_config.threads if ctx.a_config is not None and ctx.a_config.threads else None
    if n is None:
        in_force = ctx.a_value("threads", "intra_op_threads")
        n = in_force if isinstance(in_force, int) and not isinstance(in_force, bool) else 1
    return thread_fixes(ctx.frameworks, n), {"threads": n}


def _determinism_fix(ctx: FixContext) -> Built:
    return (determinism_fixes(ctx.frameworks, ctx.tf_version, gpu=ctx.gpu),
            {"deterministic": True})


def _tf32_fix(ctx: FixContext) -> Built:
    return tf32_fixes(ctx.frameworks), {"tf32": False}


def _onednn_fix(ctx: FixContext) -> Built:
    a = ctx.a_config.onednn if ctx.a_config is not None else None
    enabled = bool(a) if a is not None else False
    return onednn_fixes(ctx.frameworks, enabled), {"onednn": enabled}


def _autotune_fix(ctx: FixContext) -> Built:
    return autotune_fixes(ctx.frameworks), {"deterministic": True}


def _cublas_fix(ctx: FixContext) -> Built:
    return cublas_fixes(ctx.frameworks), {}


def _isa_fix(ctx: FixContext) -> Built:
    """Make B dispatch like A: A's own variables where A set them, else A's capability."""
    variables = _variable_fixes(ctx, prefix_keys=("var.ATEN_CPU_CAPABILITY",
                                                  "var.ONEDNN_MAX_CPU_ISA", "var.MKL_CBWR"))
    if variables:
        return variables, {}
    capability = ctx.a_value("cpu_capability", "numerics.torch.cpu_capability")
    isa = str(capability).lower() if capability else "default"
    isa = isa if isa in ("default", "avx2", "avx512", "avx512_vnni", "amx") else "default"
    return isa_fixes(ctx.frameworks, isa), {}


def _blas_fix(ctx: FixContext) -> Built:
    return note_fix("Install the same NumPy/framework builds on both sides (see "
                    "'reprodiag align'); MKL_CBWR=COMPATIBLE makes MKL choose the same "
                    "code path on every CPU.", "", {"MKL_CBWR": "COMPATIBLE"}), {}


def _tolerance_fix(ctx: FixContext) -> Built:
    return note_fix("Bit equality is not to be expected across these; pin the framework "
                    "settings explicitly and compare within a tolerance (reprodiag compare "
                    "--rtol 1e-4) and against seed-to-seed noise (reprodiag stats)."), {}


def _gpu_tolerance_fix(ctx: FixContext) -> Built:
    return tolerance_fixes("Across GPU models, drivers and architectures compare within a "
                           "tolerance (reprodiag compare --rtol 1e-3) and against seed-to-seed "
                           "noise; on Colab check the GPU model of each session (nvidia-smi -L)."
                           ), {}


def _cuda_fix(ctx: FixContext) -> Built:
    torch_build = ctx.a_value("pkg.torch", "framework.torch.version", "torch_version")
    out = version_fixes("torch", torch_build) if torch_build and "+" in str(torch_build) else []
    return out + note_fix("Install the framework build with A's CUDA/cuDNN (for TensorFlow, "
                          "the same tensorflow version brings the same CUDA and cuDNN)."), {}


_VERSION_KEYS = (r"pkg\.(.+)", r"framework\.([^.]+)\.version", r"([a-z]+)_version")


def _version_fix(ctx: FixContext) -> Built:
    """Pin A's version of each package behind the cause on B."""
    import re

    pins: dict[str, str] = {}
    extra: list[str] = []
    for key, a, b in ctx.values:
        for pattern in _VERSION_KEYS:
            m = re.fullmatch(pattern, key)
            if not m or m.group(1) == "python":
                continue
            name = m.group(1)
            if isinstance(a, str) and a:
                pins.setdefault(name, a)
            elif a is None and b is not None and key.startswith("pkg.") and name not in extra:
                extra.append(name)
            break
    lines = pip_install_lines(pins)
    if extra:
        lines.append(f"pip uninstall -y {' '.join(extra)}")
    if not lines:
        return [], {}
    return [Fix(framework=ANY, code="\n".join(lines),
                note="Install A's versions on B (bit equality needs the same versions)"
                     + ("; remove what A does not have" if extra else "") + ".")], {}


def _variable_fixes(ctx: FixContext, prefix_keys: tuple[str, ...] = ()) -> list[Fix]:
    env: dict[str, str] = {}
    unset: list[str] = []
    for key, a, _ in ctx.values:
        if not key.startswith("var.") or (prefix_keys and key not in prefix_keys):
            continue
        name = key[len("var."):]
        if a is None and name not in unset:
            unset.append(name)
        elif isinstance(a, str) and a != "<redacted>":
            env[name] = a
    if not env and not unset:
        return []
    return [Fix(framework=ANY, env=env, unset=tuple(unset),
                note="Give B the environment A had, before Python starts (or the same value "
                     "on both sides).")]


def _variable_fix(ctx: FixContext) -> Built:
    return _variable_fixes(ctx) or note_fix("Set the same value on both sides."), {}


def _data_fix(ctx: FixContext) -> Built:
    if ctx.a_config is not None and ctx.a_config.model != "custom":
        return note_fix("The canaries ship their data: record both sides with the same "
                        "reprodiag version."), {}
    fingerprinted = any(key == "dataset_hash" for key, _, _ in ctx.values)
    hint = "" if fingerprinted else (" Pass the dataset to the recorder's data= so that "
                                     "reprodiag can fingerprint it and tell.")
    return note_fix("Train both sides on the same data, preprocessed the same way: check the "
                    "files, their version and the preprocessing." + hint), {}


def _data_order_fix(ctx: FixContext) -> Built:
    seed = ctx.a_config.seed if ctx.a_config is not None and ctx.a_config.seed is not None else 0
    return data_order_fixes(ctx.frameworks, seed), {}


def _rng_device_fix(ctx: FixContext) -> Built:
    return rng_device_fixes(ctx.frameworks), {}


def _memory_fix(ctx: FixContext) -> Built:
    return note_fix("Use the same batch size on both sides; on Colab choose a high-RAM "
                    "runtime or a GPU with more memory."), {}


def _packages_fix(ctx: FixContext) -> Built:
    return _version_fix(ctx)[0] or note_fix("Install the same package versions on both sides "
                                             "(reprodiag align prints the commands)."), {}


def _nondeterminism_fix(ctx: FixContext) -> Built:
    fixes = determinism_fixes(ctx.frameworks, ctx.tf_version, gpu=ctx.gpu)
    if not ctx.gpu:
        fixes += thread_fixes(ctx.frameworks, 1)
    return fixes, {"deterministic": True}


def _no_fix(ctx: FixContext) -> Built:
    return note_fix("Give both sides the same value, then rerun to see whether the runs "
                    "agree."), {}


BUILDERS: dict[str, Any] = {
    "config": _config_fix, "seed": _seed_fix, "dtype": _dtype_fix, "device": _device_fix,
    "threads": _threads_fix, "determinism": _determinism_fix, "tf32": _tf32_fix,
    "onednn": _onednn_fix, "autotune": _autotune_fix, "cublas": _cublas_fix, "isa": _isa_fix,
    "blas": _blas_fix, "tolerance": _tolerance_fix, "gpu_tolerance": _gpu_tolerance_fix,
    "cuda": _cuda_fix, "version": _version_fix, "variable": _variable_fix, "data": _data_fix,
    "data_order": _data_order_fix, "rng_device": _rng_device_fix, "memory": _memory_fix,
    "packages": _packages_fix, "nondeterminism": _nondeterminism_fix, "none": _no_fix,
}


def build(name: str, ctx: FixContext) -> Built:
    """The fixes of the builder `name` (a catalog entry's `fix`), none for ""."""
    return BUILDERS[name](ctx) if name else ([], {})
