"""Machine-level host and CPU facts, read from psutil, /proc and /sys in this process.

Compiler versions (collect_env reports GCC, Clang and CMake) need subprocesses: they run in
parallel with a short timeout (`run_commands`), a slow or missing tool becomes unavailable.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reprodiag.core.env.frozen import original_environ
from reprodiag.core.env.model import Fact, unavailable

TOOL_TIMEOUT_S = 1.0

# Instruction-set extensions that change which kernels run (and so the rounding).
X86_NUMERIC_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16",
    "amx_int8", "amx_fp16",
)
ARM_NUMERIC_FLAGS = ("asimd", "asimdhp", "asimddp", "fphp", "sve", "sve2", "bf16", "i8mm")


def read_text(path: str | Path) -> str | None:
    """A small system file's text, or None when it is absent or unreadable."""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def parse_key_values(text: str, sep: str) -> dict[str, str]:
    """'KEY<sep>value' lines (os-release, cpuinfo): first occurrence of each key wins."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, found, value = line.partition(sep)
        if found and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip().strip('"')
    return out


# -- external tools -------------------------------------------------------------------------

ToolResult = tuple[str | None, str | None]  # (stdout, reason it failed)


def run_command(argv: list[str], timeout: float = TOOL_TIMEOUT_S) -> ToolResult:
    """Run a version-reporting tool: its stdout, or why there is none. Never raises."""
    exe = shutil.which(argv[0]) or (argv[0] if os.path.isabs(argv[0]) else None)
    if exe is None or not os.path.exists(exe):
        return None, f"{os.path.basename(argv[0])} not found"
    try:
        done = subprocess.run(
            [exe, *argv[1:]], check=False, capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, errors="replace", env={**original_environ(), "LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired:
        return None, f"{argv[0]} did not answer within {timeout:g} s"
    except OSError as exc:
        return None, f"{argv[0]} failed: {exc.strerror or exc}"
    if done.returncode != 0:
        return None, f"{argv[0]} exited with status {done.returncode}"
    return done.stdout, None


def run_commands(
    commands: dict[str, list[str]], timeout: float = TOOL_TIMEOUT_S
) -> dict[str, ToolResult]:
    """Several tools at once, each under its own timeout."""
    if not commands:
        return {}
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        futures = {name: pool.submit(run_command, argv, timeout) for name, argv in commands.items()}
        return {name: future.result() for name, future in futures.items()}


def parsed_tool_fact(result: ToolResult, parse: Callable[[str], str | None]) -> Fact:
    out, reason = result
    if out is None:
        return unavailable(reason or "no output")
    value = parse(out)
    return Fact(value) if value else unavailable("unrecognised version output")


def _first_match(pattern: str) -> Callable[[str], str | None]:
    def parse(text: str) -> str | None:
        match = re.search(pattern, text, re.MULTILINE)
        return match.group(1).strip() if match else None

    return parse


# Tool -> (command, {fact key: pattern of its value in the output}).
TOOLS: dict[str, tuple[list[str], dict[str, str]]] = {
    "gcc": (["gcc", "--version"], {"host.compiler.gcc": r"^gcc (.*)$"}),
    "clang": (["clang", "--version"], {"host.compiler.clang": r"^(.*clang version .*)$"}),
    "cmake": (["cmake", "--version"], {"host.compiler.cmake": r"^cmake version (.*)$"}),
    "lscpu": (["lscpu"], {
        "cpu.hypervisor_vendor": r"^Hypervisor vendor:\s*(.*)$",
        "cpu.virtualization_type": r"^Virtualization type:\s*(.*)$",
        "cpu.op_modes": r"^CPU op-mode\(s\):\s*(.*)$",
        "cpu.online": r"^On-line CPU\(s\) list:\s*(.*)$",
    }),
}
# lscpu prints no line for these on bare metal: ran-but-absent means "none".
ABSENT_MEANS_NONE = ("cpu.hypervisor_vendor", "cpu.virtualization_type")


def tool_facts(timeout: float = TOOL_TIMEOUT_S) -> dict[str, Fact]:
    """Compiler versions and lscpu's virtualisation facts, from tools run in parallel."""
    results = run_commands({tool: argv for tool, (argv, _) in TOOLS.items()}, timeout)
    facts: dict[str, Fact] = {}
    for tool, (_, patterns) in TOOLS.items():
        for key, pattern in patterns.items():
            fact = parsed_tool_fact(results[tool], _first_match(pattern))
            if not fact.ok and results[tool][0] is not None and key in ABSENT_MEANS_NONE:
                fact = Fact(None)
            facts[key] = fact
    return facts


