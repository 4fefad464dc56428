"""PyTorch canary worker: `python canary_torch.py '<run config json>'`, protocol lines on stdout.

Run by path with the target interpreter; imports only the stdlib, numpy, torch and its
sibling canary_common. The numerics settings of the config are applied before the model
exists and read back from torch for the `env` line.
"""

from __future__ import annotations

import math
import random
import sys
from typing import Any

import canary_common as common
from canary_common import np  # None when numpy is missing: common.main reports that


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise common.WorkerFailure(
            "missing_framework", f"PyTorch cannot be imported by {sys.executable}: {exc}"
        ) from None
    return torch


def _pick_device(torch, requested: str):
    """The torch device for "cpu" / "gpu" / "auto"; no CUDA for "gpu" is a no_gpu failure."""
    if requested == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", 0)
    if requested == "auto":
        return torch.device("cpu")
    if torch.version.cuda is None:
        why = "CPU-only build"
    else:
        why = f"built for CUDA {torch.version.cuda}, but no usable GPU or driver"
    raise common.WorkerFailure(
        "no_gpu", f"no CUDA GPU visible to torch {torch.__version__} ({why})"
    )


def _apply_numerics(torch, config: dict[str, Any], seed: int) -> None:
    """Threads, determinism, TF32 and seeds, set before any model or tensor is made."""
    threads = config["threads"]
    if threads:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # only allowed before inter-op work started; keep the default
            pass
    deterministic = config["deterministic"]
    # warn_only: an op without a deterministic kernel warns on stderr instead of failing.
    try:
        torch.use_deterministic_algorithms(deterministic, warn_only=deterministic)
    except TypeError:  # torch < 1.11 has no warn_only
        torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = False
    tf32 = config["tf32"]
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    if hasattr(torch, "set_float32_matmul_precision"):  # torch >= 1.12
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _models(torch):
    """The three canary architectures (same shapes as in canary_tf.py)."""
    nn: Any = torch.nn  # torch arrives as an argument: its types are not known here
    F = torch.nn.functional

    def mlp(n_classes):
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(64, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, n_classes),
        )

    def cnn(n_classes):
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Linear(64, n_classes),
        )

    def conv_bn(cin, cout, k, stride=1, dilation=1):
        return nn.Sequential(
            nn.Conv2d(
                cin,
                cout,
                k,
                stride=stride,
                padding=dilation * (k // 2),
                dilation=dilation,
                bias=False,
            ),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
        )

    class SegNet(nn.Module):
        """DeepLab-style: strided + dilated backbone, small ASPP head, bilinear upsampling."""

        def __init__(self, n_classes):
            super().__init__()
            self.backbone = nn.Sequential(
                conv_bn(1, 16, 3),
                conv_bn(16, 32, 3, stride=2),
                conv_bn(32, 32, 3, dilation=2),
            )
            self.aspp = nn.ModuleList(
                [conv_bn(32, 32, 1)] + [conv_bn(32, 32, 3, dilation=d) for d in (2, 4)]
            )
            # No batch norm on the 1x1 pooled branch: it would fail for a batch of one.
            self.image_pool = nn.Sequential(nn.Conv2d(32, 32, 1), nn.ReLU())
            self.project = conv_bn(4 * 32, 32, 1)
            self.classify = nn.Conv2d(32, n_classes, 1)

        def forward(self, x):
            size = x.shape[-2:]
            f = self.backbone(x)
            pooled = self.image_pool(f.mean(dim=(2, 3), keepdim=True)).expand(-1, -1, *f.shape[2:])
            f = self.project(torch.cat([b(f) for b in self.aspp] + [pooled], dim=1))
            logits = self.classify(f)
            return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)

    return {"mlp": mlp, "cnn": cnn, "segnet": SegNet}


