"""The numerics catalog: every run-config field, setting in force, environment fact and data
fingerprint that can change numbers -- what it is, why it changes results, which stages it
can first touch, how big a first difference it can make, where it acts, how to fix it, and a
source (docs/numerics.md).

The environment view's "why it matters" (`describe`), the diagnosis and `align` all read
this table; nothing else holds that knowledge. A fact key matches the first entry whose
pattern fits it (entries are ordered specific first), and every key falls back to a default
entry of its group, so a fact nobody listed is still weighed: an unknown numerics variable
is a suspect, an unknown package is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from reprodiag.core.knowledge.stages import (
    ANY_MAGNITUDE,
    ROUNDING,
    Magnitude,
    Stage,
)

# Severity in the environment view: informational, may change numerics or speed, changes them.
INFO, MAY_CHANGE, CHANGES_NUMERICS = 1, 2, 3

# Kinds of entry; "config" entries are differences the user configured, not the environment.
CONFIG, NUMERICS, RNG, DATA, HARDWARE, SOFTWARE, RESOURCE, NOTE = (
    "config", "numerics", "rng", "data", "hardware", "software", "resource", "note")

CPU, GPU = "cpu", "gpu"
BOTH_DEVICES = frozenset({CPU, GPU})
TORCH, TF = "torch", "tensorflow"
ALL_FRAMEWORKS = frozenset({TORCH, TF})

# Stage sets. Kernel numerics show from the first forward pass on; a reduction-order change
# usually first in the backward pass (a forward may happen to agree), so FORWARD is weak there.
KERNEL = frozenset({Stage.FORWARD, Stage.BACKWARD, Stage.UPDATE, Stage.ACCUMULATED,
                    Stage.PREDICTIONS})
REORDER = frozenset({Stage.BACKWARD, Stage.UPDATE, Stage.ACCUMULATED, Stage.PREDICTIONS})
EVERY_STAGE = frozenset(Stage) - {Stage.FAILURE}

# Layer kinds (core/runs/layers.py KINDS) by what their kernels do: products and sums, whose
# order and rounding kernels choose; elementwise ops; random masks.
PRODUCTS = frozenset({"linear", "convolution"})
REDUCTIONS = PRODUCTS | {"pooling", "normalisation", "embedding", "other"}
VECTORISED = REDUCTIONS | {"activation"}
RANDOM = frozenset({"dropout"})

SRC_RAND = "PyTorch docs notes/randomness.rst"
SRC_D9M = "NVIDIA/framework-reproducibility doc/d9m"
SRC_VERSIONS = "NVIDIA/framework-reproducibility#28"
SRC_TF32 = "PyTorch docs notes/cuda.rst; pytorch#67384; TF API docs"


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One thing that can change numbers (or, for notes, one that cannot), and its knowledge.

    `stages` are where a difference in it can first show; `weak_stages` where it can but
    rarely does. `magnitudes` the size classes its first difference can have (checked where
    the runs part in a computed value: forward, backward, update, later). `prior` is how
    often a difference in it changes numbers at all, before looking at the runs. `config`,
    `settings` and `facts` are the keys that carry it (RunConfig fields, settings in force
    reported by a run, environment fact patterns); `in_force` the settings that measure it
    inside a run completely, so equal values there are an alibi for an environment difference.
    `layer_kinds` are the kinds of layer (core/runs/layers.py) where it can first make a
    layer's output or gradient differ; empty when any. `fix` names a builder in
    knowledge/fixes.py.
    """

    id: str
    title: str
    what: str
    why: str
    kind: str = NUMERICS
    stages: frozenset[Stage] = KERNEL
    weak_stages: frozenset[Stage] = frozenset()
    magnitudes: frozenset[Magnitude] = ANY_MAGNITUDE
    devices: frozenset[str] = BOTH_DEVICES
    frameworks: frozenset[str] = ALL_FRAMEWORKS
    prior: float = 0.5
    severity: int = CHANGES_NUMERICS
    relevant: bool = True  # numerics-relevant in the environment view
    config: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()
    in_force: tuple[str, ...] = ()
    layer_kinds: frozenset[str] = frozenset()  # layer kinds it first shows in; empty: any
    facts: tuple[str, ...] = ()
    fix: str = ""
    source: str = ""

    @property
    def numerics(self) -> bool:
        """Whether a difference in it can change numbers (shown as numerics-relevant)."""
        return self.relevant and self.kind not in (NOTE, RESOURCE) and self.prior > 0

    @property
    def is_config(self) -> bool:
        return self.kind == CONFIG


def _one_of(prefix: str, *names: str) -> str:
    """A regex for `prefix` followed by any of `names` (each itself a regex)."""
    return prefix + "(" + "|".join(names) + ")"


_FW = r"framework\.[^.]+\."
_ISA_FLAGS = (r"avx.*", r"amx.*", r"fma.*", "f16c", r"sse.*", "ssse3", r".*vnni.*", r".*bf16.*",
              r".*fp16.*", r"asimd.*", r"sve.*", "neon")
_GPU_INFO = ("uuid", "serial", r"pci.*", r"bus.*", "index", "minor_number", r"temperature.*",
             r"fan.*", r"power.*", r"clock.*", r"utilization.*", r"persistence.*", r"pstate.*",
             r"vbios.*")
