"""Find the Python interpreters a user may want to diagnose: this one, venvs, conda envs.

Cheap by design (the GUI lists them on open): only directory listings and small file reads
(pyvenv.cfg, conda-meta names, environments.txt, whether an env's site-packages holds torch/
or tensorflow/), never a subprocess per candidate. Those with a framework come first: an
interpreter without one cannot run a canary. The packaged (frozen) app's own executable is
not a Python and is never listed. `verify_interpreter` runs the one path a user names, once,
before anything else runs with it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprodiag.core.env.frozen import is_frozen, original_environ
from reprodiag.errors import UserError

KINDS = ("current", "venv", "conda", "system")
FRAMEWORKS = ("torch", "tensorflow")  # import names, as in site-packages
MIN_VERSION = (3, 8)
VERIFY_TIMEOUT_S = 30.0

VENV_HOMES = (".virtualenvs", ".venvs", "venvs", ".local/share/virtualenvs",
              ".cache/pypoetry/virtualenvs")
PROJECT_VENVS = (".venv", "venv")
CONDA_ROOTS = ("miniconda3", "anaconda3", "miniforge3", "mambaforge", "micromamba", ".conda")
SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3", "/opt/homebrew/bin/python3")

# Run by verify_interpreter: the marker tells a Python's answer from any other program's.
_VERSION_CHECK = "import sys; print('reprodiag-python', *sys.version_info[:2])"


@dataclass(frozen=True, kw_only=True)
class Interpreter:
    """A candidate interpreter: its path, a label for a picker, where it was found, and which
    FRAMEWORKS its site-packages hold."""

    path: str
    label: str
    kind: str  # one of KINDS
    frameworks: tuple[str, ...] = ()


def env_python(env_dir: Path) -> Path | None:
    """The interpreter of a venv or conda env folder, if it has one."""
    for relative in ("bin/python", "bin/python3", "Scripts/python.exe", "python.exe"):
        candidate = env_dir / relative
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def is_packaged_app(path: str | Path) -> bool:
    """True for this frozen app's executable, or any PyInstaller one-folder app's (its
    `_internal/base_library.zip` beside it): programs that are no Python interpreter."""
    real = os.path.realpath(path)
    if is_frozen() and real == os.path.realpath(sys.executable):
        return True
    return (Path(real).parent / "_internal" / "base_library.zip").is_file()


def resolve_interpreter(python: str) -> str:
    """An absolute interpreter path; an environment folder stands for its python.

    Raises UserError (one line naming the path) when it is no runnable interpreter.
    """
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
    if is_packaged_app(path):
        raise UserError(f"{python} is a packaged app (the reprodiag app?), not a Python "
                        "interpreter: name a Python that has torch or TensorFlow, e.g. "
                        "~/venvs/NAME/bin/python")
    return path


def verify_interpreter(python: str, timeout: float = VERIFY_TIMEOUT_S) -> str:
    """resolve_interpreter, then run the program once to ask its Python version: a path the
    user names must be Python 3.8 or newer before a worker runs with it (UserError if not)."""
    path = resolve_interpreter(python)
    try:
        done = subprocess.run([path, "-I", "-S", "-c", _VERSION_CHECK], capture_output=True,
                              text=True, errors="replace", timeout=timeout,
                              stdin=subprocess.DEVNULL, env=original_environ())
    except subprocess.TimeoutExpired:
        raise UserError(f"{python} is not a Python interpreter (no answer within {timeout:g} s)")
    except OSError as exc:
        raise UserError(f"{python} is not a Python interpreter ({exc.strerror or exc})")
    match = re.fullmatch(r"reprodiag-python (\d+) (\d+)\s*", done.stdout)
    if match is None:
        raise UserError(f"{python} is not a Python interpreter (it does not run Python 3 code)")
    version = (int(match.group(1)), int(match.group(2)))
    if version < MIN_VERSION:
        raise UserError(f"{python} is Python {version[0]}.{version[1]}; reprodiag needs "
                        f"{MIN_VERSION[0]}.{MIN_VERSION[1]} or newer")
    return path


def snapshot_frameworks(snapshot: Any) -> tuple[str, ...]:
    """The FRAMEWORKS a snapshot shows installed (its framework.<name>.version has a value)."""
    return tuple(fw for fw in FRAMEWORKS if snapshot.value(f"framework.{fw}.version"))


# -- versions and frameworks, from files ------------------------------------------------------

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


def _version_tuple(text: str | None) -> tuple[int, ...]:
    return tuple(int(x) for x in (text or "").split(".")[:2] if x.isdigit())


def _major_minor(version: str | None) -> str:
    """'3.11' for '3.11.7'; '' when unknown."""
    return ".".join(map(str, _version_tuple(version)))


def site_dirs(prefix: Path, version: str | None) -> list[Path]:
    """Where an interpreter installed under `prefix` keeps packages (POSIX, Debian, Windows)."""
    major_minor = _major_minor(version)
    if major_minor:
        libs = [f"python{major_minor}"]
    else:
        try:
            libs = sorted(n for n in os.listdir(prefix / "lib") if n.startswith("python3"))
        except OSError:
            libs = []
    dirs = [prefix / "Lib" / "site-packages", prefix / "lib" / "python3" / "dist-packages"]
    for lib in libs:
        dirs += [prefix / "lib" / lib / "site-packages", prefix / "lib" / lib / "dist-packages"]
    return dirs


def frameworks_in(dirs: Iterable[Path]) -> tuple[str, ...]:
    """The FRAMEWORKS installed in any of these site-packages folders."""
    dirs = list(dirs)
    return tuple(fw for fw in FRAMEWORKS if any((d / fw / "__init__.py").is_file() for d in dirs))


def _system_site_dirs(python: Path, version: str | None, home: Path) -> list[Path]:
    """A base interpreter's own site-packages, Debian's /usr/local one and the user's."""
    major_minor = _major_minor(version)
    dirs = site_dirs(Path(os.path.realpath(python)).parent.parent, version)
    if major_minor:
        dirs += [Path("/usr/local/lib") / f"python{major_minor}" / "dist-packages",
                 home / ".local" / "lib" / f"python{major_minor}" / "site-packages",
                 home / "Library" / "Python" / major_minor / "lib" / "python" / "site-packages"]
    return dirs


