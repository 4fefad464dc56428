"""Environment reports people already paste, turned into snapshots that diff like live ones.

`import_report(text)` recognises torch's collect_env output (every generation), TensorFlow's
tf_env.txt and issue-template System information, `pip freeze` / `pip list` / `conda list`
dumps, and reprodiag's own snapshot JSON; `import_report_file(path)` reads a file of at most
5 MB in whatever encoding it came in. Facts use the live collector's keys (capture.py), facts
the report does not give are absent, and ``host.source`` names the kind of report (with
``host.source_notes`` for what was odd in it). Bad input raises UserError with one line.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from reprodiag.core.env.foreign import collect_env, pip_list, tf_env
from reprodiag.core.env.foreign.text import Facts, clean_text
from reprodiag.core.env.model import Fact, Snapshot
from reprodiag.errors import UserError

MAX_BYTES = 5 * 2**20
SOURCE_KEY, NOTES_KEY = "host.source", "host.source_notes"
SNAPSHOT_SOURCE = "reprodiag snapshot"
# Kinds whose package list is every installed package (a package missing there is absent).
COMPLETE_PACKAGE_LISTS = (pip_list.FREEZE, pip_list.PIP_LIST, pip_list.CONDA_LIST)
EXPECTED = ("paste the output of 'python -m torch.utils.collect_env', a tf_env.txt, "
            "TensorFlow's System information, or 'pip freeze'")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode_report(data: bytes, name: str = "report") -> str:
    """Text of a report file: BOMs and UTF-16 honoured, UTF-8 first, then Windows-1252."""
    if data.startswith(b"PK\x03\x04"):
        raise UserError(f"{name}: a zip archive, not a text report "
                        "(a reprodiag bundle is compared with 'reprodiag compare')")
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
                       (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
                       (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    if len(data) >= 4 and data[1::2].count(0) > 0.9 * (len(data) // 2):
        return data.decode("utf-16-le", errors="replace")  # PowerShell redirection, no BOM
    if len(data) >= 4 and data[0::2].count(0) > 0.9 * (len(data) // 2):
        return data.decode("utf-16-be", errors="replace")
    if b"\x00" in data:
        raise UserError(f"{name}: a binary file, not a text report; {EXPECTED}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _snapshot_json(text: str, name: str) -> Snapshot | None:
    """reprodiag's own snapshot (`reprodiag env --json`), or None when `text` is not JSON."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    try:
        return Snapshot.from_json(obj)
    except ValueError as exc:
        raise UserError(f"{name}: JSON, but not a reprodiag environment snapshot ({exc})")


def _parse(text: str, name: str) -> tuple[Facts, str]:
    if collect_env.detect(text):
        return collect_env.parse(text), collect_env.SOURCE
    if tf_env.detect(text):
        return tf_env.parse(text), tf_env.SOURCE
    if tf_env.detect_template(text):
        return tf_env.parse_template(text), tf_env.TEMPLATE_SOURCE
    if pip_list.looks_like_package_list(text):
        try:
            return pip_list.parse_package_report(text)
        except UserError as exc:
            raise UserError(f"{name}: {exc}")
    raise UserError(f"{name}: not an environment report reprodiag recognises; {EXPECTED}")


def import_report(text: str, *, name: str = "report") -> Snapshot:
    """The snapshot a pasted report describes; UserError (one line) when there is none."""
    if not isinstance(text, str):
        raise UserError(f"{name}: a report is text")
    text = _ANSI.sub("", text)
    if not text.strip():
        raise UserError(f"{name}: empty; {EXPECTED}")
    if len(_CONTROL.findall(text)) > 0.05 * len(text):
        raise UserError(f"{name}: binary data, not a text report; {EXPECTED}")
    snapshot = _snapshot_json(text, name)
    if snapshot is not None:
        return snapshot
    cleaned = clean_text(text)
    if not cleaned.strip():
        raise UserError(f"{name}: holds only markup, no report; {EXPECTED}")
    facts, kind = _parse(cleaned, name)
    if not any(fact.ok for fact in facts.facts.values()):
        raise UserError(f"{name}: looks like a {kind} but holds no values "
                        "(cut off? paste the whole report)")
    found = dict(facts.facts)
    found[SOURCE_KEY] = Fact(kind)
    if facts.notes:
        found[NOTES_KEY] = Fact(list(facts.notes))
    return Snapshot(facts=found, captured_at=time.time(), deep=False, python=name)


def import_report_file(path: Any) -> Snapshot:
    """`import_report` of a file (at most 5 MB; any common encoding and line ending)."""
    p = Path(path).expanduser()
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file")
    except IsADirectoryError:
        raise UserError(f"{path}: a folder, not a report file")
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror or exc})")
    if len(data) > MAX_BYTES:
        raise UserError(f"{path}: larger than {MAX_BYTES // 2**20} MB, too big for an "
                        "environment report; paste only the report")
    return import_report(decode_report(data, p.name), name=p.name)


def report_kind(snapshot: Snapshot) -> str | None:
    """The kind of report a snapshot was imported from; None for a live capture."""
    kind = snapshot.value(SOURCE_KEY)
    return kind if isinstance(kind, str) else None


def _family(key: str) -> str:
    return re.sub(r"^gpu\.\d+\.", "gpu.N.", key)


def comparable(other: Snapshot, report: Snapshot) -> Snapshot:
    """`other` narrowed to the facts `report` could have told, so a diff lists real
    differences rather than everything a report never covers: the report's own keys, each
    GPU's fields the report gives for any GPU, and, for a full package list, every package."""
    if report_kind(report) is None:
        return other
    families = {_family(k) for k in report.facts if k not in (SOURCE_KEY, NOTES_KEY)}
    kind = report_kind(report)
    complete = kind in COMPLETE_PACKAGE_LISTS
    if "gpu.count" in report.facts:
        families.add("gpu.N.name")

    def keep(key: str) -> bool:
        if _family(key) in families:
            return True
        if key.startswith("pkg.conda."):
            return kind == pip_list.CONDA_LIST
        return complete and (key.startswith("pkg.") or (
            key.startswith("framework.") and key.endswith(".version")))

    return Snapshot(facts={k: f for k, f in other.facts.items() if keep(k)},
                    captured_at=other.captured_at, deep=other.deep, python=other.python)


__all__ = [
    "MAX_BYTES",
    "comparable",
    "decode_report",
    "import_report",
    "import_report_file",
    "report_kind",
]