_VAR_DETERMINISM = ("tf_deterministic_ops", "tf_cudnn_deterministic", "cudnn_deterministic",
                    r"torch_deterministic.*")
_VAR_ISA = ("aten_cpu_capability", "onednn_max_cpu_isa", "dnnl_max_cpu_isa", "mkl_cbwr",
            "mkl_enable_instructions", "mkl_debug_cpu_type", "npy_disable_cpu_features",
            "openblas_coretype")
_VAR_THREADS = ("omp_num_threads", "mkl_num_threads", "openblas_num_threads",
                "veclib_maximum_threads", "numexpr_num_threads", "blis_num_threads",
                "goto_num_threads", "tf_num_intraop_threads", "tf_num_interop_threads",
                "omp_thread_limit", "mkl_dynamic", "omp_dynamic")
_VAR_ALLOC = ("pytorch_cuda_alloc_conf", "tf_gpu_allocator", "tf_force_gpu_allow_growth",
              "cuda_device_order", r"xla_python_client_.*", "cuda_launch_blocking",
              "cuda_module_loading", "tf_cpp_min_log_level", "tf_cpp_max_vlog_level")
_VAR_LIBS = (r"omp_.*", r"kmp_.*", r"gomp_.*", r"mkl_.*", r"openblas_.*", r"tf_.*", r"torch_.*",
             r"pytorch_.*", r"cuda_.*", r"cudnn_.*", r"cublas.*", r"nccl_.*", r"xla_.*",
             r"jax_.*", r"keras_.*", r"dnnl_.*", r"onednn_.*", r"npy_.*", r"numpy_.*",
             r"nvidia_.*", r"torchinductor_.*", "goto.*")
_PKG_CUDA = _one_of("nvidia-", "cuda-runtime", "cuda-nvrtc", "cublas", "cufft", "curand",
                    "cusolver", "cusparse", "cusparselt", "nccl", "cuda-cupti",
                    "nvjitlink") + "(-.*)?"
_PKG_ML = ("scipy", r"nvidia-.*", r"cuda-.*", r"cupy.*", "numba", "llvmlite",
           "opt-einsum", "scikit-learn", "sklearn", "pandas", "torchvision", "torchaudio",
           "torchtext", "torchdata", r"tensorflow-.*", r"tf-.*", r"keras-.*", "flax", "optax",
           "chex", "transformers", "accelerate", "diffusers", "timm", "lightning",
           "pytorch-lightning", "xgboost", "lightgbm", "catboost", r"onnx.*", "numexpr",
           "bottleneck", "h5py", "safetensors", "tokenizers", "datasets", "albumentations",
           r"opencv-.*", "pillow", "pillow-simd", r"torch-.*", r"jax-.*", r"tensorboard.*",
           "einops", "deepspeed", "xformers", "apex", "bitsandbytes", "triton",
           r"pytorch-triton.*", r"tensorrt.*", "ml-dtypes", r"intel-extension-for-.*")

_TF32_WHY = ("TF32 rounds float32 matmul and convolution inputs to 10 mantissa bits on GPUs of "
             "compute capability 8.0 and later, so results change unless both sides agree.")

