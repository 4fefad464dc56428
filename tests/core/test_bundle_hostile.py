"""The bundle reader against hostile input: every problem is one BundleError line, nothing else.

Each bad bundle is built here with zipfile (or by patching a valid one's bytes), then
hypothesis mutates valid bundles at the byte, entry and JSON-value level.
"""

from __future__ import annotations

import json
import stat
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from security.corpus_loader import generator
from test_bundle_samples import sample_record, sample_snapshot

from reprodiag.core.bundle import read_bundle, write_bundle
from reprodiag.errors import BundleError

RUN_ID = "20250101-120000-abcdef01"
RUN = f"runs/{RUN_ID}/"


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("valid")
    path = write_bundle(
        folder / "valid", snapshot=sample_snapshot(), runs=[sample_record(RUN_ID)], label="ok"
    )
    return path.read_bytes()


def entries_of(data: bytes) -> dict[str, bytes]:
    return generator().entries_of(data)


def zip_bytes(entries, method=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of (name or ZipInfo, bytes) pairs; duplicate names are allowed on purpose."""
    return generator().zip_of(entries, method)


def edit_json(entries: dict[str, bytes], name: str, change) -> dict[str, bytes]:
    obj = json.loads(entries[name])
    change(obj)
    entries[name] = json.dumps(obj).encode()
    return entries


def edit_csv(entries: dict[str, bytes], change) -> dict[str, bytes]:
    lines = entries[RUN + "steps.csv"].decode().split("\n")
    entries[RUN + "steps.csv"] = "\n".join(change(lines)).encode()
    return entries


def shrink_declared_size(data: bytes, name: str) -> bytes:
    """Make the central directory claim `name` inflates to 10 bytes (a lying header)."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", out, at + 28)[0]
        if out[at + 46 : at + 46 + name_len] == name.encode():
            struct.pack_into("<I", out, at + 24, 10)
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("manifest.json")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def rezip(change):
    """A case maker: the valid bundle's entries, changed, zipped again (CRCs correct)."""
    return lambda valid: zip_bytes(change(entries_of(valid)).items())


def in_json(name, change):
    return rezip(lambda entries: edit_json(entries, name, change))


def in_manifest(change):
    return in_json("manifest.json", change)


def in_run(change):
    return in_json(RUN + "run.json", change)


def in_csv(change):
    return rezip(lambda entries: edit_csv(entries, change))


def only(name, data: bytes):
    return lambda valid: zip_bytes([(name, data)])


def without(name):
    return rezip(lambda entries: {k: v for k, v in entries.items() if k != name})


def plus(name, data: bytes):
    return rezip(lambda entries: {**entries, name: data})


def first_loss(text):
    return in_csv(lambda ls: [ls[0], ls[1].replace(",2.302585092994046,", f",{text},", 1)])


NEWER = {"format_version": 3, "producer": {"name": "reprodiag", "version": "9.9"}}
DEEP = b"[" * 100 + b"]" * 100

