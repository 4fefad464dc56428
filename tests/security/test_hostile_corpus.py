"""The hostile corpus (tests/data/make_hostile_bundles.py) against the reader and the CLI.

Every bad bundle is refused with one line that names the file and the problem, through
`read_bundle` and through `reprodiag compare` (exit 2); the VALID ones load; bombs never
inflate (tracemalloc peak); nothing in a bundle is ever extracted or executed.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from corpus_loader import generator

from reprodiag import cli
from reprodiag.core.bundle import read_bundle
from reprodiag.errors import BundleError

gen = generator()
BAD = [case for case in gen.CASES if case.expect is not gen.VALID]
GOOD = [case for case in gen.CASES if case.expect is gen.VALID]
BOMBS = [case for case in gen.CASES
         if case.name.startswith("zip-bomb") or case.name in ("too-many-entries", "huge-manifest")]

# Every class of bad bundle issue 5 names, and the corpus files that cover it.
REQUIRED = {
    "not a zip": "not-a-zip-text",
    "truncated zip": "truncated-half",
    "empty zip": "empty-zip",
    "zip slip ../": "zip-slip-dotdot",
    "zip slip absolute path": "zip-slip-absolute",
    "zip slip drive letter": "zip-slip-drive-letter",
    "zip slip backslashes": "zip-slip-backslash",
    "symlink entry": "symlink-manifest",
    "duplicate entry names": "duplicate-manifest",
    "encrypted entries": "encrypted",
    "zip bomb, tiny file with huge inflated size": "zip-bomb-declared-2gib",
    "zip bomb, high compression ratio": "zip-bomb-ratio",
    "too many entries": "too-many-entries",
    "huge manifest": "huge-manifest",
    "deeply nested JSON": "deep-json-manifest",
    "wrong JSON types": "wrong-type-format-version",
    "missing required files": "missing-manifest",
    "unknown format_version": "version-zero",
    "future format_version": "version-future",
    "non-UTF-8 text": "not-utf8-manifest",
    "CSV with missing columns": "csv-missing-column",
    "non-numeric cells": "csv-non-numeric-loss",
    "steps out of order": "csv-steps-out-of-order",
    "steps duplicated": "csv-steps-duplicated",
    "run listed in the manifest but absent": "run-listed-but-absent",
    "NaN and Inf losses (valid)": "valid-nan-inf-losses",
    "a pickle inside": "pickle-inside",
    "a .npy object array inside": "npy-object-array-inside",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    gen.build_corpus(folder)
    return folder


def ids(cases):
    return [case.name for case in cases]


def test_the_corpus_covers_every_class_the_issue_names(corpus):
    names = {case.name for case in gen.CASES}
    missing = {what: name for what, name in REQUIRED.items() if name not in names}
    assert not missing
    assert len(names) == len(gen.CASES)
    index = (corpus / "INDEX.txt").read_text(encoding="utf-8").splitlines()
    assert [line.split(": ", 1)[0] for line in index] == [c.filename for c in gen.CASES]
    assert all(len(line.split(": ", 1)[1]) > 10 for line in index)


@pytest.mark.parametrize("case", BAD, ids=ids(BAD))
def test_bad_bundle_is_refused_with_one_line_naming_file_and_problem(corpus, case):
    path = corpus / case.filename
    with pytest.raises(BundleError) as info:
        read_bundle(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message and len(message) < 600
    assert case.expect in info.value.problem


@pytest.mark.parametrize("case", BAD, ids=ids(BAD))
def test_cli_compare_refuses_bad_bundle_with_exit_2(corpus, case, capsys):
    bad, good = corpus / case.filename, corpus / "valid-plain.reprodiag.zip"
    for args in (["compare", str(bad), str(good)], ["compare", str(good), str(bad)]):
        assert cli.main(args) == cli.EXIT_BAD_INPUT
        out, err = capsys.readouterr()
        assert out == ""
        assert err.count("\n") == 1
        assert err.startswith(f"reprodiag: error: {bad}: ")
        assert case.expect in err


@pytest.mark.parametrize("name", ["not-a-zip-pickle", "zip-slip-dotdot", "zip-bomb-ratio",
                                  "deep-json-recursion", "csv-python-expression"])
def test_installed_command_refuses_with_exit_2_and_no_traceback(corpus, name):
    bad = corpus / f"{name}.reprodiag.zip"
    proc = subprocess.run(
        [sys.executable, "-m", "reprodiag", "compare", str(bad), str(bad)],
        capture_output=True, text=True, timeout=120, cwd=corpus,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and str(bad) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_nan_and_inf_losses_are_data_that_loads_and_compares(corpus, capsys):
    path = corpus / "valid-nan-inf-losses.reprodiag.zip"
    (run,) = read_bundle(path).runs
    assert run.status == "diverged"
    assert run.steps.loss[0] == 2.3
    assert run.steps.loss[1:3].tolist() == [math.inf, -math.inf] and math.isnan(run.steps.loss[3])
    assert cli.main(["compare", str(path), str(path), "--markdown"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert "diverged" in out and err == ""
    assert cli.main(["compare", str(path), str(path), "--json"]) == cli.EXIT_OK


@pytest.mark.parametrize("case", GOOD, ids=ids(GOOD))
def test_valid_bundles_of_the_corpus_load(corpus, case):
    bundle = read_bundle(corpus / case.filename)
    assert [r.run_id for r in bundle.runs] == [gen.RUN_ID]
    assert bundle.snapshot is not None


@pytest.mark.parametrize("case", BOMBS, ids=ids(BOMBS))
def test_bombs_and_huge_files_are_refused_without_inflating(corpus, case):
    path = corpus / case.filename
    tracemalloc.start()
    try:
        with pytest.raises(BundleError):
            read_bundle(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the file (at most ~1 MiB) plus bookkeeping; inflated, these hold 5 MiB to 2 GiB each
    assert peak < 3 * path.stat().st_size + 4 * 2**20, peak


def test_nothing_is_extracted_or_executed(corpus):
    before = sorted(p.name for p in corpus.iterdir())
    for case in gen.CASES:
        try:
            read_bundle(corpus / case.filename)
        except BundleError:
            pass
    assert sorted(p.name for p in corpus.iterdir()) == before
    assert not (corpus / gen.MARKER).exists()
    assert not (corpus.parent / "evil.sh").exists()
    assert not (corpus.parent.parent / "evil.sh").exists()
