"""Record your own PyTorch training step by step, as the canaries record theirs.

    rec = TorchRecorder(model, label="local", optimizer=opt, seed=0, data=train_set)
    for x, y in loader:
        ...; loss.backward(); opt.step()
        rec.step(loss, batch=(x, y))
    rec.save("mine.reprodiag.zip")

torch is imported when a recorder is made, never at import of this module.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from reprodiag.core.runs.record import RunRecord
from reprodiag.errors import UserError
from reprodiag.record.common import (
    RECORDER_HASH_EVERY,
    Recording,
    cpu_name,
    data_fingerprint,
    hash_arrays,
    optimizer_kind,
)
from reprodiag.record.torch_layers import TorchLayerHooks

# The definitions of batch_hash and grad_norm in a TorchRecorder run (the class docstring);
# runs of different schemes are not compared on them.
RECORDING_SCHEME = "torch-recorder/3"


class TorchRecorder:
    """Records loss, gradient norm, parameter and batch hashes and step time of each step.

    Call `step(loss, batch=...)` after each `optimizer.step()`: the loss is the batch's loss
    (before the update), the gradient norm the global L2 norm of the parameters' `.grad`, the
    parameter hash that of `model.state_dict()` after the update -- the same definitions and
    the same hash as the canaries. The initial-parameter hash is taken here, at construction;
    the settings in force (threads, determinism, TF32, device) at the first step. The step
    time is the whole iteration since the previous call, the recorder's own work excluded.
    `optimizer` (optional) supplies the learning rate and optimizer kind; `seed` is the seed
    your script set, kept for the record.

    Hashing every parameter costs more than a small model's step, and the gradient norm a
    good part of one, so `hash_every=k` (default 100, see RECORDER_HASH_EVERY;
    1 = every step) hashes the parameters and
    takes the gradient norm on the first step, every k-th step and any step whose loss is not
    finite, and hashes the parameters of the last step (when `save` is called); the other
    steps get an empty hash and a NaN gradient norm, which compare as "not taken". The batch
    hash is chained over the batches of the hashed steps: on a hashed step s it is the digest
    of the batches given on every hashed step up to s, the same on a CPU and a GPU, and no
    unhashed step copies its batch to the host or hashes it. A batch that differs on an
    unhashed step shows in that step's loss, not in the batch hash. A hashed step of a small
    model (up to 1 MiB of parameters and batch) is hashed at once; a larger one copies the
    parameters and batch to host memory and hashes the copies on a background thread (see
    `Recording.add_step`): the loop waits for the copies only.

    The gradients are read from the model's parameters as listed here and again at the start
    of every k-th step (listing them every step would cost a fifth of the recorder's own
    work), so a parameter added to the model during training counts from the next one on.

    Layers (`layers=True`, the default): on the first step, forward hooks on the model's leaf
    modules fingerprint each module's output as it is made (before a later in-place op
    changes it), and `step()` fingerprints each parameter's `.grad`; the hooks are
    registered for that step (after any the model has) and removed at its `step()`, so the
    training runs without them. On the first step whose loss is not finite the gradients are
    captured too. Where two runs part at the first step -- kernels, threads, data, random
    streams -- the layers say where; once the parameters differ, every layer does. A `torch.compile`d or
    scripted model is not hooked (the run's log says so). `reprodiag compare` then names
    the first layer where two recordings part.

    Data (`data=`, optional): your training set -- an array or tensor, a tuple/dict of them
    (e.g. `(x, y)`), a `Dataset` or a `DataLoader` -- is fingerprinted into the run's
    `dataset_hash`: its length and its first 1,024 items (DATA_ITEMS), in order, so two
    recordings trained on other data (or other preprocessing) are told apart from other
    causes. Without it the data is unknown (`""`); the step-0 batch hash still shows a
    different first batch.
    """

    def __init__(self, model, label: str = "", *, optimizer=None, seed: Optional[int] = None,
                 hash_every: int = RECORDER_HASH_EVERY, layers: bool = True, data: Any = None):
        import torch

        if not isinstance(model, torch.nn.Module):
            raise UserError(f"TorchRecorder needs a torch.nn.Module, not {type(model).__name__}")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise UserError(f"optimizer must be a torch.optim.Optimizer, not "
                            f"{type(optimizer).__name__}")
        self._torch = torch
        self.model = model
        self.optimizer = optimizer
        self._rec = Recording("torch", "TorchRecorder", label=label, seed=seed,
                              hash_every=hash_every, recording_scheme=RECORDING_SCHEME)
        self._rec.start(hash_arrays(self._parameter_arrays()),
                        sum(p.numel() for p in model.parameters()))
        if data is not None:
            self._rec.dataset_hash = data_fingerprint(data, self._batch_arrays)
        self._list_parameters()
        self._hooks: Optional[TorchLayerHooks] = None
        self._nonfinite_captured = False
        if layers:
            hooks = TorchLayerHooks(torch, model)
            if hooks.skip_reason:
                self._rec.record.add_log(f"layers not captured: {hooks.skip_reason}")
            else:
                self._hooks = hooks
                hooks.arm()  # the first step is always captured
        self._last = time.perf_counter()

    @property
    def record(self) -> RunRecord:
        """The live record (steps so far, every hash taken so far written in)."""
        return self._rec.live_record()

    def step(self, loss: Any, batch: Any = None) -> None:
        """Record one optimizer step: `loss` a tensor or float, `batch` a tensor, an array or a
        tuple/list/dict of them (what the model was fed, targets included), or None."""
        entered = time.perf_counter()
        rec = self._rec
        loss_value = _loss_value(self._torch, loss)
        if rec.hash_due(loss_value):  # the cadence's steps, and a non-finite loss (pinned)
            if not rec.settings_read():  # the first step is always a hashed one
                self._read_settings(batch)
            first = rec.steps == 0
            self._hashed_step(loss_value, batch, entered - self._last)
            nonfinite = not math.isfinite(loss_value) and not self._nonfinite_captured
            if self._hooks is not None and (first or nonfinite):
                # the first step, and the first non-finite one (its gradients, and its
                # outputs when that is the first step: the hooks are on for it alone)
                rec.add_layers(rec.steps - 1, self._hooks.collect())
                self._nonfinite_captured |= not math.isfinite(loss_value)
        else:  # most steps: kept lean, it runs after every optimizer step
            rec.add_step(loss=loss_value, grad_norm=math.nan, lr=self._learning_rate(),
                         step_time=entered - self._last)
        self._last = time.perf_counter()
        rec.overhead += self._last - entered

    def _hashed_step(self, loss_value: float, batch: Any, step_time: float) -> None:
        """Record a hashed step: the gradient norm, and the parameters and batch as arrays,
        hashed at once when small (views will do) or else copied for the hash thread (copies:
        training changes the tensors while it reads them); see Recording.hashes_inline."""
        torch = self._torch
        self._list_parameters()  # afresh: a parameter added since counts from here on
        grad_norm = self._grad_norm_now()
        state = self.model.state_dict().values()
        batch_arrays = None if batch is None else self._batch_arrays(batch)
        inline = self._rec.hashes_inline(sum(t.nelement() * t.element_size() for t in state)
                                         + sum(a.nbytes for a in batch_arrays or ()))
        params = [(tensor_to_numpy if inline else _host_copy)(torch, t) for t in state]
        if batch_arrays is not None and not inline:
            batch_arrays = [np.array(a) for a in batch_arrays]
        self._rec.add_step(loss=loss_value, grad_norm=grad_norm, lr=self._learning_rate(),
                           step_time=step_time, params=params, batch=batch_arrays, inline=inline)

    def save(self, path: Any, *, deep: bool = False) -> Path:
        """Write the recording plus an environment snapshot to `path` (a .reprodiag.zip); the
        last step gets its parameter hash if hash_every skipped it (its batch is gone by now)."""
        self._rec.pin_last_step(hash_arrays(self._parameter_arrays()))
        return self._rec.save(path, deep=deep)

    # -- reading the model ----------------------------------------------------------------

    def _list_parameters(self) -> None:
        self._params = list(self.model.parameters())
        self._params_on_cpu = all(p.device.type == "cpu" for p in self._params)

    def _parameter_arrays(self) -> list[np.ndarray]:
        return [tensor_to_numpy(self._torch, t) for t in self.model.state_dict().values()]

    def _batch_arrays(self, batch: Any) -> list[np.ndarray]:
        """The batch as numpy arrays in a fixed order (tensors copied to the host if need be)."""
        torch = self._torch
        if isinstance(batch, torch.Tensor):
            if batch.is_cpu and not batch.requires_grad:
                try:
                    return [batch.numpy()]  # the common case, a view: no detach, no copy
                except (TypeError, RuntimeError):  # bfloat16, conjugate or negative views
                    pass
            return [tensor_to_numpy(torch, batch)]
        if isinstance(batch, np.ndarray) or isinstance(batch, (int, float)):
            return [np.asarray(batch)]
        if isinstance(batch, dict):
            return [a for key in sorted(batch, key=str)
                    for a in self._batch_arrays(batch[key])]
        if isinstance(batch, (tuple, list)):
            return [a for item in batch for a in self._batch_arrays(item)]
        raise UserError("batch must be a tensor, an array, or a tuple/list/dict of them, not "
                        f"{type(batch).__name__}")

    def _grad_norm_now(self) -> float:
        """The global L2 norm of the gradients as a float (NaN if no parameter has one): on
        the CPU as the canary takes it (cpu_grad_norm), on a device the norm of the per-tensor
        norms computed there, with one host sync."""
        torch = self._torch
        grads = [p.grad for p in self._params if p.grad is not None]
        if not grads:
            return math.nan
        if self._params_on_cpu:
            return cpu_grad_norm(torch, grads)
        with torch.no_grad():
            foreach_norm = getattr(torch, "_foreach_norm", None)  # torch >= 1.13
            norms = foreach_norm(grads) if foreach_norm else [torch.linalg.vector_norm(g)
                                                              for g in grads]
            if len({(n.device, n.dtype) for n in norms}) > 1:
                norms = [n.to("cpu", torch.float64) for n in norms]
            return float(torch.linalg.vector_norm(torch.stack(norms)).item())

    def _learning_rate(self) -> float:
        if self.optimizer is None:
            return float("nan")
        lr = self.optimizer.param_groups[0].get("lr", math.nan)
        if type(lr) is float:  # the common case, read every step: no attribute probing
            return lr
        return float(lr.item() if hasattr(lr, "item") else lr)

    def _read_settings(self, batch: Any) -> None:
        """Settings in force when training runs, and what the RunConfig can know."""
        torch = self._torch
        first = next(iter(self.model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
        settings = torch_settings(torch, device)
        settings["param_dtype"] = _dtype_name(first.dtype) if first is not None else None
        facts = self._rec.facts
        facts.update(device=settings["device_type"], deterministic=settings["deterministic"],
                     tf32=settings["tf32"], threads=settings["threads"],
                     dtype=settings["param_dtype"], batch_size=_batch_size(batch))
        notes: dict[str, Any] = {"optimizer_class": None}
        if self.optimizer is not None:
            notes["optimizer_class"] = type(self.optimizer).__name__
            facts["optimizer"] = optimizer_kind(type(self.optimizer).__name__)
            facts["lr"] = self._learning_rate()
        self._rec.set_settings(settings, notes)


def torch_settings(torch, device) -> dict[str, Any]:
    """The numerics settings of torch in force in this process (the canaries' keys)."""
    cuda = device.type == "cuda"
    settings = {
        "framework": "torch",
        "framework_version": torch.__version__,
        "device": str(device),
        "device_type": "cpu" if device.type == "cpu" else "gpu",
        "device_name": torch.cuda.get_device_name(device) if cuda else cpu_name(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "deterministic_warn_only": _optional(
            torch, "is_deterministic_algorithms_warn_only_enabled"),
        "tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": _optional(torch, "get_float32_matmul_precision"),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if cuda else None,
        "cpu_capability": _optional(getattr(torch.backends, "cpu", None), "get_cpu_capability"),
        "mkldnn_available": bool(torch.backends.mkldnn.is_available()),
        "default_dtype": _dtype_name(torch.get_default_dtype()),
    }
    if cuda:
        major, minor = torch.cuda.get_device_capability(device)
        settings["compute_capability"] = f"{major}.{minor}"
    return settings


def tensor_to_numpy(torch, tensor) -> np.ndarray:
    """A CPU numpy copy of a tensor; dtypes numpy lacks (bfloat16, float8) as their raw bytes."""
    t = tensor.detach()
    if not t.is_cpu:
        t = t.cpu()
    try:
        return t.numpy()
    except TypeError:
        return t.contiguous().view(torch.uint8).numpy()


def _host_copy(torch, tensor) -> np.ndarray:
    """A numpy copy of a tensor that training cannot change (tensor_to_numpy's array is a
    view of a CPU tensor and already a fresh copy of any other)."""
    array = tensor_to_numpy(torch, tensor)
    return array.copy() if tensor.is_cpu else array


def cpu_grad_norm(torch, grads) -> float:
    """Global L2 norm of CPU gradients, as the torch canary takes it (canary_torch's
    _cpu_grad_norm; a test holds them equal): each tensor's norm in its dtype, combined as the
    square root of their sum of squares in float64 -- one call per tensor, no stack."""
    vector_norm = torch.linalg.vector_norm
    total = 0.0
    for g in grads:
        total += vector_norm(g).item() ** 2
    return math.sqrt(total)


def _loss_value(torch, loss: Any) -> float:
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1:
            raise UserError(f"loss must be a single number, not a tensor of shape "
                            f"{tuple(loss.shape)}")
        return float(loss.item())
    try:
        return float(loss)
    except (TypeError, ValueError):
        raise UserError(f"loss must be a tensor or a number, not {type(loss).__name__}") from None


def _batch_size(batch: Any) -> Optional[int]:
    """The leading dimension of the batch's first tensor/array, when there is one."""
    while isinstance(batch, (tuple, list)) and batch:
        batch = batch[0]
    if isinstance(batch, dict) and batch:
        batch = batch[sorted(batch, key=str)[0]]
    shape = getattr(batch, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) >= 1 else None


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _optional(owner, name: str):
    """owner.name() where this torch version has it, else None."""
    fn = getattr(owner, name, None) if owner is not None else None
    return fn() if fn is not None else None
