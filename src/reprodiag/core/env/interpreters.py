"""Find the Python interpreters a user may want to diagnose: this one, venvs, conda envs.

Cheap by design (the GUI lists them on open): only directory listings and small file reads
(pyvenv.cfg, conda-meta names, environments.txt), never a subprocess per candidate.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

KINDS = ("current", "venv", "conda", "system")
MIN_VERSION = (3, 8)

VENV_HOMES = (".virtualenvs", ".venvs", "venvs", ".local/share/virtualenvs",
              ".cache/pypoetry/virtualenvs")
PROJECT_VENVS = (".venv", "venv")
CONDA_ROOTS = ("miniconda3", "anaconda3", "miniforge3", "mambaforge", "micromamba", ".conda")
SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3", "/opt/homebrew/bin/python3")


@dataclass(frozen=True)
class Interpreter:
    """A candidate interpreter: its path, a label for a picker, and where it was found."""

    path: str
    label: str
    kind: str  # one of KINDS


def env_python(env_dir: Path) -> Path | None:
    """The interpreter of a venv or conda env folder, if it has one."""
    for relative in ("bin/python", "bin/python3", "Scripts/python.exe", "python.exe"):
        candidate = env_dir / relative
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def resolve_interpreter(python: str) -> str:
    """An absolute interpreter path; an environment folder stands for its python.

    Raises UserError (one line naming the path) when it is no runnable interpreter.
    """
    from reprodiag.errors import UserError

    path = os.path.abspath(os.path.expanduser(python))
    if os.path.isdir(path):
        found = env_python(Path(path))
        if found is None:
            raise UserError(f"{python} is not a Python interpreter (a folder without bin/python)")
        return str(found)
    if not os.path.exists(path):
        raise UserError(f"{python} is not a Python interpreter (no such file)")
    if not os.access(path, os.X_OK):
        raise UserError(f"{python} is not a Python interpreter (not executable)")
    return path


def venv_version(env_dir: Path) -> str | None:
    """The Python version recorded in pyvenv.cfg."""
    try:
        text = (env_dir / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(r"^\s*version(?:_info)?\s*=\s*([\d.]+)", text, re.MULTILINE)
    return match.group(1) if match else None


def conda_version(env_dir: Path) -> str | None:
    """The Python version of a conda env, from its conda-meta/python-X.Y.Z-*.json name."""
    try:
        names = os.listdir(env_dir / "conda-meta")
    except OSError:
        return None
    for name in names:
        match = re.match(r"python-(\d+\.\d+[\d.]*)-", name)
        if match:
            return match.group(1).rstrip(".")
    return None


def _with_version(name: str, kind: str, version: str | None) -> str:
    return f"{name} ({kind}, Python {version})" if version else f"{name} ({kind})"


def _venv_label(env_dir: Path) -> str:
    name = env_dir.name
    if name in PROJECT_VENVS:
        name = f"{env_dir.parent.name}/{name}"
    return _with_version(name, "venv", venv_version(env_dir))


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return []


def _venv_dirs(home: Path, cwd: Path) -> Iterable[Path]:
    for name in PROJECT_VENVS:
        yield cwd / name
    if os.environ.get("VIRTUAL_ENV"):
        yield Path(os.environ["VIRTUAL_ENV"])
    roots = [home / h for h in VENV_HOMES]
    if os.environ.get("WORKON_HOME"):
        roots.insert(0, Path(os.environ["WORKON_HOME"]))
    for root in roots:
        yield from _subdirs(root)
    pyenv = Path(os.environ.get("PYENV_ROOT") or home / ".pyenv") / "versions"
    yield from (d for d in _subdirs(pyenv) if (d / "pyvenv.cfg").is_file())


def _conda_dirs(home: Path) -> Iterable[Path]:
    roots = [home / r for r in CONDA_ROOTS] + [Path("/opt/conda")]
    for root in roots:
        yield root
        yield from _subdirs(root / "envs")
    try:
        listed = (home / ".conda" / "environments.txt").read_text(encoding="utf-8")
    except OSError:
        listed = ""
    for line in listed.splitlines():
        if line.strip():
            yield Path(line.strip())
    if os.environ.get("CONDA_PREFIX"):
        yield Path(os.environ["CONDA_PREFIX"])


def _conda_label(env_dir: Path) -> str:
    name = "base" if (env_dir / "envs").is_dir() else env_dir.name
    return _with_version(name, "conda", conda_version(env_dir))


def _version_tuple(text: str | None) -> tuple[int, ...]:
    return tuple(int(x) for x in (text or "").split(".")[:2] if x.isdigit())


def _system_pythons(home: Path) -> Iterable[tuple[Path, str, str | None]]:
    """(path, label, version) of base interpreters: system paths, python3 on PATH, pyenv."""
    on_path = shutil.which("python3")
    paths = [*SYSTEM_PYTHONS, on_path] if on_path and "shims" not in on_path else SYSTEM_PYTHONS
    for path in map(Path, paths):
        match = re.search(r"python(\d+\.\d+)$", os.path.realpath(path))
        version = match.group(1) if match else None
        yield path, f"{path} (Python {version})" if version else str(path), version
    pyenv = Path(os.environ.get("PYENV_ROOT") or home / ".pyenv") / "versions"
    versions = [d for d in _subdirs(pyenv) if not (d / "pyvenv.cfg").is_file()]
    for version_dir in sorted(versions, key=lambda d: _version_tuple(d.name), reverse=True):
        yield version_dir / "bin" / "python", f"pyenv {version_dir.name}", version_dir.name


def find_interpreters(cwd: Path | None = None, home: Path | None = None) -> list[Interpreter]:
    """This interpreter first, then venvs, conda envs and system pythons; no duplicates."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    home = Path.home() if home is None else Path(home)
    found: list[Interpreter] = []
    seen_paths: set[str] = set()
    seen_real: set[str] = set()

    def add(path: Path, label: str, kind: str) -> None:
        key = os.path.normcase(os.path.abspath(path))
        real = os.path.normcase(os.path.realpath(path))
        if key in seen_paths or (kind == "system" and real in seen_real):
            return
        seen_paths.add(key)
        if kind == "system":  # /usr/bin/python3 and its python3.11 target are one Python
            seen_real.add(real)
        found.append(Interpreter(path=str(path), label=label, kind=kind))

    prefix = Path(sys.prefix)
    current_name = prefix.name if sys.prefix != sys.base_prefix else "system"
    add(Path(sys.executable), f"this Python ({current_name}, {sys.version.split()[0]})",
        "current")
    for env_dir in _conda_dirs(home):
        python = env_python(env_dir) if (env_dir / "conda-meta").is_dir() else None
        if python:
            add(python, _conda_label(env_dir), "conda")
    for env_dir in _venv_dirs(home, cwd):
        python = env_python(env_dir) if (env_dir / "pyvenv.cfg").is_file() else None
        if python:
            add(python, _venv_label(env_dir), "venv")
    for path, label, version in _system_pythons(home):
        too_old = () < _version_tuple(version) < MIN_VERSION  # the probe needs 3.8
        if not too_old and path.is_file() and os.access(path, os.X_OK):
            add(path, label, "system")
    order = {kind: i for i, kind in enumerate(KINDS)}
    return sorted(found, key=lambda i: order[i.kind])


def default_target() -> str:
    """The interpreter to run canaries with when none is named.

    Normally this Python. The packaged (frozen) app's own executable is not a Python, so
    there it is the first interpreter found on the machine (a venv or conda env first).
    """
    if not getattr(sys, "frozen", False):
        return sys.executable
    frozen = os.path.normcase(os.path.abspath(sys.executable))
    for interp in find_interpreters():
        if os.path.normcase(os.path.abspath(interp.path)) != frozen:
            return interp.path
    from reprodiag.errors import UserError

    raise UserError("the packaged app has no Python of its own and found none on this machine: "
                    "name one with --python PATH (a Python with torch or tensorflow)")
