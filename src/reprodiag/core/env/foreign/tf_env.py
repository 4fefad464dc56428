"""TensorFlow's own reports: `tf_env.txt` from tf_env_collect.sh, and the issue template's
"System information" (the old bold bullet list, and the issue form's ``### Field`` blocks).

tf_env.txt comes in two generations (2018: ``cat /etc/issue``, ``tf.VERSION``, ``numpy
(1.14.2)``; 2019+: ``check python``, ``check os platform``, ``tf.version.VERSION``, column pip
lists, installed-from info, python version tuple) and the script *appends*, so one file may
hold several runs: a section of the last run wins, sections it lacks come from earlier runs.
LD_DEBUG noise, failures printed in place and truncated nvidia-smi names are tolerated.
"""

from __future__ import annotations

import ast
import re

from reprodiag.core.env.foreign.pip_list import (
    Package,
    live_probe,
    package_facts,
    parse_pip_line,
)
from reprodiag.core.env.foreign.text import Facts, normalize_name, not_given, version_tuple
from reprodiag.core.env.variables import is_allowed, redact

SOURCE = "tf_env.txt report"
TEMPLATE_SOURCE = "TensorFlow issue template"
_SECTION = re.compile(r"^==\s*(.+?)\s*=+\s*$")
_KNOWN_SECTIONS = ("cat /etc/issue", "check python", "check os platform", "check pips",
                   "tensorflow import", "nvidia-smi", "cuda libs", "are we in docker")
_LD_DEBUG = re.compile(r"^\s*\d+:\s")


def detect(text: str) -> bool:
    names = {m.group(1).lower() for s in text.split("\n") if (m := _SECTION.match(s.strip()))}
    return len(names & set(_KNOWN_SECTIONS)) >= 2


def _runs(text: str) -> list[dict[str, list[str]]]:
    """Sections per run; a section name seen again starts the next appended run."""
    runs: list[dict[str, list[str]]] = [{}]
    current: list[str] | None = None
    for line in text.split("\n"):
        header = _SECTION.match(line.strip())
        if header:
            name = header.group(1).lower()
            if name in runs[-1]:
                runs.append({})
            current = runs[-1].setdefault(name, [])
        elif current is not None and not _LD_DEBUG.match(line):
            current.append(line.rstrip())
    return [r for r in runs if r]


def _sections(text: str, facts: Facts) -> dict[str, list[str]]:
    runs = _runs(text)
    if len(runs) > 1:
        facts.note(f"the file holds {len(runs)} appended tf_env runs; the last one is used "
                   "(sections it lacks come from the earlier runs)")
    merged: dict[str, list[str]] = {}
    for run in runs:
        merged.update(run)
    return merged


def _pairs(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip().lower(), value.strip())
    return out


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _distro(lines: list[str], section: dict[str, list[str]]) -> str | None:
    """The distribution named anywhere: uname's '#140-Ubuntu', the compiler's '(Ubuntu ...)'."""
    text = " ".join(lines + section.get("compiler", [])[:1])
    for name in ("Ubuntu", "Debian", "CentOS", "Fedora", "Red Hat"):
        if name.lower() in text.lower():
            return name
    return None


def _etc_issue(lines: list[str], sections: dict[str, list[str]], facts: Facts) -> None:
    """2018 generation: 'uname -a' line plus VERSION=/VERSION_ID= from the release file."""
    info = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Z_]+", key.strip()):
            info[key.strip()] = value.strip().strip('"')
        elif line.startswith(("Linux ", "Darwin ")):
            _uname(line, facts)
    if "PRETTY_NAME" in info:
        facts.set("host.os", info["PRETTY_NAME"])
    elif "VERSION" in info:
        version = re.sub(r"\s*\([^()]*\)$", "", info["VERSION"])
        distro = info.get("NAME") or _distro(lines, sections)
        facts.set("host.os", f"{distro} {version}" if distro else version)
    if "VERSION_ID" in info:
        facts.set("host.os_version", info["VERSION_ID"])
    if "ID" in info:
        facts.set("host.os_id", info["ID"])


def _uname(line: str, facts: Facts) -> None:
    """'Linux host 4.4.0-116-generic #140-Ubuntu SMP ... x86_64 x86_64 x86_64 GNU/Linux'."""
    parts = line.split()
    if len(parts) >= 3:
        facts.set("host.system", parts[0])
        facts.set("host.kernel", parts[2])
    arch = re.search(r"\s(x86_64|aarch64|arm64|ppc64le|s390x|i686)\s", line + " ")
    if arch:
        facts.set("host.arch", arch.group(1))


