"""Reading report files and pastes: encodings, odd input, one-line errors, the CLI command."""

import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprodiag import cli
from reprodiag.core.compare import diff_env
from reprodiag.core.env.foreign import (
    MAX_BYTES,
    comparable,
    import_report,
    import_report_file,
    report_kind,
)
from reprodiag.core.env.model import Fact, Snapshot
from reprodiag.errors import UserError

DATA = Path(__file__).parents[1] / "data" / "foreign"
ROCM = (DATA / "collect_env_rocm.txt").read_text(encoding="utf-8")


def _facts(snapshot):
    return {k: f for k, f in snapshot.facts.items()}


@pytest.mark.parametrize("encode", [
    lambda t: t.encode("utf-8"),
    lambda t: b"\xef\xbb\xbf" + t.replace("\n", "\r\n").encode("utf-8"),
    lambda t: t.encode("utf-16"),  # PowerShell's `>` writes UTF-16 with a BOM
    lambda t: t.encode("utf-16-le"),
    lambda t: t.replace("\n", "\r").encode("utf-8"),
    lambda t: t.replace(": ", ":\u00a0").encode("utf-8"),
    lambda t: t.encode("utf-8").decode("cp1252", "replace").encode("utf-8"),  # mojibake
    lambda t: "".join("> " + s + "\n" for s in t.split("\n")).encode("utf-8"),  # quoted reply
    lambda t: ("```\n" + t + "```\n").encode("utf-8"),
], ids=["utf8", "bom-crlf", "utf16", "utf16le-nobom", "cr", "nbsp", "mojibake", "quoted",
        "fenced"])
def test_encodings_and_wrappings_give_the_same_facts(tmp_path, encode):
    plain = import_report(ROCM)
    path = tmp_path / "report.txt"
    path.write_bytes(encode(ROCM))
    assert _facts(import_report_file(path)) == _facts(plain)


def test_non_utf8_and_mis_decoded_text():
    text = ROCM.replace("OS: Ubuntu 22.04.4 LTS (x86_64)", "OS: Microsoft Windows 10 \u00c9ducation")
    expected = "Microsoft Windows 10 \u00c9ducation"
    for data in (text.encode("cp1252"),  # a Windows code page file
                 text.encode("utf-8").decode("cp1252").encode("utf-8")):  # UTF-8 read as cp1252
        from reprodiag.core.env.foreign import decode_report

        assert import_report(decode_report(data)).value("host.os") == expected


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"   \n\t\n", "empty"),
    (b"```\n```\n", "only markup"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00", "binary"),
    (b"Dear maintainers, my model does not train. Please help!\n", "not an environment report"),
    (b"Collecting environment information...\n", "holds no values"),
    (b'{"format": "something-else"}', "not a reprodiag environment snapshot"),
])
def test_bad_input_is_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as info:
        import_report_file(path)
    assert "\n" not in str(info.value) and str(info.value).startswith("bad.txt")


