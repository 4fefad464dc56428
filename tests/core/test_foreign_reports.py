"""Real reports people posted (../shared/data/env_reports), imported and checked.

expected.json lists, per file, values a correct parser must extract (alternatives split by
``|``), written as the raw strings of the report. The snapshot spells some of them the live
collector's way, so a fact also matches by: the public part of a version (before ``+``;
collect_env's ``+cpu-cxx11-abi`` is pip's ``+cpu.cxx11.abi``), the version inside ``host.libc``
(``glibc 2.31`` for ``glibc-2.31``) and a word of ``host.os`` (``16.04.4``). The key-by-key
tests below pin the exact spellings.
"""

import json
from pathlib import Path

import pytest

from reprodiag.core.compare import diff_env
from reprodiag.core.env import capture
from reprodiag.core.env.foreign import comparable, import_report_file, report_kind

REPORTS = Path(__file__).parents[2].parent / "shared" / "data" / "env_reports"
needs_reports = pytest.mark.skipif(not (REPORTS / "expected.json").is_file(),
                                   reason="shared env_reports folder absent")
EXPECTED = (json.loads((REPORTS / "expected.json").read_text(encoding="utf-8"))
            if (REPORTS / "expected.json").is_file() else {})


def _spellings(key: str, value) -> set[str]:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return set()
    text = str(value)
    out = {text}
    if key.startswith("pkg.") or key.endswith(".version"):
        out.add(text.split("+", 1)[0])
    if key == "host.libc" and " " in text:
        name, version = text.split(" ", 1)
        out |= {version, f"{name}-{version}"}
    if key == "host.os":
        out |= set(text.split())
    return out


def _values(snapshot) -> set[str]:
    found = set()
    for key, fact in snapshot.facts.items():
        if fact.ok:
            found |= _spellings(key, fact.value)
    return found


@needs_reports
@pytest.mark.parametrize("filename", sorted(EXPECTED))
def test_expected_values_are_extracted(filename):
    snapshot = import_report_file(REPORTS / filename)
    values = _values(snapshot)
    missing = [e for e in EXPECTED[filename] if not set(e.split("|")) & values]
    assert not missing, f"{filename}: not extracted: {missing}"


@needs_reports
@pytest.mark.parametrize("path", sorted(REPORTS.glob("*.txt")) if REPORTS.is_dir() else [],
                         ids=lambda p: p.name)
def test_every_shared_report_imports_with_its_kind(path):
    snapshot = import_report_file(path)
    kind = report_kind(snapshot)
    prefix = path.name.split("_")[0]
    assert kind == {"torch": "torch collect_env report", "tf": "tf_env.txt report",
                    "colab": "pip freeze"}[prefix]
    assert len(snapshot.facts) > 5


def _load(name):
    return import_report_file(REPORTS / name)


@needs_reports
def test_colab_t4_report_keys():
    s = _load("torch_collect_env_01_colab_t4_2.0.1.txt")
    assert s.value("framework.torch.version") == "2.0.1+cu118"
    assert s.value("framework.torch.cuda") == "11.8"
    assert s.value("framework.torch.hip") is None
    assert s.value("framework.torch.cuda_available") is True
    assert s.value("host.os") == "Ubuntu 20.04.6 LTS"
    assert s.value("host.arch") == "x86_64"
    assert s.value("host.kernel") == "5.15.107+"
    assert s.value("host.libc") == "glibc 2.31"
    assert s.value("host.python.version") == "3.10.12"
    assert s.value("host.python.bits") == 64
    assert s.value("host.compiler.clang") == "10.0.0-4ubuntu1"  # trailing space gone
    assert s.value("gpu.count") == 1 and s.value("gpu.0.name") == "Tesla T4"
    assert s.value("gpu.driver") == "525.85.12"
    assert s.value("gpu.cuda_toolkit") == "11.8.89"
    assert s.value("gpu.cudnn_system") == "8.9.0"
    assert s.value("numerics.torch.xnnpack") is True
    assert s.value("cpu.model") == "Intel(R) Xeon(R) CPU @ 2.00GHz"
    assert s.value("cpu.logical_cores") == 2 and s.value("cpu.hypervisor_vendor") == "KVM"
    assert s.value("cpu.flags.avx512f") is True and s.value("cpu.flags.amx_tile") is False
    assert s.value("pkg.numpy") == "1.22.4" and s.value("framework.numpy.version") == "1.22.4"
    assert s.value("pkg.torchvision") == "0.15.2+cu118"
    assert "pkg.conda.pytorch" not in s.facts  # [conda] Could not collect


@needs_reports
def test_colab_cpu_runtime_keeps_unknowns_unknown():
    s = _load("torch_collect_env_02_colab_cpu_runtime_1.12.txt")
    assert s.value("framework.torch.cuda_available") is False
    assert s.get("gpu.count").unavailable == "the report says: Could not collect"
    assert not s.get("gpu.driver").ok
    assert s.value("gpu.cuda_toolkit") == "11.1.105"  # toolkit present without a GPU
    assert s.value("gpu.cudnn_system") == "8.0.5"
    assert any("7.6.5" in n for n in s.value("host.source_notes"))
    assert s.value("host.python.version") == "3.7.13"


@needs_reports
def test_windows_mojibake_crlf_report():
    raw = (REPORTS / "torch_collect_env_05_windows_gtx1080ti_mojibake_crlf.txt").read_bytes()
    assert b"\r\n" in raw and "\u00a0".encode() in raw  # the quirks under test are there
    s = _load("torch_collect_env_05_windows_gtx1080ti_mojibake_crlf.txt")
    assert s.value("host.os") == "Windows 10 Pro"
    assert s.value("host.system") == "Windows"
    assert s.value("framework.torch.version") == "1.3.0a0+de394b6"
    assert s.value("framework.torch.debug") is False  # "No"
    assert s.value("gpu.0.name") == "GeForce GTX 1080 Ti"
    assert s.value("gpu.cudnn_system") == "7"  # cudnn64_7.dll
    assert s.value("pkg.torchvision") == "0.4.1a0+d94043a"  # pip wins over conda's 0.4.0
    assert s.value("pkg.mkl") == "2019.0" and "pkg.conda.mkl" not in s.facts