def _os_platform(lines: list[str], facts: Facts) -> None:
    """2019+ generation: Python's platform module, printed field by field."""
    pairs = _pairs(lines)
    if pairs.get("os"):
        facts.set("host.system", pairs["os"])
    if pairs.get("os release version"):
        facts.set("host.kernel", pairs["os release version"])
    if pairs.get("os platform"):
        facts.set("host.python.platform", pairs["os platform"])
    if pairs.get("machine"):
        facts.set("host.arch", pairs["machine"])
    mac = _literal(pairs.get("mac version", ""))
    if isinstance(mac, tuple) and mac and isinstance(mac[0], str) and mac[0]:
        facts.set("host.os", f"macOS {mac[0]}")
    for key in ("linux distribution", "linux os distribution"):
        dist = _literal(pairs.get(key, ""))
        if isinstance(dist, tuple) and len(dist) >= 2 and dist[0]:
            facts.set("host.os", f"{dist[0]} {dist[1]}".strip())
            facts.set("host.os_version", str(dist[1]))
            facts.set("host.os_id", str(dist[0]).split()[0].lower())


def _python(sections: dict[str, list[str]], facts: Facts) -> None:
    pairs = _pairs(sections.get("check python", []))
    if pairs.get("python version"):
        facts.set("host.python.version", pairs["python version"])
    if pairs.get("python implementation"):
        facts.set("host.python.implementation", pairs["python implementation"])
    for line in sections.get("python version", []):
        info = _literal(line.strip())
        if isinstance(info, tuple) and len(info) >= 3 and all(isinstance(x, int) for x in info[:3]):
            facts.set("host.python.version", ".".join(str(x) for x in info[:3]))
    if not facts.has("host.python.version"):
        text = "\n".join(sum(sections.values(), []))
        found = re.search(r"/lib/python(\d\.\d+)/(site|dist)-packages", text)
        if found:
            facts.set("host.python.version", found.group(1))
            facts.note(f"the Python version ({found.group(1)}) is inferred from a "
                       "site-packages path; the report does not print it")


def _compiler(lines: list[str], facts: Facts) -> None:
    first = next((s.strip() for s in lines if s.strip()), "")
    gcc = re.match(r"^(?:c\+\+|g\+\+|gcc|cc)\s+(\(.*)$", first)
    if gcc:
        facts.set("host.compiler.gcc", gcc.group(1))
    elif "clang version" in first:
        facts.set("host.compiler.clang", first)


def _tensorflow(sections: dict[str, list[str]], pips: dict[str, Package], facts: Facts) -> None:
    lines = sections.get("tensorflow import", [])
    text = "\n".join(lines)
    version = re.search(r"^tf\.(?:version\.)?VERSION\s*=\s*(\S+)", text, re.MULTILINE)
    git = re.search(r"^tf\.(?:version\.)?GIT_VERSION\s*=\s*(\S+)", text, re.MULTILINE)
    distributions = live_probe().TENSORFLOW_DISTRIBUTIONS
    listed = next((pips[d] for d in distributions if d in pips), None)
    if version:
        facts.set("framework.tensorflow.version", version.group(1))
        if listed and listed.version and listed.version != version.group(1):
            facts.note(f"pip lists {listed.name} {listed.version} but importing TensorFlow "
                       f"reports {version.group(1)}")
    elif re.search(r"(ImportError|ModuleNotFoundError)", text) and not listed:
        facts.missing("framework.tensorflow.version", "TensorFlow could not be imported")
    if git:
        facts.set("framework.tensorflow.git_version", git.group(1))
    shown = _pairs(sections.get("tensorflow installed from info", []))
    if shown.get("version") and not facts.has("framework.tensorflow.version"):
        facts.set("framework.tensorflow.version", shown["version"])


def _environment(lines: list[str], facts: Facts) -> None:
    for line in lines:
        match = re.match(r"^([A-Z_][A-Z0-9_]*)\s+(.*)$", line.strip())
        if not match or not is_allowed(match.group(1)):
            continue
        name, value = match.groups()
        facts.set(f"var.{name}", None if value == "is unset" else redact(name, value))


