"""collect_env layouts the shared reports lack: multi-GPU, ROCm, Windows 2.x CPU sections,
1.0-era pip lines, wrapped sys.version, pasted inside markdown and prose."""

from pathlib import Path

import pytest

from reprodiag.core.env.foreign import import_report, import_report_file
from reprodiag.errors import UserError

DATA = Path(__file__).parents[1] / "data" / "foreign"


def test_multi_gpu_report_inside_markdown_and_prose():
    s = import_report_file(DATA / "collect_env_2x_multi_gpu.md")
    assert s.value("gpu.count") == 2
    assert s.value("gpu.0.name") == s.value("gpu.1.name") == "NVIDIA A100-SXM4-80GB"  # UUID gone
    assert s.value("host.os") == "Debian GNU/Linux 12 (bookworm)"  # as os-release PRETTY_NAME
    assert s.value("framework.torch.xpu_available") is False
    assert s.value("var.PYTORCH_CUDA_ALLOC_CONF") == "expandable_segments:True"
    assert s.value("framework.torch.cudnn") == "9.5.1.17"  # the nvidia-cudnn wheel
    assert s.value("framework.triton.version") == "3.3.1"
    # lscpu "(N instances)" totals become the per-instance size the live collector reads
    assert s.value("cpu.cache.l1d") == "48K" and s.value("cpu.cache.l3") == "61440K"
    assert s.value("cpu.physical_cores") == 32 and s.value("cpu.flags.amx_tile") is True
    assert s.value("cpu.vulnerability.spectre_v2") == "Mitigation: Enhanced / Automatic IBRS"
    assert s.value("cpu.hypervisor_vendor") is None  # bare metal: lscpu prints no line
    assert not any("training" in str(f.value) for f in s.facts.values())  # prose not taken


def test_rocm_report():
    s = import_report_file(DATA / "collect_env_rocm.txt")
    assert s.value("framework.torch.hip") == "6.1.40091-a8dbc0c19"
    assert s.value("framework.torch.cuda") is None  # "N/A" on a ROCm build
    assert s.value("framework.torch.config.hip_runtime") == "6.1.40091"
    assert s.value("framework.torch.config.miopen") == "3.1.0"
    assert s.value("gpu.0.name") == "AMD Radeon PRO W7900 (gfx1100)" and s.value("gpu.count") == 1
    assert not s.get("gpu.driver").ok


def test_windows_2x_cpu_sections_both_styles():
    new = import_report_file(DATA / "collect_env_windows_2x.txt")
    assert new.value("cpu.model") == "13th Gen Intel(R) Core(TM) i9-13900K"
    assert new.value("host.os") == "Microsoft Windows 11 Pro"
    assert new.value("host.os_version") == "10.0.22631"
    assert new.value("host.arch") == "AMD64" and new.value("host.python.env") == "conda"
    wmic_text = (DATA / "collect_env_windows_wmic.txt").read_text(encoding="utf-8")
    wmic = import_report(wmic_text.replace("\n", "\r\n"))
    assert wmic.value("cpu.model") == "12th Gen Intel(R) Core(TM) i7-12700H"
    assert wmic.value("cpu.vendor") == "GenuineIntel"
    assert wmic.value("gpu.0.name") == "NVIDIA GeForce RTX 3070 Laptop GPU"
    assert wmic.value("host.python.version") == "3.10.11"


def test_1x_macos_with_wrapped_python_version_and_legacy_pip_lines():
    s = import_report_file(DATA / "collect_env_1x_macos_wrapped.txt")
    assert s.value("host.os") == "macOS 10.13.6" and s.value("host.system") == "Darwin"
    assert s.value("host.python.version") == "3.6.8" and s.value("host.python.bits") == 64
    assert s.value("host.python.build").endswith("(tags/RELEASE_401/final)]")
    assert s.value("pkg.torch") == "1.0.1.post2" and s.value("pkg.numpy") == "1.16.2"
    assert s.value("pkg.conda.mkl") == "2019.1"  # conda's 1.0.1 is this 1.0.1.post2 build
    assert s.value("gpu.count") == 0 and s.value("framework.torch.cuda") is None


def test_torch_not_importable_and_unknown_new_fields():
    text = ("PyTorch version: N/A\nIs debug build: N/A\nCUDA used to build PyTorch: N/A\n"
            "ROCM used to build PyTorch: N/A\n\nOS: Ubuntu 22.04.3 LTS (x86_64)\n"
            "Is CUDA available: N/A\nSome future field: 42\nIs XPU available: False\n"
            "\nVersions of relevant libraries:\n[pip3] torch==2.3.0\n[pip3] No relevant packages\n")
    s = import_report(text)
    assert not s.get("framework.torch.version").ok
    assert s.value("pkg.torch") == "2.3.0"
    assert not s.get("framework.torch.cuda_available").ok
    assert s.value("host.os") == "Ubuntu 22.04.3 LTS"
    assert "Some future field" not in str(s.dumps())


def test_cudnn_spellings():
    def cudnn(value: str):
        return import_report(f"PyTorch version: 2.0.0\nIs debug build: False\n"
                             f"cuDNN version: {value}\n").get("gpu.cudnn_system")

    assert cudnn("/usr/lib/x86_64-linux-gnu/libcudnn.so.7.1.2").value == "7.1.2"
    assert cudnn("8902").value == "8.9.2"
    assert cudnn("90100").value == "9.1.0"
    assert cudnn("/usr/local/cuda/lib/libcudnn.7.dylib").value == "7"
    assert cudnn("/usr/local/cuda/lib/libcudnn.dylib").unavailable.startswith("the report names")
    assert cudnn("No CUDA").unavailable.startswith("no CUDA")


def test_second_report_pasted_below_does_not_override():
    one = (DATA / "collect_env_rocm.txt").read_text()
    two = one.replace("2.4.1+rocm6.1", "9.9.9")
    assert import_report(one + "\n" + two).value("framework.torch.version") == "2.4.1+rocm6.1"


@pytest.mark.parametrize("text", [
    "Collecting environment information...\n",
    "Collecting environment information...\nPyTorch version:\n",
])
def test_header_without_values_is_a_clear_error(text):
    with pytest.raises(UserError, match="holds no values|not an environment report"):
        import_report(text, name="paste")