class TorchBackend(common.Backend):
    channels_first = True

    def __init__(self, torch, config: dict[str, Any], seed: int):
        self.torch = torch
        self.config = config
        self.seed = seed
        self.device = _pick_device(torch, config["device"])
        _apply_numerics(torch, config, seed)
        self.dtype = getattr(torch, config["dtype"])

    def settings(self) -> dict[str, Any]:
        torch = self.torch
        cuda = self.device.type == "cuda"
        settings = {
            "framework": "torch",
            "framework_version": torch.__version__,
            "device": str(self.device),
            "device_type": "gpu" if cuda else "cpu",
            "device_name": torch.cuda.get_device_name(self.device) if cuda else common.cpu_name(),
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "deterministic_warn_only": _optional(
                torch, "is_deterministic_algorithms_warn_only_enabled"
            ),
            "tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            "cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
            "float32_matmul_precision": _optional(torch, "get_float32_matmul_precision"),
            "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "cuda_version": torch.version.cuda,
            "cudnn_version": torch.backends.cudnn.version() if cuda else None,
            "cpu_capability": _cpu_capability(torch),
            "mkldnn_available": bool(torch.backends.mkldnn.is_available()),
            "default_dtype": _dtype_name(torch.get_default_dtype()),
            "param_dtype": _dtype_name(next(self.model.parameters()).dtype),
        }
        if cuda:
            major, minor = torch.cuda.get_device_capability(self.device)
            settings["compute_capability"] = f"{major}.{minor}"
        return settings

    def build(self, data: common.Dataset) -> None:
        torch = self.torch
        # Initial parameters are drawn on the CPU in float32, then cast and moved: CPU and
        # CUDA generators differ, and float64 runs start from the very same values.
        self.model = _models(torch)[self.config["model"]](data.n_classes)
        self.model.to(device=self.device, dtype=self.dtype)
        lr = self.config["lr"]
        if self.config["optimizer"] == "adam":
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        else:
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.model.train()  # once: train_step never switches modes, predict switches back
        self._on_cpu = self.device.type == "cpu"
        # Listed once: the model is built here and only ever updated in place (optimizer steps,
        # batch-norm statistics), so these tensors are the live ones for the whole run.
        self._params = list(self.model.parameters())
        self._state = [t.detach() for t in self.model.state_dict().values()]
        # On the CPU, numpy views of the very same memory: hashing reads the current values.
        self._state_views = [t.numpy() for t in self._state] if self._on_cpu else None
        self._hooks: Any = None  # layers_torch.TorchLayerHooks, made by enable_layers
        self._records = None

    def parameter_arrays(self) -> list[np.ndarray]:
        if self._state_views is not None:
            return self._state_views
        return [t.cpu().numpy() for t in self._state]

    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def _tensor(self, array: np.ndarray):
        tensor = self.torch.from_numpy(np.ascontiguousarray(array))
        return tensor if self._on_cpu else tensor.to(self.device)

    def enable_layers(self) -> str:
        from layers_torch import TorchLayerHooks

        self._hooks = TorchLayerHooks(self.torch, self.model)
        return self._hooks.skip_reason

    def layer_records(self) -> list | None:
        records, self._records = self._records, None
        return records

    def train_step(self, x: np.ndarray, y: np.ndarray, with_norm: bool,
                   capture: bool = False) -> tuple[float, float]:
        self.optimizer.zero_grad(set_to_none=True)
        hooks = self._hooks
        inputs, targets = self._tensor(x), self._tensor(y)
        if capture:
            hooks.arm()
        loss = self.loss_fn(self.model(inputs), targets)
        if hooks is not None and not capture and self._on_cpu and not math.isfinite(loss.item()):
            loss, capture = self._forward_captured(inputs, targets), True
        loss.backward()
        self.optimizer.step()  # leaves the gradients as they are: the norm is theirs
        if capture:
            self._records = hooks.collect()
        if not with_norm:
            return loss.item(), math.nan
        if self._on_cpu:
            return loss.item(), self.grad_norm()
        norm = _grad_norm(self.torch, self._grads())
        # One device-to-host copy for both numbers: a single sync, as loss.item() alone.
        loss_value, norm_value = self.torch.stack([loss.detach(), norm.to(loss.dtype)]).tolist()
        return loss_value, norm_value

    def _forward_captured(self, inputs, targets):
        """The forward pass again with the layer hooks armed, for a step whose loss is not
        finite (on the CPU the loss is read before the backward pass, so the parameters are
        still those that produced it); the buffers (batch-norm statistics) are put back as
        the first pass left them, so the run goes on as it would have."""
        torch = self.torch
        buffers = list(self.model.buffers())
        saved = [b.detach().clone() for b in buffers]
        self._hooks.arm()
        loss = self.loss_fn(self.model(inputs), targets)
        with torch.no_grad():
            for buffer, value in zip(buffers, saved):
                buffer.copy_(value)
        return loss

    def grad_norm(self) -> float:
        grads = self._grads()
        if self._on_cpu:
            return _cpu_grad_norm(self.torch, grads)
        return float(_grad_norm(self.torch, grads).item())

    def _grads(self) -> list:
        return [p.grad for p in self._params if p.grad is not None]

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        try:
            with self.torch.no_grad():
                logits = self.model(self._tensor(x))
        finally:
            self.model.train()
        if logits.ndim == 4:
            logits = logits.permute(0, 2, 3, 1)
        return logits.cpu().numpy()

    def learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]


def _grad_norm(torch, grads):
    """Global L2 norm of the gradients (the norm of the per-tensor norms), as a tensor: one
    fused call for the per-tensor norms, no Python loop over parameters, no host sync."""
    with torch.no_grad():
        foreach_norm = getattr(torch, "_foreach_norm", None)  # torch >= 1.13
        if foreach_norm is not None:
            norms = foreach_norm(grads)
        else:
            norms = [torch.linalg.vector_norm(g) for g in grads]
        return torch.linalg.vector_norm(torch.stack(norms))


def _cpu_grad_norm(torch, grads) -> float:
    """Global L2 norm of CPU gradients: each tensor's norm as `_grad_norm` takes it (in the
    gradient dtype), combined as the square root of their sum of squares in float64. On a
    CPU one call per tensor is cheaper than the per-tensor norms, stack and norm; the value
    agrees with `_grad_norm` to float32 rounding."""
    vector_norm = torch.linalg.vector_norm
    total = 0.0
    for g in grads:
        total += vector_norm(g).item() ** 2
    return math.sqrt(total)


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _optional(owner, name: str):
    """owner.name() where this torch version has it, else None."""
    fn = getattr(owner, name, None)
    return fn() if fn is not None else None


def _cpu_capability(torch):
    cpu = getattr(torch.backends, "cpu", None)  # torch >= 2.0
    return _optional(cpu, "get_cpu_capability") if cpu is not None else None


def make_backend(config: dict[str, Any], seed: int) -> TorchBackend:
    return TorchBackend(_import_torch(), config, seed)


if __name__ == "__main__":
    sys.exit(common.main("canary_torch", "torch", make_backend))
