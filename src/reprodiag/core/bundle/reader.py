"""The validating bundle reader: every bundle is treated as hostile.

The zip is read into memory and never extracted; container checks (entry count, names,
symlinks, encryption, sizes, compression ratio) come first, then the manifest picks the
loader for its format version. Any problem raises BundleError naming the file and the
problem in one line; no other exception escapes `read_bundle`.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from reprodiag.core.bundle import serialize
from reprodiag.core.env.model import Snapshot
from reprodiag.core.runs.record import RunRecord
from reprodiag.errors import BundleError

FORMAT = "reprodiag-bundle"
MANIFEST = "manifest.json"
ENVIRONMENT = "environment.json"

MAX_FILE_BYTES = 512 * 2**20
MAX_ENTRIES = 10_000
MAX_TOTAL_BYTES = 1024 * 2**20
MAX_RATIO = 200  # inflated/compressed, checked for entries above RATIO_FLOOR bytes
RATIO_FLOOR = 2**20
READ_CHUNK = 2**20
MAX_LABEL_CHARS = 500
# Inflated-size caps per kind of entry.
ENTRY_CAPS = {
    MANIFEST: 4 * 2**20,
    ENVIRONMENT: 32 * 2**20,
    serialize.RUN_JSON: 16 * 2**20,
    serialize.STEPS_CSV: 256 * 2**20,
    serialize.LAYERS_JSON: 64 * 2**20,
}
_ALLOWED_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_DRIVE = re.compile(r"^[A-Za-z]:")

# Exceptions the zip, zlib, json and text layers raise on damaged input.
_DAMAGE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    EOFError,
    OSError,
    ValueError,  # includes UnicodeDecodeError and json.JSONDecodeError
    KeyError,
    IndexError,
    TypeError,
    OverflowError,
    RecursionError,
    NotImplementedError,
    RuntimeError,
)


@dataclass(kw_only=True)
class Bundle:
    """A bundle read back: its environment snapshot (if any) and its runs."""

    path: Path
    label: str
    manifest: dict[str, Any]
    snapshot: Snapshot | None
    runs: list[RunRecord] = field(default_factory=list)
    created_at: str = ""
    producer: dict[str, str] = field(default_factory=dict)

    @property
    def producer_version(self) -> str:
        """The version of reprodiag that wrote the bundle (manifest `producer.version`)."""
        return self.producer.get("version", "")


def read_bundle(path: Any) -> Bundle:
    """Read and validate a `.reprodiag.zip`; raises BundleError (one line) on any problem."""
    path = Path(path)
    try:
        data = _read_file(path)
        return load_bytes(data, path)
    except BundleError:
        raise
    except _DAMAGE as exc:
        raise BundleError(path, _damage_text(exc)) from None


def load_bytes(data: bytes, path: Path) -> Bundle:
    """Validate and load a bundle held in memory; `path` is only used in messages."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            archive = _Archive(zf, path)
            manifest = archive.json(MANIFEST)
            if not isinstance(manifest, dict):
                archive.fail("manifest.json must hold a JSON object")
            version = _format_version(manifest, archive)
            return LOADERS[version](archive, manifest)
    except BundleError:
        raise
    except _DAMAGE as exc:
        raise BundleError(path, _damage_text(exc)) from None


