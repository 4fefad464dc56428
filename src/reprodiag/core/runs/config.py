"""The canary run configuration: what a worker trains and under which numerics settings.

One `RunConfig` is sent to a worker as JSON (its `to_worker_json`), stored in a bundle's
`run.json`, and used to pair runs of two environments (`pairing_key`).
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Framework = Literal["torch", "tensorflow"]
# "custom": a user's own training recorded by reprodiag.record (never run by a worker).
Model = Literal["mlp", "cnn", "segnet", "custom"]
Device = Literal["cpu", "gpu", "auto"]
DType = Literal["float32", "float64"]
Optimizer = Literal["sgd", "adam"]

FRAMEWORKS: tuple[str, ...] = typing.get_args(Framework)
RECORDED_MODEL = "custom"
MODELS: tuple[str, ...] = tuple(m for m in typing.get_args(Model) if m != RECORDED_MODEL)
DEVICES: tuple[str, ...] = typing.get_args(Device)
# The devices a standard canary set is run on (`export --devices`); "auto" is the framework's
# pick of one of them.
SET_DEVICES: tuple[str, ...] = tuple(d for d in DEVICES if d != "auto")

# Fields that describe *where* a run happened rather than *what* it computed: two runs of
# different environments still pair when only these differ.
PLACEMENT_FIELDS = ("device", "threads")
# Fields that change how a run is recorded, never what it computes: ignored when pairing.
RECORDING_FIELDS = ("hash_every", "layers")
# A canary hashes its parameters (and takes the gradient norm) every this many steps: a hashed
# step of a small model costs about half a step (docs/performance.md). The loss is recorded
# every step, so where two runs' losses part is exact whatever this is; the hashes bracket
# where parameters or data part to within this many steps.
DEFAULT_HASH_EVERY = 50
# What a stored config without the field means: bundles written before it existed.
LEGACY_HASH_EVERY = 10


class RunConfig(BaseModel):
    """A canary training, fully specified. Defaults give a run of a few seconds on a CPU.

    Each field's title, description, bounds and choices are the one source of the run
    options: the CLI's flags, the Runs tab's form and the recorders' checks are built from
    them (`run_options()`), and the worker's copy of the checks is held equal by a test.
    `json_schema_extra={"unset": ...}` names what None means for an optional field.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    framework: Framework = Field(
        "torch", title="Framework",
        description="framework under test; it is imported only inside the worker process")
    model: Model = Field(
        "mlp", title="Model",
        description="canary model: a small MLP, a small CNN, or a DeepLab-style segmentation "
                    "net")
    device: Device = Field(
        "cpu", title="Device",
        description="where the worker trains: CPU, GPU, or the framework's choice (auto)")
    seed: Optional[int] = Field(
        0, ge=0, le=2**31 - 1, title="Seed", json_schema_extra={"unset": "unseeded"},
        description="seed for every random generator; unseeded shows what an unseeded run "
                    "does")
    steps: int = Field(
        200, ge=1, le=1_000_000, title="Steps",
        description="optimizer steps to record (each step's loss; gradient norm and hashes on "
                    "hashed steps)")
    batch_size: int = Field(32, ge=1, le=65_536, title="Batch size",
                            description="examples per training step")
    lr: float = Field(0.05, gt=0, le=100, title="Learning rate",
                      description="learning rate of the optimizer")
    optimizer: Optimizer = Field("sgd", title="Optimizer",
                                 description="SGD (simplest arithmetic) or Adam")
    dtype: DType = Field(
        "float32", title="Float type",
        description="float64 separates algorithm differences from float32 rounding")
    deterministic: bool = Field(
        False, title="Deterministic ops",
        description="ask the framework for deterministic kernels "
                    "(torch.use_deterministic_algorithms / TF op determinism)")
    tf32: bool = Field(
        False, title="Allow TF32",
        description="allow TF32 matmuls/convolutions on GPUs of compute capability 8.0 and "
                    "newer")
    threads: Optional[int] = Field(
        None, ge=1, le=1024, title="CPU threads", json_schema_extra={"unset": "default"},
        description="intra-op CPU threads (default: the framework's); the thread count "
                    "changes summation order")
    shuffle: bool = Field(True, title="Shuffle batches",
                          description="shuffle the training batches each epoch (seeded)")
    augment: bool = Field(False, title="Augment data",
                          description="seeded data augmentation (random flips/noise)")
    onednn: Optional[bool] = Field(
        None, title="TF oneDNN", json_schema_extra={"unset": "default"},
        description="TensorFlow oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS); default: "
                    "TensorFlow's choice")
    hash_every: int = Field(
        DEFAULT_HASH_EVERY, ge=1, le=1_000_000, title="Hash every",
        description="hash parameters and batches and take the gradient norm every k-th step "
                    "(and the first, last and non-finite ones); 1 = every step. Recording "
                    "only: runs still pair")
    layers: bool = Field(
        True, title="Capture layers",
        description="fingerprint each layer's output and gradients on hashed steps, so a "
                    "comparison names the first layer where two runs part. Recording only: "
                    "runs still pair")

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
        """A compact human label, e.g. 'torch mlp cpu seed=0 threads=1'."""
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


