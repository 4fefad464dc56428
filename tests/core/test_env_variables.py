"""Environment variables: only the allowlist leaves the machine, and never a credential."""

import json
import os
import subprocess
import sys

from reprodiag.core.env.gpu import anonymize_uuid
from reprodiag.core.env.variables import REDACTED, redact, variable_facts

SECRETS = {
    "HF_TOKEN": "hf_abcdefghijklmnopqrstuvwxyz012345",  # not allowlisted at all
    "TF_API_TOKEN": "plainvalue123",  # allowlisted prefix, secret name
    "TF_SERVING_PASSWORD": "hunter2hunter2",
    "OMP_NUM_THREADS": "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",  # secret-shaped value
    "XLA_FLAGS": "--xla_dump_to=s3://AKIAIOSFODNN7EXAMPLE@bucket",
    "PYTORCH_NOTE": "sk-proj-abcdefghijklmnopqrstuvwx",
    "TORCH_BLOB": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpLTE1O",  # base64
    "CUDA_HEX": "0123456789abcdef0123456789abcdef01234567",
    "TF_VAR_db": "terraform-variable-value",  # Terraform shares TF_, never allowlisted
    "MY_PRIVATE_THING": "visible-only-here",
}


def test_only_allowlisted_names_are_reported():
    facts = variable_facts({"OMP_NUM_THREADS": "4", "HOME": "/home/alice", "PATH": "/usr/bin",
                            "TF_ENABLE_ONEDNN_OPTS": "0", "MKL_CBWR": "COMPATIBLE"})
    assert facts["var.OMP_NUM_THREADS"].value == "4"
    assert facts["var.TF_ENABLE_ONEDNN_OPTS"].value == "0"
    assert facts["var.MKL_CBWR"].value == "COMPATIBLE"
    assert "var.HOME" not in facts and "var.PATH" not in facts
    assert facts["var.PYTHONHASHSEED"].ok and facts["var.PYTHONHASHSEED"].value is None


def test_ordinary_values_are_kept():
    for name, value in [("LD_LIBRARY_PATH", "/usr/local/cuda-12.4/lib64:/opt/conda/lib"),
                        ("XLA_FLAGS", "--xla_gpu_deterministic_ops=true"),
                        ("CUBLAS_WORKSPACE_CONFIG", ":4096:8"),
                        ("CUDA_VISIBLE_DEVICES", "0,1")]:
        assert redact(name, value) == value


def test_gpu_uuids_are_hashed_like_gpu_facts():
    uuid = "GPU-8f3c2a1b-1234-5678-9abc-def012345678"
    assert redact("CUDA_VISIBLE_DEVICES", f"{uuid},1") == f"{anonymize_uuid(uuid)},1"


def test_planted_secrets_never_reach_the_snapshot_json():
    code = "from reprodiag.core.env import capture; print(capture().dumps())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True, env={**os.environ, **SECRETS}).stdout
    snapshot = json.loads(out)
    for name, value in SECRETS.items():
        assert value not in out, name
    facts = snapshot["facts"]
    for name in ("TF_API_TOKEN", "TF_SERVING_PASSWORD", "OMP_NUM_THREADS", "XLA_FLAGS",
                 "PYTORCH_NOTE", "TORCH_BLOB", "CUDA_HEX"):
        assert facts[f"var.{name}"] == {"value": REDACTED}, name
    assert "var.HF_TOKEN" not in facts and "var.TF_VAR_db" not in facts
    assert "var.MY_PRIVATE_THING" not in facts
