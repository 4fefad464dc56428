"""`python -m torch.utils.collect_env` output, every generation, as snapshot facts.

Handles the 1.x layouts (Yes/No booleans, "Python version: 3.6", "Mac OSX"), the fields
added over time (ROCm, Clang, Libc, Python platform, HIP/MIOpen, XNNPACK, XPU,
CUDA_MODULE_LOADING, caching allocator), multi-line GPU and cuDNN values, the 2.x ``CPU:``
section (lscpu on Linux, wmic ``Key=Value`` or ``Key: Value`` on Windows, one brand line on
macOS), ``[pip]``/``[pip3]``/``[conda]`` library lines, and the prose, prompts and warnings
around a pasted block. A value the report could not collect becomes an unavailable fact.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from reprodiag.core.env.foreign.pip_list import (
    Package,
    conda_facts,
    package_facts,
    parse_conda_line,
    parse_pip_line,
)
from reprodiag.core.env.foreign.text import (
    Facts,
    normalize_name,
    not_given,
    to_bool,
    to_int,
    version_tuple,
)
from reprodiag.core.env.system import flag_facts

SOURCE = "torch collect_env report"
_LABEL = re.compile(r"^([A-Za-z][A-Za-z0-9_ ()/.-]*?):(?:\s(.*))?$")
# Labels of the top-level fields (lowercased); their presence identifies the report.
FIELDS = (
    "pytorch version", "is debug build", "cuda used to build pytorch", "rocm used to build pytorch",
    "xpu used to build pytorch", "os", "gcc version", "clang version", "cmake version",
    "libc version", "python version", "python platform", "is cuda available",
    "cuda runtime version", "cuda_module_loading set to", "gpu models and configuration",
    "nvidia driver version", "cudnn version", "hip runtime version", "miopen runtime version",
    "is xpu available", "is xnnpack available", "caching allocator config", "cpu",
    "versions of relevant libraries",
)
_SIGNATURE = ("pytorch version", "is debug build", "cuda used to build pytorch",
              "gpu models and configuration", "is cuda available")
_ARCHES = ("x86_64", "amd64", "aarch64", "arm64", "arm", "i386", "i686", "ppc64le", "s390x",
           "armv7l", "riscv64", "64-bit", "32-bit")
_LIB_LINE = re.compile(r"^\[(pip3?|conda|pip\d?)\]\s*(.*)$")
_GPU_LINE = re.compile(r"^GPU (\d+): (.+?)(?: \(UUID: [^)]*\))?\s*$")
_WINDOWS_ARCH = {"0": "x86", "5": "ARM", "9": "AMD64", "12": "ARM64"}


def detect(text: str) -> bool:
    """Its banner, two of the fields only collect_env prints, or its tagged library lines
    (a paste cut down to "[pip3] torch==..." is still one)."""
    seen = set()
    tagged = 0
    for line in text.split("\n"):
        if line.strip().startswith("Collecting environment information"):
            return True
        tagged += bool(_LIB_LINE.match(line.strip()))
        match = _LABEL.match(line.strip())
        if match and match.group(1).lower() in _SIGNATURE:
            seen.add(match.group(1).lower())
    return len(seen) >= 2 or "pytorch version" in seen or tagged >= 2


# -- reading the block ---------------------------------------------------------------------


class _Block:
    """The report split into fields, GPU lines, cuDNN lines, CPU lines and library lines."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.gpus: list[str] = []
        self.cudnn: list[str] = []
        self.cpu: list[str] = []
        self.libs: list[tuple[str, str]] = []


def _start(lines: list[str]) -> int:
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("Collecting environment information") or s.startswith("PyTorch version:"):
            return i
    for i, line in enumerate(lines):
        match = _LABEL.match(line.strip())
        if match and match.group(1).lower() in FIELDS:
            return i
    return 0


