"""Package lists people paste -- `pip freeze`, `pip list`, `conda list` -- as pkg.* facts.

Accepted lines: ``name==version`` (``===``, markers and hashes ignored), direct references
``name @ URL`` (the version is read from a wheel or sdist file name), ``-e ...#egg=name``,
``pip list`` columns, the legacy ``name (version)`` form, and conda's ``name version build
[channel]``. Leading indentation (notebook exports) and pip's warnings are tolerated. Keys and
derived framework facts are the live collector's (workers/env_probe.py), so a pasted list
diffs cleanly against a snapshot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from reprodiag.core.env.foreign.text import Facts, looks_like_version, normalize_name
from reprodiag.errors import UserError

FREEZE, PIP_LIST, CONDA_LIST = "pip freeze", "pip list", "conda list"
_NAME = r"[A-Za-z0-9_][A-Za-z0-9._-]*"
_PINNED = re.compile(rf"^({_NAME})(\[[^\]]*\])?\s*===?\s*([^\s;,#\\]+)")
_RANGE = re.compile(rf"^({_NAME})(\[[^\]]*\])?\s*(>=|<=|~=|!=|>|<)\s*\S")
_DIRECT = re.compile(rf"^({_NAME})(\[[^\]]*\])?\s+@\s+(\S+)")
_EDITABLE = re.compile(r"^(-e|--editable)\s+(\S+)")
_LEGACY = re.compile(rf"^({_NAME})\s+\(([^),\s]+)(,\s*[^)]*)?\)\s*$")
_NOISE = re.compile(
    r"^(WARNING|DEPRECATION|ERROR|\[notice\]|You are using pip|You should consider|Note:"
    r"|Package\s+Version|Requirement already|Looking in indexes|#|\$|!|%|>>>|In \[\d+\]"
    r"|Out\[\d+\]|-[-= ]{2,}$|-i\s|--(index-url|extra-index-url|find-links|trusted-host)"
    r"|pip3? (freeze|list)|python3? -m pip|conda list)",
    re.IGNORECASE,
)
_CONDA_HEADER = re.compile(r"^#\s*(packages in environment at|Name\s+Version\s+Build)", re.I)
# conda package name -> the Python distribution it installs, where they differ.
CONDA_TO_DIST = {"pytorch": "torch", "pytorch-cpu": "torch", "pytorch-gpu": "torch"}


@dataclass(frozen=True, kw_only=True)
class Package:
    """One installed package: its version, or why the list gives none."""

    name: str
    version: str | None
    reason: str | None = None


def _wheel_version(url: str) -> str | None:
    """Version from a wheel or sdist file name at the end of a URL or path."""
    filename = unquote(urlsplit(url).path).rstrip("/").rsplit("/", 1)[-1]
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        return parts[1] if len(parts) >= 5 and looks_like_version(parts[1]) else None
    for ext in (".tar.gz", ".tar.bz2", ".zip", ".tgz"):
        if filename.endswith(ext):
            stem = filename[: -len(ext)]
            if "-" in stem and looks_like_version(stem.rsplit("-", 1)[1]):
                return stem.rsplit("-", 1)[1]
    return None


def _direct(name: str, url: str) -> Package:
    version = _wheel_version(url)
    if version:
        return Package(name=name, version=version)
    scheme = urlsplit(url).scheme or "a path"
    return Package(name=name, version=None,
                   reason=f"installed from a direct reference ({scheme}); no version given")


def parse_pip_line(line: str) -> Package | str | None:
    """A Package, "noise" (headers, warnings), "range" (a requirement, not a version), or None."""
    text = line.strip()
    if not text or _NOISE.match(text):
        return "noise"
    match = _PINNED.match(text)
    if match:
        return Package(name=match.group(1), version=match.group(3))
    match = _DIRECT.match(text)
    if match:
        return _direct(match.group(1), match.group(3))
    match = _EDITABLE.match(text)
    if match:
        egg = re.search(rf"#egg=({_NAME})", match.group(2))
        if egg:
            return Package(name=egg.group(1), version=None,
                           reason="editable install; no version given")
        return "noise"
    if _RANGE.match(text):
        return "range"
    match = _LEGACY.match(text)
    if match and looks_like_version(match.group(2)):
        return Package(name=match.group(1), version=match.group(2))
    tokens = text.split()
    if 2 <= len(tokens) <= 4 and re.fullmatch(_NAME, tokens[0]) and looks_like_version(tokens[1]):
        return Package(name=tokens[0], version=tokens[1])  # pip list columns, or a conda row
    return None


@dataclass(frozen=True, kw_only=True)
class CondaPackage:
    name: str
    version: str
    build: str
    channel: str

    @property
    def from_pip(self) -> bool:
        """Installed by pip inside the conda env (a Python distribution)."""
        return self.build in ("<pip>", "<develop>") or self.channel in ("pypi", "<develop>") or (
            self.build.startswith("pypi_") or self.build.startswith("dev_"))

    @property
    def is_python(self) -> bool:
        """A Python distribution: pip-installed, or a conda build for a Python version."""
        return self.from_pip or bool(re.match(r"py(\d|h|_|\d\.\d)", self.build))


def parse_conda_line(line: str) -> CondaPackage | None:
    tokens = line.split()
    if len(tokens) < 2 or not re.fullmatch(_NAME, tokens[0]) or not looks_like_version(tokens[1]):
        return None
    build = tokens[2] if len(tokens) > 2 else ""
    channel = tokens[3] if len(tokens) > 3 else ""
    return CondaPackage(name=tokens[0], version=tokens[1], build=build, channel=channel)


def parse_packages(lines: list[str]) -> tuple[dict[str, Package], int, int, int]:
    """(packages by normalized name, first wins; package lines; range lines; other lines)."""
    packages: dict[str, Package] = {}
    found = ranges = other = 0
    for line in lines:
        parsed = parse_pip_line(line)
        if isinstance(parsed, Package):
            found += 1
            packages.setdefault(normalize_name(parsed.name), parsed)
        elif parsed == "range":
            ranges += 1
        elif parsed is None:
            other += 1
    return packages, found, ranges, other


def looks_like_package_list(text: str) -> bool:
    """Mostly package lines: at least one, and four in five of the lines that are not noise."""
    lines = text.split("\n")
    if any(_CONDA_HEADER.match(s.strip()) for s in lines[:20]):
        return True
    _, found, ranges, other = parse_packages(lines)
    return found + ranges > 0 and (found + ranges) >= 0.8 * (found + ranges + other)


def live_probe():
    """workers/env_probe.py as loaded by capture: the live collector's package lists."""
    from reprodiag.core.env.capture import local_probe

    return local_probe()


