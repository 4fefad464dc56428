"""capture() of this interpreter: every group present, facts typed, JSON round trip, no framework
imported, and the renderers."""

import importlib.metadata
import json
import platform
import subprocess
import sys

from reprodiag.core.env import Snapshot, capture, render_markdown, render_text


def test_snapshot_has_every_group_with_typed_facts():
    snap = capture()
    assert snap.python == sys.executable and not snap.deep and snap.captured_at > 0
    assert set(snap.grouped()) >= {"host", "cpu", "gpu", "framework", "var", "pkg"}
    assert snap.value("host.python.version") == platform.python_version()
    assert snap.value("host.python.env") in ("venv", "conda", "system")
    assert isinstance(snap.value("host.os"), str) and snap.value("host.os")
    assert isinstance(snap.value("host.hostname"), str)
    assert isinstance(snap.value("host.colab"), bool)
    cores = snap.value("cpu.logical_cores")
    assert isinstance(cores, int) and cores >= 1
    assert isinstance(snap.value("cpu.ram_total"), int)
    assert 0 < snap.value("cpu.ram_available") <= snap.value("cpu.ram_total")
    if platform.machine() in ("x86_64", "AMD64"):
        for isa in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"):
            assert isinstance(snap.value(f"cpu.flags.{isa}"), bool), isa
    assert isinstance(snap.value("gpu.count"), int)
    assert snap.get("framework.numpy.version").value == importlib.metadata.version("numpy")
    assert snap.value("framework.torch.version") == importlib.metadata.version("torch")
    assert isinstance(snap.value("framework.torch.debug"), bool)
    assert snap.value("framework.tensorflow.version") == importlib.metadata.version("tensorflow")
    assert isinstance(snap.value("framework.tensorflow.build.is_cuda_build"), bool)
    assert snap.value("pkg.pydantic") == importlib.metadata.version("pydantic")
    assert snap.get("var.PYTHONHASHSEED").ok  # always reported, None when unset
    assert not any(k.startswith("numerics.") for k in snap.facts)  # only deep reads settings


def test_snapshot_json_round_trips():
    snap = capture()
    again = Snapshot.from_json(json.loads(snap.dumps()))
    assert again.facts == snap.facts and again.python == snap.python


def test_non_deep_capture_imports_no_framework():
    code = (
        "import json, sys\n"
        "from reprodiag.core.env import capture\n"
        "snap = capture()\n"
        "assert snap.value('framework.torch.version')\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not loaded & {"torch", "tensorflow", "keras", "jax"}, loaded


def test_render_text_groups_and_summarises_packages():
    snap = capture()
    text = render_text(snap)
    for title in ("Host", "CPU", "GPU", "Frameworks", "Variables", "Packages"):
        assert f"\n{title}\n" in text
    assert "ML-relevant" in text and "torch " + snap.value("pkg.torch") in text
    assert "pydantic" not in text  # summarised: only the ML packages are listed
    assert "pydantic" in render_text(snap, all_packages=True)


def test_render_markdown_is_a_table_without_the_hostname():
    snap = capture()
    md = render_markdown(snap)
    assert md.startswith("### Environment") and "| Fact | Value |" in md
    assert "<details><summary>All packages" in md and "| pydantic |" in md
    assert "hostname" not in md
