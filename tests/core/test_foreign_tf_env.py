"""TensorFlow reports: the issue template's System information (both styles) and tf_env.txt
layouts the shared reports lack (import failures, several GPUs, unset variables)."""

from pathlib import Path

from reprodiag.core.env.foreign import import_report, import_report_file, report_kind

DATA = Path(__file__).parents[1] / "data" / "foreign"

TF_ENV_TWO_GPUS = """
== check python ===================================================
python version: 3.10.12
python implementation: CPython

== check os platform ===============================================
os: Linux
os release version: 5.15.0-91-generic
os platform: Linux-5.15.0-91-generic-x86_64-with-glibc2.35
machine: x86_64

== are we in docker =============================================
Yes

== compiler =====================================================
c++ (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0

== check pips ===================================================
numpy                         1.24.3
tensorflow                    2.13.1

== tensorflow import ============================================
Traceback (most recent call last):
  File "<string>", line 1, in <module>
ModuleNotFoundError: No module named 'tensorflow'

== env ==========================================================
LD_LIBRARY_PATH /usr/local/cuda/lib64
DYLD_LIBRARY_PATH is unset
TF_ENABLE_ONEDNN_OPTS 0

== nvidia-smi ===================================================
+---------------------------------------------------------------------------------------+
| NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |
|-----------------------------------------+----------------------+----------------------+
|   0  NVIDIA GeForce RTX 4090        On  | 00000000:01:00.0 Off |                  Off |
|  0%   38C    P8              21W / 450W |     10MiB / 24564MiB |      0%      Default |
|   1  NVIDIA GeForce RTX 4090        On  | 00000000:02:00.0 Off |                  Off |
|  0%   36C    P8              18W / 450W |     10MiB / 24564MiB |      0%      Default |
+-----------------------------------------+----------------------+----------------------+

== cuda libs  ===================================================
/usr/local/cuda-12.2/targets/x86_64-linux/lib/libcudart.so.12.2.140
"""


def test_bullet_template():
    s = import_report_file(DATA / "tf_template_bullets.md")
    assert report_kind(s) == "TensorFlow issue template"
    assert s.value("framework.tensorflow.version") == "2.4.0"  # not the git describe
    assert s.value("framework.tensorflow.git_version") == "v2.4.0-rc4-71-g582c8d236cb"
    assert s.value("host.os") == "Ubuntu 20.04" and s.value("host.system") == "Linux"
    assert s.value("host.python.version") == "3.8.5"
    assert s.value("gpu.cuda_toolkit") == "9.1" and s.value("gpu.cudnn_system") == "7.2"  # swapped
    assert s.value("gpu.0.name") == "T4" and s.value("gpu.0.memory_total") == 15 * 2**30
    assert "host.compiler.gcc" not in s.facts  # "N/A" is no value


def test_issue_form_template():
    s = import_report_file(DATA / "tf_template_form.md")
    assert s.value("framework.tensorflow.version") == "2.15.0"
    assert s.value("host.python.version") == "3.11"
    assert s.value("gpu.cuda_toolkit") == "12.2" and s.value("gpu.cudnn_system") == "8.9"
    assert s.value("gpu.count") == 2 and s.value("gpu.1.name") == "NVIDIA RTX 3090"
    assert s.value("host.system") == "Linux"  # WSL2 runs Linux
    assert "Bug" not in {str(f.value) for f in s.facts.values()}


def test_tf_env_with_import_failure_and_two_gpus():
    s = import_report(TF_ENV_TWO_GPUS)
    assert report_kind(s) == "tf_env.txt report"
    assert s.value("framework.tensorflow.version") == "2.13.1"  # pip, since the import failed
    assert s.value("gpu.count") == 2 and s.value("gpu.1.name") == "NVIDIA GeForce RTX 4090"
    assert s.value("gpu.0.memory_total") == 24564 * 2**20
    assert s.value("gpu.driver") == "535.104.05" and s.value("gpu.cuda_driver") == "12.2"
    assert s.value("gpu.cuda_toolkit") == "12.2.140"
    assert s.value("host.container") == "docker" and s.value("host.kernel") == "5.15.0-91-generic"
    assert s.value("host.compiler.gcc") == "(Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0"
    assert s.value("var.TF_ENABLE_ONEDNN_OPTS") == "0"
    assert "var.DYLD_LIBRARY_PATH" not in s.facts  # not an allowlisted variable


def test_tf_env_import_failure_without_pip_is_unavailable():
    text = TF_ENV_TWO_GPUS.replace("tensorflow                    2.13.1\n", "")
    s = import_report(text)
    assert s.get("framework.tensorflow.version").unavailable == "TensorFlow could not be imported"