def _frameworks_here() -> tuple[str, ...]:
    return frameworks_in(Path(p) for p in sys.path if p)


# -- where to look ----------------------------------------------------------------------------

def _label(name: str, details: Iterable[str | None], frameworks: tuple[str, ...]) -> str:
    parts = [d for d in details if d] + list(frameworks)
    return f"{name} ({', '.join(parts)})" if parts else name


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


def _conda_roots(home: Path) -> Iterable[Path]:
    """Conda installations: the usual folders, and the ones conda's variables name."""
    for name in CONDA_ROOTS:
        yield home / name
        yield Path("/opt") / name
    yield Path("/opt/conda")
    if os.environ.get("CONDA_EXE"):  # <root>/bin/conda or <root>/condabin/conda
        yield Path(os.environ["CONDA_EXE"]).parent.parent
    if os.environ.get("MAMBA_ROOT_PREFIX"):
        yield Path(os.environ["MAMBA_ROOT_PREFIX"])


def _conda_dirs(home: Path) -> Iterable[Path]:
    for root in _conda_roots(home):
        yield root
        yield from _subdirs(root / "envs")
    for variable in ("CONDA_ENVS_PATH", "CONDA_ENVS_DIRS"):
        for folder in filter(None, os.environ.get(variable, "").split(os.pathsep)):
            yield from _subdirs(Path(folder))
    try:
        listed = (home / ".conda" / "environments.txt").read_text(encoding="utf-8")
    except OSError:
        listed = ""
    for line in listed.splitlines():
        if line.strip():
            yield Path(line.strip())
    if os.environ.get("CONDA_PREFIX"):
        yield Path(os.environ["CONDA_PREFIX"])


