"""The canary run configuration: what a worker trains and under which numerics settings.

One `RunConfig` is sent to a worker as JSON (its `to_worker_json`), stored in a bundle's
`run.json`, and used to pair runs of two environments (`pairing_key`).
"""

from __future__ import annotations

import json
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

Framework = Literal["torch", "tensorflow"]
# "custom": a user's own training recorded by reprodiag.record (never run by a worker).
Model = Literal["mlp", "cnn", "segnet", "custom"]
Device = Literal["cpu", "gpu", "auto"]
DType = Literal["float32", "float64"]
Optimizer = Literal["sgd", "adam"]

FRAMEWORKS: tuple[str, ...] = ("torch", "tensorflow")
MODELS: tuple[str, ...] = ("mlp", "cnn", "segnet")
DEVICES: tuple[str, ...] = ("cpu", "gpu", "auto")

# Fields that describe *where* a run happened rather than *what* it computed: two runs of
# different environments still pair when only these differ.
PLACEMENT_FIELDS = ("device", "threads")
# Fields that change how a run is recorded, never what it computes: ignored when pairing.
RECORDING_FIELDS = ("hash_every", "layers")
# A canary hashes its parameters (and takes the gradient norm) every this many steps. A hashed
# step of the 26k-parameter mlp costs ~0.2 ms on a CPU (sha256 of its 104 KB alone 0.06 ms),
# half a step: measured against the same loop recording the loss, every 10th step made the
# canary 6% slower, every 25th 3-5%, every 50th 2-3% (docs/performance.md). The loss is
# recorded every step, so where two runs' losses part is exact whatever this is; the hashes
# bracket where parameters or data part to within this many steps.
DEFAULT_HASH_EVERY = 50
# What a stored config without the field means: bundles written before it existed.
LEGACY_HASH_EVERY = 10


class RunConfig(BaseModel):
    """A canary training, fully specified. Defaults give a run of a few seconds on a CPU."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    framework: Framework = "torch"
    model: Model = "mlp"
    device: Device = "cpu"
    seed: Optional[int] = Field(0, ge=0, le=2**31 - 1, description="None = unseeded")
    steps: int = Field(200, ge=1, le=1_000_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    lr: float = Field(0.05, gt=0, le=100)
    optimizer: Optimizer = "sgd"
    dtype: DType = "float32"
    deterministic: bool = False
    tf32: bool = False
    threads: Optional[int] = Field(None, ge=1, le=1024, description="None = framework default")
    shuffle: bool = True
    augment: bool = False
    onednn: Optional[bool] = Field(None, description="TF oneDNN opts; None = TF default")
    hash_every: int = Field(DEFAULT_HASH_EVERY, ge=1, le=1_000_000,
                            description="hash parameters every k-th step; 1 = every step")
    layers: bool = Field(True, description="fingerprint each layer's output and gradients "
                                           "on hashed steps")

    def to_worker_json(self, data_dir: str) -> str:
        """The JSON a worker reads: this config plus where the shipped data lies."""
        payload = self.model_dump()
        payload["data_dir"] = data_dir
        return json.dumps(payload)

    def pairing_key(self) -> tuple:
        """Runs whose configs agree on everything but placement and recording are comparable."""
        d = self.model_dump()
        skipped = PLACEMENT_FIELDS + RECORDING_FIELDS
        return tuple((k, d[k]) for k in sorted(d) if k not in skipped)

    def short_label(self) -> str:
        """A compact human label, e.g. 'torch mlp cpu seed=0 t=1'."""
        parts = [self.framework, self.model, self.device, f"seed={self.seed}"]
        if self.threads:
            parts.append(f"threads={self.threads}")
        if self.dtype != "float32":
            parts.append(self.dtype)
        if self.deterministic:
            parts.append("det")
        if self.tf32 and self.device != "cpu":  # TF32 acts only on a GPU
            parts.append("tf32")
        return " ".join(parts)

    def worker_environment(self) -> dict[str, str]:
        """Environment variables that must be set *before* the framework is imported."""
        env: dict[str, str] = {"PYTHONHASHSEED": str(self.seed if self.seed is not None else 0)}
        if self.threads:
            for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                env[name] = str(self.threads)
        if self.deterministic:
            env["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
            env["TF_DETERMINISTIC_OPS"] = "1"
            env["TF_CUDNN_DETERMINISTIC"] = "1"
        if self.onednn is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = "1" if self.onednn else "0"
        if not self.tf32:
            env["NVIDIA_TF32_OVERRIDE"] = "0"
        if self.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        return env