def _damage_text(exc: BaseException) -> str:
    if isinstance(exc, zipfile.BadZipFile):
        return f"not a valid zip file ({_one_line(exc)})"
    if isinstance(exc, UnicodeDecodeError):
        return "an entry is not valid UTF-8 text"
    return f"damaged bundle ({type(exc).__name__}: {_one_line(exc)})"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def _read_file(path: Path) -> bytes:
    if not path.exists():
        raise BundleError(path, "no such file")
    if not path.is_file():
        raise BundleError(path, "not a file")
    try:
        with open(path, "rb") as f:
            # read(n) allocates n bytes up front: ask for no more than the file holds
            size = os.fstat(f.fileno()).st_size
            data = f.read(min(size, MAX_FILE_BYTES) + 1)
    except OSError as exc:
        raise BundleError(path, f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise BundleError(path, f"larger than {MAX_FILE_BYTES // 2**20} MiB; not a bundle")
    return data


class _Archive:
    """A zip whose entries passed the container checks, read with size caps."""

    def __init__(self, zf: zipfile.ZipFile, path: Path):
        self.zf = zf
        self.path = path
        self.inflated = 0
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            self.fail(f"too many entries ({len(infos)} > {MAX_ENTRIES})")
        self.entries: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            self._check_entry(info)
            self.entries[info.filename] = info

    def fail(self, problem: str) -> NoReturn:
        raise BundleError(self.path, problem)

    def _check_entry(self, info: zipfile.ZipInfo) -> None:
        name = info.filename
        shown = repr(name[:80])
        for raw in (name, info.orig_filename):
            if (
                raw.startswith("/")
                or "\\" in raw
                or _DRIVE.match(raw)
                or "\x00" in raw
                or any(part in ("..", ".") for part in raw.split("/"))
            ):
                self.fail(f"unsafe entry name {raw[:80]!r}")
        if name in self.entries:
            self.fail(f"duplicate entry {shown}")
        if stat.S_ISLNK(info.external_attr >> 16):
            self.fail(f"entry {shown} is a symbolic link")
        if info.flag_bits & 0x1:
            self.fail(f"entry {shown} is encrypted")
        if info.compress_type not in _ALLOWED_METHODS:
            self.fail(f"entry {shown} uses an unsupported compression method")
        cap = ENTRY_CAPS.get(name.rsplit("/", 1)[-1])  # unknown names fail the layout check
        if cap is not None and info.file_size > cap:
            self.fail(f"entry {shown} is too large ({info.file_size} bytes, limit {cap})")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * info.compress_size:
            self.fail(f"entry {shown} has a suspicious compression ratio")

    def has(self, name: str) -> bool:
        return name in self.entries

    def read(self, name: str) -> bytes:
        """An entry's bytes, never more than its cap even if its header lies."""
        info = self.entries.get(name)
        if info is None:
            self.fail(f"missing entry {name!r}")
        cap = min(ENTRY_CAPS[name.rsplit("/", 1)[-1]], MAX_TOTAL_BYTES - self.inflated)
        # In chunks: ZipExtFile.read(n) inflates up to n bytes at once before it trims the
        # result to the declared size, so one big read would let a lying header inflate.
        chunks: list[bytes] = []
        size = 0
        with self.zf.open(info) as f:
            while chunk := f.read(min(READ_CHUNK, cap + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > cap:
                    self.fail(f"entry {name!r} inflates beyond its limit")
        self.inflated += size
        return b"".join(chunks)

    def text(self, name: str) -> str:
        return self.decode(name, self.read(name))

    def ascii_or_text(self, name: str) -> bytes | str:
        """An entry's bytes when they are ASCII (parsers read those directly), else its text."""
        data = self.read(name)
        return data if data.isascii() else self.decode(name, data)

    def decode(self, name: str, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"{name} is not valid UTF-8 text")

    def json(self, name: str) -> Any:
        try:
            return serialize.loads_json(self.text(name))
        except RecursionError:
            self.fail(f"{name}: not valid JSON (nested too deep)")
        except ValueError as exc:
            self.fail(f"{name}: not valid JSON ({_one_line(exc)})")


def _format_version(manifest: dict[str, Any], archive: _Archive) -> int:
    if manifest.get("format") != FORMAT:
        archive.fail("not a reprodiag bundle (manifest.json has no 'format': 'reprodiag-bundle')")
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        archive.fail("manifest.json: 'format_version' must be a positive integer")
    newest = max(LOADERS)
    if version > newest:
        producer = manifest.get("producer")
        made_by = producer.get("version") if isinstance(producer, dict) else None
        made_by = str(made_by)[:40] if made_by is not None else "a newer version"
        archive.fail(
            f"written by reprodiag {made_by} (format version {version}); "
            f"this reprodiag reads format version {newest} — upgrade reprodiag"
        )
    if version not in LOADERS:
        archive.fail(f"unknown bundle format version {version}")
    return version


# ---------------------------------------------------------------------------- format v1


def _load_v1(archive: _Archive, manifest: dict[str, Any]) -> Bundle:
    return _load_runs(archive, manifest, _RUN_FILES)


def _load_runs(archive: _Archive, manifest: dict[str, Any], run_files: tuple[str, ...]) -> Bundle:
    """Versions 1 and 2: the same manifest and layout; `run_files` are the names a run
    folder may hold (run.json and steps.csv are required)."""
    run_ids = _v1_check_layout(archive, run_files)
    created_at = _v1_created_at(manifest, archive)
    producer = _v1_producer(manifest, archive)
    label = manifest.get("label")
    if not isinstance(label, str) or len(label) > MAX_LABEL_CHARS:
        archive.fail(f"manifest.json: 'label' must be a string of at most {MAX_LABEL_CHARS} chars")
    listed = _v1_manifest_runs(manifest, archive)
    unlisted = sorted(run_ids - {entry["run_id"] for entry in listed})
    if unlisted:
        archive.fail(f"runs/{unlisted[0]}/ is not listed in manifest.json")
    runs = [_v1_run(archive, entry) for entry in listed]
    snapshot = None
    if archive.has(ENVIRONMENT):
        try:
            snapshot = Snapshot.from_json(archive.json(ENVIRONMENT))
        except (ValueError, TypeError, OverflowError) as exc:
            archive.fail(f"environment.json: {_one_line(exc)}")
    return Bundle(
        path=archive.path,
        label=label,
        manifest=manifest,
        snapshot=snapshot,
        runs=runs,
        created_at=created_at,
        producer=producer,
    )


def _v1_check_layout(archive: _Archive, run_files: tuple[str, ...]) -> set[str]:
    """Every entry is one the layout knows; returns the run ids that have folders."""
    run_ids: set[str] = set()
    for name, info in archive.entries.items():
        if name in (MANIFEST, ENVIRONMENT, "runs/"):
            continue
        parts = name.split("/")
        ok = len(parts) == 3 and parts[0] == "runs" and parts[2] in ("", *run_files)
        if ok:
            try:
                run_ids.add(serialize.check_run_id(parts[1]))
            except ValueError:
                ok = False
        if not ok:
            archive.fail(f"unexpected entry {name[:80]!r}")
        if name.endswith("/") and info.file_size:
            archive.fail(f"folder entry {name[:80]!r} has content")
    return run_ids


_RUN_FILES = (serialize.RUN_JSON, serialize.STEPS_CSV)
_RUN_FILES_V2 = (*_RUN_FILES, serialize.LAYERS_JSON)  # layers.json: optional


def _v1_created_at(manifest: dict[str, Any], archive: _Archive) -> str:
    value = manifest.get("created_at")
    if isinstance(value, str) and len(value) <= 64:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return value
        except ValueError:
            pass
    archive.fail("manifest.json: 'created_at' must be an ISO-8601 time")


def _v1_producer(manifest: dict[str, Any], archive: _Archive) -> dict[str, str]:
    producer = manifest.get("producer")
    if (
        not isinstance(producer, dict)
        or not all(isinstance(producer.get(k), str) for k in ("name", "version"))
        or any(len(producer[k]) > 64 for k in ("name", "version"))
    ):
        archive.fail("manifest.json: 'producer' must have a string 'name' and 'version'")
    return {"name": producer["name"], "version": producer["version"]}


def _v1_manifest_runs(manifest: dict[str, Any], archive: _Archive) -> list[dict[str, Any]]:
    runs = manifest.get("runs")
    if not isinstance(runs, list) or len(runs) > MAX_ENTRIES:
        archive.fail(f"manifest.json: 'runs' must be a list of at most {MAX_ENTRIES} runs")
    seen: set[str] = set()
    for entry in runs:
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) for k in ("run_id", "label", "status")
        ):
            archive.fail("manifest.json: each run needs a string 'run_id', 'label' and 'status'")
        try:
            run_id = serialize.check_run_id(entry["run_id"])
        except ValueError as exc:
            archive.fail(f"manifest.json: {exc}")
        if run_id in seen:
            archive.fail(f"manifest.json lists run {run_id!r} twice")
        seen.add(run_id)
    return runs


def _v1_run(archive: _Archive, entry: dict[str, Any]) -> RunRecord:
    run_id = entry["run_id"]
    folder = f"runs/{run_id}/"
    for name in _RUN_FILES:
        if not archive.has(folder + name):
            archive.fail(f"run {run_id!r} listed in manifest.json has no {folder}{name}")
    run_obj = archive.json(folder + serialize.RUN_JSON)
    steps_text = archive.ascii_or_text(folder + serialize.STEPS_CSV)
    try:
        record = serialize.record_from_parts(run_obj, steps_text)
    except ValueError as exc:
        archive.fail(f"{folder}{_one_line(exc)}")
    if record.run_id != run_id:
        archive.fail(f"{folder}run.json holds run id {record.run_id!r}")
    if (record.label, record.status) != (entry["label"], entry["status"]):
        archive.fail(f"manifest.json disagrees with {folder}run.json on label or status")
    if archive.has(folder + serialize.LAYERS_JSON):
        try:
            record.layers = serialize.layers_from_json(archive.json(folder + serialize.LAYERS_JSON))
        except ValueError as exc:
            archive.fail(f"{folder}{serialize.LAYERS_JSON}: {_one_line(exc)}")
    return record


# ---------------------------------------------------------------------------- format v2


def _load_v2(archive: _Archive, manifest: dict[str, Any]) -> Bundle:
    """Version 2 = version 1 plus an optional runs/<run_id>/layers.json per run."""
    return _load_runs(archive, manifest, _RUN_FILES_V2)


# One loader per format version; old versions stay readable when a new one is added.
LOADERS: dict[int, Callable[[_Archive, dict[str, Any]], Bundle]] = {1: _load_v1, 2: _load_v2}