def _nvidia_smi(lines: list[str], facts: Facts) -> None:
    text = "\n".join(lines)
    if "has failed" in text or "not found" in text or "not recognized" in text:
        facts.set("gpu.count", 0)
        facts.missing("gpu.driver", "no NVIDIA driver (nvidia-smi failed on that machine)")
        return
    driver = re.search(r"Driver Version:\s*(\S+)", text)
    if driver:
        facts.set("gpu.driver", driver.group(1))
    cuda = re.search(r"CUDA Version:\s*(\S+)", text)
    if cuda:
        facts.set("gpu.cuda_driver", cuda.group(1))
    rows = re.findall(r"^\|\s+(\d+)\s+(.+?)\s+(?:On|Off)\s+\|", text, re.MULTILINE)
    memory = re.findall(r"\|\s*\d+MiB\s*/\s*(\d+)MiB\s*\|", text)
    for position, (index, name) in enumerate(rows):
        facts.set(f"gpu.{index}.name", name.strip())
        if name.endswith("..."):
            facts.note("nvidia-smi truncated the GPU name")
        if position < len(memory):
            facts.set(f"gpu.{index}.memory_total", int(memory[position]) * 2 ** 20)
    if driver or rows:
        facts.set("gpu.count", len(rows))


def _cuda_libs(lines: list[str], library_path: str | None, facts: Facts) -> None:
    found: dict[str, str] = {}
    for line in lines:
        match = re.search(r"^(.*)/libcudart\.so\.(\d+\.\d+\.\d+)$", line.strip())
        if match:
            found.setdefault(match.group(2), match.group(1))
    if not found:
        return
    if len(found) == 1:
        facts.set("gpu.cuda_toolkit", next(iter(found)))
        return
    versions = sorted(found, key=version_tuple)
    used = [v for v, folder in found.items() if library_path and
            re.search(rf"cuda-{re.escape('.'.join(v.split('.')[:2]))}\b", library_path)]
    facts.note(f"several CUDA runtimes are installed: {', '.join(versions)}")
    if len(used) == 1:
        facts.set("gpu.cuda_toolkit", used[0])
    else:
        facts.missing("gpu.cuda_toolkit",
                      f"several CUDA runtimes installed ({', '.join(versions)})")


def parse(text: str) -> Facts:
    """Facts of a tf_env.txt (`text` already cleaned)."""
    facts = Facts()
    sections = _sections(text, facts)
    _python(sections, facts)
    _os_platform(sections.get("check os platform", []), facts)
    _etc_issue(sections.get("cat /etc/issue", []), sections, facts)
    docker = " ".join(sections.get("are we in docker", [])).strip().lower()
    if docker in ("yes", "no"):
        facts.set("host.container", "docker" if docker == "yes" else None)
    _compiler(sections.get("compiler", []), facts)
    virtualenv = " ".join(sections.get("check for virtualenv", [])).strip()
    if virtualenv == "True":
        facts.set("host.python.env", "venv")
    pips: dict[str, Package] = {}
    for line in sections.get("check pips", []):
        parsed = parse_pip_line(line)
        if isinstance(parsed, Package):
            pips.setdefault(normalize_name(parsed.name), parsed)
    _tensorflow(sections, pips, facts)
    facts.update(package_facts(pips, complete=False))
    _environment(sections.get("env", []), facts)
    _nvidia_smi(sections.get("nvidia-smi", []), facts)
    _cuda_libs(sections.get("cuda libs", []), facts.value("var.LD_LIBRARY_PATH"), facts)
    return facts


# -- the issue template's "System information" --------------------------------------------

# Field label (lowercased start) -> what it holds.
_TEMPLATE_FIELDS = (
    ("tensorflow version", "tf"), ("os platform and distribution", "os"),
    ("os platform", "os"), ("python version", "python"), ("cuda/cudnn version", "cuda"),
    ("gpu model and memory", "gpu"), ("gcc/compiler version", "gcc"),
    ("bazel version", "bazel"), ("tensorflow installed from", "installed"), ("source", "installed"),
)
_BULLET = re.compile(r"^\s*(?:[-*+]\s*)?(?:\*\*)?([^:*]+?)(?:\*\*)?\s*:\s*(?:\*\*)?\s*(.*)$")
_HEADING = re.compile(r"^\s*#{2,4}\s+(.+?)\s*$")


def _template_field(label: str) -> str | None:
    low = label.strip().lower()
    for start, name in _TEMPLATE_FIELDS:
        if low.startswith(start):
            return name
    return None


def template_fields(text: str) -> dict[str, str]:
    """Field -> value, from bullets ('- **OS Platform ...**: value') or '### Field' blocks."""
    fields: dict[str, str] = {}
    lines = text.split("\n")
    for i, line in enumerate(lines):
        bullet = _BULLET.match(line)
        if bullet and (field := _template_field(bullet.group(1))):
            fields.setdefault(field, bullet.group(2).strip())
            continue
        heading = _HEADING.match(line)
        if heading and (field := _template_field(heading.group(1))):
            value = []
            for following in lines[i + 1:]:
                if _HEADING.match(following):
                    break
                if following.strip():
                    value.append(following.strip())
            fields.setdefault(field, " ".join(value))
    return fields


