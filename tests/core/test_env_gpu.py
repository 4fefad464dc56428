"""GPU facts: no NVIDIA driver (or no pynvml) is a clean fact; CUDA_VISIBLE_DEVICES mapping."""

import ctypes.util
import json
import os
import subprocess
import sys

import pytest

from reprodiag.core.env import live
from reprodiag.core.env.gpu import anonymize_uuid, visible_devices

HAS_DRIVER = ctypes.util.find_library("nvidia-ml") is not None or os.path.exists(
    "/proc/driver/nvidia"
)


def _gpu_facts(prelude: str = "") -> dict:
    code = prelude + (
        "import json\nfrom reprodiag.core.env import capture\n"
        "print(json.dumps({k: v for k, v in capture().to_json()['facts'].items()"
        " if k.startswith('gpu.')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(HAS_DRIVER, reason="this machine has an NVIDIA driver")
def test_no_driver_is_a_clean_fact():
    facts = _gpu_facts()
    assert facts["gpu.count"] == {"value": 0}
    assert facts["gpu.driver"]["unavailable"].startswith("no NVIDIA driver")
    assert not any(k.startswith("gpu.0.") for k in facts)


def test_missing_pynvml_is_a_clean_fact():
    facts = _gpu_facts("import sys\nsys.modules['pynvml'] = None\n")  # import now fails
    assert facts["gpu.driver"] == {"unavailable": "pynvml (nvidia-ml-py) is not installed"}
    assert "unavailable" in facts["gpu.count"]


def test_live_sample_is_cheap_and_typed():
    sample = live.sample()
    assert 0.0 <= sample["cpu_percent"] <= 100.0 * os.cpu_count()
    assert 0 < sample["ram_used"] < sample["ram_total"]
    assert isinstance(sample["gpus"], list)
    if not HAS_DRIVER:
        assert sample["gpus"] == []


UUIDS = ["GPU-aaaa1111-0000-0000-0000-000000000000", "GPU-bbbb2222-0000-0000-0000-000000000000",
         "GPU-cccc3333-0000-0000-0000-000000000000"]


@pytest.mark.parametrize("setting, expected", [
    (None, [0, 1, 2]),
    ("", []),
    ("2,0", [2, 0]),
    ("1,7,2", [1]),  # CUDA stops at the first entry that names no device
    ("-1", []),
    ("GPU-bbbb,0", [1, 0]),  # UUID prefixes
    ("GPU-", []),  # ambiguous prefix
    ("0,0", [0]),
])
def test_visible_devices_follows_cuda_rules(setting, expected):
    assert visible_devices(setting, UUIDS) == expected


def test_uuid_hash_is_short_and_stable():
    assert anonymize_uuid(UUIDS[0]) == anonymize_uuid(UUIDS[0] + "\n")
    assert anonymize_uuid(UUIDS[0]) != anonymize_uuid(UUIDS[1])
    assert len(anonymize_uuid(UUIDS[0])) == len("GPU-") + 12


@pytest.mark.skipif(not HAS_DRIVER, reason="needs an NVIDIA driver")
def test_each_gpu_is_described_when_a_driver_is_present():
    facts = _gpu_facts()
    count = facts["gpu.count"]["value"]
    assert count >= 1 and isinstance(facts["gpu.driver"]["value"], str)
    assert facts["gpu.visible"]["value"] == list(range(count)) or "CUDA_VISIBLE_DEVICES" in (
        os.environ)
    for i in range(count):
        assert isinstance(facts[f"gpu.{i}.name"]["value"], str)
        assert facts[f"gpu.{i}.uuid"]["value"].startswith("GPU-")
        major, minor = facts[f"gpu.{i}.compute_capability"]["value"].split(".")
        assert int(major) >= 3 and int(minor) >= 0
        assert facts[f"gpu.{i}.memory_total"]["value"] > 0
        for key in ("sm_count", "clock_sm_max_mhz", "power_limit_w", "ecc", "mig"):
            assert f"gpu.{i}.{key}" in facts, key
    sample = live.sample()
    assert len(sample["gpus"]) == count and "util" in sample["gpus"][0]
