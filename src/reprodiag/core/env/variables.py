"""Environment variables that change numerics or device placement -- and nothing else.

Only allowlisted names leave the machine, as ``var.<NAME>``. Values that look like
credentials are replaced by ``<redacted>`` even inside allowlisted names; GPU UUIDs are
replaced by the same short hash ``gpu.<i>.uuid`` uses. The variables every diagnosis reads
are always reported, with value ``None`` when unset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from reprodiag.core.env.gpu import anonymize_uuid
from reprodiag.core.env.model import Fact

REDACTED = "<redacted>"

# Reported even when unset (value None), so "unset here, set there" shows in a diff.
ALWAYS_REPORTED = (
    "PYTHONHASHSEED", "CUDA_VISIBLE_DEVICES", "CUBLAS_WORKSPACE_CONFIG", "NVIDIA_TF32_OVERRIDE",
    "TF_ENABLE_ONEDNN_OPTS", "TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC", "OMP_NUM_THREADS",
)
ALLOWED_NAMES = frozenset(ALWAYS_REPORTED) | {
    "ATEN_CPU_CAPABILITY", "XLA_FLAGS", "KERAS_BACKEND", "LD_LIBRARY_PATH", "LD_PRELOAD",
    "NVIDIA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS", "CUDA_HOME",
    "CUDA_PATH",
}
ALLOWED_PREFIXES = (
    "TF_", "CUDA_", "CUBLAS_", "CUBLASLT_", "CUDNN_", "NCCL_", "NVIDIA_TF32", "MKL_",
    "OPENBLAS_", "GOTO", "OMP_", "GOMP_", "KMP_", "ONEDNN_", "DNNL_", "PYTORCH_", "TORCH_",
    "TORCHINDUCTOR_", "XLA_", "JAX_", "KERAS_",
)
# Terraform shares the TF_ prefix and keeps credentials there.
EXCLUDED_PREFIXES = ("TF_VAR_", "TF_TOKEN_", "TF_CLI_", "TF_LOG", "TF_WORKSPACE", "TF_INPUT",
                     "TF_IN_AUTOMATION", "TF_DATA_DIR", "TF_REGISTRY", "TF_PLUGIN")

SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|PRIVATE", re.IGNORECASE)
SECRET_VALUE = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{16,}|github_pat_\w{20,}|hf_[A-Za-z0-9]{16,}|sk-[\w-]{16,}"
    r"|sk_(live|test)_\w{16,}|xox[abprs]-[\w-]{10,}|glpat-[\w-]{16,}|AIza[\w-]{30,}"
    r"|(AKIA|ASIA)[A-Z0-9]{16}|eyJ[\w-]{10,}\.[\w-]{10,}"
    r"|-----BEGIN|://[^/\s:@]+:[^/\s@]+@"  # PEM blocks, passwords in URLs
)
UUID = re.compile(
    r"(GPU-|MIG-)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
HEX_BLOB = re.compile(r"[0-9a-fA-F]{32,}")
WORD_BLOB = re.compile(r"[A-Za-z0-9+_=-]{32,}")


def is_allowed(name: str) -> bool:
    if name.startswith(EXCLUDED_PREFIXES):
        return False
    return name in ALLOWED_NAMES or name.startswith(ALLOWED_PREFIXES)


def _looks_random(word: str) -> bool:
    """A long run mixing upper, lower and digits: a base64 / API-key blob, not a word."""
    return (any(c.isdigit() for c in word) and any(c.isupper() for c in word)
            and any(c.islower() for c in word))


def redact(name: str, value: str) -> str:
    """The value as it may leave the machine."""
    if SECRET_NAME.search(name) or SECRET_VALUE.search(value):
        return REDACTED
    value = UUID.sub(lambda m: anonymize_uuid(m.group(0)), value)
    if HEX_BLOB.search(value) or any(_looks_random(w) for w in WORD_BLOB.findall(value)):
        return REDACTED
    return value


def variable_facts(environ: Mapping[str, str] | None = None) -> dict[str, Fact]:
    """var.<NAME> for every allowlisted variable that is set, plus the always-reported ones."""
    env = os.environ if environ is None else environ
    facts = {f"var.{name}": Fact(None) for name in ALWAYS_REPORTED}
    for name, value in env.items():
        if is_allowed(name):
            facts[f"var.{name}"] = Fact(redact(name, value))
    return facts
