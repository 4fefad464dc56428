"""The Colab notebook reprodiag saves: the shipped template with this reprodiag embedded.

The template (`resources/colab/reprodiag_colab.ipynb`) stays readable. Its install cell is
replaced by one labelled cell that carries this installed package -- code and data, not the
GUI -- as a base64 zip, unpacks it, puts it on `sys.path` and pip-installs from PyPI the
runtime dependencies Colab may lack, so Colab runs exactly the canaries of the reprodiag
that saved the notebook, with no package index for reprodiag itself. The same bytes come
out of an editable install, a wheel install and the frozen app (whose spec ships the
package's sources for this). No Qt, no framework import.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import reprodiag
from reprodiag.errors import UserError
from reprodiag.paths import package_dir, resource

INSTALL_CELL_ID = "install"
INSTALL_CODE = ("colab", "install_embedded.py")  # in the app's resources
# Shipped data embedded besides the .py files; the GUI (Qt only) and the app's resources
# (icons, desktop files, this notebook's template) stay behind.
DATA_FOLDERS = ("data",)
LEFT_OUT = ("gui", "resources")
# pyproject.toml's [project] dependencies (a test holds the two equal): pip leaves those
# Colab already has alone and adds the rest.
RUNTIME_DEPENDENCIES = ("numpy>=1.23", "psutil>=5.9", "nvidia-ml-py>=12.535", "pydantic>=2.5",
                        "platformdirs>=3.0")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # every entry's timestamp: the archive depends on content only
BASE64_LINE = 100  # characters of the archive per source line of the cell
MAX_NOTEBOOK_BYTES = 2 * 1024 * 1024


@dataclass(kw_only=True, frozen=True)
class EmbeddedPackage:
    """This reprodiag as the notebook carries it: a zip of `names` (posix, sorted)."""

    version: str
    names: tuple[str, ...]
    archive: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.archive).hexdigest()


def _embedded(relative: Path) -> bool:
    parts = relative.parts
    if parts[0] in LEFT_OUT or "__pycache__" in parts or any(p.startswith(".") for p in parts):
        return False
    folder = "/".join(parts[:-1])
    return relative.suffix == ".py" or any(folder == d or folder.startswith(d + "/")
                                           for d in DATA_FOLDERS)


def package_files(root: Path | None = None) -> list[tuple[str, Path]]:
    """(name inside the archive, file) for every file embedded, sorted by name."""
    root = root or package_dir()
    files = [(f"reprodiag/{path.relative_to(root).as_posix()}", path)
             for path in root.rglob("*") if path.is_file() and _embedded(path.relative_to(root))]
    if not any(name == "reprodiag/__init__.py" for name, _ in files):
        raise UserError(f"{root} holds no reprodiag sources to put in the notebook "
                        "(a frozen app built without them?); install reprodiag with pip and "
                        "save the notebook from there")
    return sorted(files)


def embedded_package(root: Path | None = None) -> EmbeddedPackage:
    """The installed package zipped deterministically: sorted entries, fixed times and modes."""
    files = package_files(root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever system wrote it
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return EmbeddedPackage(version=reprodiag.__version__, names=tuple(n for n, _ in files),
                           archive=buffer.getvalue())


def template() -> dict[str, Any]:
    """The shipped notebook template (nbformat 4), parsed."""
    from reprodiag.colab import colab_notebook_path

    return json.loads(colab_notebook_path().read_text(encoding="utf-8"))


def install_cell_source(package: EmbeddedPackage) -> str:
    """The install cell: a Colab form title, the unpacking code, then the call with the data."""
    code = resource(INSTALL_CODE[0]).joinpath(*INSTALL_CODE[1:]).read_text(encoding="utf-8")
    encoded = base64.b64encode(package.archive).decode("ascii")
    lines = [f'        "{encoded[i:i + BASE64_LINE]}"' for i in range(0, len(encoded), BASE64_LINE)]
    size_kb = len(package.archive) // 1024
    return "\n".join([
        f"#@title 1. Install reprodiag {package.version} (embedded: the reprodiag that saved "
        "this notebook)",
        f"# reprodiag {package.version}: {len(package.names)} files, {size_kb} KB zipped.",
        code.rstrip(),
        "",
        "",
        "install_embedded_reprodiag(",
        f"    version={package.version!r},",
        f"    sha256={package.sha256!r},",
        f"    dependencies={list(RUNTIME_DEPENDENCIES)!r},",
        "    archive=(",
        *lines,
        "    ),",
        ")",
    ])


def notebook(package: EmbeddedPackage | None = None) -> dict[str, Any]:
    """The template with its install cell carrying `package` (default: this reprodiag)."""
    package = package or embedded_package()
    nb = copy.deepcopy(template())
    cells = [c for c in nb["cells"] if c.get("id") == INSTALL_CELL_ID]
    if len(cells) != 1 or cells[0]["cell_type"] != "code":
        raise UserError(f"the notebook template has no code cell with id {INSTALL_CELL_ID!r}; "
                        "reinstall reprodiag")
    cell = cells[0]
    cell["metadata"] = {**cell["metadata"], "cellView": "form"}  # Colab shows the title only
    cell["source"] = install_cell_source(package).splitlines(keepends=True)
    return nb


def notebook_text(package: EmbeddedPackage | None = None) -> str:
    return json.dumps(notebook(package), indent=1, ensure_ascii=False) + "\n"


def write_notebook(path: Any) -> Path:
    """Write the notebook to `path` (atomically); a failed write is a UserError of one line."""
    from reprodiag.core.atomic import atomic_open

    target = Path(path)
    data = notebook_text().encode("utf-8")
    try:
        with atomic_open(target) as f:
            f.write(data)
    except OSError as exc:
        raise UserError(f"{path}: cannot write the notebook: {exc.strerror or exc}")
    return target