# -- host -----------------------------------------------------------------------------------


def os_facts() -> dict[str, Fact]:
    facts: dict[str, Fact] = {
        "host.system": Fact(platform.system()),
        "host.kernel": Fact(platform.release()),
        "host.arch": Fact(platform.machine()),
        "host.hostname": Fact(socket.gethostname()),
    }
    release = read_text("/etc/os-release") or read_text("/usr/lib/os-release")
    if release:
        info = parse_key_values(release, "=")
        facts["host.os"] = Fact(info.get("PRETTY_NAME") or info.get("NAME"))
        facts["host.os_id"] = Fact(info.get("ID"))
        facts["host.os_version"] = Fact(info.get("VERSION_ID"))
    elif sys.platform == "darwin":
        facts["host.os"] = Fact(f"macOS {platform.mac_ver()[0]}")
    elif sys.platform == "win32":
        facts["host.os"] = Fact(f"Windows {platform.version()}")
    else:
        facts["host.os"] = unavailable("no /etc/os-release")
    lib, version = platform.libc_ver()
    facts["host.libc"] = Fact(f"{lib} {version}") if lib else unavailable("libc not identified")
    return facts


def container_kind() -> str | None:
    """docker / podman / kubernetes / lxc / containerd, or None on bare metal or a VM."""
    if os.path.exists("/.dockerenv"):
        return "docker"
    if os.path.exists("/run/.containerenv"):
        return "podman"
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    cgroup = read_text("/proc/1/cgroup") or ""
    for marker, kind in (("kubepods", "kubernetes"), ("docker", "docker"), ("lxc", "lxc"),
                         ("containerd", "containerd")):
        if marker in cgroup:
            return kind
    return None


def is_colab() -> bool:
    if os.environ.get("COLAB_RELEASE_TAG") or os.environ.get("COLAB_GPU") is not None:
        return True
    if not os.path.isdir("/content"):
        return False
    try:
        import importlib.util

        return importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):
        return False


def host_facts() -> dict[str, Fact]:
    """OS, kernel, libc, architecture, hostname, and what kind of machine this is."""
    facts = os_facts()
    facts["host.container"] = Fact(container_kind())
    facts["host.colab"] = Fact(is_colab())
    facts["host.wsl"] = Fact("microsoft" in platform.release().lower())
    return facts


# -- CPU ------------------------------------------------------------------------------------


def cpuinfo_pairs() -> list[tuple[str, str]]:
    """(key, value) of every /proc/cpuinfo line: keys repeat once per logical CPU."""
    pairs = []
    for line in (read_text("/proc/cpuinfo") or "").splitlines():
        key, found, value = line.partition(":")
        if found:
            pairs.append((key.strip(), value.strip()))
    return pairs


def flag_facts(info: dict[str, str]) -> dict[str, Fact]:
    """cpu.flags.<isa> booleans for the numerics-relevant ISA, plus the full list."""
    flags_line = info.get("flags") or info.get("Features")
    if flags_line is None:
        reason = "CPU flags are read from /proc/cpuinfo (Linux only)"
        return {"cpu.flags": unavailable(reason)}
    flags = set(flags_line.split())
    names = ARM_NUMERIC_FLAGS if "Features" in info and "flags" not in info else X86_NUMERIC_FLAGS
    facts = {f"cpu.flags.{name}": Fact(name in flags) for name in names}
    facts["cpu.flags_all"] = Fact(sorted(flags))
    return facts


