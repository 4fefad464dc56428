"""TensorFlow/Keras canary worker: `python canary_tf.py '<run config json>'`, protocol on stdout.

Run by path with the target interpreter; imports only the stdlib, numpy, TensorFlow and its
sibling canary_common. Variables TF reads at import time are set first; threads, op
determinism, TF32 and seeds are applied before the runtime starts, and read back for `env`.
"""

from __future__ import annotations

import math
import os
import re
import sys
from typing import Any

import canary_common as common
from canary_common import np  # None when numpy is missing: common.main reports that


def _prepare_environment(config: dict[str, Any]) -> None:
    """Variables TensorFlow only reads at import (the launcher sets them too)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = "tensorflow"  # tf.keras under Keras 3 follows this
    if config["onednn"] is not None:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if config["onednn"] else "0"
    if config["device"] == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""


def _import_tensorflow():
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise common.WorkerFailure(
            "missing_framework", f"TensorFlow cannot be imported by {sys.executable}: {exc}"
        ) from None
    return tf


def _apply_numerics(tf, config: dict[str, Any], seed: int) -> None:
    """Threads, devices, op determinism, TF32 and seeds: all before the runtime starts."""
    threads = config["threads"]
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    if config["device"] == "cpu":
        tf.config.set_visible_devices([], "GPU")
    if config["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    tf.config.experimental.enable_tensor_float_32_execution(config["tf32"])
    tf.keras.backend.set_floatx(config["dtype"])  # default for losses and new variables
    tf.keras.utils.set_random_seed(seed)  # seeds Python, NumPy and TensorFlow


def _pick_device(tf, requested: str) -> str:
    """The TF device for "cpu" / "gpu" / "auto"; no GPU for "gpu" is a no_gpu failure."""
    if requested == "cpu":
        return "/CPU:0"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        return "/GPU:0"
    if requested == "auto":
        return "/CPU:0"
    if not tf.test.is_built_with_cuda():
        why = "CPU-only build"
    else:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        why = "built with CUDA, but no usable GPU or driver"
        if visible is not None:
            why += f"; CUDA_VISIBLE_DEVICES={visible!r}"
    raise common.WorkerFailure("no_gpu", f"no GPU visible to TensorFlow {tf.__version__} ({why})")


def _models(tf, dtype: str):
    """The three canary architectures (same shapes as in canary_torch.py), channels last."""
    layers = tf.keras.layers

    def mlp(n_classes):
        return tf.keras.Sequential(
            [
                tf.keras.Input((8, 8, 1), dtype=dtype),
                layers.Flatten(dtype=dtype),
                layers.Dense(128, activation="relu", dtype=dtype),
                layers.Dense(128, activation="relu", dtype=dtype),
                layers.Dense(n_classes, dtype=dtype),
            ]
        )

    def cnn(n_classes):
        return tf.keras.Sequential(
            [
                tf.keras.Input((8, 8, 1), dtype=dtype),
                layers.Conv2D(16, 3, padding="same", activation="relu", dtype=dtype),
                layers.Conv2D(32, 3, padding="same", activation="relu", dtype=dtype),
                layers.MaxPooling2D(2, dtype=dtype),
                layers.Flatten(dtype=dtype),
                layers.Dense(64, activation="relu", dtype=dtype),
                layers.Dense(n_classes, dtype=dtype),
            ]
        )

    def conv_bn(filters, kernel, strides=1, dilation=1):
        return tf.keras.Sequential(
            [
                layers.Conv2D(
                    filters,
                    kernel,
                    strides=strides,
                    dilation_rate=dilation,
                    padding="same",
                    use_bias=False,
                    dtype=dtype,
                ),
                layers.BatchNormalization(momentum=0.9, epsilon=1e-5, dtype=dtype),
                layers.ReLU(dtype=dtype),
            ]
        )

    def upsample2x(x):
        """Bilinear x2, half-pixel centres, edges clamped: torch's align_corners=False,
        written out so float64 stays float64 (tf.image.resize computes in float32)."""
        for axis in (1, 2):
            n = x.shape[axis]
            before = tf.concat(
                [tf.gather(x, [0], axis=axis), tf.gather(x, tf.range(n - 1), axis=axis)], axis
            )
            after = tf.concat(
                [tf.gather(x, tf.range(1, n), axis=axis), tf.gather(x, [n - 1], axis=axis)], axis
            )
            even, odd = 0.75 * x + 0.25 * before, 0.75 * x + 0.25 * after
            stacked = tf.stack([even, odd], axis=axis + 1)
            shape = tf.concat([tf.shape(x)[:axis], [2 * n], tf.shape(x)[axis + 1 :]], 0)
            x = tf.reshape(stacked, shape)
        return x

    class SegNet(tf.keras.Model):
        """DeepLab-style: strided + dilated backbone, small ASPP head, bilinear upsampling."""

        def __init__(self, n_classes):
            super().__init__(dtype=dtype)
            self.backbone = [conv_bn(16, 3), conv_bn(32, 3, strides=2), conv_bn(32, 3, dilation=2)]
            self.aspp = [conv_bn(32, 1)] + [conv_bn(32, 3, dilation=d) for d in (2, 4)]
            # No batch norm on the 1x1 pooled branch (as in canary_torch.py).
            self.image_pool = layers.Conv2D(32, 1, activation="relu", dtype=dtype)
            self.project = conv_bn(32, 1)
            self.classify = layers.Conv2D(n_classes, 1, dtype=dtype)

        def call(self, x, training=False):
            f = x
            for block in self.backbone:
                f = block(f, training=training)
            pooled = self.image_pool(tf.reduce_mean(f, axis=[1, 2], keepdims=True))
            pooled = pooled + tf.zeros_like(f[..., :1])  # broadcast over the feature map
            branches = [block(f, training=training) for block in self.aspp] + [pooled]
            f = self.project(tf.concat(branches, axis=-1), training=training)
            return upsample2x(self.classify(f))

    return {"mlp": mlp, "cnn": cnn, "segnet": SegNet}


class TensorFlowBackend(common.Backend):
    channels_first = False

    def __init__(self, tf, config: dict[str, Any], seed: int):
        self.tf = tf
        self.config = config
        _apply_numerics(tf, config, seed)
        self.device = _pick_device(tf, config["device"])

    def settings(self) -> dict[str, Any]:
        tf = self.tf
        gpu = self.device.startswith("/GPU")
        build = _build_info(tf)
        settings = {
            "framework": "tensorflow",
            "framework_version": tf.__version__,
            "keras_version": _keras_version(tf),
            "device": self.device,
            "device_type": "gpu" if gpu else "cpu",
            "device_name": _gpu_name(tf) if gpu else common.cpu_name(),
            "threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "deterministic": _op_determinism(tf),
            "op_determinism": _op_determinism(tf),
            "tf32": bool(tf.config.experimental.tensor_float_32_execution_enabled()),
            "onednn_enabled": _onednn_enabled(),
            "built_with_cuda": bool(tf.test.is_built_with_cuda()),
            "cuda_version": build.get("cuda_version"),
            "cudnn_version": build.get("cudnn_version"),
            "xla_jit": False,
            "floatx": tf.keras.backend.floatx(),
            "param_dtype": np.dtype(self.model.weights[0].numpy().dtype).name,
        }
        if gpu:
            details = _gpu_details(tf)
            capability = details.get("compute_capability")
            if capability:
                settings["compute_capability"] = ".".join(str(v) for v in capability)
        return settings

    def build(self, data: common.Dataset) -> None:
        tf = self.tf
        dtype = self.config["dtype"]
        size = data.x_train.shape[1]
        with tf.device(self.device):
            # Initial values are always drawn in float32, then cast: runs in other dtypes
            # start from the very same numbers as a float32 run.
            self.model = self._built_model("float32", data.n_classes, size)
            if dtype != "float32":
                init = self.model.get_weights()
                self.model = self._built_model(dtype, data.n_classes, size)
                self.model.set_weights([w.astype(dtype) for w in init])
            lr = self.config["lr"]
            if self.config["optimizer"] == "adam":
                self.optimizer = tf.keras.optimizers.Adam(learning_rate=lr, epsilon=1e-8)
            else:
                self.optimizer = tf.keras.optimizers.SGD(learning_rate=lr)
        loss_fn = _loss(tf, dtype)
        model, optimizer = self.model, self.optimizer

        @tf.function(jit_compile=False, reduce_retracing=True)
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss, tf.linalg.global_norm(grads)

        self._step = step
        self._norm = math.nan  # the last step's gradient norm, a tensor once a step ran
        # the same step returning each layer's output (a traced tf.function): enable_layers
        self._captured_step: Any = None
        self._records = None

    def enable_layers(self) -> str:
        """Wrap each leaf layer's `call` so that, while the captured step is traced, its
        output is collected; the plain step traces them as no-ops. The captured step is the
        plain one plus outputs: the same ops, so its numbers are the same (a test checks)."""
        tf = self.tf
        model, optimizer, loss_fn = self.model, self.optimizer, _loss(tf, self.config["dtype"])
        self._leaves = _leaf_layers(model)
        sink: list[list] = []
        for layer in self._leaves:
            _collect_outputs(layer, sink)

        @tf.function(jit_compile=False, reduce_retracing=True)
        def captured_step(x, y):
            sink.append([])
            try:
                with tf.GradientTape() as tape:
                    loss = loss_fn(y, model(x, training=True))
            finally:
                outputs = sink.pop()
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            self._output_layers = [layer for layer, _out in outputs]  # known when traced
            return loss, tf.linalg.global_norm(grads), [out for _layer, out in outputs], grads

        self._captured_step = captured_step
        return ""

    def layer_records(self) -> list | None:
        records, self._records = self._records, None
        return records

    def _capture(self, x, y) -> tuple:
        """The captured step; its records (input, outputs in execution order, gradients in
        reverse execution order) go to layer_records."""
        loss, norm, outputs, grads = self._captured_step(x, y)
        names = {id(layer): f"{i}.{re.sub(r'_[0-9]+$', '', layer.name)}"
                 for i, layer in enumerate(self._leaves)}
        grad_of = {id(v): g for v, g in zip(self.model.trainable_variables, grads)}
        items = [("input", "input", "input", "in[0]", x.numpy())]
        ran = []
        for layer, out in zip(self._output_layers, outputs):
            kind = common.layer_kind(type(layer).__name__)
            ran.append((names[id(layer)], kind, layer))
            items.append((names[id(layer)], kind, "forward", "out", out.numpy()))
        for name, kind, layer in reversed(ran):
            for variable in layer.trainable_weights:
                grad = grad_of.get(id(variable))
                if grad is not None:
                    short = variable.name.split("/")[-1].split(":")[0]
                    items.append((name, kind, "backward", f"grad.{short}", np.asarray(grad)))
        records = common.layer_records(items)
        self._records = records
        return loss, norm

    def _built_model(self, dtype: str, n_classes: int, size: int):
        model = _models(self.tf, dtype)[self.config["model"]](n_classes)
        model(np.zeros((1, size, size, 1), dtype=dtype), training=False)  # creates the weights
        return model

    def parameter_arrays(self) -> list[np.ndarray]:
        return [np.asarray(w.numpy()) for w in self.model.weights]

    def n_params(self) -> int:
        return sum(int(np.prod(w.shape)) for w in self.model.trainable_weights)

    def train_step(self, x: np.ndarray, y: np.ndarray, with_norm: bool,
                   capture: bool = False) -> tuple[float, float]:
        with self.tf.device(self.device):
            if capture:
                loss, self._norm = self._capture(self.tf.constant(x), self.tf.constant(y))
            else:
                loss, self._norm = self._step(self.tf.constant(x), self.tf.constant(y))
        # The norm is part of the compiled step; it is read out (a host copy) when asked for.
        return float(loss), (self.grad_norm() if with_norm else math.nan)

    def grad_norm(self) -> float:
        return float(self._norm)

    def predict(self, x: np.ndarray) -> np.ndarray:
        with self.tf.device(self.device):
            return np.asarray(self.model(self.tf.constant(x), training=False))

    def learning_rate(self) -> float:
        return float(np.asarray(self.optimizer.learning_rate))


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


def _loss(tf, dtype: str):
    """Mean cross-entropy on logits, computed in the run dtype."""
    loss = tf.keras.losses.SparseCategoricalCrossentropy
    try:
        return loss(from_logits=True, dtype=dtype)  # Keras 3 losses take a dtype
    except TypeError:  # Keras 2 computes in the logits' dtype
        return loss(from_logits=True)


def _keras_version(tf):
    version = getattr(tf.keras, "__version__", None)
    if version is None:
        try:
            import keras

            version = keras.__version__
        except ImportError:
            pass
    return version


def _op_determinism(tf) -> bool:
    """Whether op determinism is in force (the API call or TF_DETERMINISTIC_OPS)."""
    try:
        from tensorflow.python.framework import config as tf_config

        return bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):  # TF < 2.8: only the variable exists
        return os.environ.get("TF_DETERMINISTIC_OPS", "") in ("1", "true", "True")


def _onednn_enabled():
    """Whether TF's oneDNN (MKL) CPU kernels are on in this process; None if unknown."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def _build_info(tf) -> dict:
    try:
        return dict(tf.sysconfig.get_build_info())
    except AttributeError:
        return {}


def _gpu_details(tf) -> dict:
    gpus = tf.config.list_physical_devices("GPU")
    try:
        return dict(tf.config.experimental.get_device_details(gpus[0])) if gpus else {}
    except (AttributeError, ValueError):
        return {}


def _gpu_name(tf) -> str:
    return str(_gpu_details(tf).get("device_name", "GPU"))


def make_backend(config: dict[str, Any], seed: int) -> TensorFlowBackend:
    _prepare_environment(config)
    return TensorFlowBackend(_import_tensorflow(), config, seed)


if __name__ == "__main__":
    sys.exit(common.main("canary_tf", "tensorflow", make_backend))
