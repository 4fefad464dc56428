"""The bundle writer: runs and an environment snapshot into one portable `.reprodiag.zip`.

The zip is built in memory, read back through the validating reader (so reprodiag never
writes a bundle it would refuse to read), then written atomically.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import reprodiag
from reprodiag.core import atomic
from reprodiag.core.anonymise import anonymise_bundle_parts
from reprodiag.core.bundle import serialize
from reprodiag.core.bundle.reader import ENVIRONMENT, FORMAT, MANIFEST, load_bytes
from reprodiag.core.env.model import Snapshot
from reprodiag.core.runs.record import RunRecord
from reprodiag.errors import BundleError, UserError

FORMAT_VERSION = 2  # 2: runs may carry layers.json
SUFFIX = ".reprodiag.zip"


def bundle_path(path: Any) -> Path:
    """`path` with the `.reprodiag.zip` suffix (a plain `.zip` suffix is replaced)."""
    path = Path(path)
    name = path.name
    if name.endswith(SUFFIX):
        return path
    if name.lower().endswith(".zip"):
        name = name[: -len(".zip")]
    return path.with_name(name + SUFFIX)


def write_bundle(
    path: Any,
    *,
    snapshot: Snapshot | None,
    runs: list[RunRecord],
    label: str = "",
    anonymise: bool = False,
) -> Path:
    """Write a bundle atomically; returns the path written (with the bundle suffix).

    `anonymise` replaces user name, host name and home folder everywhere in it (see
    core/anonymise.py).
    """
    target = bundle_path(path)
    if anonymise:
        snapshot, runs, label = anonymise_bundle_parts(snapshot, runs, label)
    ids = [run.run_id for run in runs]
    if len(set(ids)) != len(ids):
        raise UserError(f"cannot write {target}: the same run is included twice")
    created = datetime.now(timezone.utc).replace(microsecond=0)
    try:
        data = _zip_bytes(snapshot, runs, label, created)
    except (ValueError, TypeError) as exc:  # an unsafe run id, a value JSON cannot hold
        raise UserError(f"cannot write {target}: {exc}") from None
    try:
        load_bytes(data, target)
    except BundleError as exc:
        raise UserError(f"cannot write {target}: it would not read back ({exc.problem})") from None
    if not target.parent.is_dir():
        raise UserError(f"cannot write {target}: folder {target.parent} does not exist")
    try:
        atomic.write_bytes(target, data)
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def _zip_bytes(
    snapshot: Snapshot | None, runs: list[RunRecord], label: str, created: datetime
) -> bytes:
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "producer": {"name": "reprodiag", "version": reprodiag.__version__},
        "label": label,
        "runs": [{"run_id": r.run_id, "label": r.label, "status": r.status} for r in runs],
    }
    stamp = created.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:

        def add(name: str, text: str) -> None:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            zf.writestr(info, text.encode("utf-8"))

        add(MANIFEST, json.dumps(manifest, indent=1) + "\n")
        if snapshot is not None:
            add(ENVIRONMENT, json.dumps(snapshot.to_json(), indent=1, allow_nan=True) + "\n")
        for run in runs:
            folder = f"runs/{serialize.check_run_id(run.run_id)}/"
            add(folder + serialize.RUN_JSON, serialize.run_json_text(run))
            add(folder + serialize.STEPS_CSV, serialize.steps_csv_text(run.steps))
            if run.layers:
                add(folder + serialize.LAYERS_JSON, serialize.layers_json_text(run.layers))
    return buffer.getvalue()