def test_files_that_are_not_reports(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        import_report_file(tmp_path / "missing.txt")
    with pytest.raises(UserError, match="a folder"):
        import_report_file(tmp_path)
    archive = tmp_path / "run.reprodiag.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("manifest.json", "{}")
    with pytest.raises(UserError, match="zip archive"):
        import_report_file(archive)
    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"numpy==1.0\n" * (MAX_BYTES // 11 + 2))
    with pytest.raises(UserError, match="larger than 5 MB"):
        import_report_file(huge)


def test_a_reprodiag_snapshot_round_trips():
    snapshot = Snapshot(facts={"host.os": Fact("Debian"), "gpu.count": Fact(0)},
                        captured_at=12.0, python="/usr/bin/python3")
    back = import_report(snapshot.dumps())
    assert _facts(back) == _facts(snapshot) and report_kind(back) is None


def test_report_marks_its_source_and_nothing_it_does_not_know():
    s = import_report(ROCM, name="rocm.txt")
    assert s.python == "rocm.txt" and report_kind(s) == "torch collect_env report"
    assert "cpu.ram_total" not in s.facts and "host.hostname" not in s.facts
    assert "host.source_notes" not in s.facts  # nothing odd in this one


def test_comparable_narrows_to_what_the_report_covers():
    report = import_report("numpy==1.26.4\ntorch==2.3.0\n")
    local = Snapshot(facts={"pkg.numpy": Fact("1.26.4"), "pkg.requests": Fact("2.31"),
                            "pkg.conda.mkl": Fact("2023"), "host.hostname": Fact("box"),
                            "framework.jax.version": Fact("0.4"), "gpu.0.name": Fact("T4")})
    narrowed = comparable(local, report)
    assert set(narrowed.facts) == {"pkg.numpy", "pkg.requests", "framework.jax.version"}
    keys = {d.key for d in diff_env(report, narrowed)}
    assert "pkg.requests" in keys and "pkg.torch" in keys and "pkg.numpy" not in keys
    gpu_report = import_report(ROCM)
    two = Snapshot(facts={"gpu.count": Fact(2), "gpu.1.name": Fact("X"),
                          "gpu.1.memory_total": Fact(1), "cpu.ram_total": Fact(1)})
    assert set(comparable(two, gpu_report).facts) == {"gpu.count", "gpu.1.name"}
    assert comparable(two, two) is two  # a live snapshot is not narrowed


def test_cli_import_env(tmp_path, capsys):
    path = tmp_path / "rocm.txt"
    path.write_text(ROCM, encoding="utf-8")
    assert cli.main(["import-env", str(path), "--json"]) == 0
    snapshot = Snapshot.from_json(json.loads(capsys.readouterr().out))
    assert snapshot.value("framework.torch.hip") == "6.1.40091-a8dbc0c19"
    assert cli.main(["import-env", str(path)]) == 0
    assert "AMD Radeon PRO W7900" in capsys.readouterr().out
    bad = tmp_path / "bad.txt"
    bad.write_text("hello\n")
    assert cli.main(["import-env", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reprodiag: error: bad.txt: not an environment report") and (
        err.count("\n") == 1)


def test_cli_diff_against_a_bundle(tmp_path, capsys):
    from reprodiag.core.bundle import write_bundle

    other = Snapshot(facts={"framework.torch.version": Fact("2.4.1+rocm6.1"),
                            "gpu.count": Fact(1), "gpu.0.name": Fact("NVIDIA H100")})
    bundle = tmp_path / "b.reprodiag.zip"
    write_bundle(bundle, snapshot=other, runs=[], label="lab")
    path = tmp_path / "rocm.txt"
    path.write_text(ROCM, encoding="utf-8")
    assert cli.main(["import-env", str(path), "--diff", str(bundle), "--json"]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["gpu.0.name"]["lab"] == {"value": "NVIDIA H100"}
    assert "framework.torch.version" not in rows  # the same on both sides
    assert "framework.torch.hip" in rows  # known to the report, absent in the bundle


def test_a_paste_cut_to_its_library_lines_still_counts():
    s = import_report("[pip3] numpy==1.26.4\n[pip3] torch==2.3.0+cu121\n[conda] Could not collect\n")
    assert report_kind(s) == "torch collect_env report"
    assert s.value("framework.torch.version") == "2.3.0+cu121"


@pytest.mark.parametrize("path", sorted(DATA.iterdir()), ids=lambda p: p.name)
def test_cut_and_spliced_reports_import_or_say_why(path):
    text = path.read_text(encoding="utf-8")
    step = max(1, len(text) // 25)
    for cut in range(0, len(text), step):
        for piece in (text[:cut], text[cut:], text[:cut] + text[cut + step // 2:]):
            try:
                snapshot = import_report(piece)
            except UserError as exc:
                assert "\n" not in str(exc)
            else:
                assert any(f.ok for k, f in snapshot.facts.items() if k != "host.source")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_arbitrary_text_never_crashes(text):
    try:
        import_report(text)
    except UserError as exc:
        assert "\n" not in str(exc)
