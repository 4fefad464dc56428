"""NVIDIA GPU facts from NVML (machine-level, read in reprodiag's own process).

No driver is a clean fact, never an error: ``gpu.count = 0`` and ``gpu.driver`` unavailable
with the reason. NVML is initialised once per process and kept (the live sampler polls it).
The CUDA toolkit (nvcc) and a system cuDNN are found with a short subprocess / header read.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from typing import Any

from reprodiag.core.env.model import Fact, unavailable
from reprodiag.core.env.system import TOOL_TIMEOUT_S, parsed_tool_fact, read_text, run_commands

# FP32 cores per streaming multiprocessor, by compute capability (CUDA programming guide).
CORES_PER_SM = {
    (3, 0): 192, (3, 5): 192, (3, 7): 192, (5, 0): 128, (5, 2): 128, (5, 3): 128,
    (6, 0): 64, (6, 1): 128, (6, 2): 128, (7, 0): 64, (7, 2): 64, (7, 5): 64,
    (8, 0): 64, (8, 6): 128, (8, 7): 128, (8, 9): 128, (9, 0): 128,
    (10, 0): 128, (10, 1): 128, (10, 3): 128, (11, 0): 128, (12, 0): 128, (12, 1): 128,
}

_lock = threading.Lock()
_state: dict[str, Any] = {}


def anonymize_uuid(uuid: str) -> str:
    """A GPU UUID identifies one physical card: keep a short, stable hash of it."""
    return "GPU-" + hashlib.sha256(uuid.strip().encode()).hexdigest()[:12]


def _no_driver_reason(exc: Exception) -> str:
    text = str(exc)
    if "Library Not Found" in text or "Shared Library" in text:
        return "no NVIDIA driver (NVML library not found)"
    if "Driver Not Loaded" in text:
        return "no NVIDIA driver (driver not loaded)"
    return f"no NVIDIA driver (NVML: {text})"


def nvml() -> tuple[Any, str | None]:
    """(pynvml, None) once NVML is initialised, else (None, why); tried once per process."""
    with _lock:
        if not _state:
            try:
                import pynvml
            except ImportError:
                _state.update(module=None, reason="pynvml (nvidia-ml-py) is not installed")
            else:
                try:
                    pynvml.nvmlInit()
                    _state.update(module=pynvml, reason=None)
                except (pynvml.NVMLError, OSError) as exc:
                    _state.update(module=None, reason=_no_driver_reason(exc))
        return _state["module"], _state["reason"]


def _query(pynvml, function: str, *args) -> Fact:
    """One NVML call as a fact: 'not supported' and other NVML errors become the reason."""
    try:
        return Fact(getattr(pynvml, function)(*args))
    except pynvml.NVMLError as exc:
        return unavailable(f"NVML: {exc}")
    except AttributeError:  # an nvidia-ml-py older than the call
        return unavailable(f"{function} not in this nvidia-ml-py")


def _map(fact: Fact, convert) -> Fact:
    return Fact(convert(fact.value)) if fact.ok else fact


def sm_count(pynvml, handle, capability: tuple[int, int] | None) -> Fact:
    """Multiprocessor count: NVML device attributes, else CUDA cores / cores per SM."""
    attributes = _query(pynvml, "nvmlDeviceGetAttributes", handle)
    if attributes.ok and attributes.value.multiprocessorCount > 0:
        return Fact(int(attributes.value.multiprocessorCount))
    per_sm = CORES_PER_SM.get(capability) if capability else None
    cores = _query(pynvml, "nvmlDeviceGetNumGpuCores", handle)
    if per_sm and cores.ok and cores.value and cores.value % per_sm == 0:
        return Fact(cores.value // per_sm)
    return unavailable("SM count not exposed by NVML for this GPU")


def device_facts(pynvml, index: int, handle) -> tuple[dict[str, Fact], str | None]:
    """gpu.<index>.* facts of one device, and its raw UUID (for CUDA_VISIBLE_DEVICES)."""
    p = f"gpu.{index}."
    facts: dict[str, Fact] = {p + "name": _query(pynvml, "nvmlDeviceGetName", handle)}
    uuid = _query(pynvml, "nvmlDeviceGetUUID", handle)
    facts[p + "uuid"] = _map(uuid, anonymize_uuid)
    cc = _query(pynvml, "nvmlDeviceGetCudaComputeCapability", handle)
    capability = tuple(cc.value) if cc.ok else None
    facts[p + "compute_capability"] = _map(cc, lambda v: f"{v[0]}.{v[1]}")
    facts[p + "sm_count"] = sm_count(pynvml, handle, capability)
    memory = _query(pynvml, "nvmlDeviceGetMemoryInfo", handle)
    facts[p + "memory_total"] = _map(memory, lambda m: int(m.total))
    facts[p + "memory_used"] = _map(memory, lambda m: int(m.used))
    for key, clock in (("clock_sm_max_mhz", pynvml.NVML_CLOCK_SM),
                       ("clock_mem_max_mhz", pynvml.NVML_CLOCK_MEM)):
        facts[p + key] = _query(pynvml, "nvmlDeviceGetMaxClockInfo", handle, clock)
    facts[p + "power_limit_w"] = _map(
        _query(pynvml, "nvmlDeviceGetPowerManagementLimit", handle), lambda mw: mw / 1000
    )
    for key, function in (("ecc", "nvmlDeviceGetEccMode"), ("mig", "nvmlDeviceGetMigMode")):
        # Both answer [current, pending]; the current mode is what a run gets.
        facts[p + key] = _map(_query(pynvml, function, handle), lambda m: bool(m[0]))
    return facts, (uuid.value if uuid.ok else None)


def visible_devices(setting: str | None, uuids: list[str | None]) -> list[int]:
    """NVML indices CUDA will see, in CUDA's order, per CUDA_VISIBLE_DEVICES.

    Entries are indices or (prefixes of) GPU UUIDs; like CUDA, the list stops at the first
    entry that names no device. Indices assume CUDA_DEVICE_ORDER=PCI_BUS_ID (NVML's order).
    """
    if setting is None:
        return list(range(len(uuids)))
    chosen: list[int] = []
    for entry in (e.strip() for e in setting.split(",")):
        if re.fullmatch(r"\d+", entry) and int(entry) < len(uuids):
            index = int(entry)
        else:
            matches = [i for i, u in enumerate(uuids) if u and entry and u.startswith(entry)]
            if len(matches) != 1:
                break
            index = matches[0]
        if index in chosen:
            break
        chosen.append(index)
    return chosen


def nvml_facts() -> dict[str, Fact]:
    """Driver, CUDA version the driver supports, and every device."""
    pynvml, why = nvml()
    if pynvml is None:
        reason = why or "NVML is not available"
        no_driver = reason.startswith("no NVIDIA driver")
        return {
            "gpu.count": Fact(0) if no_driver else unavailable(reason),
            "gpu.driver": unavailable(reason),
            "gpu.cuda_driver": unavailable(reason),
        }
    facts: dict[str, Fact] = {
        "gpu.driver": _query(pynvml, "nvmlSystemGetDriverVersion"),
        "gpu.cuda_driver": _map(
            _query(pynvml, "nvmlSystemGetCudaDriverVersion_v2"),
            lambda v: f"{v // 1000}.{(v % 1000) // 10}",
        ),
    }
    count = _query(pynvml, "nvmlDeviceGetCount")
    facts["gpu.count"] = count
    uuids: list[str | None] = []
    for index in range(count.value if count.ok else 0):
        handle = _query(pynvml, "nvmlDeviceGetHandleByIndex", index)
        if not handle.ok:
            facts[f"gpu.{index}.name"] = handle
            uuids.append(None)
            continue
        device, uuid = device_facts(pynvml, index, handle.value)
        facts.update(device)
        uuids.append(uuid)
    facts["gpu.visible"] = Fact(visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES"), uuids))
    return facts


# -- CUDA toolkit and cuDNN on the system ---------------------------------------------------


def cuda_home() -> str | None:
    for candidate in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if candidate and os.path.isdir(candidate):
            return candidate
    return None


def cudnn_header_version() -> str | None:
    """cuDNN version from cudnn_version.h (or cudnn.h before 8), if a system cuDNN exists."""
    folders = [Path("/usr/include"), Path("/usr/local/include")]
    home = cuda_home()
    if home:
        folders.insert(0, Path(home) / "include")
    for folder in folders:
        for name in ("cudnn_version.h", "cudnn.h"):
            text = read_text(folder / name)
            if not text:
                continue
            parts = [m.group(1) for p in ("MAJOR", "MINOR", "PATCHLEVEL")
                     if (m := re.search(rf"#define CUDNN_{p}\s+(\d+)", text))]
            if len(parts) == 3:
                return ".".join(parts)
    return None


def cudnn_library_version(ldconfig_out: str) -> str | None:
    """The newest libcudnn.so.X[.Y.Z] registered with the dynamic linker."""
    found = re.findall(r"libcudnn\.so\.([\d.]+)\s", ldconfig_out + "\n")
    if not found:
        return None
    return max(found, key=lambda v: tuple(int(x) for x in v.split(".") if x))


def tool_facts(timeout: float = TOOL_TIMEOUT_S) -> dict[str, Fact]:
    """CUDA toolkit version (nvcc --version) and system cuDNN, as collect_env reports them."""
    nvcc = "nvcc"
    home = cuda_home()
    if home and os.path.exists(os.path.join(home, "bin", "nvcc")):
        nvcc = os.path.join(home, "bin", "nvcc")
    ldconfig = "/sbin/ldconfig" if os.path.exists("/sbin/ldconfig") else "ldconfig"
    results = run_commands({"nvcc": [nvcc, "--version"], "ldconfig": [ldconfig, "-p"]}, timeout)
    facts = {
        "gpu.cuda_toolkit": parsed_tool_fact(
            results["nvcc"], lambda t: (re.findall(r"release .+ V(\S+)", t) or [None])[0]
        ),
    }
    header = cudnn_header_version()
    if header:
        facts["gpu.cudnn_system"] = Fact(header)
    else:
        library = results["ldconfig"][0]
        version = cudnn_library_version(library) if library else None
        facts["gpu.cudnn_system"] = Fact(version) if version else unavailable(
            "no system cuDNN found"
        )
    return facts


def live_gpus() -> list[dict[str, Any]]:
    """Utilisation, memory and temperature of each GPU now; [] without NVML."""
    pynvml, _ = nvml()
    if pynvml is None:
        return []
    out = []
    try:
        count = pynvml.nvmlDeviceGetCount()
    except pynvml.NVMLError:
        return []
    for index in range(count):
        entry: dict[str, Any] = {"index": index}
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            entry["util"] = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            entry["mem_used"], entry["mem_total"] = int(memory.used), int(memory.total)
            entry["temperature"] = pynvml.nvmlDeviceGetTemperature(
                handle, pynvml.NVML_TEMPERATURE_GPU
            )
        except pynvml.NVMLError as exc:  # a GPU that fell off the bus still gets its row
            entry["error"] = str(exc)
        out.append(entry)
    return out
