"""Planted credentials never leave the machine: not in a bundle, a report, or `env --json`.

Secret-looking variables and values (tokens shaped like GitHub, Hugging Face, OpenAI, Slack,
AWS, Google, GitLab, PyPI keys, JWTs, PEM blocks, long hex, passwords in URLs) are planted in
the environment of real `reprodiag` commands: `env --json --deep`, `run --out` with a real
PyTorch canary and a real snapshot, and `compare` in every format. A worker that prints
secrets in its log lines, stderr, error message and settings is recorded, saved in the run
library and bundled. Every byte of every output and every zip entry is then scanned.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from reprodiag.core.bundle import write_bundle
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.library import RunLibrary

HEX = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFsaWNlIn0"
       ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")

# (variable, value, the secret part that must never appear; None = the whole value)
PLANTED = [
    ("HF_TOKEN", "hf_qWeRtYuIoPaSdFgHjKlZxCvBnM123456", None),
    ("GITHUB_TOKEN", "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", None),
    ("OPENAI_API_KEY", "sk-proj-Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0Gf9Ed", None),
    ("AWS_ACCESS_KEY_ID", "AKIAZ7Q4EXAMPLE3KEY9", None),
    ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY", None),
    ("SLACK_BOT_TOKEN", "xoxb-2048-4096-AbCdEfGhIjKlMnOp", None),
    ("TF_API_TOKEN", "plainvalue-7731-kestrel", None),  # allowlisted prefix, secret name
    ("TF_SERVING_PASSWORD", "hunter2-correct-horse", None),
    ("TF_VAR_db_password", "terraform-secret-osprey", None),  # Terraform's TF_ variables
    ("JAX_API_KEY", "jaxkey-falcon-20391", None),
    ("TORCH_HUB_AUTH_HEADER", "Bearer tok-heron-55512", None),
    ("XLA_FLAGS", "--xla_dump_to=s3://AKIAQ2W3E4R5T6Y7U8I9@bucket/dumps --xla_gpu_autotune_level=2",
     "AKIAQ2W3E4R5T6Y7U8I9"),
    ("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True,note:github_pat_11ABCDEFG0123456789"
     "_abcdefghijklmnopqrstuvwxyz", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"),
    ("LD_LIBRARY_PATH", "/opt/hf_PaThSeCrEt0123456789abcd/lib:/usr/lib",
     "hf_PaThSeCrEt0123456789abcd"),
    ("TORCH_HOME", f"/tmp/cache-{HEX}", HEX),  # long hex inside a path
    ("CUDA_VISIBLE_DEVICES", JWT, None),
    ("NCCL_IB_HCA", "AIzaSyD-9tSrke72PouQMnMX7QVhq4mBbAcDeFg", None),
    ("TORCHINDUCTOR_CACHE_DIR", "/tmp/pypi-AgEIcHlwaS5vcmcCJDk3ZWIxYjQ2", "pypi-AgEIcHlwaS5vcmcC"),
    ("PYTORCH_MIRROR", "https://alice:s3cr3tPa55w0rd@mirror.example.com/simple", "s3cr3tPa55w0rd"),
    ("CUDA_CERT", "-----BEGIN RSA PRIVATE KEY-----MIIEowIBAAKCAQEAq7BFUpkGp3", "MIIEowIBAAKCAQEA"),
    ("KERAS_BACKEND", "glpat-Ab12Cd34Ef56Gh78Ij90", None),  # a value other facts are built from
    ("ONEDNN_MAX_CPU_ISA", "xoxp-1234-5678-QwErTyUiOp", None),  # read by the worker itself
    ("TF_DETERMINISTIC_OPS", "sk_live_51HqLyjWDarjtT1zdp7dcXYZ", None),  # read by the worker
    ("MKL_CBWR_KEY", "npm_Zq9Xw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0Ed9Cb8", None),
    ("CUBLAS_SECRET", "random-but-named-secret-ibis", None),
    ("OMP_PLACES", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpLTE1O", None),  # base64 blob
]
SECRETS = [secret or value for _, value, secret in PLANTED]
ENV = {**os.environ, **{name: value for name, value, _ in PLANTED}}
CLI = [sys.executable, "-m", "reprodiag"]


def reprodiag(*args: object) -> str:
    proc = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def zip_texts(path: Path) -> dict[str, bytes]:
    """Every entry of a zip (names included), and the raw file."""
    data = path.read_bytes()
    out = {f"{path.name} (raw)": data}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            out[f"{path.name}:{info.filename}"] = info.filename.encode() + b"\n" + zf.read(info)
    return out


def leaks(outputs: dict[str, bytes | str]) -> list[str]:
    found = []
    for where, content in outputs.items():
        data = content.encode() if isinstance(content, str) else content
        found += [f"{secret!r} in {where}" for secret in SECRETS if secret.encode() in data]
    return found


def test_at_least_twenty_secrets_are_planted():
    assert len(PLANTED) >= 20 and len(set(SECRETS)) == len(SECRETS)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, bytes | str]:
    """Everything the commands wrote, with the secrets in their environment."""
    folder = tmp_path_factory.mktemp("exports")
    bundle = folder / "planted.reprodiag.zip"
    outputs: dict[str, bytes | str] = {
        "env --json --deep": reprodiag("env", "--json", "--deep"),
        "run --out --json": reprodiag("run", "--framework", "torch", "--steps", "3",
                                      "--threads", "1", "--batch-size", "16", "--out", bundle,
                                      "--json"),
    }
    for fmt in ("--markdown", "--json", "--no-anonymise"):
        outputs[f"compare {fmt}"] = reprodiag("compare", bundle, bundle, fmt)
    outputs.update(zip_texts(bundle))
    return outputs


def test_the_commands_really_saw_the_planted_variables(exported):
    snapshot = json.loads(exported["env --json --deep"])
    facts = snapshot["facts"]
    for name in ("TF_API_TOKEN", "XLA_FLAGS", "LD_LIBRARY_PATH", "KERAS_BACKEND", "OMP_PLACES"):
        assert facts[f"var.{name}"] == {"value": "<redacted>"}, name
    assert "var.HF_TOKEN" not in facts and "var.TF_VAR_db_password" not in facts
    run_json = next(v for k, v in exported.items() if k.endswith("/run.json"))
    settings = json.loads(run_json.split(b"\n", 1)[1])["settings"]
    assert settings["var.TF_DETERMINISTIC_OPS"] == "<redacted>"
    assert settings["var.ONEDNN_MAX_CPU_ISA"] == "<redacted>"


def test_no_planted_secret_is_in_any_export(exported):
    assert leaks(exported) == []


LEAKY_WORKER = """\
import json, os, sys
def emit(**obj):
    sys.stdout.write(json.dumps(obj) + "\\n"); sys.stdout.flush()
