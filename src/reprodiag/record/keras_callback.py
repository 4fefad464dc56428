"""Record your own Keras training batch by batch: a callback for `model.fit`.

    rec = KerasCallback(label="local", path="mine.reprodiag.zip", seed=0, data=(x, y))
    model.fit(x, y, epochs=2, callbacks=[rec])   # writes the bundle when training ends

Keras is imported when a callback is made, never at import of this module; the callback class
derives from the Keras that is installed, so it is built on first use.

What a plain callback can and cannot see, honestly:
- loss: `logs["loss"]` as Keras reports it after each batch. Keras 3 reports the *running
  mean over the epoch so far*, not the batch's own loss; it is deterministic, so two runs
  still compare exactly, but its values differ from a torch loop's per-batch loss.
- gradient norm: not visible to a callback, recorded as NaN (the `note.grad_norm` setting says so).
- batch hash: the batch is not visible either, recorded as an empty hash (compares equal);
  data-order differences then show up from the first loss or parameter hash that differs.
- with `steps_per_execution=k` Keras calls the callback every k batches: one step per call.
- layers: intermediate outputs are not visible either. With `data=` (and the TensorFlow
  backend) the callback runs a *probe pass* before the first batch:
  the model on the first PROBE_ROWS samples of `data`, in inference mode (dropout off,
  batch-norm statistics used and left unchanged, no random draws: training goes on exactly
  as without it), each leaf layer's output fingerprinted as it is made and, with targets
  and a compiled loss, each parameter's gradient of that loss (not applied). Both machines
  probe the same samples with the weights they have, so the first layer that computes
  differently is named; a dropout layer cannot part in inference mode.
- data: `data=` (arrays, a tuple/dict of them, a `tf.data.Dataset` or a Keras dataset) is
  fingerprinted into `dataset_hash`: its length and its first 1,024 items, in order
  (record/common.py's DATA_ITEMS); without it the data is unknown (`""`).
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from reprodiag.errors import UserError
from reprodiag.record.common import (
    RECORDER_HASH_EVERY,
    Recording,
    cpu_name,
    data_fingerprint,
    hash_arrays,
    layer_kind,
    layer_records,
    optimizer_kind,
)

GRAD_NORM_NOTE = "unavailable in a Keras callback (recorded as NaN)"
LOSS_NOTE = "Keras logs['loss']: the running mean over the epoch so far (Keras 3)"
BATCH_NOTE = "unavailable in a Keras callback (recorded as an empty hash)"


def KerasCallback(label: str = "", path: Any = None, *, seed: Optional[int] = None,  # noqa: N802
                  hash_every: int = RECORDER_HASH_EVERY, layers: bool = True, data: Any = None):
    """A `keras.callbacks.Callback` that records each training batch of `model.fit`.

    Per batch: the loss Keras reports, the learning rate and the batch time; the weights hash
    (`model.get_weights()`, the canaries' hash) on the first batch, every `hash_every`-th
    (default 100, see RECORDER_HASH_EVERY), any batch whose loss is not finite and the last
    one (when training ends or `.save` is called), an empty hash on the others -- reading
    the weights costs more than a small model's batch. The learning rate is read once per
    epoch, per batch only when it is a schedule. Also the initial-weights hash and the
    settings in force (threads, op determinism, TF32, device, XLA) when training begins.
    With `path` the bundle is written when training ends; `.save(path)` writes it at any
    time. `seed` is the seed your script set, kept for the record. Works with Keras on the
    TensorFlow or PyTorch backend. `data` (your training data) is fingerprinted into the
    run's `dataset_hash` and, with `layers` (the default) on the TensorFlow backend, probed
    layer by layer before the first batch (see the module docstring).
    """
    return _callback_class()(label=label, path=path, seed=seed, hash_every=hash_every,
                             layers=layers, data=data)


def _import_keras():
    """The Keras the user's model comes from: tf_keras when TF asks for legacy Keras."""
    if os.environ.get("TF_USE_LEGACY_KERAS", "").lower() in ("1", "true", "yes"):
        try:
            import tf_keras

            return tf_keras
        except ImportError:
            pass
    try:
        import keras
    except ImportError:
        try:
            from tensorflow import keras
        except ImportError:
            raise UserError("KerasCallback needs Keras: pip install tensorflow") from None
    return keras


@functools.lru_cache(maxsize=1)
def _callback_class():
    keras: Any = _import_keras()  # imported here, in the user's process: its types are not known

    class ReprodiagCallback(keras.callbacks.Callback):
        """Records each batch of `model.fit` (see reprodiag.record.KerasCallback)."""

        def __init__(self, *, label: str, path: Any, seed: Optional[int], hash_every: int,
                     layers: bool, data: Any):
            super().__init__()
            self.path = path
            self.saved_path: Optional[Path] = None
            self._keras = keras
            self._backend = _backend_name(keras)
            if self._backend not in ("tensorflow", "torch"):
                raise UserError(f"KerasCallback records Keras on the TensorFlow or PyTorch "
                                f"backend, not {self._backend}")
            framework = "torch" if self._backend == "torch" else "tensorflow"
            self._rec = Recording(framework, "KerasCallback", label=label, seed=seed,
                                  hash_every=hash_every, recording_scheme="keras-callback/2")
            self._t0 = time.perf_counter()
            self._lr: Optional[float] = None  # the epoch's rate; None = read at the next batch
            # made on first use, when the model is known
            self._read_weights: Optional[Callable[[], list[np.ndarray]]] = None
            if data is not None:
                self._rec.dataset_hash = data_fingerprint(data, _arrays)
            self._probe: Optional[LayerProbe] = None
            self._probe_rows = _probe_rows(data) if layers and data is not None else None
            if layers and data is None:
                self._rec.record.add_log("layers not captured: KerasCallback needs data= "
                                         "to probe the layers")
            elif layers and self._backend != "tensorflow":
                self._probe_rows = None
                self._rec.record.add_log("layers not captured: the layer probe needs the "
                                         "TensorFlow backend")

        @property
        def record(self):
            """The live record (batches so far, every hash taken so far written in)."""
            return self._rec.live_record()

        def on_train_begin(self, logs=None):
            if self._rec.settings_read():  # a second fit() continues the same recording
                return
            weights = self.model.get_weights()
            trainable = sum(int(np.prod(w.shape)) for w in self.model.trainable_weights)
            self._rec.start(hash_arrays(weights), trainable)
            settings = _settings(keras, self._backend, self.model, weights)
            facts = self._rec.facts
            facts.update(device=settings["device_type"], deterministic=settings["deterministic"],
                         tf32=settings["tf32"], threads=settings["threads"],
                         dtype=settings["param_dtype"], lr=self._learning_rate(),
                         batch_size=(self.params or {}).get("batch_size"),
                         onednn=_onednn_requested())
            optimizer = getattr(self.model, "optimizer", None)
            notes = {"optimizer_class": type(optimizer).__name__ if optimizer else None,
                     "note.grad_norm": GRAD_NORM_NOTE, "note.loss": LOSS_NOTE,
                     "note.batch_hash": BATCH_NOTE}
            if optimizer is not None:
                facts["optimizer"] = optimizer_kind(type(optimizer).__name__)
            self._rec.set_settings(settings, notes)

        def on_epoch_begin(self, epoch, logs=None):
            self._lr = None  # a callback may have changed the rate between epochs

        def on_train_batch_begin(self, batch, logs=None):
            if self._probe_rows is not None and self._rec.steps == 0:  # the first step only
                entered = time.perf_counter()
                if self._probe is None:
                    self._probe = LayerProbe(self.model, *self._probe_rows)
                self._rec.add_layers(self._rec.steps, self._probe.records())
                self._rec.overhead += time.perf_counter() - entered
            self._t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            entered = time.perf_counter()
            loss = float(np.asarray((logs or {}).get("loss", float("nan"))))
            hashed = self._rec.hash_due(loss)
            lr = self._lr
            if lr is None:
                lr = self._learning_rate()
                if not self._lr_scheduled():
                    self._lr = lr
            # The weights read out are copies (a variable's later updates do not reach them):
            # a large model's go to the recording's hash thread as they are.
            weights = self._weights() if hashed else None
            inline = weights is not None and self._rec.hashes_inline(
                sum(w.nbytes for w in weights))
            self._rec.add_step(loss=loss, grad_norm=float("nan"), lr=lr,
                               step_time=entered - self._t0, params=weights, inline=inline)
            self._rec.overhead += time.perf_counter() - entered

        def on_train_end(self, logs=None):
            self._rec.pin_last_step(hash_arrays(self._weights()))
            if self.path is not None and self._rec.steps:
                self.saved_path = self.save(self.path)
                print(f"reprodiag: wrote {self.saved_path}")

        def save(self, path: Any, *, deep: bool = False) -> Path:
            """Write the recording plus an environment snapshot to `path` (.reprodiag.zip);
            the last batch gets its weights hash if hash_every skipped it."""
            if self.model is not None:
                self._rec.pin_last_step(hash_arrays(self._weights()))
            return self._rec.save(path, deep=deep)

        def _weights(self) -> list[np.ndarray]:
            """`model.get_weights()`, read faster where it can be (see _variable_reader)."""
            read = self._read_weights
            if read is None:
                read = self._read_weights = _variable_reader(self.model, self._backend)
            try:
                return read()
            except Exception:  # noqa: BLE001 - a variable kind the fast path does not know
                read = self._read_weights = self.model.get_weights
                return read()

        def _lr_scheduled(self) -> bool:
            """Whether the learning rate changes batch by batch (a schedule or a callable)."""
            optimizer = getattr(self.model, "optimizer", None)
            rate = getattr(optimizer, "_learning_rate", None)
            schedule = getattr(getattr(keras.optimizers, "schedules", None),
                               "LearningRateSchedule", ())
            return isinstance(rate, schedule) or callable(rate)

        def _learning_rate(self) -> float:
            optimizer: Any = getattr(self.model, "optimizer", None)
            try:
                rate = np.asarray(optimizer.learning_rate)  # a variable or tensor of the rate
            except Exception:  # noqa: BLE001 - no optimizer, a schedule object in old Keras
                return float("nan")
            # The shortest decimal of the rate in its own precision: 0.1, not the float32
            # 0.100000001490116 read as a double.
            value = np.float32(rate) if rate.dtype == np.float32 else rate.item()
            return float(np.format_float_positional(value, unique=True))

    return ReprodiagCallback


PROBE_ROWS = 32  # samples of `data` the layer probe runs the model on


class LayerProbe:
    """The model on fixed probe samples in inference mode, each leaf layer's output and
    (with targets and a compiled loss) each parameter's gradient fingerprinted.

    One tf.function, traced once with every leaf layer's `call` wrapped to hand its output
    over; the wrappers are removed after the trace, so the user's model and Keras' own
    train function are left as they were. Inference mode changes no state (no dropout
    draws, no batch-norm updates) and the gradients are not applied.
    """

    def __init__(self, model, x: Any, y: Any):
        import tensorflow as tf

        self._tf = tf
        self.x, self.y = x, y
        leaves = _leaf_layers(model)
        loss_fn = _loss_function(model) if y is not None else None
        variables = list(model.trainable_variables)
        sink: list[list] = []
        self.ran: list[tuple[Any, str]] = []  # (layer, kind) in execution order, from the trace
        self.graded: list[Any] = []  # the variables whose gradients the probe returns

        @tf.function(jit_compile=False)
        def probe(*args):
            sink.append([])
            try:
                with tf.GradientTape() as tape:
                    out = model(args[0], training=False)
                    loss = loss_fn(args[1], out) if loss_fn is not None else None
            finally:
                outputs = sink.pop()
            self.ran = [(layer, layer_kind(type(layer).__name__)) for layer, _o in outputs]
            grads = tape.gradient(loss, variables) if loss is not None else []
            self.graded = [v for v, g in zip(variables, grads) if g is not None]
            return [o for _layer, o in outputs], [g for g in grads if g is not None]

        own_calls = [_collect_outputs(layer, sink) for layer in leaves]
        try:
            self._probe = probe.get_concrete_function(*self._args())
        finally:
            for layer, had_own in zip(leaves, own_calls):
                if not had_own:
                    del layer.call  # back to the class's call

    def _args(self) -> list:
        tf = self._tf
        return [tf.constant(self.x)] + ([] if self.y is None else [tf.constant(self.y)])

    def records(self) -> list[dict[str, Any]]:
        """The fingerprints with the weights as they are now."""
        outputs, grads = self._probe(*self._args())
        items = [("input", "input", "input", "in[0]", np.asarray(self.x))]
        items += [(layer.name, kind, "forward", "out", np.asarray(out))
                  for (layer, kind), out in zip(self.ran, outputs)]
        grad_of = {id(v): g for v, g in zip(self.graded, grads)}
        for layer, kind in reversed(self.ran):
            for variable in layer.trainable_weights:
                grad = grad_of.get(id(variable))
                if grad is not None:
                    short = variable.name.split("/")[-1].split(":")[0]
                    items.append((layer.name, kind, "backward", f"grad.{short}", np.asarray(grad)))
        records = layer_records(items)
        return records


def _leaf_layers(model) -> list:
    """The layers without sublayers (no input layers), in the order Keras tracks them."""
    layers = model._flatten_layers(include_self=False, recursive=True)
    return [layer for layer in layers if type(layer).__name__ != "InputLayer"
            and not list(layer._flatten_layers(include_self=False, recursive=False))]


def _collect_outputs(layer, sink: list) -> bool:
    """Make `layer` hand its first output of a trace to `sink[-1]` while a list is there;
    returns whether the layer already had a `call` of its own (then it is kept)."""
    had_own = "call" in layer.__dict__
    call = layer.call

    def collecting_call(*args, **kwargs):
        out = call(*args, **kwargs)
        if sink and all(seen is not layer for seen, _out in sink[-1]):
            sink[-1].append((layer, out))
        return out

    layer.call = collecting_call
    return had_own


def _loss_function(model):
    """The compiled loss as a function (y_true, y_pred), or None when there is no single one."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, str):
        try:
            import keras

            return keras.losses.get(loss)
        except (ImportError, ValueError):
            return None
    return loss if callable(loss) else None


def _arrays(value: Any) -> list[np.ndarray]:
    """An item or column of the user's data as numpy arrays, in a fixed order."""
    if isinstance(value, dict):
        return [a for key in sorted(value, key=str) for a in _arrays(value[key])]
    if isinstance(value, (tuple, list)):
        return [a for item in value for a in _arrays(item)]
    return [np.asarray(value)]


def _probe_rows(data: Any) -> Optional[tuple[np.ndarray, Optional[np.ndarray]]]:
    """(x, y or None): the first PROBE_ROWS samples of `data` (arrays, (x, y), a tf.data
    dataset's first batch), or None when they cannot be taken."""
    if hasattr(data, "as_numpy_iterator"):
        data = next(iter(data.as_numpy_iterator()), None)
    if isinstance(data, (tuple, list)) and data:
        x, y = data[0], (data[1] if len(data) > 1 else None)
    else:
        x, y = data, None
    if not hasattr(x, "shape") or not len(getattr(x, "shape", ())):
        return None
    return np.asarray(x[:PROBE_ROWS]), (None if y is None else np.asarray(y[:PROBE_ROWS]))


def _variable_reader(model, backend: str):
    """A function giving the same arrays as `model.get_weights()`, in the same order.

    On the TensorFlow backend each weight is read with one `tf.raw_ops.ReadVariableOp`
    (about a third of the cost of `get_weights()`, which wraps every read in several Python
    layers); elsewhere, or for variables without a resource handle, `get_weights` itself.
    """
    if backend != "tensorflow":
        return model.get_weights
    import tensorflow as tf

    handles = []
    for weight in model.weights:
        variable: Any = weight if hasattr(weight, "handle") else getattr(weight, "value", None)
        if not hasattr(variable, "handle"):
            return model.get_weights
        handles.append((variable.handle, variable.dtype))
    read = tf.raw_ops.ReadVariableOp
    return lambda: [read(resource=handle, dtype=dtype).numpy() for handle, dtype in handles]


def _backend_name(keras) -> str:
    backend = getattr(keras.backend, "backend", None)
    return backend() if callable(backend) else "tensorflow"


def _onednn_requested() -> Optional[bool]:
    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if value is None:
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def _settings(keras, backend: str, model, weights: list) -> dict[str, Any]:
    """Settings in force for the model's framework, under the canaries' keys."""
    if backend == "torch":
        import torch

        from reprodiag.record.torch_recorder import torch_settings

        device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
        settings = torch_settings(torch, device)
    else:
        settings = _tensorflow_settings()
    settings.update(
        keras_backend=backend,
        keras_version=getattr(keras, "__version__", None),
        xla_jit=_jsonable(getattr(model, "jit_compile", None)),
        floatx=keras.backend.floatx(),
        param_dtype=np.dtype(weights[0].dtype).name if weights else None,
    )
    return settings


def _tensorflow_settings() -> dict[str, Any]:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    build = _call(lambda: dict(tf.sysconfig.get_build_info()), {})
    deterministic = _op_determinism()
    return {
        "framework": "tensorflow",
        "framework_version": tf.__version__,
        "device": "/GPU:0" if gpus else "/CPU:0",
        "device_type": "gpu" if gpus else "cpu",
        "device_name": _gpu_name(tf) if gpus else cpu_name(),
        "threads": intra,
        "intra_op_threads": intra,
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "deterministic": deterministic,
        "op_determinism": deterministic,
        "tf32": bool(tf.config.experimental.tensor_float_32_execution_enabled()),
        "onednn_enabled": _onednn_enabled(),
        "built_with_cuda": bool(tf.test.is_built_with_cuda()),
        "cuda_version": build.get("cuda_version"),
        "cudnn_version": build.get("cudnn_version"),
    }


def _op_determinism() -> bool:
    try:
        from tensorflow.python.framework import config as tf_config

        return bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):  # TF < 2.8: only the variable exists
        return os.environ.get("TF_DETERMINISTIC_OPS", "") in ("1", "true", "True")


def _onednn_enabled() -> Optional[bool]:
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def _gpu_name(tf) -> str:
    def details():
        gpu = tf.config.list_physical_devices("GPU")[0]
        return str(tf.config.experimental.get_device_details(gpu).get("device_name", "GPU"))

    return _call(details, "GPU")


def _call(fn, default):
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a fact that cannot be read keeps its default
        return default


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)
