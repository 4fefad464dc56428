"""Take the environment snapshot of an interpreter: machine facts here, interpreter facts there.

Machine-level facts are read in this process (system.py, gpu.py, variables.py). Interpreter
facts come from workers/env_probe.py: loaded in-process for this interpreter, run by path
for another one (which may not have reprodiag installed). ``deep`` adds one process per
framework (workers/probe_torch.py, probe_tf.py) in parallel; nothing here imports them.

Fact keys (value ``None`` means "not set" / "none"; unreadable facts are unavailable):
- host.{system,os,os_id,os_version,kernel,arch,libc,hostname,container,colab,wsl}
- host.python.{version,implementation,build,bits,executable,platform,env,env_name}
- host.compiler.{gcc,clang,cmake}
- cpu.{model,vendor,family,model_number,stepping,microcode,bogomips,address_sizes,byte_order,
  op_modes,online,sockets,physical_cores,logical_cores,usable_cores,numa_nodes,hypervisor,
  hypervisor_vendor,virtualization_type,ram_total,ram_available,cgroup_cpu_quota,
  cgroup_memory_limit}, cpu.flags.<isa> (bool), cpu.flags_all, cpu.cache.<l1d|l1i|l2|l3>,
  cpu.vulnerability.<name>
- gpu.{count,driver,cuda_driver,visible,cuda_toolkit,cudnn_system}, gpu.<i>.{name,uuid (hashed),
  compute_capability,sm_count,memory_total,memory_used,clock_sm_max_mhz,clock_mem_max_mhz,
  power_limit_w,ecc,mig}
- framework.numpy.{version,blas,blas_version,blas_config,lapack}
- framework.torch.{version,cuda,hip,git_version,debug,cudnn (nvidia-cudnn wheel)}
- framework.tensorflow.{version,distribution}, framework.tensorflow.build.<build_info key>
- framework.<ml package>.version when installed (keras, jax, jaxlib, torchvision, ...),
  framework.keras.backend
- var.<NAME> (allowlisted, redacted; see variables.py), pkg.<normalized name>,
  pkg.conda.<name> (conda packages that are not Python distributions)
- deep only: numerics.torch.* and framework.torch.{cuda_available,device_count,
  xpu_available,mps_available,cudnn_runtime,parallel_backend,device.<i>.*,config.*}
  (probe_torch.py); numerics.tensorflow.* and framework.tensorflow.{devices,built_with_cuda,
  built_with_xla,gpu.<i>.*} (probe_tf.py); framework.<fw>.probe when a probe failed.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import TYPE_CHECKING, Any

from reprodiag.core.env import gpu, system
from reprodiag.core.env.frozen import is_frozen, original_environ
from reprodiag.core.env.interpreters import default_target, resolve_interpreter
from reprodiag.core.env.model import GROUPS, Fact, Snapshot, group_of, unavailable
from reprodiag.core.env.variables import redact_facts, variable_facts
from reprodiag.errors import UserError
from reprodiag.paths import worker_script

if TYPE_CHECKING:
    from reprodiag.core.runs.launcher import Worker

ENV_PROBE = "env_probe.py"
DEEP_PROBES = {"torch": "probe_torch.py", "tensorflow": "probe_tf.py"}
_PROBES: set[Worker] = set()  # running now, so a quitting app can stop them
_PROBES_LOCK = threading.Lock()


def stop_probes() -> None:
    """Kill the probe processes running now: the app is quitting and wants none of their
    facts (the captures waiting on them then end at once, their facts unavailable)."""
    with _PROBES_LOCK:
        for probe in _PROBES:
            probe.kill()


@functools.lru_cache(maxsize=1)
def local_probe() -> ModuleType:
    """workers/env_probe.py as a module of this interpreter (it is stdlib-only)."""
    spec = importlib.util.spec_from_file_location(
        "reprodiag_env_probe", worker_script(ENV_PROBE)
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {worker_script(ENV_PROBE)}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_current(python: str | None) -> bool:
    if python is None:
        return True
    return not is_frozen() and os.path.abspath(python) == os.path.abspath(sys.executable)


def _checked_facts(raw: Any) -> dict[str, Fact]:
    """Facts from a probe's JSON: unknown groups and malformed facts are dropped."""
    facts: dict[str, Fact] = {}
    if not isinstance(raw, dict):
        return facts
    for key, value in raw.items():
        if isinstance(key, str) and group_of(key) in GROUPS:
            try:
                facts[key] = Fact.from_json(value)
            except ValueError:
                facts[key] = unavailable("malformed fact from the probe")
    return facts