@needs_reports
def test_full_issue_body_equals_bare_report():
    bare = _load("torch_collect_env_06_windows_cpu_only_1.4.txt")
    body = _load("torch_collect_env_06b_windows_cpu_only_1.4_FULL_ISSUE_BODY.txt")
    assert {k: f for k, f in body.facts.items()} == {k: f for k, f in bare.facts.items()}
    assert body.value("gpu.count") == 0 and body.value("framework.torch.cuda") is None


@needs_reports
def test_conda_build_string_gives_torch_cudnn_and_other_env_is_ignored():
    assert _load("torch_collect_env_12_arch_rtx3060ti_2.2.2_prompt_warning.txt").value(
        "framework.torch.cudnn") == "8.9.2"
    assert _load("torch_collect_env_08_linuxmint_rtx2080_conda_1.12.txt").value(
        "framework.torch.cudnn") == "8.3.2"
    mac = _load("torch_collect_env_10_macos_arm64_nightly_1.14.txt")
    assert mac.value("framework.torch.version") == "1.14.0.dev20221104"
    assert mac.value("pkg.numpy") == "1.23.2"  # pip, not conda's 1.21.5
    assert not any(k.startswith("pkg.conda.") for k in mac.facts)
    assert mac.value("host.os") == "macOS 13.0" and mac.value("host.arch") == "arm64"


@needs_reports
def test_source_build_pip_spelling_and_redhat_release():
    centos = _load("torch_collect_env_13_centos_cpu_only_2.0dev_lscpu.txt")
    assert centos.value("framework.torch.version") == "2.0.0.dev20230228+cpu.cxx11.abi"
    assert centos.value("cpu.logical_cores") == 224 and centos.value("cpu.sockets") == 2
    assert centos.value("cpu.cache.l1d") == "48K"
    fedora = _load("torch_collect_env_11_fedora_cpu_only_1.11.txt")
    assert fedora.value("host.os") == "Fedora release 34"
    assert fedora.value("host.libc") == "glibc 2.33"  # not the platform string's glibc2.10
    assert fedora.value("host.python.env") == "conda"


@needs_reports
def test_tf_env_reports():
    old = _load("tf_env_01.txt")
    assert old.value("framework.tensorflow.version") == "1.6.0"
    assert old.value("framework.tensorflow.distribution") == "tensorflow-gpu"
    assert old.value("host.os") == "Ubuntu 16.04.4 LTS" and old.value("host.os_version") == "16.04"
    assert old.value("gpu.driver") == "384.111" and old.value("gpu.0.name") == "GeForce GTX TIT..."
    assert old.value("gpu.cuda_toolkit") == "9.0.252"  # the one on LD_LIBRARY_PATH
    appended = _load("tf_env_02.txt")
    assert appended.value("host.python.version") == "3.7.4"  # the last run
    assert appended.value("framework.tensorflow.version") == "2.1.0-dev20191107"
    assert appended.value("pkg.tensorflow") == "2.0.0"
    assert any("2.0.0" in n and "2.1.0-dev20191107" in n
               for n in appended.value("host.source_notes"))
    assert appended.value("gpu.count") == 0 and appended.value("host.os") == "macOS 10.14.6"
    vm = _load("tf_env_03.txt")
    assert vm.value("gpu.count") == 0 and not vm.get("gpu.driver").ok
    assert vm.value("pkg.tensorflow") == "1.12.0"
    noisy = _load("tf_env_04_ld_debug_noise.txt")
    assert noisy.value("gpu.cuda_driver") == "11.0" and noisy.value("gpu.driver") == "450.51.05"
    assert noisy.value("host.python.version") == "3.6.11"
    assert noisy.value("pkg.tensorflow-hub") == "0.8.0"
    assert not any(":" in k for k in noisy.facts)  # no LD_DEBUG line became a fact


@needs_reports
def test_pip_freeze_reports():
    old = _load("colab_pip_freeze_01.txt")
    assert old.value("pkg.keras") == "2.2.5" and old.value("pkg.pillow")  # case-folded names
    assert old.value("framework.tensorflow.version") == "2.1.0rc1"
    assert len([k for k in old.facts if k.startswith("pkg.")]) > 300
    indented = _load("colab_pip_freeze_02.txt")
    assert indented.value("framework.torch.version") == "1.8.1+cu101"
    assert indented.value("framework.jaxlib.version") == "0.1.66+cuda110"


@pytest.fixture(scope="module")
def local_snapshot():
    return capture()


@needs_reports
def test_colab_report_diffed_against_local_snapshot(local_snapshot):
    report = _load("torch_collect_env_01_colab_t4_2.0.1.txt")
    differences = {d.key: d for d in diff_env(report, comparable(local_snapshot, report))}
    assert "gpu.0.name" in differences or "gpu.count" in differences
    if "gpu.0.name" in differences:
        assert differences["gpu.0.name"].a.value == "Tesla T4"
    assert "framework.torch.version" in differences
    assert {"framework.torch.cuda", "gpu.cuda_toolkit"} & set(differences)
    assert all(d.numerics for k, d in differences.items()
               if k in ("gpu.0.name", "framework.torch.version"))
    # narrowed: facts the report cannot know (RAM, vulnerabilities it lacks) are not listed
    assert "cpu.ram_total" not in differences and "host.hostname" not in differences
