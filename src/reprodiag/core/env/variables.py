"""Environment variables that change numerics or device placement -- and nothing else.

Only allowlisted names leave the machine, as ``var.<NAME>``. Values that look like
credentials are replaced by ``<redacted>`` even inside allowlisted names; GPU UUIDs are
replaced by the same short hash ``gpu.<i>.uuid`` uses. The variables every diagnosis reads
are always reported, with value ``None`` when unset. `redact_text` does the same for free text
that may quote the environment (worker logs, stderr, command lines): only the secret part of
the text is replaced, so the rest stays readable.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from reprodiag.core.env.frozen import original_environ
from reprodiag.core.env.gpu import anonymize_uuid
from reprodiag.core.env.model import Fact

REDACTED = "<redacted>"

# Reported even when unset (value None), so "unset here, set there" shows in a diff.
ALWAYS_REPORTED = (
    "PYTHONHASHSEED", "CUDA_VISIBLE_DEVICES", "CUBLAS_WORKSPACE_CONFIG", "NVIDIA_TF32_OVERRIDE",
    "TF_ENABLE_ONEDNN_OPTS", "TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC", "OMP_NUM_THREADS",
    "PYTORCH_CUDA_ALLOC_CONF",
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
    r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_\w{20,}|hf_[A-Za-z0-9]{16,}"
    r"|sk-[\w-]{16,}|sk_(?:live|test)_\w{16,}|xox[abeprs]-[\w-]{10,}|glpat-[\w-]{16,}"
    r"|AIza[\w-]{30,}|(?:AKIA|ASIA)[A-Z0-9]{16}|eyJ[\w-]{10,}\.[\w-]{10,}(?:\.[\w-]+)?"
    r"|pypi-[\w-]{16,}|npm_[A-Za-z0-9]{20,}|ya29\.[\w.-]{16,}|Bearer\s+[\w.~+/-]{8,}=*)"
    r"|-----BEGIN[^\n]*|://[^/\s:@]+:[^/\s@]+@"  # PEM blocks, passwords in URLs
)
# NAME=value, "name": "value", --name value where NAME is a credential's name (HF_TOKEN,
# api-key, AWS_SECRET_ACCESS_KEY, password): the value part is redacted in free text.
_SECRET_WORD = (r"(?:tokens?|api[_-]?keys?|keys?|secrets?|passw(?:or)?ds?|pwd|credentials?"
                r"|auth(?:orization)?|private[_-]?keys?)")
_SECRET_NAME = rf"(?:[A-Za-z0-9]+[_.-])*{_SECRET_WORD}(?:[_.-][A-Za-z0-9]+)*"
SECRET_ASSIGNMENT = re.compile(
    rf"(?<![A-Za-z0-9])(?P<keep>{_SECRET_NAME}[\"']?\s*[=:]\s*[\"']?|--{_SECRET_NAME}[ \t]+)"
    r"(?P<value>[^\s\"',;]+)",
    re.IGNORECASE,
)
UUID = re.compile(
    r"(GPU-|MIG-)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
HEX_BLOB = re.compile(r"[0-9a-fA-F]{32,}")
WORD_BLOB = re.compile(r"[A-Za-z0-9+_=-]{32,}")
TEXT_BLOB = re.compile(r"[A-Za-z0-9+/_=-]{32,}")  # base64 keys may hold "/" (AWS secret keys)


def is_allowed(name: str) -> bool:
    if name.startswith(EXCLUDED_PREFIXES):
        return False
    return name in ALLOWED_NAMES or name.startswith(ALLOWED_PREFIXES)


def _looks_random(word: str) -> bool:
    """A long run mixing upper, lower and digits: a base64 / API-key blob, not a word."""
    return (any(c.isdigit() for c in word) and any(c.isupper() for c in word)
            and any(c.islower() for c in word))


def _looks_like_key(word: str) -> bool:
    """Stricter than _looks_random, for free text where CamelCase names and paths are common:
    random keys have high entropy and change character class every other character."""
    if not _looks_random(word):
        return False
    counts = collections.Counter(word).values()
    entropy = -sum(n / len(word) * math.log2(n / len(word)) for n in counts)
    kinds = ["d" if c.isdigit() else "u" if c.isupper() else "l" if c.islower() else "o"
             for c in word]
    switches = sum(a != b for a, b in zip(kinds, kinds[1:])) / len(word)
    return entropy >= 4.5 and switches >= 0.4


def redact(name: str, value: str) -> str:
    """The value as it may leave the machine."""
    if SECRET_NAME.search(name) or SECRET_VALUE.search(value):
        return REDACTED
    value = UUID.sub(lambda m: anonymize_uuid(m.group(0)), value)
    if HEX_BLOB.search(value) or any(_looks_random(w) for w in WORD_BLOB.findall(value)):
        return REDACTED
    return value


def redact_text(text: str, *, blobs: bool = True) -> str:
    """Free text with every credential-looking part replaced by ``<redacted>``.

    `blobs` also redacts long hex and random-looking words (API keys without a known prefix);
    leave it off for text that legitimately holds hashes (framework build ids).
    """
    text = SECRET_VALUE.sub(
        lambda m: "://" + REDACTED + "@" if m.group(0).startswith("://") else REDACTED, text
    )
    text = SECRET_ASSIGNMENT.sub(lambda m: m.group("keep") + REDACTED, text)
    text = UUID.sub(lambda m: anonymize_uuid(m.group(0)), text)
    if blobs:
        text = HEX_BLOB.sub(REDACTED, text)
        text = TEXT_BLOB.sub(lambda m: REDACTED if _looks_like_key(m.group(0)) else m.group(0),
                             text)
    return text


def redact_facts(facts: dict[str, Fact]) -> dict[str, Fact]:
    """Facts as they may leave the machine: credential-shaped parts of every string redacted,
    also in facts derived from variables (a backend name, a path) and in failure reasons.
    Hashes and build ids are kept; ``var.*`` facts were redacted as a whole already."""

    def clean(text: str) -> str:
        return redact_text(text, blobs=False)

    out: dict[str, Fact] = {}
    for key, fact in facts.items():
        if key.startswith("var."):
            out[key] = fact
        elif fact.ok:
            out[key] = Fact(value=map_strings(fact.value, clean))
        else:
            out[key] = Fact(unavailable=clean(fact.unavailable or ""))
    return out


def redact_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings a worker reported, as they may be stored: ``var.<NAME>`` values as in a
    snapshot, credential-looking parts of every other string redacted."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(key, str) and key.startswith("var.") and isinstance(value, str):
            out[key] = redact(key[len("var."):], value)
        else:
            out[key] = map_strings(value, lambda text: redact_text(text, blobs=False))
    return out


def map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """A copy of a JSON-like value with `change` applied to every string in it (not to keys)."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {k: map_strings(v, change) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [map_strings(v, change) for v in value]
    return value


def variable_facts(environ: Mapping[str, str] | None = None) -> dict[str, Fact]:
    """var.<NAME> for every allowlisted variable that is set, plus the always-reported ones.

    By default the variables as the user set them: without the frozen app's own changes.
    """
    env = original_environ() if environ is None else environ
    facts = {f"var.{name}": Fact(None) for name in ALWAYS_REPORTED}
    for name, value in env.items():
        if is_allowed(name):
            facts[f"var.{name}"] = Fact(redact(name, value))
    return facts