@dataclass(frozen=True, kw_only=True)
class RunOption:
    """One RunConfig field as a front end offers it: what it is called, what it does, which
    values it takes. Built from the field itself by `run_options()`."""

    name: str
    title: str
    description: str
    kind: Literal["choice", "bool", "int", "float"]
    default: Any
    optional: bool = False  # None is allowed; `unset` says what it means
    unset: str = "default"
    choices: tuple[str, ...] = ()  # the values a front end offers (kind "choice")
    low: Optional[float] = None
    low_exclusive: bool = False  # `gt` rather than `ge`
    high: Optional[float] = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


# The values a front end offers where the type allows more (a recording's model, never run).
OFFERED_CHOICES: dict[str, tuple[str, ...]] = {"model": MODELS}


def run_options() -> tuple[RunOption, ...]:
    """Every RunConfig field, in declaration order, as a RunOption."""
    return tuple(run_option(name) for name in RunConfig.model_fields)


def run_option(name: str) -> RunOption:
    """RunConfig.<name> as a RunOption."""
    info = RunConfig.model_fields[name]
    annotation = info.annotation
    args = typing.get_args(annotation)
    optional = type(None) in args
    base = next(a for a in args if a is not type(None)) if optional else annotation
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    bounds: dict[str, Any] = {}
    for constraint in info.metadata:
        for key in ("ge", "gt", "le", "lt"):
            if getattr(constraint, key, None) is not None:
                bounds[key] = getattr(constraint, key)
    kind: Literal["choice", "bool", "int", "float"]
    if typing.get_origin(base) is Literal:
        kind = "choice"
    elif base is bool:
        kind = "bool"
    elif base is int:
        kind = "int"
    elif base is float:
        kind = "float"
    else:  # a field type no front end knows: fail loudly in development
        raise TypeError(f"RunConfig.{name}: no run option for {annotation!r}")
    choices = (OFFERED_CHOICES.get(name, tuple(str(v) for v in typing.get_args(base)))
               if kind == "choice" else ())
    return RunOption(
        name=name, title=info.title or name, description=info.description or "",
        kind=kind, default=info.default, optional=optional,
        unset=str(extra.get("unset", "default")), choices=choices,
        low=bounds.get("ge", bounds.get("gt")), low_exclusive="gt" in bounds,
        high=bounds.get("le", bounds.get("lt")))


def field_problem(name: str, value: Any) -> Optional[str]:
    """Why `value` cannot be RunConfig.<name> (pydantic's words, e.g. 'Input should be
    greater than or equal to 1'), or None when it can. Strict: no text or bool for a number."""
    data = {**RunConfig().model_dump(), name: value}
    try:
        RunConfig.model_validate(data, strict=True)
    except ValidationError as exc:
        return str(exc.errors()[0].get("msg", "invalid value"))
    return None