def run_probe(python: str, script: str, timeout: float) -> tuple[dict | None, str]:
    """Run a worker script by path (through the launcher: its own process group, killed
    whole at the timeout); (its result line, "") or (None, why it failed)."""
    from reprodiag.core.runs import launcher

    # TF's import banner is noise here, unless the user asked for its logs
    quiet = {"TF_CPP_MIN_LOG_LEVEL": original_environ().get("TF_CPP_MIN_LOG_LEVEL", "2")}
    try:
        probe = launcher.Worker([python, str(worker_script(script))], extra_env=quiet,
                                timeout=timeout, name=script)
    except UserError as exc:
        return None, str(exc)
    with _PROBES_LOCK:
        _PROBES.add(probe)
    try:
        probe.wait()
    finally:
        with _PROBES_LOCK:
            _PROBES.discard(probe)
    if probe.timed_out is not None:
        return None, f"{script} did not finish within {timeout:g} s"
    for line in reversed(probe.stdout_tail()):
        if line.startswith(b'{"probe"'):
            try:
                result = json.loads(line)
            except ValueError:
                break
            if isinstance(result, dict):
                return result, ""
    lines = [s for s in probe.stderr_tail() if s.strip()]
    if lines:
        return None, f"{script} failed: {lines[-1].strip()[:200]}"
    return None, f"{script} printed no result (exit status {probe.returncode})"


def interpreter_facts(python: str | None, timeout: float) -> dict[str, Fact]:
    """Facts of the interpreter itself; UserError when `python` is not one."""
    if python is None or _is_current(python):
        return _checked_facts(local_probe().collect())
    result, reason = run_probe(python, ENV_PROBE, timeout)
    if result is None:
        raise UserError(f"{python} is not a Python interpreter (3.8 or newer): {reason}")
    return _checked_facts(result.get("facts"))


def deep_facts(python: str, framework: str, timeout: float) -> dict[str, Fact]:
    """One framework imported in its own process; failure becomes framework.<fw>.probe."""
    result, reason = run_probe(python, DEEP_PROBES[framework], timeout)
    if result is None:
        return {f"framework.{framework}.probe": unavailable(reason)}
    return _checked_facts(result.get("facts"))


def capture(python: str | None = None, deep: bool = False, timeout: float = 180.0) -> Snapshot:
    """Snapshot of `python` (None = this interpreter; in the packaged app, whose executable
    is no Python, the interpreter runs would use); `deep` imports the frameworks."""
    started = time.time()
    if not python and is_frozen():
        python = default_target()
    target = None if python is None or _is_current(python) else resolve_interpreter(python)
    executable = sys.executable if target is None else target
    facts: dict[str, Fact] = {}
    with ThreadPoolExecutor(max_workers=4 + len(DEEP_PROBES)) as pool:
        tools = [pool.submit(system.tool_facts), pool.submit(gpu.tool_facts)]
        interpreter = pool.submit(interpreter_facts, target, timeout)
        if target is not None:
            interpreter.result()  # a path that is not Python fails before any deep probe
        probes = {}
        if deep:
            probes = {fw: pool.submit(deep_facts, executable, fw, timeout) for fw in DEEP_PROBES}
        facts.update(system.host_facts())
        facts.update(system.cpu_facts())
        facts.update(gpu.nvml_facts())
        facts.update(variable_facts())
        for future in tools:
            facts.update(future.result())
        facts.update(interpreter.result())
        for future in probes.values():
            facts.update(future.result())
    return Snapshot(facts=redact_facts(facts), captured_at=started, deep=deep, python=executable)