def _system_pythons(home: Path) -> Iterable[tuple[Path, str, str | None, str | None]]:
    """(path, name, detail, version) of base interpreters: system paths, python3 on PATH,
    pyenv's versions (named by their version)."""
    on_path = shutil.which("python3")
    paths = [*SYSTEM_PYTHONS, on_path] if on_path and "shims" not in on_path else SYSTEM_PYTHONS
    for path in map(Path, paths):
        match = re.search(r"python(\d+\.\d+)$", os.path.realpath(path))
        version = match.group(1) if match else None
        yield path, str(path), version and f"Python {version}", version
    pyenv = Path(os.environ.get("PYENV_ROOT") or home / ".pyenv") / "versions"
    versions = [d for d in _subdirs(pyenv) if not (d / "pyvenv.cfg").is_file()]
    for version_dir in sorted(versions, key=lambda d: _version_tuple(d.name), reverse=True):
        yield version_dir / "bin" / "python", f"pyenv {version_dir.name}", None, version_dir.name


def find_interpreters(cwd: Path | None = None, home: Path | None = None) -> list[Interpreter]:
    """Interpreters with a framework first, then the rest; within each, this Python, venvs,
    conda envs and system pythons. No duplicates, never the packaged app itself."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    home = Path.home() if home is None else Path(home)
    found: list[Interpreter] = []
    seen_paths: set[str] = set()
    seen_real: set[str] = set()

    def add(path: Path, kind: str, name: str, details: list[str | None],
            frameworks: tuple[str, ...]) -> None:
        key = os.path.normcase(os.path.abspath(path))
        real = os.path.normcase(os.path.realpath(path))
        if key in seen_paths or (kind == "system" and real in seen_real) or is_packaged_app(path):
            return
        seen_paths.add(key)
        if kind == "system":  # /usr/bin/python3 and its python3.11 target are one Python
            seen_real.add(real)
        found.append(Interpreter(path=str(path), label=_label(name, details, frameworks),
                                 kind=kind, frameworks=frameworks))

    if not is_frozen():  # the packaged app's executable is no Python
        current = Path(sys.prefix).name if sys.prefix != sys.base_prefix else "system"
        add(Path(sys.executable), "current", "this Python", [current, sys.version.split()[0]],
            _frameworks_here())
    for env_dir in _conda_dirs(home):
        python = env_python(env_dir) if (env_dir / "conda-meta").is_dir() else None
        if python:
            version = conda_version(env_dir)
            name = "base" if (env_dir / "envs").is_dir() else env_dir.name
            add(python, "conda", name, ["conda", version and f"Python {version}"],
                frameworks_in(site_dirs(env_dir, version)))
    for env_dir in _venv_dirs(home, cwd):
        python = env_python(env_dir) if (env_dir / "pyvenv.cfg").is_file() else None
        if python:
            version = venv_version(env_dir)
            name = f"{env_dir.parent.name}/{env_dir.name}" if env_dir.name in PROJECT_VENVS \
                else env_dir.name
            add(python, "venv", name, ["venv", version and f"Python {version}"],
                frameworks_in(site_dirs(env_dir, version)))
    for path, name, detail, version in _system_pythons(home):
        too_old = () < _version_tuple(version) < MIN_VERSION  # the probe needs 3.8
        if not too_old and path.is_file() and os.access(path, os.X_OK):
            add(path, "system", name, [detail], frameworks_in(_system_site_dirs(path, version, home)))
    order = {kind: i for i, kind in enumerate(KINDS)}
    return sorted(found, key=lambda i: (not i.frameworks, order[i.kind]))


def default_target() -> str:
    """The interpreter to run canaries with when none is named.

    This Python when it has torch or TensorFlow; else the first interpreter found that has
    one; else this Python -- except in the packaged app, whose executable is no Python: there
    the first interpreter found, and UserError when there is none.
    """
    if not is_frozen() and _frameworks_here():
        return sys.executable  # the usual case, without looking around the disk
    found = find_interpreters()
    if found and (found[0].frameworks or is_frozen()):
        return found[0].path
    if not is_frozen():
        return sys.executable
    raise UserError("no Python interpreter found on this machine, and the packaged app has none "
                    "of its own: name one that has torch or TensorFlow (--python PATH, or "
                    "Browse… in the Environment tab)")