ENTRIES: tuple[Entry, ...] = (
    # ------------------------------------------------------------ data and randomness
    Entry(id="dataset", title="Different training data", what="the training data",
          why="The runs trained on different data (or data preprocessed differently), so their "
              "numbers differ from the first batch on, whatever the numerics.",
          kind=DATA, stages=frozenset({Stage.DATASET, Stage.BATCHES}), prior=1.0,
          fix="data", source="docs/numerics.md (data)"),
    Entry(id="seed", title="Different random seeds", what="the random seed",
          why="The seed decides the initial parameters, shuffling and augmentation; different "
              "seeds (or no seed) start from different points.",
          kind=RNG, stages=frozenset({Stage.INIT, Stage.BATCHES}), prior=1.0,
          config=("seed",), settings=("seed", "seed_effective"), fix="seed",
          source=SRC_RAND + "; TF API docs (tf.keras.utils.set_random_seed)"),
    Entry(id="rng_device", title="Random numbers drawn on different devices",
          what="the device that drew the initial values",
          why="CPU and CUDA random generators are different streams, and CUDA's output for "
              "large tensors depends on the GPU's SM count: the same seed draws different "
              "values on another device type or GPU model.",
          kind=RNG, stages=frozenset({Stage.INIT}), prior=0.9, fix="rng_device",
          source="pytorch#2976, #79496, #62467"),
    Entry(id="data_order", title="Different batch order or augmentation",
          what="the input pipeline's randomness",
          why="The runs start from the same parameters but are fed different batches: "
              "shuffling or augmentation is unseeded or draws from a different random stream "
              "(loader workers, another library version).",
          kind=RNG, stages=frozenset({Stage.BATCHES}), prior=0.5, fix="data_order",
          source=SRC_D9M + " (input pipeline)"),
    Entry(id="rng_stream", title="Random stream differs (dropout, augmentation)",
          what="the random stream a layer draws from",
          why="A random layer (dropout) drew a different mask from equal inputs: its generator "
              "was seeded differently, drew on another device, or was advanced by something "
              "else first (a data loader, another random op).",
          kind=RNG, stages=frozenset({Stage.FORWARD, Stage.ACCUMULATED}), prior=0.5,
          layer_kinds=RANDOM, fix="seed", source=SRC_RAND),
    Entry(id="hashseed", title="Python hash seed differs", what="PYTHONHASHSEED",
          why="PYTHONHASHSEED fixes Python's hash randomisation, which otherwise changes set "
              "and dict iteration order between processes -- and with it any data order built "
              "from them.",
          kind=RNG, stages=frozenset({Stage.DATASET, Stage.INIT, Stage.BATCHES}), prior=0.3,
          settings=("var.PYTHONHASHSEED",), facts=(r"var\.pythonhashseed",), fix="variable",
          source=SRC_D9M),
    Entry(id="unrecorded_init", title="Initial parameters drawn differently",
          what="how the initial parameters were drawn",
          why="The runs start from different parameters although nothing recorded explains "
              "it: the model is built before the seed is set, from an unseeded generator, or "
              "loaded from a checkpoint that differs.",
          kind=RNG, stages=frozenset({Stage.INIT}), prior=0.4, fix="seed", source=SRC_RAND),
    Entry(id="run_to_run", title="Run-to-run nondeterminism", what="nondeterministic kernels",
          why="The same program on the same machine gives different numbers: kernels that sum "
              "with atomic adds (index_add_, scatter_add_, pooling backward, embedding_bag) or "
              "autotuning choose a different order each run.",
          stages=REORDER, weak_stages=frozenset({Stage.FORWARD}), magnitudes=ROUNDING,
          prior=0.5, layer_kinds=REDUCTIONS, fix="nondeterminism",
          source=SRC_RAND + "; " + SRC_D9M),
    # ------------------------------------------------------------ configuration
    Entry(id="lr", title="Different learning rate", what="the learning rate",
          why="The learning rate scales every update: the first loss and gradient agree, the "
              "parameters after the first update do not.",
          kind=CONFIG, stages=frozenset({Stage.UPDATE, Stage.ACCUMULATED}), prior=1.0,
          config=("lr",), settings=("lr",), fix="config", source="docs/numerics.md (update)"),
    Entry(id="optimizer", title="Different optimizer", what="the optimizer",
          why="The optimizer turns gradients into updates: the first loss and gradient agree, "
              "the parameters after the first update do not.",
          kind=CONFIG, stages=frozenset({Stage.UPDATE}), prior=1.0,
          config=("optimizer",), settings=("optimizer", "optimizer_class"), fix="config",
          source="docs/numerics.md (update)"),
    Entry(id="batch_size", title="Different batch size", what="the batch size",
          why="Another batch size feeds other samples in every step, so the batches differ "
              "from the first step on.",
          kind=CONFIG, stages=frozenset({Stage.BATCHES}), weak_stages=frozenset({Stage.FORWARD}),
          prior=1.0, config=("batch_size",), settings=("batch_size",), fix="config",
          source="docs/numerics.md (batches)"),
    Entry(id="shuffle", title="Shuffling on one side only", what="shuffling",
          why="With shuffling the batches are drawn in another order than without.",
          kind=CONFIG, stages=frozenset({Stage.BATCHES}), prior=1.0, config=("shuffle",),
          settings=("shuffle",), fix="config", source="docs/numerics.md (batches)"),
    Entry(id="augment", title="Augmentation on one side only", what="data augmentation",
          why="Augmentation changes the batch contents.",
          kind=CONFIG, stages=frozenset({Stage.BATCHES}), prior=1.0, config=("augment",),
          settings=("augment",), fix="config", source="docs/numerics.md (batches)"),
    Entry(id="model", title="Different model", what="the model",
          why="Different models start from different parameters and compute different things.",
          kind=CONFIG, stages=EVERY_STAGE, prior=1.0, config=("model",), settings=("model",),
          fix="config", source="docs/numerics.md"),
    Entry(id="framework", title="Different framework", what="the framework",
          why="PyTorch and TensorFlow implement the same model with other kernels, initial "
              "values and random streams.",
          kind=CONFIG, stages=EVERY_STAGE, prior=1.0, config=("framework",),
          settings=("framework",), fix="config", source="docs/numerics.md"),
    Entry(id="steps", title="Runs of different length", what="the number of steps",
          why="The number of steps decides only how long a run is: over the steps both have, "
              "it changes nothing.",
          kind=CONFIG, stages=frozenset(), prior=1.0, config=("steps",), settings=("steps",),
          fix="config", source="docs/numerics.md (length)"),
    Entry(id="recording", title="Recorded differently", what="how the run was recorded",
          why="Recording settings (how often parameters are hashed) change what is recorded, "
              "never what is computed.",
          kind=NOTE, stages=frozenset(), prior=0.0, severity=INFO,
          config=("hash_every", "layers"),
          settings=("hash_every", "user_recording", "recorder", "layers"),
          source="docs/bundle-format.md"),
    # ------------------------------------------------------------ numerics settings
    Entry(id="dtype", title="Different floating-point type", what="the floating-point type",
          why="float32 and float64 round every operation differently (and the parameter and "
              "batch hashes include the dtype); only like can be compared with like.",
          stages=frozenset({Stage.INIT, Stage.FORWARD}), weak_stages=KERNEL, prior=1.0,
          config=("dtype",), settings=("dtype", "param_dtype", "floatx", "default_dtype"),
          in_force=("param_dtype",),
          facts=(r"numerics\..*(dtype|floatx|policy|autocast|mixed_precision).*",
                 r"numerics\.(.*[._])?amp([._].*)?"),
          fix="dtype", source="tensorflow#56529"),
    Entry(id="device", title="Different device (CPU vs GPU)", what="the device",
          why="CPU and GPU kernels sum in different orders (and a GPU may use TF32) and draw "
              "from different random streams, so results differ from the first step.",
          stages=KERNEL | {Stage.INIT}, magnitudes=ROUNDING | {Magnitude.TF32}, prior=0.95,
          config=("device",), settings=("device_type", "device", "device_requested"),
          in_force=("device_type",),
          facts=(_one_of(r"gpu\.", "count", "n", "devices", "available", "present"),
                 r"var\.(cuda|hip|rocr|nvidia)_visible_devices",
                 r"numerics\..*(device|cuda_available|gpu).*"),
          fix="device", source=SRC_RAND + "; pytorch#2976"),
    Entry(id="threads", title="Different CPU thread counts", what="the CPU thread count",
          why="Parallel reductions split their sums by thread, so a different thread count adds "
              "in a different order: the runs agree at first, then part by a rounding "
              "difference that grows.",
          stages=REORDER, weak_stages=frozenset({Stage.FORWARD}), magnitudes=ROUNDING,
          devices=frozenset({CPU}), prior=0.85, config=("threads",),
          settings=("threads", "interop_threads", "intra_op_threads", "inter_op_threads",
                    "var.OMP_NUM_THREADS", "var.MKL_NUM_THREADS", "var.OPENBLAS_NUM_THREADS"),
          in_force=("threads", "interop_threads", "intra_op_threads", "inter_op_threads"),
          facts=(r"numerics\..*(thread|intra_op|inter_op|parallelism).*",
                 _one_of(r"var\.", *_VAR_THREADS)),
          layer_kinds=REDUCTIONS, fix="threads", source=SRC_D9M + " (CPU thread count)"),
    Entry(id="cpu_cores", title="Different CPU core counts", what="the number of CPU cores",
          why="Frameworks default their thread count to the core count, and the thread count "
              "changes the order of parallel reductions.",
          stages=REORDER, weak_stages=frozenset({Stage.FORWARD}), magnitudes=ROUNDING,
          devices=frozenset({CPU}), prior=0.35, severity=MAY_CHANGE, settings=("cpu_count",),
          in_force=("threads", "interop_threads", "intra_op_threads", "inter_op_threads"),
          facts=(_one_of(r"host\.", "cpu_count", "cores", "logical_cpus", "physical_cpus",
                         "cpus"),
                 _one_of(r"cpu\.", "count", "cores", "threads", "logical", "physical",
                         r".*_count", r".*_cores", r"cores_.*", r"affinity.*",
                         "usable_cores")),
          layer_kinds=REDUCTIONS, fix="threads", source=SRC_D9M + " (CPU thread count)"),
    Entry(id="op_determinism", title="Deterministic ops on one side only",
          what="deterministic algorithms",
          why="With op determinism on, the framework picks kernels with a fixed reduction order "
              "(no atomic adds, no autotuning); with it off, other kernels sum differently.",
          stages=REORDER, weak_stages=frozenset({Stage.FORWARD}), magnitudes=ROUNDING,
          prior=0.6, config=("deterministic",),
          settings=("deterministic", "op_determinism", "cudnn_deterministic",
                    "deterministic_warn_only", "var.TF_DETERMINISTIC_OPS",
                    "var.TF_CUDNN_DETERMINISTIC"),
          in_force=("deterministic",),
          facts=(r"numerics\..*determinis.*", _one_of(r"var\.", *_VAR_DETERMINISM)),
          layer_kinds=REDUCTIONS, fix="determinism",
          source=SRC_RAND + "; " + SRC_D9M + "/tensorflow_status.md"),
    Entry(id="onednn", title="oneDNN CPU kernels on one side only",
          what="TensorFlow's oneDNN kernels",
          why="TensorFlow's oneDNN kernels compute with a different operation order than the "
              "Eigen defaults; TensorFlow turns them on by itself on Linux x86 CPUs with "
              "AVX512-VNNI/BF16, AVX-VNNI or AMX, and on Windows.",
          magnitudes=ROUNDING, devices=frozenset({CPU}), frameworks=frozenset({TF}),
          prior=0.85, config=("onednn",), settings=("onednn_enabled", "var.TF_ENABLE_ONEDNN_OPTS"),
          in_force=("onednn_enabled",),
          facts=(r"numerics\..*(onednn|mkldnn|dnnl).*", r"framework\.tensorflow\.onednn.*",
                 r"var\.(tf_enable_onednn_opts|tf_disable_mkl|tf_enable_mkl.*)"),
          layer_kinds=VECTORISED, fix="onednn",
          source="tensorflow core/util/port.cc; tensorflow#61510"),
    Entry(id="tf32", title="TF32 on one side only", what="TF32 math", why=_TF32_WHY,
          magnitudes=frozenset({Magnitude.REDUCTION, Magnitude.TF32}), devices=frozenset({GPU}),
          prior=0.85, config=("tf32",),
          settings=("tf32", "cuda_matmul_allow_tf32", "cudnn_allow_tf32",
                    "float32_matmul_precision", "var.NVIDIA_TF32_OVERRIDE"),
          facts=(r"numerics\..*(tf32|tensor_float|matmul_precision|fp32_precision).*",
                 r"var\.(nvidia_tf32_override|torch_allow_tf32.*)"),
          layer_kinds=PRODUCTS, fix="tf32", source=SRC_TF32),
    Entry(id="cudnn_autotune", title="cuDNN autotuning (benchmark mode)",
          what="cuDNN autotuning",
          why="With autotuning cuDNN times several convolution algorithms and keeps the fastest, "
              "which can differ per run and per machine, and the algorithms round differently.",
          magnitudes=ROUNDING, devices=frozenset({GPU}), prior=0.6,
          settings=("cudnn_benchmark",),
          facts=(r"numerics\..*benchmark.*", r"var\.tf_cudnn_use_autotune"),
          layer_kinds=PRODUCTS, fix="autotune", source=SRC_RAND),
    Entry(id="cublas_workspace", title="cuBLAS workspace setting differs",
          what="CUBLAS_WORKSPACE_CONFIG",
          why="Without CUBLAS_WORKSPACE_CONFIG=:4096:8, cuBLAS (CUDA >= 10.2) may pick "
              "nondeterministic reduction strategies.",
          stages=REORDER, magnitudes=ROUNDING, devices=frozenset({GPU}), prior=0.4,
          settings=("var.CUBLAS_WORKSPACE_CONFIG",), facts=(r"var\.cublas_workspace_config",),
          layer_kinds=PRODUCTS, fix="cublas", source=SRC_RAND),
    Entry(id="cpu_isa", title="Different CPU instruction sets",
          what="the CPU and the instruction set its kernels use",
          why="The CPU instruction set (AVX2 vs AVX-512, AMX, VNNI, FMA; Intel vs AMD) picks "
              "which vectorised kernels run, and they round differently; even random "
              "initial values can be drawn by another vectorised algorithm.",
          stages=KERNEL | {Stage.INIT}, magnitudes=ROUNDING, devices=frozenset({CPU}),
          prior=0.75,
          settings=("cpu_capability", "var.ATEN_CPU_CAPABILITY", "var.ONEDNN_MAX_CPU_ISA",
                    "var.MKL_CBWR", "cpu_name"),
          in_force=("cpu_capability", "var.ATEN_CPU_CAPABILITY", "var.ONEDNN_MAX_CPU_ISA",
                    "var.MKL_CBWR", "cpu_name"),
          facts=(r"cpu\.flags", _one_of(r"cpu\.flags\.", *_ISA_FLAGS),
                 r"cpu\.(isa|instruction_sets?|simd|.*capability)(\..*)?",
                 _one_of(r"cpu\.", "model", "model_name", "name", "brand", "brand_raw",
                         "vendor", "vendor_id", "family", "stepping"),
                 r"numerics\..*(cpu_capability|isa|simd).*",
                 _FW + r"(cpu_capability|isa|simd).*", _one_of(r"var\.", *_VAR_ISA)),
          layer_kinds=VECTORISED | RANDOM, fix="isa", source="pytorch#155552, #82881"),
    Entry(id="arch", title="Different machine architecture", what="the CPU architecture",
          why="The machine architecture (x86_64 vs arm64) runs entirely different kernels.",
          stages=KERNEL, magnitudes=ANY_MAGNITUDE, prior=0.95, settings=("machine",),
          in_force=("machine",),
          facts=(_one_of(r"host\.", "arch", "architecture", "machine", r"platform\.machine"),),
          fix="tolerance", source=SRC_VERSIONS),
    Entry(id="blas", title="Different BLAS library", what="the BLAS/LAPACK library",
          why="The BLAS library (MKL vs OpenBLAS) and its build decide how matrix products are "
              "blocked and summed.",
          magnitudes=ROUNDING, devices=frozenset({CPU}), prior=0.4, severity=MAY_CHANGE,
          settings=("mkldnn_available",),
          facts=(_FW + r"(blas|lapack|mkl|openblas)(_.*)?",
                 r"framework\.torch\.config\.(blas_info|lapack_info|use_mkl|use_mkldnn|mkl)",
                 r"pkg\.(mkl|mkl-.*|intel-openmp|openblas.*|scipy-openblas.*)"),
          layer_kinds=PRODUCTS, fix="blas", source="pytorch#82881"),
    Entry(id="platform", title="Different operating system or C library",
          what="the operating system and C library",
          why="The operating system changes framework defaults (oneDNN on Windows) and the C "
              "library's math functions (exp, log) can differ in the last bit.",
          magnitudes=ROUNDING, prior=0.3, severity=MAY_CHANGE, settings=("platform",),
          in_force=("platform",),
          facts=(_one_of(r"host\.", "os", "system", "platform", r"os\..*", r"platform\..*",
                         r"windows.*", r"macos.*", r"distro.*"),
                 r"host\.(glibc|libc)(\..*)?"),
          fix="tolerance", source="tensorflow#61510"),
    # ------------------------------------------------------------ GPU hardware and CUDA stack
    Entry(id="gpu_model", title="Different GPU model", what="the GPU model",
          why="The GPU model sets the architecture (compute capability), which kernels run, "
              "TF32 support and the SM count that CUDA random streams depend on.",
          kind=HARDWARE, stages=KERNEL | {Stage.INIT},
          magnitudes=ROUNDING | {Magnitude.TF32}, devices=frozenset({GPU}), prior=0.7,
          settings=("gpu_name", "compute_capability"),
          in_force=("device_name", "compute_capability"),
          facts=(_one_of(r"gpu\.\d+\.", "name", "model", r"product.*", "architecture", "arch",
                         "compute_capability", "cc", "capability", "major", "minor",
                         "sm_count", r"multiprocessor.*", "sms", "num_sms"),),
          fix="gpu_tolerance", source=SRC_VERSIONS + "; pytorch#62467"),
    Entry(id="cuda_version", title="Different CUDA version", what="the CUDA version",
          why="CUDA libraries ship different kernels and heuristics per version, so GPU results "
              "change across versions.",
          kind=SOFTWARE, magnitudes=ROUNDING | {Magnitude.TF32}, devices=frozenset({GPU}),
          prior=0.55, settings=("cuda_version",), in_force=("cuda_version", "framework_version"),
          facts=(_one_of(r"gpu\.", "cuda", r"cuda_.*", r".*cuda_version", r"nvcc.*", r"rocm.*",
                         r"hip.*", "cuda_toolkit"),
                 _FW + r"(cuda|nccl|rocm|hip|cublas|tensorrt)(_version|\..*)?",
                 _FW + r"(cuda_|built_with_cuda|is_built_with_cuda).*",
                 r"framework\.tensorflow\.build\.cuda_version", r"pkg\." + _PKG_CUDA),
          fix="cuda", source=SRC_VERSIONS),
    Entry(id="cudnn_version", title="Different cuDNN version", what="the cuDNN version",
          why="cuDNN versions ship different convolution algorithms and heuristics.",
          kind=SOFTWARE, magnitudes=ROUNDING | {Magnitude.TF32}, devices=frozenset({GPU}),
          prior=0.5, settings=("cudnn_version",),
          in_force=("cudnn_version", "framework_version"),
          facts=(r"gpu\.cudnn.*", _FW + r"cudnn(_version|_runtime|\..*)?",
                 r"framework\.tensorflow\.build\.cudnn_version", r"pkg\.nvidia-cudnn.*"),
          fix="cuda", source=SRC_VERSIONS),
    Entry(id="driver_version", title="Different GPU driver", what="the GPU driver",
          why="The driver supplies the CUDA runtime's JIT compiler and library loader; it can "
              "change kernels and speed.",
          kind=SOFTWARE, magnitudes=ROUNDING, devices=frozenset({GPU}), prior=0.3,
          severity=MAY_CHANGE,
          facts=(_one_of(r"gpu\.", "driver", "driver_version", r"nvml.*", "cuda_driver"),),
          fix="gpu_tolerance", source=SRC_VERSIONS),
    # ------------------------------------------------------------ software versions
    Entry(id="torch_version", title="Different torch version", what="the PyTorch version",
          why="PyTorch versions change kernels, defaults (e.g. the TF32 flag) and random "
              "streams; bit equality is only expected with the same version.",
          kind=SOFTWARE, stages=KERNEL | {Stage.INIT, Stage.BATCHES}, frameworks=frozenset({TORCH}),
          prior=0.65, settings=("torch_version",), in_force=("framework_version",),
          facts=(r"framework\.torch\.(version|git_version|release)", r"pkg\.torch"),
          fix="version", source=SRC_VERSIONS),
    Entry(id="tensorflow_version", title="Different tensorflow version",
          what="the TensorFlow version",
          why="TensorFlow versions change kernels, defaults (oneDNN, TF32) and random streams; "
              "bit equality is only expected with the same version.",
          kind=SOFTWARE, stages=KERNEL | {Stage.INIT, Stage.BATCHES}, frameworks=frozenset({TF}),
          prior=0.65, settings=("tensorflow_version",), in_force=("framework_version",),
          facts=(r"framework\.tensorflow\.(version|git_version|release)",
                 r"pkg\.(tensorflow|tensorflow-(cpu|gpu|intel|macos|metal)|tf-nightly)"),
          fix="version", source=SRC_VERSIONS),
    Entry(id="keras_version", title="Different keras version", what="the Keras version",
          why="Keras versions change layer implementations, initialisers and defaults.",
          kind=SOFTWARE, stages=KERNEL | {Stage.INIT}, frameworks=frozenset({TF}), prior=0.55,
          settings=("keras_version",), in_force=("keras_version",),
          facts=(r"framework\.keras\.version", r"pkg\.(keras|tf-keras|keras-nightly)"),
          fix="version", source=SRC_VERSIONS),
    Entry(id="numpy_version", title="Different numpy version", what="the NumPy version",
          why="NumPy builds data, shuffles batches and sums in pairwise order; its version can "
              "change those streams and sums.",
          kind=SOFTWARE, stages=frozenset({Stage.DATASET, Stage.INIT, Stage.BATCHES}),
          weak_stages=KERNEL, prior=0.35, severity=MAY_CHANGE, settings=("numpy_version",),
          in_force=("numpy_version",),
          facts=(r"framework\.numpy\.version", r"pkg\.numpy"), fix="version",
          source=SRC_VERSIONS),
    Entry(id="jax_version", title="Different jax version", what="the JAX version",
          why="JAX versions change kernels and defaults.",
          kind=SOFTWARE, prior=0.3, frameworks=frozenset(),
          facts=(r"framework\.jax\.version", r"pkg\.(jax|jaxlib|jax-cuda\d*-.*)"),
          fix="version", source=SRC_VERSIONS),
    Entry(id="ml_package", title="Different versions of numerical packages",
          what="a numerical or ML package",
          why="A numerical or ML package's version can change results (SciPy solvers, data "
              "loading, augmentation) or speed.",
          kind=SOFTWARE, stages=EVERY_STAGE, prior=0.15, severity=MAY_CHANGE,
          facts=(_one_of(r"pkg\.", *_PKG_ML),), fix="packages", source=SRC_VERSIONS),
    Entry(id="python_version", title="Different Python version", what="the Python version",
          why="The Python version decides which framework and NumPy wheels are installed; by "
              "itself it rarely changes numbers.",
          kind=SOFTWARE, stages=frozenset({Stage.DATASET, Stage.BATCHES}), prior=0.05,
          severity=MAY_CHANGE, relevant=False, settings=("python_version",),
          in_force=("python_version",),
          facts=(r"host\.python(\.version)?",), source=SRC_VERSIONS),
    Entry(id="framework_build", title="Different framework build", what="a framework build detail",
          why="A build detail of the framework (compiler, BLAS, oneDNN, CUDA build) can change "
              "which kernels run.",
          kind=SOFTWARE, prior=0.3, severity=MAY_CHANGE,
          facts=(_FW + r"(onednn|mkldnn|dnnl).*", _FW + r"(config|build)\..*",
                 _FW + r"(build_settings|compiler|cxx.*|parallel_backend)"),
          fix="packages", source=SRC_VERSIONS),
    Entry(id="xla", title="XLA settings differ", what="XLA flags",
          why="XLA flags change operation fusion and kernel choice, which changes rounding.",
          prior=0.6, settings=("xla_jit", "var.XLA_FLAGS", "var.TF_XLA_FLAGS"),
          facts=(r"var\.(tf_)?xla_flags", r"numerics\..*xla.*"), fix="variable",
          source="TF API docs (XLA)"),
    Entry(id="jax_precision", title="JAX precision settings differ", what="JAX precision",
          why="JAX precision settings (x64, default matmul precision) set the rounding of "
              "every operation.",
          prior=0.7, frameworks=frozenset(),
          facts=(r"var\.jax_(enable_x64|default_matmul_precision|default_dtype_bits)",),
          fix="variable", source="JAX docs"),
    Entry(id="keras_backend", title="Different Keras backend", what="KERAS_BACKEND",
          why="KERAS_BACKEND chooses which framework computes the Keras model.",
          stages=EVERY_STAGE, prior=0.9, frameworks=frozenset({TF}),
          settings=("var.KERAS_BACKEND",), facts=(r"var\.keras_backend",), fix="variable",
          source="Keras docs"),
    Entry(id="library_path", title="Different library search path",
          what="the shared-library search path",
          why="The library search path decides which CUDA/BLAS shared libraries are actually "
              "loaded.",
          kind=SOFTWARE, prior=0.25, severity=MAY_CHANGE,
          facts=(_one_of(r"var\.", "ld_library_path", "dyld_library_path", "ld_preload",
                         "cuda_home", "cuda_path", "cudnn_path"),),
          fix="variable", source="docs/numerics.md"),
    # ------------------------------------------------------------ resources and notes
    Entry(id="memory", title="Memory too small on one side", what="RAM or GPU memory",
          why="Too little RAM or GPU memory makes a run fail, forces a smaller batch (which "
              "changes the numbers) or changes the cuDNN workspace.",
          kind=RESOURCE, stages=frozenset({Stage.FAILURE}), prior=0.2, severity=MAY_CHANGE,
          facts=(r"host\.(.*[._])?(ram|memory|mem|swap)([._].*)?",
                 _one_of(r"gpu\.\d+\.", r"memory.*", r"mem.*", r".*memory"),
                 r"cpu\.ram_.*"),
          fix="memory", source="docs/numerics.md (Colab resource limits)"),
    Entry(id="allocator", title="Allocator or device-order settings differ",
          what="allocator and device-ordering settings",
          why="Allocator and device-ordering settings change memory use and which GPU is used, "
              "rarely the numbers themselves.",
          kind=RESOURCE, prior=0.05, severity=MAY_CHANGE,
          settings=("var.PYTORCH_CUDA_ALLOC_CONF",), facts=(_one_of(r"var\.", *_VAR_ALLOC),),
          fix="variable", source="docs/numerics.md"),
    Entry(id="framework_present", title="A framework is missing on one side",
          what="whether a framework imports",
          why="Whether the framework imports at all decides which canary runs this side can "
              "make.",
          kind=NOTE, stages=frozenset(), prior=0.0, severity=MAY_CHANGE,
          facts=(_one_of(_FW, "available", "installed", "importable", "error",
                         "import_error"),),
          source="docs/numerics.md"),
    Entry(id="framework_location", title="A framework is installed elsewhere",
          what="where a framework is installed",
          why="Where the framework is installed describes the machine; it does not change "
              "results.",
          kind=NOTE, stages=frozenset(), prior=0.0, severity=INFO,
          facts=(_one_of(_FW, "path", "location", "file", "executable"),),
          source="docs/numerics.md"),
    Entry(id="gpu_info", title="A GPU reading differs", what="a GPU identity or reading",
          why="Which physical card it is and its momentary readings (temperature, clocks, "
              "power) describe the machine; they do not change results.",
          kind=NOTE, stages=frozenset(), prior=0.0, severity=INFO,
          facts=(_one_of(r"gpu\.\d+\.", *_GPU_INFO),), source="docs/numerics.md"),
    # ------------------------------------------------------------ group defaults (last)
    Entry(id="numerics_setting", title="A numerics setting differs",
          what="a numerics setting in force",
          why="A numerics setting in force inside the framework; a different value can change "
              "results directly.",
          stages=EVERY_STAGE, prior=0.5, facts=(r"numerics\..*",), fix="none",
          source="docs/numerics.md"),
    Entry(id="numerics_variable", title="A numerics environment variable differs",
          what="an environment variable read by a numerical library",
          why="This environment variable is read by a numerical library or framework before "
              "it starts; it can change which kernels run or how they reduce.",
          stages=EVERY_STAGE, prior=0.4, severity=MAY_CHANGE,
          facts=(_one_of(r"var\.", *_VAR_LIBS),), fix="variable", source="docs/numerics.md"),
    Entry(id="setting", title="A setting in force differs", what="a setting the run reported",
          why="The run reported this setting in force while it trained; a different value may "
              "change results.",
          stages=EVERY_STAGE, prior=0.3, fix="none", source="docs/numerics.md"),
    Entry(id="gpu_default", title="A GPU fact differs", what="a GPU fact",
          why="A GPU property that can change speed or what fits in memory.",
          kind=NOTE, stages=frozenset(), prior=0.0, severity=MAY_CHANGE, facts=(r"gpu\..*",),
          source="docs/numerics.md"),
    Entry(id="framework_default", title="A framework fact differs", what="a framework fact",
          why="A build detail of the framework that can change which kernels run.",
          kind=SOFTWARE, prior=0.2, severity=MAY_CHANGE, facts=(r"framework\..*",),
          fix="packages", source=SRC_VERSIONS),
    Entry(id="info", title="Informational difference", what="a descriptive fact",
          why="Informational: recorded to describe the machine; not known to change results.",
          kind=NOTE, stages=frozenset(), prior=0.0, severity=INFO,
          facts=(r"(host|cpu|var)\..*",), source="docs/numerics.md"),
    Entry(id="package", title="Other package versions differ", what="an unrelated package",
          why="A package unrelated to numerical computing; recorded for completeness.",
          kind=NOTE, stages=frozenset(), prior=0.0, severity=INFO, facts=(r"pkg\..*",),
          source="docs/numerics.md"),
)