def package_facts(packages: dict[str, Package], *, complete: bool) -> Facts:
    """pkg.<name> and the framework.* versions the live collector derives from packages.

    `complete`: the list is every installed package (pip freeze), so a framework that is not
    in it is "not installed"; collect_env and tf_env lists are filtered (torch|numpy...).
    """
    probe = live_probe()
    facts = Facts()
    versions = {}
    for name, package in packages.items():
        if package.version is not None:
            facts.set(f"pkg.{name}", package.version)
            versions[name] = package.version
        else:
            facts.missing(f"pkg.{name}", package.reason or "no version given")
    for name in probe.CORE_FRAMEWORKS:
        if name == "tensorflow":
            continue
        if name in versions:
            facts.set(f"framework.{name}.version", versions[name])
        elif complete:
            facts.missing(f"framework.{name}.version", probe.NOT_INSTALLED)
    tf_dist = next((d for d in probe.TENSORFLOW_DISTRIBUTIONS if d in versions), None)
    if tf_dist:
        facts.set("framework.tensorflow.version", versions[tf_dist])
        if tf_dist != "tensorflow":
            facts.set("framework.tensorflow.distribution", tf_dist)
    elif complete:
        facts.missing("framework.tensorflow.version", probe.NOT_INSTALLED)
    for dist in probe.OTHER_ML_PACKAGES:
        if dist in versions:
            facts.set(f"framework.{dist}.version", versions[dist])
    cudnn = sorted(n for n in versions if re.match(r"nvidia-cudnn-cu\d+$", n))
    if cudnn:
        facts.set("framework.torch.cudnn", versions[cudnn[-1]])
    elif complete and "torch" in versions:
        facts.missing("framework.torch.cudnn", "no nvidia-cudnn wheel installed")
    return facts


def conda_facts(rows: list[CondaPackage], known: set[str]) -> Facts:
    """pkg.<dist> for Python packages and pkg.conda.<name> for the rest, as the live
    collector keys them; names in `known` (already listed by pip) are left out."""
    facts = Facts()
    python = {normalize_name(CONDA_TO_DIST.get(r.name, r.name)) for r in rows if r.is_python}
    for row in rows:
        dist = normalize_name(CONDA_TO_DIST.get(row.name, row.name))
        if dist in known or normalize_name(row.name) in known:
            continue
        if row.is_python:
            facts.set(f"pkg.{dist}", row.version)
        elif dist not in python:
            facts.set(f"pkg.conda.{normalize_name(row.name)}", row.version)
    return facts


def parse_package_report(text: str) -> tuple[Facts, str]:
    """Facts of a pasted pip freeze / pip list / conda list, and which of them it is."""
    lines = text.split("\n")
    if any(_CONDA_HEADER.match(s.strip()) for s in lines[:20]):
        rows = [r for s in lines if not s.lstrip().startswith("#") and (r := parse_conda_line(s))]
        python = [r for r in rows if r.is_python]
        packages = {normalize_name(CONDA_TO_DIST.get(r.name, r.name)): Package(name=r.name, version=r.version)
                    for r in python}
        facts = package_facts(packages, complete=True)
        facts.update(conda_facts([r for r in rows if not r.is_python], set(packages)))
        return facts, CONDA_LIST
    packages, found, ranges, _ = parse_packages(lines)
    if not packages:
        if ranges:
            raise UserError("this is a requirements file with version ranges, not a list of "
                            "installed packages: paste the output of 'pip freeze' instead")
        raise UserError("no package lines found")
    kind = FREEZE if any("==" in s or " @ " in s for s in lines) else PIP_LIST
    return package_facts(packages, complete=True), kind