# Each case: (id, make(valid_bytes) -> bytes, a fragment the message must hold).
CASES = [
    ("empty-file", lambda v: b"", "not a valid zip file"),
    ("random-bytes", lambda v: b"\x00garbage" * 50, "not a valid zip file"),
    ("truncated", lambda v: v[: len(v) // 2], "not a valid zip file"),
    (
        "too-many-entries",
        lambda v: zip_bytes([(f"runs/r{i}/", b"") for i in range(10_001)], zipfile.ZIP_STORED),
        "too many entries (10001 > 10000)",
    ),
    ("absolute-path", only("/etc/passwd", b"x"), "unsafe entry name"),
    ("dot-dot", only("runs/../../evil", b"x"), "unsafe entry name"),
    ("backslash", only("runs\\x\\run.json", b"x"), "unsafe entry name"),
    ("drive-letter", only("C:/evil", b"x"), "unsafe entry name"),
    ("symlink", lambda v: zip_bytes([(symlink_entry(), b"/etc/passwd")]), "symbolic link"),
    (
        "duplicate-name",
        lambda v: zip_bytes([*entries_of(v).items(), ("manifest.json", b"{}")]),
        "duplicate entry 'manifest.json'",
    ),
    ("encrypted", lambda v: generator().set_flag_bits(v, 0x1), "is encrypted"),
    (
        "declared-too-large",
        only("manifest.json", b"{}" + b" " * (4 * 2**20)),
        "entry 'manifest.json' is too large",
    ),
    ("lying-header", lambda v: shrink_declared_size(v, RUN + "steps.csv"), "CRC"),
    ("compression-bomb", plus(RUN + "steps.csv", b"0" * 2**23), "suspicious compression ratio"),
    (
        "bzip2",
        lambda v: zip_bytes(entries_of(v).items(), zipfile.ZIP_BZIP2),
        "unsupported compression method",
    ),
    ("unexpected-entry", plus("evil.sh", b"x"), "unexpected entry 'evil.sh'"),
    ("nested-runs-entry", plus(RUN + "x/run.json", b""), "unexpected entry"),
    ("no-manifest", without("manifest.json"), "missing entry 'manifest.json'"),
    ("manifest-not-json", only("manifest.json", b"{nope"), "not valid JSON"),
    ("manifest-not-utf8", only("manifest.json", b'{"a": "\xff"}'), "not valid UTF-8"),
    ("manifest-list", only("manifest.json", b"[]"), "must hold a JSON object"),
    ("json-too-deep", only("manifest.json", DEEP), "nested deeper than 64"),
    ("json-recursion", only("manifest.json", b"[" * 200_000), "nested too deep"),
    ("json-duplicate-key", only("manifest.json", b'{"a": 1, "a": 2}'), "duplicate key 'a'"),
    ("json-huge-int", only("manifest.json", b'{"a": ' + b"9" * 5000 + b"}"), "not valid JSON"),
    ("wrong-format", in_manifest(lambda m: m.update(format="x")), "not a reprodiag bundle"),
    (
        "version-string",
        in_manifest(lambda m: m.update(format_version="1")),
        "'format_version' must be a positive integer",
    ),
    (
        "newer-version",
        in_manifest(lambda m: m.update(NEWER)),
        (
            "written by reprodiag 9.9 (format version 3); "
            "this reprodiag reads format version 2 — upgrade reprodiag"
        ),
    ),
    (
        "bad-created-at",
        in_manifest(lambda m: m.update(created_at="yesterday")),
        "'created_at' must be an ISO-8601 time",
    ),
    ("bad-producer", in_manifest(lambda m: m.update(producer="me")), "'producer' must have"),
    (
        "unsafe-run-id-in-manifest",
        in_manifest(lambda m: m["runs"][0].update(run_id="../x")),
        "is not a safe name",
    ),
    (
        "run-listed-twice",
        in_manifest(lambda m: m["runs"].append(m["runs"][0])),
        f"lists run '{RUN_ID}' twice",
    ),
    (
        "manifest-disagrees",
        in_manifest(lambda m: m["runs"][0].update(status="finished")),
        "disagrees",
    ),
    ("listed-run-missing-steps", without(RUN + "steps.csv"), f"has no {RUN}steps.csv"),
    (
        "unlisted-run-folder",
        plus("runs/other/run.json", b"{}"),
        "runs/other/ is not listed in manifest.json",
    ),
    ("run-id-mismatch", in_run(lambda r: r.update(run_id="x")), "holds run id 'x'"),
    ("run-json-list", plus(RUN + "run.json", b"[]"), "run.json must hold a JSON object"),
    ("run-missing-key", in_run(lambda r: r.pop("n_params")), "missing key 'n_params'"),
    (
        "run-wrong-type",
        in_run(lambda r: r.update(n_params="5")),
        "'n_params' must be a non-negative integer",
    ),
    ("run-bad-status", in_run(lambda r: r.update(status="exploded")), "unknown status 'exploded'"),
    (
        "run-bad-time",
        in_run(lambda r: r.update(ended_at=True)),
        "'ended_at' must be a Unix time or null",
    ),
    ("run-huge-time", in_run(lambda r: r.update(started_at=10**400)), "'started_at' must be"),
    (
        "environment-huge-time",
        in_json("environment.json", lambda e: e.update(captured_at=10**400)),
        "environment.json: int too large",
    ),
    ("run-log-not-strings", in_run(lambda r: r.update(log=[1])), "'log' must be a list"),
    (
        "config-unknown-field",
        in_run(lambda r: r["config"].update(stepz=5)),
        "config stepz: Extra inputs are not permitted",
    ),
    (
        "config-string-number",
        in_run(lambda r: r["config"].update(steps="5")),
        "config steps: Input should be a valid integer",
    ),
    ("csv-empty", plus(RUN + "steps.csv", b""), "steps.csv: missing header row"),
    (
        "csv-missing-column",
        in_csv(lambda ls: [ls[0].replace(",grad_norm", "")]),
        "missing column(s) grad_norm",
    ),
    ("csv-duplicate-column", in_csv(lambda ls: [ls[0] + ",loss"]), "duplicate column"),
    (
        "csv-steps-not-increasing",
        in_csv(lambda ls: [ls[0], ls[2], ls[1]]),
        "step 0 does not follow 10",
    ),
    ("csv-text-number", first_loss("abc"), "loss 'abc' is not a number"),
    ("csv-underscore-number", first_loss("1_000"), "loss '1_000' is not a number"),
    ("csv-spaced-step", in_csv(lambda ls: [ls[0], " " + ls[1]]), "is not a whole number"),
    ("csv-short-row", in_csv(lambda ls: [ls[0], "0,1.0"]), "2 cells where the header has 7"),
    (
        "bad-environment",
        plus("environment.json", b'{"format": "x"}'),
        "environment.json: not a reprodiag environment snapshot",
    ),
]


def assert_one_line_error(path: Path, data: bytes, fragment: str | None = None) -> None:
    path.write_bytes(data)
    with pytest.raises(BundleError) as info:
        read_bundle(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message and len(message) < 600
    if fragment is not None:
        assert fragment in message


@pytest.mark.parametrize(("make", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_bundle_is_one_clear_error(tmp_path, valid_bytes, make, fragment):
    assert_one_line_error(tmp_path / "bad.reprodiag.zip", make(valid_bytes), fragment)


def test_the_untouched_sample_is_valid(tmp_path, valid_bytes):
    path = tmp_path / "ok.reprodiag.zip"
    path.write_bytes(zip_bytes(entries_of(valid_bytes).items()))
    assert read_bundle(path).runs[0].run_id == RUN_ID


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(BundleError, match="no such file"):
        read_bundle(tmp_path / "missing.reprodiag.zip")
    with pytest.raises(BundleError, match="not a file"):
        read_bundle(tmp_path)


# ------------------------------------------------------------------ hypothesis mutations

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def read_or_bundle_error(path: Path, data: bytes) -> None:
    """Reading may succeed (a harmless mutation) or raise BundleError; nothing else."""
    path.write_bytes(data)
    try:
        read_bundle(path)
    except BundleError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
    cut=st.none() | st.floats(0, 1),
)
def test_byte_mutations_only_raise_bundle_error(tmp_path, valid_bytes, edits, cut):
    data = bytearray(valid_bytes)
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    read_or_bundle_error(tmp_path / "m.reprodiag.zip", bytes(data))


@FUZZ
@given(
    which=st.integers(0, 3),
    edits=st.lists(
        st.tuples(
            st.floats(0, 1, exclude_max=True),
            st.sampled_from(["set", "insert", "delete"]),
            st.binary(min_size=1, max_size=3),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_entry_mutations_only_raise_bundle_error(tmp_path, valid_bytes, which, edits):
    entries = entries_of(valid_bytes)
    name = sorted(entries)[which]
    content = bytearray(entries[name])
    for where, op, chunk in edits:
        at = int(where * len(content)) if content else 0
        if op == "set":
            content[at : at + len(chunk)] = chunk
        elif op == "insert":
            content[at:at] = chunk
        else:
            del content[at : at + len(chunk)]
    entries[name] = bytes(content)
    read_or_bundle_error(tmp_path / "m.reprodiag.zip", zip_bytes(entries.items()))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(
    target=st.sampled_from(["manifest.json", "environment.json", "run.json", "config"]),
    key_pick=st.integers(0, 100),
    value=json_values,
)
def test_json_value_mutations_only_raise_bundle_error(
    tmp_path, valid_bytes, target, key_pick, value
):
    entries = entries_of(valid_bytes)
    name = RUN + "run.json" if target in ("run.json", "config") else target

    def change(obj):
        holder = obj["config"] if target == "config" else obj
        keys = sorted(holder)
        holder[keys[key_pick % len(keys)]] = value

    edit_json(entries, name, change)
    read_or_bundle_error(tmp_path / "m.reprodiag.zip", zip_bytes(entries.items()))