BY_ID: dict[str, Entry] = {e.id: e for e in ENTRIES}
DEFAULT_FACT = BY_ID["info"]
DEFAULT_SETTING = BY_ID["setting"]

_FACT_RULES = tuple((re.compile(pattern, re.IGNORECASE), entry)
                    for entry in ENTRIES for pattern in entry.facts)
_CONFIG_FIELDS = {name: entry for entry in ENTRIES for name in entry.config}
_SETTINGS = {name: entry for entry in ENTRIES for name in entry.settings}


def entry(entry_id: str) -> Entry:
    """The entry with this id (KeyError for an unknown id: ids are code, not input)."""
    return BY_ID[entry_id]


def _normalise(key: str) -> str:
    """Package keys use the PEP 503 normal form so ``pkg.Tf_Keras`` matches ``pkg.tf-keras``."""
    if key.startswith("pkg."):
        return "pkg." + re.sub(r"[-_.]+", "-", key[4:]).lower()
    return key


@lru_cache(maxsize=8192)
def for_fact(key: str) -> Entry:
    """The entry an environment fact key belongs to (its group's default when none is named)."""
    norm = _normalise(str(key))
    for pattern, found in _FACT_RULES:
        if pattern.fullmatch(norm):
            return found
    return DEFAULT_FACT


def for_config(field_name: str) -> Optional[Entry]:
    """The entry a RunConfig field belongs to; None for a field the catalog does not know."""
    return _CONFIG_FIELDS.get(field_name)


def for_setting(key: str) -> Entry:
    """The entry a setting in force belongs to; unknown ``var.X`` settings are weighed like
    the environment variable X, other unknown settings by the generic setting entry."""
    found = _SETTINGS.get(key)
    if found is not None:
        return found
    if key.startswith("var."):
        return for_fact(key)
    return DEFAULT_SETTING