def cache_facts() -> dict[str, Fact]:
    """Per-instance cache sizes of CPU 0, e.g. cpu.cache.l1d = '32K'."""
    facts: dict[str, Fact] = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(base.glob("index*")):
        level, kind, size = (read_text(index / n) for n in ("level", "type", "size"))
        if not (level and kind and size):
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind.strip(), "")
        facts[f"cpu.cache.l{level.strip()}{suffix}"] = Fact(size.strip())
    return facts


def vulnerability_facts() -> dict[str, Fact]:
    base = Path("/sys/devices/system/cpu/vulnerabilities")
    facts: dict[str, Fact] = {}
    for entry in sorted(base.glob("*")) if base.is_dir() else []:
        text = read_text(entry)
        if text is not None:
            facts[f"cpu.vulnerability.{entry.name}"] = Fact(text.strip())
    return facts


def cgroup_limits() -> dict[str, Fact]:
    """CPU quota (cores) and memory limit imposed by a cgroup v2, None when unlimited."""
    cpu_max = (read_text("/sys/fs/cgroup/cpu.max") or "").split()
    mem_max = (read_text("/sys/fs/cgroup/memory.max") or "").strip()
    quota = None
    if len(cpu_max) == 2 and cpu_max[0].isdigit() and cpu_max[1].isdigit():
        quota = round(int(cpu_max[0]) / max(int(cpu_max[1]), 1), 2)
    return {
        "cpu.cgroup_cpu_quota": Fact(quota),
        "cpu.cgroup_memory_limit": Fact(int(mem_max) if mem_max.isdigit() else None),
    }


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text is not None and text.strip().isdigit() else None


def cpu_facts() -> dict[str, Fact]:
    """Model, cores, numerics-relevant ISA flags, caches, RAM."""
    import psutil

    pairs = cpuinfo_pairs()
    info: dict[str, str] = {}
    for key, value in pairs:
        info.setdefault(key, value)
    model = info.get("model name") or info.get("Model") or platform.processor()
    facts: dict[str, Fact] = {
        "cpu.model": Fact(model) if model else unavailable("CPU model not reported"),
        "cpu.vendor": Fact(info.get("vendor_id") or info.get("CPU implementer")),
        "cpu.family": Fact(_int_or_none(info.get("cpu family"))),
        "cpu.model_number": Fact(_int_or_none(info.get("model"))),
        "cpu.stepping": Fact(_int_or_none(info.get("stepping"))),
        "cpu.microcode": Fact(info.get("microcode")),
        "cpu.address_sizes": Fact(info.get("address sizes")),
        "cpu.byte_order": Fact(sys.byteorder),
        "cpu.physical_cores": Fact(psutil.cpu_count(logical=False)),
        "cpu.logical_cores": Fact(psutil.cpu_count(logical=True)),
        "cpu.bogomips": Fact(info.get("bogomips") or info.get("BogoMIPS")),
        "cpu.hypervisor": Fact("hypervisor" in info.get("flags", "").split())
        if info else unavailable("not read on this OS"),
    }
    if hasattr(os, "sched_getaffinity"):
        facts["cpu.usable_cores"] = Fact(len(os.sched_getaffinity(0)))
    sockets = {value for key, value in pairs if key == "physical id"}
    facts["cpu.sockets"] = Fact(len(sockets)) if sockets else unavailable("not reported")
    nodes = list(Path("/sys/devices/system/node").glob("node[0-9]*"))
    facts["cpu.numa_nodes"] = Fact(len(nodes)) if nodes else unavailable("not reported")
    memory = psutil.virtual_memory()
    facts["cpu.ram_total"] = Fact(int(memory.total))
    facts["cpu.ram_available"] = Fact(int(memory.available))
    facts.update(flag_facts(info))
    facts.update(cache_facts())
    facts.update(vulnerability_facts())
    facts.update(cgroup_limits())
    return facts