emit(type="hello", protocol=1, worker="leaky", pid=os.getpid())
emit(type="env", settings={"var.HF_TOKEN": os.environ["HF_TOKEN"],
     "var.XLA_FLAGS": os.environ["XLA_FLAGS"], "cmdline": " ".join(sys.argv[:1]) +
     " --api-key " + os.environ["JAX_API_KEY"], "nested": {"k": [os.environ["GITHUB_TOKEN"]]},
     "url": os.environ["PYTORCH_MIRROR"]}, dataset_hash="d", init_param_hash="i", n_params=1)
emit(type="log", level="info", message="using token " + os.environ["HF_TOKEN"])
emit(type="log", level="info", message="export OPENAI_API_KEY=" + os.environ["OPENAI_API_KEY"])
emit(type="log", level="info", message="password: " + os.environ["TF_SERVING_PASSWORD"])
print("raw line AWS " + os.environ["AWS_SECRET_ACCESS_KEY"], flush=True)
print("TORCH_HUB_AUTH_HEADER=" + os.environ["TORCH_HUB_AUTH_HEADER"], flush=True)
emit(type="step", step=0, loss=1.0, grad_norm=1.0, param_hash="p", batch_hash="b", lr=0.1,
     step_time=0.0)
sys.stderr.write("curl -H 'Authorization: " + os.environ["TORCH_HUB_AUTH_HEADER"] + "'\\n")
sys.stderr.write("cert " + os.environ["CUDA_CERT"] + "\\n")
sys.stderr.write("slack " + os.environ["SLACK_BOT_TOKEN"] + " aws " +
                 os.environ["AWS_ACCESS_KEY_ID"] + " jwt " + os.environ["CUDA_VISIBLE_DEVICES"] +
                 " hex " + os.environ["TORCH_HOME"] + "\\n")
sys.exit(3)
"""


def test_secrets_a_worker_prints_are_redacted_before_they_are_kept(tmp_path, monkeypatch):
    for name, value, _ in PLANTED:
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", JWT)  # the launcher sets it "" for CPU runs
    script = tmp_path / "leaky.py"
    script.write_text(LEAKY_WORKER.replace('os.environ["CUDA_VISIBLE_DEVICES"]', repr(JWT)))
    record = launcher.run(RunConfig(steps=1), script=script)
    assert record.status == "failed" and record.steps.step.tolist() == [0]
    assert record.reason.startswith("worker exited with code 3")
    assert any(line.startswith("using token ") for line in record.log)
    saved = RunLibrary(tmp_path / "library").save(record)
    bundle = write_bundle(tmp_path / "leaky", snapshot=None, runs=[record], label="leaky")
    outputs = {**zip_texts(saved), **zip_texts(bundle),
               "record": json.dumps([record.settings, record.log, record.reason])}
    assert leaks(outputs) == []
