"""Layer capture for PyTorch models: forward outputs and parameter gradients, fingerprinted.

A sibling of canary_torch.py (imports canary_common only). `reprodiag/record/torch_layers.py`
holds a copy of `TorchLayerHooks` for the recorder (recorders import nothing of workers,
workers nothing of reprodiag); a test holds the two equal.
"""

from __future__ import annotations

from typing import Any

from canary_common import BATCH_ELEMENTS, layer_kind, layer_records, np

MAX_OUTPUT_TENSORS = 64  # tensors fingerprinted per layer output (tuples, dicts)


class TorchLayerHooks:
    """Forward hooks on a model's leaf modules, armed for one step at a time.

    `arm()` registers them (after any hooks the model already has, so those run first and
    an output they replace is the one fingerprinted) plus a pre-hook on the model for its
    inputs; each output is taken when its module returns it (copied, or fingerprinted at
    once if large), before any later in-place op can change it; a module called twice in
    one step counts its first call.
    `collect()` removes them, adds each layer's parameter gradients (`.grad`, read now,
    in reverse execution order) and returns the records. Passes without gradients (an
    evaluation under `torch.no_grad()`) are not captured. A `torch.compile`d or scripted
    model is not hooked: `skip_reason` says why and `arm()` does nothing.
    """

    def __init__(self, torch: Any, model: Any):
        self.torch = torch
        self.model = model
        self.skip_reason = _unhookable(torch, model)
        self.leaves = [] if self.skip_reason else [
            (name or type(model).__name__, layer_kind(type(module).__name__), module)
            for name, module in model.named_modules() if next(module.children(), None) is None]
        self._handles: list = []
        self._records: list = []  # records, and (name, kind, phase, tensor, array) to do
        self._ran: list[tuple[str, str, Any]] = []
        self._seen: set[int] = set()

    @property
    def armed(self) -> bool:
        return bool(self._handles)

    def arm(self) -> None:
        """Hook the next forward pass."""
        if self.skip_reason or self._handles:
            return
        self._records, self._ran, self._seen = [], [], set()
        self._handles = [self.model.register_forward_pre_hook(self._input_hook)]
        for name, kind, module in self.leaves:
            self._handles.append(module.register_forward_hook(self._output_hook(name, kind)))

    def disarm(self) -> None:
        """Remove this capture's hooks (and only them)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def collect(self) -> list[dict]:
        """Disarm; the forward records, then the gradient records of the layers that ran (of
        every leaf, in reverse definition order, when no forward pass was hooked)."""
        self.disarm()
        items = self._records
        ran = self._ran or self.leaves
        for name, kind, module in reversed(ran):
            for pname, param in module.named_parameters(recurse=False):
                if param.grad is not None:
                    items.append((name, kind, "backward", f"grad.{pname}", self._array(param.grad)))
        todo = [i for i, item in enumerate(items) if isinstance(item, tuple)]
        for i, record in zip(todo, layer_records([items[i] for i in todo])):
            items[i] = record
        self._records, self._ran = [], []
        return items

    def _take(self, name: str, kind: str, phase: str, tensor_name: str, tensor: Any) -> None:
        """Keep one tensor of this step as it is now: a copy, or its record if it is large."""
        array = self._array(tensor)
        if array.size <= BATCH_ELEMENTS:  # copied, fingerprinted with the rest at collect()
            self._records.append((name, kind, phase, tensor_name, np.array(array)))
        else:
            self._records.extend(layer_records([(name, kind, phase, tensor_name, array)]))

    def _input_hook(self, module: Any, args: Any) -> None:
        if id(module) in self._seen or not self.torch.is_grad_enabled():
            return
        self._seen.add(id(module))
        for tensor_name, tensor in self._tensors(tuple(args), "in"):
            self._take("input", "input", "input", tensor_name, tensor)

    def _output_hook(self, name: str, kind: str):
        def hook(module: Any, args: Any, output: Any) -> None:
            if id(module) in self._seen or not self.torch.is_grad_enabled():
                return
            self._seen.add(id(module))
            self._ran.append((name, kind, module))
            for tensor_name, tensor in self._tensors(output, "out"):
                self._take(name, kind, "forward", tensor_name, tensor)
        return hook

    def _tensors(self, value: Any, prefix: str) -> list[tuple[str, Any]]:
        """(name, tensor) of every tensor in an output: `out`, `out[0]`, `out['logits']`."""
        if isinstance(value, self.torch.Tensor):
            return [(prefix, value)]
        found: list[tuple[str, Any]] = []
        stack = [(prefix, value, 0)]
        while stack and len(found) < MAX_OUTPUT_TENSORS:
            name, item, depth = stack.pop(0)
            if isinstance(item, self.torch.Tensor):
                found.append((name, item))
            elif depth < 4 and isinstance(item, (tuple, list)):
                stack.extend((f"{name}[{i}]", v, depth + 1) for i, v in enumerate(item))
            elif depth < 4 and isinstance(item, dict):
                stack.extend((f"{name}[{k!r}]", v, depth + 1) for k, v in item.items())
        return found

    def _array(self, tensor: Any) -> Any:
        """A host numpy array of the tensor's values (a view on the CPU: fingerprinted at
        once); dtypes numpy lacks (bfloat16, float8) widened to float32, exactly."""
        t = tensor.detach()
        try:
            return t.numpy()  # a dense CPU tensor of a numpy dtype: most of them
        except (TypeError, RuntimeError):
            pass
        if not t.is_cpu:
            t = t.cpu()
        if t.is_sparse or t.is_quantized:
            t = t.to_dense() if t.is_sparse else t.dequantize()
        try:
            return t.numpy()
        except TypeError:
            return t.float().numpy()


def _unhookable(torch: Any, model: Any) -> str:
    """Why the model's layers cannot be hooked without changing how it runs, or ""."""
    if hasattr(model, "_orig_mod") or type(model).__name__ == "OptimizedModule":
        return "a torch.compile'd model (hooks would force recompiles or graph breaks)"
    script = getattr(getattr(torch, "jit", None), "ScriptModule", ())
    if any(isinstance(m, script) for m in model.modules()):
        return "a scripted (torch.jit) model (it does not run Python hooks)"
    return ""

