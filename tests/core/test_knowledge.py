"""The numerics catalog is the one source of truth: every run option and every setting a run
reports belongs to an entry, every entry's fix builder exists, and docs/numerics.md is the
catalog's own rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprodiag.core.knowledge import catalog, document
from reprodiag.core.knowledge.fixes import BUILDERS
from reprodiag.core.knowledge.stages import Magnitude, classify
from reprodiag.core.runs.config import RunConfig

DOCS = Path(__file__).resolve().parents[2] / "docs" / "numerics.md"


def test_docs_numerics_is_the_catalogs_rendering():
    assert DOCS.read_text(encoding="utf-8") == document.render(), (
        "docs/numerics.md is stale: python -m reprodiag.core.knowledge.document "
        "docs/numerics.md")


def test_every_run_option_has_an_entry():
    missing = [name for name in RunConfig.model_fields if catalog.for_config(name) is None]
    assert missing == []


def test_every_fix_builder_named_exists():
    assert {e.fix for e in catalog.ENTRIES if e.fix} <= set(BUILDERS)


@pytest.mark.framework
@pytest.mark.slow
def test_every_setting_a_real_canary_reports_belongs_to_an_entry():
    from reprodiag.core.runs import launcher

    run = launcher.run(RunConfig(steps=2, threads=1))
    assert run.status == "finished", run.reason
    contextual = {"framework_version", "device_name"}  # read per run kind (suspects.py)
    generic = [k for k in run.settings
               if k not in contextual and catalog.for_setting(k) is catalog.DEFAULT_SETTING]
    assert generic == []


@pytest.mark.parametrize("rel, dtype, expected", [
    (0.0, "float32", Magnitude.BITWISE),
    (2e-7, "float32", Magnitude.LAST_BITS),
    (5e-6, "float32", Magnitude.REDUCTION),
    (4e-4, "float32", Magnitude.TF32),
    (8e-3, "float32", Magnitude.HALF),
    (0.3, "float32", Magnitude.GROSS),
    (1e-15, "float64", Magnitude.LAST_BITS),
    (float("inf"), "float32", Magnitude.GROSS),
])
def test_magnitude_classes(rel, dtype, expected):
    assert classify(rel, dtype) == expected
