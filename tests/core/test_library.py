"""The run library on real files: save/list/load/delete, newest first, bad entries reported."""

from __future__ import annotations

import os

import pytest
from test_bundle_samples import record_state, sample_record

from reprodiag.core.bundle import read_bundle
from reprodiag.core.runs.library import RunLibrary, default_root
from reprodiag.errors import UserError


def test_save_list_load_round_trip(tmp_path):
    library = RunLibrary(tmp_path / "runs")
    assert library.list() == [] and library.problems == []
    older = sample_record("20250101-100000-00000001", started_at=1000.0)
    newer = sample_record("20250101-110000-00000002", started_at=2000.0, losses=[1.0, 0.5])
    for record in (older, newer):
        path = library.save(record)
        assert path.parent == tmp_path / "runs"
        assert read_bundle(path).runs[0].run_id == record.run_id  # a library entry is a bundle

    listed = library.list()
    assert [r.run_id for r in listed] == [newer.run_id, older.run_id]
    assert [record_state(r) for r in listed] == [record_state(newer), record_state(older)]
    assert record_state(library.load(older.run_id)) == record_state(older)
    assert library.problems == []


def test_saving_again_replaces_the_entry(tmp_path):
    library = RunLibrary(tmp_path)
    record = sample_record()
    library.save(record)
    record.label = "renamed"
    library.save(record)
    assert [r.label for r in library.list()] == ["renamed"]
    assert sorted(os.listdir(tmp_path)) == [f"{record.run_id}.reprodiag.zip"]


def test_unreadable_entries_are_listed_as_problems(tmp_path):
    library = RunLibrary(tmp_path)
    good = sample_record("20250101-100000-00000001")
    library.save(good)
    (tmp_path / "20250101-090000-deadbeef.reprodiag.zip").write_bytes(b"not a zip")
    # A valid bundle stored under another run's name is not that run.
    (tmp_path / "wrong-name.reprodiag.zip").write_bytes(library.path_for(good.run_id).read_bytes())
    (tmp_path / "notes.txt").write_text("ignored: not a library entry")

    assert [r.run_id for r in library.list()] == [good.run_id]
    assert len(library.problems) == 2
    assert "20250101-090000-deadbeef.reprodiag.zip: not a valid zip file" in library.problems[0]
    assert "wrong-name.reprodiag.zip: expected exactly the run 'wrong-name'" in library.problems[1]
    with pytest.raises(UserError, match="not a valid zip file"):
        library.load("20250101-090000-deadbeef")


def test_load_and_delete_missing_or_unsafe_ids(tmp_path):
    library = RunLibrary(tmp_path)
    record = sample_record()
    library.save(record)
    library.delete(record.run_id)
    assert library.list() == []
    with pytest.raises(UserError, match="no run"):
        library.load(record.run_id)
    with pytest.raises(UserError, match="no run"):
        library.delete(record.run_id)
    with pytest.raises(UserError, match="not a safe name"):
        library.load("../../etc/passwd")


def test_default_root_is_in_the_user_data_folder():
    assert RunLibrary().root == default_root()
    assert default_root().name == "runs" and "reprodiag" in default_root().parts