def detect_template(text: str) -> bool:
    fields = template_fields(text)
    return "tf" in fields and len(fields) >= 2


_EMPTY = re.compile(r"^(_?no response_?|n/?a|none|-+|no|nil|null|na|not applicable)?\.?$", re.I)
_NUMBER = re.compile(r"(?<![\w.])v?(\d+\.\d+(?:\.\d+)?(?:[.-]?(?:rc|dev|a|b)\d*)?)(?![\w.])")


def _numbers(value: str) -> list[str]:
    return [m.group(1) for m in _NUMBER.finditer(value)
            if not m.group(0).startswith("v")] or [m.group(1) for m in _NUMBER.finditer(value)]


def _cuda_cudnn(value: str, facts: Facts) -> None:
    """'11.0 / 8.0', 'CUDA 11.2, cuDNN 8.1', '7.2 /9.1' (swapped), '11.8/8.6'."""
    low = value.lower()
    cuda = re.search(r"cuda\s*:?\s*v?(\d+\.\d+(?:\.\d+)?)", low)
    cudnn = re.search(r"cudnn\s*:?\s*v?(\d+(?:\.\d+)*)", low)
    numbers = _numbers(value.replace("/", " / "))
    if not (cuda or cudnn) and len(numbers) >= 2:
        first, second = numbers[0], numbers[1]
        if version_tuple(first)[0] < version_tuple(second)[0] and version_tuple(second)[0] >= 9:
            first, second = second, first  # cuDNN written first: CUDA majors are the larger
            facts.note(f"CUDA/cuDNN '{value}' read as CUDA {first}, cuDNN {second}")
        facts.set("gpu.cuda_toolkit", first)
        facts.set("gpu.cudnn_system", second)
        return
    if cuda:
        facts.set("gpu.cuda_toolkit", cuda.group(1))
    elif numbers:
        facts.set("gpu.cuda_toolkit", numbers[0])
    if cudnn:
        facts.set("gpu.cudnn_system", cudnn.group(1))


def _gpu(value: str, facts: Facts) -> None:
    """'T4 15G', 'NVIDIA RTX 3090 24GB', '2x A100 40GB'."""
    text = value.strip()
    count = 1
    many = re.match(r"^(\d+)\s*[x×]\s*(.+)$", text, re.IGNORECASE)
    if many:
        count, text = int(many.group(1)), many.group(2)
    memory = re.search(r"[\s,(]*(\d+(?:\.\d+)?)\s*(GB|G|GiB|MB|MiB)\b\)?\s*(memory|ram|vram)?$",
                       text, re.IGNORECASE)
    name = text[: memory.start()].strip(" ,-") if memory else text
    if not name:
        return
    for index in range(count):
        facts.set(f"gpu.{index}.name", name)
        if memory:
            scale = 2 ** 30 if memory.group(2).upper().startswith("G") else 2 ** 20
            facts.set(f"gpu.{index}.memory_total", int(float(memory.group(1)) * scale))
    facts.set("gpu.count", count)


def parse_template(text: str) -> Facts:
    """Facts of the issue template's System information: free text, read generously."""
    facts = Facts()
    for field, value in template_fields(text).items():
        value = value.strip().strip("`").strip()
        if _EMPTY.match(value) or not_given(value):
            continue
        if field == "tf":
            numbers = _numbers(value)
            if numbers:
                facts.set("framework.tensorflow.version", numbers[-1])
            git = re.search(r"\b(v\d+\.\d+\.\d+(?:-rc\d+)?-\d+-g[0-9a-f]+)\b", value)
            if git:
                facts.set("framework.tensorflow.git_version", git.group(1))
        elif field == "os":
            facts.set("host.os", value)
            low = value.lower()
            system = ("Linux" if "wsl" in low else
                      "Windows" if "windows" in low or re.search(r"\bwin\d", low) else
                      "Darwin" if re.search(r"mac|darwin|os x", low) else
                      "Linux" if re.search(r"linux|ubuntu|debian|fedora|centos|arch|rhel|mint|"
                                           r"suse|colab|wsl", low) else None)
            if system:
                facts.set("host.system", system)
        elif field == "python":
            numbers = _numbers(value)
            if numbers:
                facts.set("host.python.version", numbers[0])
        elif field == "cuda":
            _cuda_cudnn(value, facts)
        elif field == "gpu":
            _gpu(value, facts)
        elif field == "gcc" and re.search(r"\d", value):
            facts.set("host.compiler.gcc", value)
    return facts