def read_block(text: str) -> _Block:
    block = _Block()
    lines = text.split("\n")
    state = "fields"
    i = _start(lines)
    while i < len(lines):
        line = lines[i].rstrip()
        s = line.strip()
        i += 1
        lib = _LIB_LINE.match(s)
        if lib:
            block.libs.append((lib.group(1), lib.group(2)))
            state = "libs"
            continue
        match = _LABEL.match(s)
        label = match.group(1).lower() if match else ""
        if state == "libs":
            if s and label not in FIELDS:
                break  # the pasted block has ended: prose or the next markdown heading
        if state == "gpus":
            gpu = _GPU_LINE.match(s)
            if gpu:
                block.gpus.append(s)
                continue
            state = "fields"
        if state == "cudnn":
            if s and ("cudnn" in s.lower() or s.startswith(("/", "\\")) or re.match(r"^\w:\\", s)):
                block.cudnn.append(s)
                continue
            state = "fields"
        if state == "cpu":
            if label in FIELDS and label != "cpu":
                state = "fields"
            elif s:
                block.cpu.append(s)
                continue
            else:
                continue
        if not s:
            continue
        if match and label in FIELDS:
            value = (match.group(2) or "").strip()
            if label in block.fields:
                if label == "pytorch version":
                    break  # a second report pasted below the first: keep the first
                continue
            block.fields[label] = value
            if label == "gpu models and configuration" and not value:
                state = "gpus"
            elif label == "cudnn version" and (not value or value.lower().startswith("probably")):
                state = "cudnn"
            elif label == "cpu" and not value:
                state = "cpu"
            elif label == "versions of relevant libraries":
                state = "libs"
        elif _wrapped_python(block, s):
            block.fields["python version"] += " " + s
    return block


def _wrapped_python(block: _Block, line: str) -> bool:
    """Old collect_env printed sys.version as is: '[GCC 7.3.0] (64-bit runtime)' on a new line."""
    value = block.fields.get("python version", "")
    return bool(value) and "runtime)" not in value and "[" not in value and line.startswith("[")


# -- fields -> facts -----------------------------------------------------------------------


def _os_name(value: str, facts: Facts) -> str | None:
    """'Ubuntu 20.04.6 LTS (x86_64)' -> 'Ubuntu 20.04.6 LTS', host.arch x86_64."""
    text = value.strip()
    arch = re.search(r"\s*\(([^()]*)\)$", text)
    if arch and arch.group(1).lower() in _ARCHES:
        facts.set("host.arch", arch.group(1))
        text = text[: arch.start()].strip()
    windows = re.search(r"\s*\((\d+\.\d+\.\d+)\s*(\d+-bit)?\)$", text)
    if windows and "windows" in text.lower():  # 2.6+: "Microsoft Windows 11 (10.0.22631 64-bit)"
        facts.set("host.os_version", windows.group(1))
        text = text[: windows.start()].strip()
    release = re.match(r"^(.+ release [\d.]+)\s+\([^()]*\)$", text)
    if release:  # /etc/redhat-release style: "Fedora release 34 (Thirty Four)"
        text = release.group(1)
    idx = text.find("Windows")
    if idx > 0 and not text[:idx].strip().isascii():  # mis-decoded localized "Microsoft"
        facts.note("the OS name was mis-decoded in the report; kept its readable part")
        text = text[idx:]
    text = re.sub(r"^Mac OS ?X ", "macOS ", text)
    if text.lower() in ("linux", "darwin", "win32", "cygwin"):
        return None
    return text or None


def _system(value: str) -> str | None:
    low = value.lower()
    if "windows" in low:
        return "Windows"
    if low.startswith(("macos", "mac os", "darwin")):
        return "Darwin"
    if low.startswith("linux") or re.search(
            r"ubuntu|debian|fedora|centos|red hat|rhel|arch|mint|suse|rocky|alma|amazon|gentoo"
            r"|manjaro|pop!_os|alpine", low):
        return "Linux"
    return None


def _platform(value: str, facts: Facts) -> None:
    """Python platform: 'Linux-5.15.107+-x86_64-with-glibc2.31' -> kernel and arch."""
    facts.set("host.python.platform", value)
    linux = re.match(r"^Linux-(.+?)-(x86_64|aarch64|ppc64le|s390x|i686|armv7l|riscv64)"
                     r"(-with-.*)?$", value)
    if linux:
        facts.set("host.system", "Linux")
        facts.set("host.kernel", linux.group(1))
        facts.set("host.arch", linux.group(2))
    elif value.startswith(("macOS-", "Darwin-")):
        facts.set("host.system", "Darwin")
        arch = re.search(r"-(arm64|x86_64)-", value)
        if arch:
            facts.set("host.arch", arch.group(1))
    elif value.startswith("Windows-"):
        facts.set("host.system", "Windows")


