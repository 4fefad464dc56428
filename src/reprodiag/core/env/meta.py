"""What each environment fact means for reproducibility: how much it matters, and why.

`describe(key)` classifies a dotted fact key (``cpu.flags.avx512f``, ``pkg.numpy``) by
ordered pattern rules, first match wins, with a default per group, so keys that collectors
add later are still ranked sensibly. The sentences cite docs/NUMERICS.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Facts that are not a difference between environments -- readings that change from moment
# to moment on one machine, and notes on where an imported report came from -- so an
# environment diff leaves them out unless asked for everything.
_VOLATILE = re.compile(r"^(cpu\.ram_available|gpu\.\d+\.memory_used|host\.source(_notes)?)$")


def is_volatile(key: str) -> bool:
    """True for readings that differ between two snapshots of the same environment."""
    return bool(_VOLATILE.match(key))


# Severity levels.
INFO, MAY_CHANGE, CHANGES_NUMERICS = 1, 2, 3


@dataclass(frozen=True)
class FactMeta:
    """How a fact bears on results: numerics-relevant or not, severity 1-3, one-line why."""

    numerics: bool
    severity: int
    why: str


def _m(severity: int, why: str, numerics: bool | None = None) -> FactMeta:
    relevant = severity >= CHANGES_NUMERICS if numerics is None else numerics
    return FactMeta(numerics=relevant, severity=severity, why=why)


# Shared explanations, each naming the mechanism from NUMERICS.md.
_TF32 = _m(3, "TF32 rounds float32 matmul/convolution inputs to 10 mantissa bits on GPUs of "
              "compute capability >= 8.0, so results change unless both sides agree.")
_DETERMINISM = _m(3, "Deterministic-algorithm settings decide whether GPU kernels that use "
                     "atomic adds (or cuDNN autotuning) may give different results run to run.")
_BENCHMARK = _m(3, "cuDNN autotuning (benchmark) may pick a different convolution algorithm per "
                   "run and per machine, which changes results.")
_THREADS = _m(3, "The CPU thread count changes the order of parallel reductions, so 1 vs 2 "
                 "threads gives a different trajectory after the first step.")
_ONEDNN = _m(3, "oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS; default on only for some CPUs and "
                "on Windows) compute with a different operation order than the Eigen defaults.")
_ISA = _m(3, "The CPU instruction set (AVX2 vs AVX-512, AMX, VNNI) picks which vectorised "
             "kernels run, and they round differently.")
_CPU_MODEL = _m(3, "The CPU model and vendor decide the instruction sets and the MKL/oneDNN "
                   "code path (Intel vs AMD), so kernels can round differently.")
_DTYPE = _m(3, "The floating-point type (float32, float64, mixed precision) sets the rounding "
               "of every operation; only like can be compared with like.")
_SEED = _m(3, "Seeds decide initial parameters, shuffling and augmentation; unseeded or "
              "differently seeded runs start from different points.")
_HASHSEED = _m(3, "PYTHONHASHSEED fixes Python's hash randomisation, which otherwise changes "
                  "set/dict iteration order between processes.")
_DEVICE = _m(3, "Which devices are visible decides whether work runs on the CPU or a GPU, and "
                "CPU and CUDA kernels and random streams differ.")
_CUBLAS_WS = _m(3, "Without CUBLAS_WORKSPACE_CONFIG=:4096:8 cuBLAS (CUDA >= 10.2) may choose "
                   "nondeterministic reduction strategies.")
_FRAMEWORK_VERSION = _m(3, "Framework versions change kernels, defaults (e.g. the TF32 flag) and "
                           "random streams; bit equality is only expected with the same version.")
_CUDA_STACK = _m(3, "CUDA, cuDNN and cuBLAS versions ship different kernels and heuristics, so "
                    "GPU results change across versions.")
_GPU_MODEL = _m(3, "The GPU model sets the architecture, TF32 support and SM count; CUDA random "
                   "streams for large tensors depend on the SM count.")
_COMPUTE_CAP = _m(3, "Compute capability >= 8.0 enables TF32 and selects different kernels; "
                     "across architectures bit equality is not expected.")
_SM_COUNT = _m(3, "CUDA random number output for large tensors depends on the GPU's SM count.")
_GPU_COUNT = _m(3, "Whether a GPU is present decides if 'auto' runs use the GPU or the CPU, "
                   "whose kernels and random streams differ.")
_NUMERICS_GENERIC = _m(3, "A numerics setting in force inside the framework; a different value "
                          "can change results directly.")
_NUMERICS_VAR = _m(3, "This environment variable is read by a numerical library before it "
                      "starts and changes which kernels run or how they reduce.")
_XLA = _m(3, "XLA flags change operation fusion and kernel choice, which changes rounding.")
_JAX_PRECISION = _m(3, "JAX precision settings (x64, default matmul precision) set the rounding "
                       "of every operation.")
_KERAS_BACKEND = _m(3, "KERAS_BACKEND chooses which framework computes the Keras model.")
_DRIVER = _m(2, "The GPU driver supplies the CUDA runtime's JIT compiler and library loader; it "
                "can change kernels and speed.", numerics=True)
_BLAS = _m(2, "The BLAS/LAPACK library (MKL vs OpenBLAS) and its build decide how matrix "
              "products are blocked and summed.", numerics=True)
_FRAMEWORK_BUILD = _m(2, "A build detail of the framework (compiler, BLAS, oneDNN, CUDA build) "
                         "that can change which kernels run.", numerics=True)
_FRAMEWORK_PRESENT = _m(2, "Whether the framework imports at all decides which canary runs "
                           "this side can make.", numerics=False)
_CORES = _m(2, "Frameworks default their thread count to the core count, and the thread count "
               "changes reduction order.", numerics=True)
_ARCH = _m(3, "The machine architecture (x86_64 vs arm64) runs entirely different kernels.")
_OS = _m(2, "The operating system changes defaults, e.g. TensorFlow turns oneDNN on by default "
            "on Windows x86.", numerics=True)
_PYTHON = _m(2, "The Python version decides which framework and NumPy wheels are installed.",
             numerics=False)
_LIBM = _m(2, "The C library's math functions (exp, log) can differ in the last bit between "
              "versions.", numerics=True)
_MEMORY = _m(2, "Memory limits change what fits (batch size, cuDNN workspace) and speed, and "
                "can make a run fail.", numerics=False)
_GPU_OTHER = _m(2, "A GPU property that can change speed or what fits in memory.",
                numerics=False)
_LIBRARY_PATH = _m(2, "The library search path decides which CUDA/BLAS shared libraries are "
                      "actually loaded.", numerics=True)
_ALLOC = _m(2, "Allocator and device-ordering settings change memory use and which GPU is "
               "used, rarely the numbers themselves.", numerics=False)
_LIB_VAR = _m(2, "A variable read by a numerical library or framework; it can change kernels "
                 "or speed.", numerics=True)
_ML_PKG_CORE = _m(3, "A core framework or math-library package; its version changes kernels and "
                     "defaults, so bit equality needs the same version.")
_ML_PKG = _m(2, "A numerical or ML package; its version can change results (e.g. NumPy "
                "summation, SciPy solvers, data loading) or speed.", numerics=True)
_INFO = _m(1, "Informational: recorded to describe the machine; not known to change results.")
_INFO_PKG = _m(1, "A package unrelated to numerical computing; recorded for completeness.")


def _one_of(prefix: str, *names: str) -> str:
    """A regex for `prefix` followed by any of `names` (each itself a regex)."""
    return prefix + "(" + "|".join(names) + ")"


# Ordered (regex, meta) rules; the key is matched case-insensitively with re.fullmatch.
# Package names are normalised first (PEP 503: lower case, runs of -_. become -).
_ISA_FLAGS = (r"avx.*", r"amx.*", r"fma.*", "f16c", r"sse.*", "ssse3", r".*vnni.*", r".*bf16.*",
              r".*fp16.*", r"asimd.*", r"sve.*", "neon")
_GPU_INFO = ("uuid", "serial", r"pci.*", r"bus.*", "index", "minor_number", r"temperature.*",
             r"fan.*", r"power.*", r"clock.*", r"utilization.*", r"persistence.*", r"pstate.*",
             r"vbios.*")
_VAR_DETERMINISM = ("tf_deterministic_ops", "tf_cudnn_deterministic", "tf_cudnn_use_autotune",
                    "cudnn_deterministic", r"torch_deterministic.*")
_VAR_ISA = ("aten_cpu_capability", "onednn_max_cpu_isa", "dnnl_max_cpu_isa", "mkl_cbwr",
            "mkl_enable_instructions", "mkl_debug_cpu_type", "npy_disable_cpu_features",
            "openblas_coretype")
_VAR_THREADS = ("omp_num_threads", "mkl_num_threads", "openblas_num_threads",
                "veclib_maximum_threads", "numexpr_num_threads", "blis_num_threads",
                "goto_num_threads", "tf_num_intraop_threads", "tf_num_interop_threads",
                "omp_thread_limit", "mkl_dynamic", "omp_dynamic")
_VAR_ALLOC = ("pytorch_cuda_alloc_conf", "tf_gpu_allocator", "tf_force_gpu_allow_growth",
              "cuda_device_order", r"xla_python_client_.*", "cuda_launch_blocking",
              "cuda_module_loading")
_VAR_LIBS = (r"omp_.*", r"kmp_.*", r"gomp_.*", r"mkl_.*", r"openblas_.*", r"tf_.*", r"torch_.*",
             r"pytorch_.*", r"cuda_.*", r"cudnn_.*", r"nccl_.*", r"xla_.*", r"jax_.*",
             r"keras_.*", r"dnnl_.*", r"onednn_.*", r"npy_.*", r"numpy_.*")
_PKG_CORE = ("torch", "tensorflow", r"tensorflow-(cpu|gpu|intel|macos|metal)", "tf-nightly",
             "keras", "tf-keras", "keras-nightly", "jax", "jaxlib", r"jax-cuda\d*-.*",
             r"intel-extension-for-.*", "triton", r"pytorch-triton.*",
             _one_of("nvidia-", "cudnn", "cublas", "cuda-runtime", "cuda-nvrtc", "cufft", "curand",
                     "cusolver", "cusparse", "cusparselt", "nccl") + "(-.*)?",
             "mkl", r"mkl-.*", r"onednn.*", "intel-openmp", r"tensorrt.*", "ml-dtypes")
_PKG_ML = ("numpy", "scipy", r"nvidia-.*", r"cuda-.*", r"cupy.*", "numba", "llvmlite",
           "opt-einsum", "scikit-learn", "sklearn", "pandas", "torchvision", "torchaudio",
           "torchtext", "torchdata", r"tensorflow-.*", r"tf-.*", r"keras-.*", "flax", "optax",
           "chex", "transformers", "accelerate", "diffusers", "timm", "lightning",
           "pytorch-lightning", "xgboost", "lightgbm", "catboost", r"onnx.*", r"openblas.*",
           r"scipy-openblas.*", "numexpr", "bottleneck", "h5py", "safetensors", "tokenizers",
           "datasets", "albumentations", r"opencv-.*", "pillow", "pillow-simd", r"torch-.*",
           r"jax-.*", r"tensorboard.*", "einops", "deepspeed", "xformers", "apex",
           "bitsandbytes")
_FW = r"framework\.[^.]+\."

_RULES: tuple[tuple[str, FactMeta], ...] = (
    # host
    (_one_of(r"host\.", "arch", "architecture", "machine", r"platform\.machine"), _ARCH),
    (_one_of(r"host\.", "os", "system", "platform", r"os\..*", r"platform\..*", r"windows.*",
             r"macos.*", r"distro.*"), _OS),
    (r"host\.(glibc|libc)(\..*)?", _LIBM),
    (r"host\.python(\.version)?", _PYTHON),
    (r"host\.(.*[._])?(ram|memory|mem|swap)([._].*)?", _MEMORY),
    (_one_of(r"host\.", "cpu_count", "cores", "logical_cpus", "physical_cpus", "cpus"), _CORES),
    (r"host\..*", _INFO),
    # cpu
    (r"cpu\.flags", _ISA),
    (_one_of(r"cpu\.flags\.", *_ISA_FLAGS), _ISA),
    (r"cpu\.(isa|instruction_sets?|simd|.*capability)(\..*)?", _ISA),
    (_one_of(r"cpu\.", "model", "model_name", "name", "brand", "brand_raw", "vendor",
             "vendor_id", "family", "stepping"), _CPU_MODEL),
    (_one_of(r"cpu\.", "count", "cores", "threads", "logical", "physical", r".*_count",
             r".*_cores", r"cores_.*", r"affinity.*"), _CORES),
    (r"cpu\..*", _INFO),
    # gpu
    (_one_of(r"gpu\.", "count", "n", "devices", "available", "present"), _GPU_COUNT),
    (_one_of(r"gpu\.", "cuda", r"cuda_.*", r".*cuda_version", r"cudnn.*", r"nvcc.*", r"rocm.*",
             r"hip.*"), _CUDA_STACK),
    (_one_of(r"gpu\.", "driver", "driver_version", r"nvml.*"), _DRIVER),
    (_one_of(r"gpu\.\d+\.", "name", "model", r"product.*", "architecture", "arch"), _GPU_MODEL),
    (_one_of(r"gpu\.\d+\.", "compute_capability", "cc", "capability", "major", "minor"),
     _COMPUTE_CAP),
    (_one_of(r"gpu\.\d+\.", "sm_count", r"multiprocessor.*", "sms", "num_sms"), _SM_COUNT),
    (_one_of(r"gpu\.\d+\.", r"memory.*", r"mem.*", r".*memory"), _MEMORY),
    (_one_of(r"gpu\.\d+\.", *_GPU_INFO), _INFO),
    (r"gpu\..*", _GPU_OTHER),
    # framework
    (_one_of(_FW, "version", "git_version", "release"), _FRAMEWORK_VERSION),
    (_FW + r"(cuda|cudnn|nccl|rocm|hip|cublas|tensorrt|xla)(_version|\..*)?", _CUDA_STACK),
    (_FW + r"(cuda_|cudnn_|built_with_cuda|is_built_with_cuda).*", _CUDA_STACK),
    (_FW + r"(onednn|mkldnn|dnnl).*", _ONEDNN),
    (_FW + r"(cpu_capability|isa|simd).*", _ISA),
    (_FW + r"(blas|lapack|mkl|openblas)(_.*)?", _BLAS),
    (_one_of(_FW, "available", "installed", "importable", "error", "import_error"),
     _FRAMEWORK_PRESENT),
    (_one_of(_FW, "path", "location", "file", "executable"), _INFO),
    (r"framework\..*", _FRAMEWORK_BUILD),
    # numerics: everything here changes numbers; pick the best explanation
    (r"numerics\..*(tf32|tensor_float|matmul_precision).*", _TF32),
    (r"numerics\..*benchmark.*", _BENCHMARK),
    (r"numerics\..*determinis.*", _DETERMINISM),
    (r"numerics\..*(thread|intra_op|inter_op|parallelism).*", _THREADS),
    (r"numerics\..*(onednn|mkldnn|dnnl).*", _ONEDNN),
    (r"numerics\..*(cpu_capability|isa|simd).*", _ISA),
    (r"numerics\..*(dtype|floatx|precision|mixed|policy|autocast|amp).*", _DTYPE),
    (r"numerics\..*(seed|rng|random).*", _SEED),
    (r"numerics\..*(device|cuda_available|gpu).*", _DEVICE),
    (r"numerics\..*", _NUMERICS_GENERIC),
    # var: environment variables
    (r"var\.pythonhashseed", _HASHSEED),
    (r"var\.cublas_workspace_config", _CUBLAS_WS),
    (r"var\.(nvidia_tf32_override|torch_allow_tf32.*)", _TF32),
    (_one_of(r"var\.", *_VAR_DETERMINISM), _DETERMINISM),
    (r"var\.(tf_enable_onednn_opts|tf_disable_mkl|tf_enable_mkl.*)", _ONEDNN),
    (_one_of(r"var\.", *_VAR_ISA), _ISA),
    (_one_of(r"var\.", *_VAR_THREADS), _THREADS),
    (r"var\.(cuda|hip|rocr)_visible_devices", _DEVICE),
    (r"var\.(tf_)?xla_flags", _XLA),
    (r"var\.jax_(enable_x64|default_matmul_precision|default_dtype_bits)", _JAX_PRECISION),
    (r"var\.keras_backend", _KERAS_BACKEND),
    (_one_of(r"var\.", "ld_library_path", "dyld_library_path", "ld_preload", "cuda_home",
             "cuda_path", "cudnn_path"), _LIBRARY_PATH),
    (_one_of(r"var\.", *_VAR_ALLOC), _ALLOC),
    (_one_of(r"var\.", *_VAR_LIBS), _LIB_VAR),
    (r"var\..*", _INFO),
    # pkg: installed distributions, key = pkg.<normalised name>
    (_one_of(r"pkg\.", *_PKG_CORE), _ML_PKG_CORE),
    (_one_of(r"pkg\.", *_PKG_ML), _ML_PKG),
    (r"pkg\..*", _INFO_PKG),
)

_COMPILED = tuple((re.compile(pattern, re.IGNORECASE), meta) for pattern, meta in _RULES)


def _normalise(key: str) -> str:
    """Package keys use the PEP 503 normal form so ``pkg.Tf_Keras`` matches ``pkg.tf-keras``."""
    if key.startswith("pkg."):
        return "pkg." + re.sub(r"[-_.]+", "-", key[4:]).lower()
    return key


@lru_cache(maxsize=4096)
def describe(key: str) -> FactMeta:
    """Severity, numerics relevance and a one-sentence reason for a fact key; never raises."""
    norm = _normalise(str(key))
    for pattern, meta in _COMPILED:
        if pattern.fullmatch(norm):
            return meta
    return _INFO
