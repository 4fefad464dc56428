"""Fact metadata: severity, numerics relevance and the reason, by key pattern."""

import pytest

from reprodiag.core.knowledge import facts as meta
from reprodiag.core.knowledge.facts import FactMeta, describe


@pytest.mark.parametrize("key", [
    "numerics.torch.allow_tf32_matmul",
    "numerics.torch.allow_tf32_cudnn",
    "numerics.torch.float32_matmul_precision",
    "numerics.torch.deterministic_algorithms",
    "numerics.torch.cudnn.benchmark",
    "numerics.torch.num_threads",
    "numerics.torch.num_interop_threads",
    "numerics.tensorflow.op_determinism",
    "numerics.tensorflow.onednn",
    "numerics.tensorflow.tensor_float_32",
    "numerics.tensorflow.some_future_flag",
    "cpu.flags.avx512f",
    "cpu.flags.avx2",
    "cpu.flags.amx_tile",
    "cpu.flags.avx512_vnni",
    "cpu.model",
    "gpu.0.name",
    "gpu.0.compute_capability",
    "gpu.3.sm_count",
    "gpu.count",
    "framework.torch.version",
    "framework.torch.cuda",
    "framework.torch.cudnn",
    "framework.tensorflow.version",
    "framework.tensorflow.onednn",
    "var.CUBLAS_WORKSPACE_CONFIG",
    "var.TF_DETERMINISTIC_OPS",
    "var.TF_ENABLE_ONEDNN_OPTS",
    "var.NVIDIA_TF32_OVERRIDE",
    "var.OMP_NUM_THREADS",
    "var.PYTHONHASHSEED",
    "var.CUDA_VISIBLE_DEVICES",
    "var.ATEN_CPU_CAPABILITY",
    "pkg.torch",
    "pkg.tensorflow",
    "pkg.nvidia-cudnn-cu12",
])
def test_numerics_facts_are_severity_3(key):
    m = describe(key)
    assert (m.severity, m.numerics) == (3, True), key


@pytest.mark.parametrize("key", [
    "gpu.driver_version", "pkg.numpy", "pkg.scipy", "host.os", "host.glibc",
    "framework.torch.blas", "framework.torch.build_settings",
])
def test_may_change_numerics_or_speed(key):
    m = describe(key)
    assert m.severity == 2 and m.numerics, key


@pytest.mark.parametrize("key", ["host.ram_total", "gpu.0.memory_total", "host.python.version"])
def test_resources_matter_but_not_for_numerics(key):
    m = describe(key)
    assert (m.severity, m.numerics) == (2, False), key


@pytest.mark.parametrize("key", [
    "host.hostname", "host.kernel", "host.user", "cpu.flags.ht", "cpu.flags.vmx",
    "gpu.0.uuid", "gpu.0.temperature", "var.HOME", "var.PATH", "pkg.requests", "pkg.rich",
    "framework.torch.path",
])
def test_informational(key):
    m = describe(key)
    assert (m.severity, m.numerics) == (1, False), key


@pytest.mark.parametrize("name", [
    "torch", "tensorflow", "keras", "jax", "jaxlib", "numpy", "scipy", "tf-keras", "Tf_Keras",
    "nvidia-cublas-cu12", "nvidia-nvjitlink-cu12", "cuda-python", "tensorflow-io-gcs-filesystem",
    "torchvision", "scikit-learn", "ml_dtypes", "opt_einsum",
])
def test_ml_packages_are_at_least_severity_2(name):
    assert describe(f"pkg.{name}").severity >= 2


def test_package_names_are_normalised():
    assert describe("pkg.TF_Keras") == describe("pkg.tf-keras")
    assert describe("pkg.ml.dtypes") == describe("pkg.ml-dtypes")


def test_variable_names_match_case_insensitively():
    assert describe("var.cublas_workspace_config") == describe("var.CUBLAS_WORKSPACE_CONFIG")


def test_unknown_and_odd_keys_get_the_informational_default():
    for key in ("", "weird", "pkg.", "gpu.x.y", "newgroup.thing", "...", "host."):
        m = describe(key)
        assert isinstance(m, FactMeta)
    assert describe("newgroup.thing").severity == 1
    assert describe("numerics.x.anything_new").severity == 3


def test_gpu_index_rules_hold_for_any_index():
    assert describe("gpu.12.name") == describe("gpu.0.name")
    assert describe("gpu.12.compute_capability").severity == 3


def test_every_entry_is_consistent_and_explained():
    from reprodiag.core.knowledge.catalog import ENTRIES

    assert len({e.id for e in ENTRIES}) == len(ENTRIES)
    for e in ENTRIES:
        m = meta.meta_of(e)
        assert m.severity in (1, 2, 3)
        if m.severity == 3:
            assert m.numerics, e.id
        if m.severity == 1:
            assert not m.numerics, e.id
        assert e.why.endswith(".") and 20 < len(e.why) < 300, e.id
        assert "\n" not in e.why and e.title and e.what and e.source, e.id
        assert 0 <= e.prior <= 1


def test_factmeta_is_frozen():
    with pytest.raises(AttributeError):
        describe("pkg.numpy").severity = 1