def _python(value: str, facts: Facts) -> None:
    """'3.10.12 (main, Jun  7 2023, 12:45:35) [GCC 9.4.0] (64-bit runtime)' or '3.6'."""
    text = value.strip()
    bits = re.search(r"\s*\((\d+)-bit runtime\)\s*$", text)
    if bits:
        facts.set("host.python.bits", int(bits.group(1)))
        text = text[: bits.start()].strip()
    version = re.match(r"^(\d+\.\d+(?:\.\d+)?(?:(?:a|b|rc)\d+\+?|\+)?)", text)
    if not version:
        facts.missing("host.python.version", f"unreadable Python version {value!r}")
        return
    facts.set("host.python.version", version.group(1))
    if len(text) > len(version.group(1)):
        facts.set("host.python.build", text)
        facts.set("host.python.implementation", "PyPy" if "PyPy" in text else "CPython")
        if re.search(r"packaged by (conda-forge|Anaconda)|\|\s*Anaconda|Continuum Analytics", text):
            facts.set("host.python.env", "conda")


def _cudnn_versions(lines: list[str]) -> list[str]:
    versions = []
    for line in lines:
        match = (re.search(r"libcudnn(?:_\w+)?\.so\.(\d+(?:\.\d+)*)", line)
                 or re.search(r"libcudnn(?:_\w+)?\.(\d+(?:\.\d+)*)\.dylib", line)
                 or re.search(r"cudnn(?:_\w+)?64_(\d+)\.dll", line, re.IGNORECASE)
                 or re.fullmatch(r"\s*(\d+\.\d+(?:\.\d+)?)\s*", line))
        if match:
            versions.append(match.group(1))
        elif re.fullmatch(r"\s*\d{4,5}\s*", line):  # torch.backends.cudnn.version(): 8902, 90100
            n = int(line)
            parts = (n // 10000, n // 100 % 100, n % 100) if n >= 10000 else (
                n // 1000, n // 100 % 10, n % 100)
            versions.append(".".join(str(p) for p in parts))
    return versions


def _cudnn(value: str, extra: list[str], facts: Facts) -> None:
    reason = not_given(value) if not extra else None
    if reason is not None:
        facts.missing("gpu.cudnn_system", reason)
        return
    lines = ([] if value.lower().startswith("probably") else [value]) + extra
    versions = sorted(set(_cudnn_versions(lines)), key=version_tuple)
    if not versions:
        facts.missing("gpu.cudnn_system", "the report names cuDNN files without a version")
        return
    if len({version_tuple(v)[:1] + version_tuple(v)[1:2] for v in versions}) > 1:
        facts.note(f"several system cuDNN versions are installed: {', '.join(versions)}; "
                   "the newest is recorded")
    facts.set("gpu.cudnn_system", versions[-1])


def _gpus(value: str, lines: list[str], facts: Facts) -> None:
    reason = not_given(value) if not lines else None
    if reason is not None:
        if value.strip().lower() == "no cuda":
            facts.set("gpu.count", 0)
        else:
            facts.missing("gpu.count", reason)
        return
    names = []
    for line in ([value] if value else []) + lines:
        match = _GPU_LINE.match(line.strip())
        names.append(match.group(2) if match else re.sub(r" \(UUID: [^)]*\)", "", line).strip())
    for index, name in enumerate(names):
        facts.set(f"gpu.{index}.name", name)
    facts.set("gpu.count", len(names))


def _version_or_none(value: str) -> str | None:
    """'CUDA used to build PyTorch: None' and ROCm 'N/A' mean a build without it."""
    return None if value.strip().lower() in ("none", "n/a", "") else value.strip()


def _field_facts(fields: dict[str, str], facts: Facts) -> None:
    get = fields.get
    if (value := get("pytorch version")) is not None:
        if value.strip().lower() == "n/a":
            facts.missing("framework.torch.version", "torch could not be imported on that machine")
        else:
            facts.put("framework.torch.version", value)
    if (value := get("is debug build")) is not None:
        facts.put("framework.torch.debug", value, to_bool)
    for label, key in (("cuda used to build pytorch", "framework.torch.cuda"),
                       ("rocm used to build pytorch", "framework.torch.hip")):
        if (value := get(label)) is not None and value.strip().lower() != "could not collect":
            facts.set(key, _version_or_none(value))
    if (value := get("os")) is not None:
        if not_given(value):
            facts.put("host.os", value)
        else:
            name = _os_name(value, facts)
            system = _system(value)
            if system:
                facts.set("host.system", system)
            if name:
                facts.set("host.os", name)
            else:
                facts.missing("host.os", "the report gives no distribution name")
    if (value := get("gcc version")) is not None:
        facts.put("host.compiler.gcc", value)
    if (value := get("clang version")) is not None:
        facts.put("host.compiler.clang", value)
    if (value := get("cmake version")) is not None:
        facts.put("host.compiler.cmake", value,
                  lambda v: re.sub(r"^(cmake )?version\s+", "", v).strip())
    if (value := get("libc version")) is not None:
        facts.put("host.libc", value, lambda v: re.sub(r"^(\w+)-", r"\1 ", v))
    if (value := get("python version")) is not None:
        if not_given(value):
            facts.put("host.python.version", value)
        else:
            _python(value, facts)
    if (value := get("python platform")) is not None and not not_given(value):
        _platform(value.strip(), facts)
    for label, key in (("is cuda available", "framework.torch.cuda_available"),
                       ("is xpu available", "framework.torch.xpu_available"),
                       ("is xnnpack available", "numerics.torch.xnnpack")):
        if (value := get(label)) is not None:
            facts.put(key, value, to_bool)
    if (value := get("cuda runtime version")) is not None:
        facts.put("gpu.cuda_toolkit", value)
    if (value := get("nvidia driver version")) is not None:
        facts.put("gpu.driver", value)
    for label, key in (("hip runtime version", "framework.torch.config.hip_runtime"),
                       ("miopen runtime version", "framework.torch.config.miopen")):
        if (value := get(label)) and _version_or_none(value) and not not_given(value):
            facts.set(key, value.strip())
    if (value := get("caching allocator config")) is not None:
        value = value.strip()
        facts.set("var.PYTORCH_CUDA_ALLOC_CONF", None if value.lower() in ("", "n/a") else value)


# -- CPU section ---------------------------------------------------------------------------

_LSCPU: dict[str, tuple[str, Callable[[str], Any]]] = {
    "model name": ("cpu.model", str), "vendor id": ("cpu.vendor", str),
    "cpu family": ("cpu.family", to_int), "model": ("cpu.model_number", to_int),
    "stepping": ("cpu.stepping", to_int), "bogomips": ("cpu.bogomips", str),
    "address sizes": ("cpu.address_sizes", str), "cpu op-mode(s)": ("cpu.op_modes", str),
    "on-line cpu(s) list": ("cpu.online", str), "cpu(s)": ("cpu.logical_cores", to_int),
    "socket(s)": ("cpu.sockets", to_int), "numa node(s)": ("cpu.numa_nodes", to_int),
    "hypervisor vendor": ("cpu.hypervisor_vendor", str),
    "virtualization type": ("cpu.virtualization_type", str),
    # Windows (wmic, or Get-CimInstance on 2.6+)
    "name": ("cpu.model", str), "manufacturer": ("cpu.vendor", str),
}


def _cache(value: str) -> str | None:
    """Per-instance size in the live collector's 'NNK' form; None when lscpu gives a total."""
    old = re.fullmatch(r"(\d+)K", value)
    if old:
        return value
    match = re.fullmatch(r"([\d.]+) (KiB|MiB|GiB) \((\d+) instances?\)", value)
    if not match:
        return None
    kib = float(match.group(1)) * {"KiB": 1, "MiB": 1024, "GiB": 1024 ** 2}[match.group(2)]
    return f"{round(kib / int(match.group(3)))}K"


def _vulnerability(value: str) -> str:
    """lscpu writes sysfs's 'Mitigation: x' as 'Mitigation; x'."""
    return re.sub(r"^(Mitigation|Vulnerable|Processor vulnerable); ", r"\1: ", value)


def _cpu_facts(lines: list[str], facts: Facts) -> None:
    pairs: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep or "=" in key:
            key, sep, value = line.partition("=")
        if sep:
            pairs.setdefault(key.strip().lower(), value.strip())
    if not pairs and lines:
        facts.set("cpu.model", lines[0].strip())  # macOS: one brand-string line
        return
    for label, (key, convert) in _LSCPU.items():
        if label in pairs and pairs[label] and pairs[label].lower() not in ("none", "n/a"):
            value = convert(pairs[label])
            if value is not None:
                facts.set(key, value)
    arch = pairs.get("architecture")
    if arch:
        facts.set("host.arch", _WINDOWS_ARCH.get(arch, arch))
    order = pairs.get("byte order", "").lower()
    if order:
        facts.set("cpu.byte_order", "little" if "little" in order else "big")
    cores, sockets = to_int(pairs.get("core(s) per socket", "")), to_int(pairs.get("socket(s)", ""))
    if cores and sockets:
        facts.set("cpu.physical_cores", cores * sockets)
    if "flags" in pairs or "features" in pairs:
        arm = "flags" not in pairs
        info = {"Features": pairs["features"]} if arm else {"flags": pairs["flags"]}
        for key, fact in flag_facts(info).items():
            facts.facts.setdefault(key, fact)
        flags = set((pairs.get("flags") or pairs.get("features") or "").split())
        facts.set("cpu.hypervisor", "hypervisor" in flags or "hypervisor vendor" in pairs)
    if "vendor id" in pairs:  # lscpu prints no hypervisor lines on bare metal: "none"
        facts.set("cpu.hypervisor_vendor", None)
        facts.set("cpu.virtualization_type", None)
    for label, value in pairs.items():
        cache = re.fullmatch(r"(l\d[di]?) cache", label)
        if cache and _cache(value):
            facts.set(f"cpu.cache.{cache.group(1)}", _cache(value))
        if label.startswith("vulnerability "):
            name = re.sub(r"\W+", "_", label[len("vulnerability "):]).strip("_")
            facts.set(f"cpu.vulnerability.{name}", _vulnerability(value))


# -- library lines -------------------------------------------------------------------------


def _library_facts(libs: list[tuple[str, str]], facts: Facts) -> None:
    pip: dict[str, Package] = {}
    conda = []
    for tag, rest in libs:
        if not_given(rest) or rest.strip().lower() == "no relevant packages":
            continue
        if tag == "conda":
            row = parse_conda_line(rest)
            if row:
                conda.append(row)
        else:
            parsed = parse_pip_line(rest)
            if isinstance(parsed, Package):
                pip.setdefault(normalize_name(parsed.name), parsed)
    torch = facts.value("framework.torch.version")
    listed = pip.get("torch")
    if torch and listed and listed.version and listed.version != torch:
        if _same_build(torch, listed.version):
            facts.override("framework.torch.version", listed.version)  # the live collector's form
        else:
            facts.note(f"pip lists torch {listed.version} but torch reports {torch}")
    facts.update(package_facts(pip, complete=False))
    conda_torch = next((r for r in conda if r.name in ("pytorch", "torch")), None)
    running = facts.value("framework.torch.version")
    if conda_torch and running and not _same_build(conda_torch.version, running):
        facts.note(f"the conda list is from another environment (pytorch {conda_torch.version}"
                   f" there, torch {running} running); its packages are left out")
        return
    if conda_torch:
        cudnn = re.search(r"cudnn(\d+(?:\.\d+)*)", conda_torch.build)
        if cudnn:
            facts.set("framework.torch.cudnn", cudnn.group(1))
    facts.update(conda_facts(conda, set(pip)))


def _same_build(a: str, b: str) -> bool:
    """One build spelled two ways: '2.0.0.dev1+cpu-cxx11-abi' and pip's '+cpu.cxx11.abi',
    conda's '1.0.1' and the '1.0.1.post2' that build reports."""
    def canon(v: str) -> str:
        return re.sub(r"[-_.]", ".", v.strip().lower())

    base_a, _, local_a = (canon(p) for p in a.partition("+"))
    base_b, _, local_b = (canon(p) for p in b.partition("+"))
    same_base = base_a == base_b or re.fullmatch(
        rf"{re.escape(min(base_a, base_b, key=len))}\.post\d+", max(base_a, base_b, key=len))
    return bool(same_base) and (not local_a or not local_b or local_a == local_b)


def parse(text: str) -> Facts:
    """Facts of a collect_env report (`text` already cleaned)."""
    block = read_block(text)
    facts = Facts()
    _field_facts(block.fields, facts)
    if "gpu models and configuration" in block.fields:
        _gpus(block.fields["gpu models and configuration"], block.gpus, facts)
    if "cudnn version" in block.fields:
        _cudnn(block.fields["cudnn version"], block.cudnn, facts)
    if block.cpu:
        _cpu_facts(block.cpu, facts)
    _library_facts(block.libs, facts)
    return facts
