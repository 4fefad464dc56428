"""Deep PyTorch facts: the settings in force once torch is imported in this interpreter.

Run BY PATH with the target interpreter, in its own process; prints one JSON line
``{"probe": "torch", "installed": bool, "facts": {...}}`` (see env_probe.emit). Keys:
``numerics.torch.*`` -- settings that change results (TF32 flags, float32 matmul precision,
deterministic algorithms, cuDNN benchmark/deterministic, threads, CPU capability, XNNPACK,
oneDNN); ``framework.torch.*`` -- the rest (CUDA availability, devices, cuDNN runtime,
build configuration from torch.__config__.show(), parallel backend).
"""

import importlib.util
import re
import sys

import env_probe as ep

N = "numerics.torch."
F = "framework.torch."

# torch.__config__.show() bullet lines -> fact name (first group is the value).
CONFIG_LINES = (
    (r"^\s*- ((?:GCC|clang|MSVC) [\d.]+)", "compiler"),
    (r"Math Kernel Library Version ([\d.]+)", "mkl"),
    (r"MKL-DNN (v[\d.]+)", "onednn"),
    (r"^\s*- OpenMP (\d+)", "openmp"),
    (r"CPU capability usage: (\w+)", "cpu_capability_build"),
    (r"CUDA Runtime ([\d.]+)", "cuda_runtime"),
    (r"CuDNN ([\d.]+)", "cudnn_build"),
    (r"Magma ([\d.]+)", "magma"),
    (r"HIP Runtime ([\d.]+)", "hip_runtime"),
    (r"MIOpen ([\d.]+)", "miopen"),
    (r"NVCC architecture flags: (.*)$", "nvcc_arch_flags"),
)
BUILD_SETTINGS = (
    "BLAS_INFO", "LAPACK_INFO", "BUILD_TYPE", "CUDA_VERSION", "CUDNN_VERSION", "USE_CUDA",
    "USE_CUDNN", "USE_MKL", "USE_MKLDNN", "USE_OPENMP", "USE_NCCL", "USE_ROCM", "USE_XPU",
)


def config_facts(text):
    """Build facts from the text of torch.__config__.show()."""
    facts = {}
    for pattern, name in CONFIG_LINES:
        match = re.search(pattern, text, re.MULTILINE)
        if match and F + "config." + name not in facts:
            facts[F + "config." + name] = ep.fact(match.group(1).strip())
    settings = re.search(r"Build settings: (.*)$", text, re.MULTILINE)
    pairs = dict(re.findall(r"(\w+)=(.*?)(?:, (?=\w+=)|,?\s*$)", settings.group(1))) if (
        settings) else {}
    for name in BUILD_SETTINGS:
        if name in pairs:
            facts[F + "config." + name.lower()] = ep.fact(pairs[name])
    return facts


def numerics_facts(torch):
    cuda, cudnn = torch.backends.cuda, torch.backends.cudnn
    readers = {
        "allow_tf32_matmul": lambda: cuda.matmul.allow_tf32,
        "allow_tf32_cudnn": lambda: cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision,
        "fp32_precision": lambda: torch.backends.fp32_precision,
        "fp32_precision_matmul": lambda: cuda.matmul.fp32_precision,
        "fp32_precision_cudnn": lambda: cudnn.fp32_precision,
        "allow_fp16_reduced_precision_reduction":
            lambda: cuda.matmul.allow_fp16_reduced_precision_reduction,
        "allow_bf16_reduced_precision_reduction":
            lambda: cuda.matmul.allow_bf16_reduced_precision_reduction,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled,
        "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled,
        "cudnn_enabled": lambda: cudnn.enabled,
        "cudnn_benchmark": lambda: cudnn.benchmark,
        "cudnn_deterministic": lambda: cudnn.deterministic,
        "num_threads": torch.get_num_threads,
        "num_interop_threads": torch.get_num_interop_threads,
        "cpu_capability": lambda: torch.backends.cpu.get_cpu_capability(),
        "mkldnn_enabled": lambda: torch.backends.mkldnn.enabled,
        "xnnpack": _xnnpack_enabled,
    }
    return {N + key: ep.guarded(read) for key, read in readers.items()}


def _xnnpack_enabled():
    import torch.backends.xnnpack

    # the module replaces itself by an object with this property; the stubs cannot see it
    return bool(torch.backends.xnnpack.enabled)  # type: ignore[attr-defined]


def _parallel_backend(info: str) -> str:
    """The backend named in torch.__config__.parallel_info()."""
    match = re.search(r"ATen parallel backend: (.*)", info)
    if match is None:
        raise ValueError("parallel_info() names no 'ATen parallel backend'")
    return match.group(1).strip()


def device_facts(torch):
    facts = {
        F + "cuda_available": ep.guarded(torch.cuda.is_available),
        F + "device_count": ep.guarded(torch.cuda.device_count),
        F + "xpu_available": ep.guarded(lambda: torch.xpu.is_available()),
        F + "mps_available": ep.guarded(lambda: torch.backends.mps.is_available()),
    }
    cudnn = ep.guarded(torch.backends.cudnn.version)
    if cudnn.get("unavailable") is None and cudnn["value"] is None:
        cudnn = ep.unavailable("cuDNN not available to torch")
    facts[F + "cudnn_runtime"] = cudnn
    if facts[F + "cuda_available"].get("value"):
        for i in range(torch.cuda.device_count()):
            p = f"{F}device.{i}."
            props = torch.cuda.get_device_properties(i)
            facts[p + "name"] = ep.fact(props.name)
            facts[p + "capability"] = ep.fact(f"{props.major}.{props.minor}")
            facts[p + "sm_count"] = ep.fact(props.multi_processor_count)
            facts[p + "memory_total"] = ep.fact(int(props.total_memory))
    return facts


def collect(torch):
    facts = numerics_facts(torch)
    facts.update(device_facts(torch))
    config = ep.guarded(lambda: config_facts(torch.__config__.show()))
    if "value" in config:
        facts.update(config["value"])
    else:
        facts[F + "config"] = config
    backend = ep.guarded(lambda: _parallel_backend(torch.__config__.parallel_info()))
    facts[F + "parallel_backend"] = backend
    return facts


def main():
    if importlib.util.find_spec("torch") is None:
        ep.emit("torch", {}, installed=False)
        return 0
    import torch

    ep.emit("torch", collect(torch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
