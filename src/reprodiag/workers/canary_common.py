"""Framework-free half of the canary workers: config, data, batching, hashing, protocol output.

canary_torch.py and canary_tf.py import this as a sibling module (they are run by path, so
their folder is on sys.path). Only the stdlib and numpy are used, and nothing of reprodiag,
so it runs in any target interpreter. The training loop lives here too, so both frameworks
draw identical batches and report identical kinds of evidence; a framework script only
supplies a `Backend` (build the model, do one optimizer step, expose its parameters).
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import json
import math
import os
import platform
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

np: Any  # the numpy module, or None when it is missing
try:
    import numpy as np
except ImportError as exc:  # reported by main() as an error line, not as a traceback
    np = None
    _NUMPY_MISSING = str(exc)

PROTOCOL_VERSION = 1
# The definitions of batch_hash (BatchChain) and grad_norm, sent in hello: runs recorded
# under different schemes are not compared on them. Change it when either definition changes.
# canary/3: the gradient norm is taken on hashed steps only (NaN on the others).
RECORDING_SCHEME = "canary/3"
HASH_CHARS = 16
# Byte orders stored as is: little-endian, not applicable (one byte), native on a little-endian host.
_LITTLE_ENDIAN = ("<", "|", "=") if sys.byteorder == "little" else ("<", "|")
NOT_HASHED = ""  # param_hash / batch_hash of a step between hashed steps

DIGITS_FILE = "digits.csv.gz"
DIGITS_PIXELS = 64
DIGITS_TEST = 297  # 1797 images -> 1500 train, 297 held out
DATA_SEED = 20_240_601  # the split and the synthetic shapes never depend on the run seed
SHAPES_TRAIN, SHAPES_TEST, SHAPES_SIZE = 512, 128, 32
PROBE_SIZE = 64

# RunConfig's choices and bounds (core/runs/config.py), copied: a worker runs under the
# target interpreter, where reprodiag may be absent. tests/workers/test_canary_common.py
# holds the copy equal to RunConfig.
FRAMEWORKS = ("torch", "tensorflow")
MODELS = ("mlp", "cnn", "segnet")
DTYPES = ("float32", "float64")
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("cpu", "gpu", "auto")
MAX_SEED = 2**31 - 1
MAX_STEPS = 1_000_000
MAX_BATCH_SIZE = 65_536
MAX_LR = 100
MAX_THREADS = 1024
MAX_HASH_EVERY = 1_000_000

# Variables that change numerics when set before the framework starts; reported as read.
NUMERICS_VARIABLES = (
    "PYTHONHASHSEED",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "CUBLAS_WORKSPACE_CONFIG",
    "NVIDIA_TF32_OVERRIDE",
    "TF_DETERMINISTIC_OPS",
    "TF_CUDNN_DETERMINISTIC",
    "TF_ENABLE_ONEDNN_OPTS",
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "MKL_CBWR",
)


class WorkerFailure(Exception):
    """A failure with a known cause: reported as an `error` line of this kind, exit code 1."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# ---------------------------------------------------------------- protocol output


class Output:
    """Writes protocol lines to a private copy of stdout.

    File descriptor 1 is pointed at stderr, and so is sys.stdout, so whatever a framework
    or a C library prints can never get between (or into) the protocol lines. Given a
    `stream`, the lines go there instead and nothing is redirected (tests, benchmarks).
    """

    def __init__(self, stream=None) -> None:
        if stream is None:
            sys.stdout.flush()
            private = os.dup(1)
            os.dup2(2, 1)
            stream = os.fdopen(private, "w", encoding="utf-8", newline="\n")
            sys.stdout = sys.stderr
        self._stream = stream

    def emit(self, message_type: str, /, **fields: Any) -> None:
        """One JSON object on one line, flushed at once (NaN/Infinity allowed: they are data)."""
        self._stream.write(json.dumps({"type": message_type, **fields}) + "\n")
        self._stream.flush()

    def emit_step(self, step: int, loss: float, grad_norm: float, param_hash: str,
                  batch_hash: str, lr: float, step_time: float) -> None:
        """The `step` line, exactly as emit("step", ...) writes it, formatted directly: it is
        written every step, and json.dumps of the dict costs about twice as much."""
        self._stream.write(
            f'{{"type": "step", "step": {step:d}, "loss": {_json_float(loss)}, '
            f'"grad_norm": {_json_float(grad_norm)}, "param_hash": "{param_hash}", '
            f'"batch_hash": "{batch_hash}", "lr": {_json_float(lr)}, '
            f'"step_time": {_json_float(step_time)}}}\n'
        )
        self._stream.flush()


def _json_float(value: float) -> str:
    """A float as json.dumps writes it: repr, or NaN / Infinity / -Infinity."""
    if math.isfinite(value):
        return float.__repr__(value)
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def one_line(text: str, limit: int = 1000) -> str:
    """A message squeezed onto one line, for `error` and `log` lines."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# ---------------------------------------------------------------- config


_FIELD_CHECKS: dict[str, Callable[[Any], bool]] = {
    "framework": lambda v: v in FRAMEWORKS,
    "model": lambda v: v in MODELS,
    "device": lambda v: v in DEVICES,
    "seed": lambda v: v is None or (_is_int(v) and 0 <= v <= MAX_SEED),
    "steps": lambda v: _is_int(v) and 1 <= v <= MAX_STEPS,
    "batch_size": lambda v: _is_int(v) and 1 <= v <= MAX_BATCH_SIZE,
    "lr": lambda v: _is_number(v) and 0 < v <= MAX_LR,
    "optimizer": lambda v: v in OPTIMIZERS,
    "dtype": lambda v: v in DTYPES,
    "deterministic": lambda v: isinstance(v, bool),
    "tf32": lambda v: isinstance(v, bool),
    "threads": lambda v: v is None or (_is_int(v) and 1 <= v <= MAX_THREADS),
    "shuffle": lambda v: isinstance(v, bool),
    "augment": lambda v: isinstance(v, bool),
    "onednn": lambda v: v is None or isinstance(v, bool),
    "data_dir": lambda v: isinstance(v, str) and bool(v),
    "hash_every": lambda v: _is_int(v) and 1 <= v <= MAX_HASH_EVERY,
    "layers": lambda v: isinstance(v, bool),
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def parse_config(argv: list[str], framework: str) -> dict[str, Any]:
    """The run config from argv[1] (RunConfig JSON plus data_dir), checked field by field."""
    if len(argv) != 2:
        raise WorkerFailure("config", "expected one argument: the run config as JSON")
    try:
        config = json.loads(argv[1])
    except ValueError as exc:
        raise WorkerFailure("config", f"run config is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise WorkerFailure("config", "run config must be a JSON object")
    missing = [name for name in _FIELD_CHECKS if name not in config]
    if missing:
        raise WorkerFailure("config", f"run config lacks {', '.join(missing)}")
    bad = [name for name, ok in _FIELD_CHECKS.items() if not ok(config[name])]
    if bad:
        shown = ", ".join(f"{name}={config[name]!r}" for name in bad)
        raise WorkerFailure("config", f"invalid run config values: {shown}")
    if config["framework"] != framework:
        raise WorkerFailure(
            "config", f"this worker runs {framework}, the config asks for {config['framework']}"
        )
    return config


def resolve_seed(seed: int | None) -> int:
    """The seed to use: the configured one, or a fresh one from os.urandom when unseeded."""
    if seed is not None:
        return seed
    return int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF


# ---------------------------------------------------------------- hashing


def hash_arrays(arrays) -> str:
    """A short sha256 over dtype, shape and exact bytes of each array, in the given order.

    Bytes are taken little-endian and C-ordered, so equal arrays hash equally on any host
    and any single-bit change changes the hash.
    """
    digest = hashlib.sha256()
    update_digest(digest, arrays)
    return digest.hexdigest()[:HASH_CHARS]


def update_digest(digest, arrays) -> None:
    """Feed dtype, shape and exact bytes of each array to `digest`, in hash_arrays' format.

    The bytes go in as the array's own buffer: no copy unless it is not C-ordered little-endian.
    """
    for array in arrays:
        a = np.asarray(array)
        if not (a.flags.c_contiguous and a.dtype.byteorder in _LITTLE_ENDIAN):
            a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        try:
            digest.update(a)  # the same bytes as the uint8 view below, without making it
        except (TypeError, ValueError, BufferError):
            digest.update(memoryview(a.reshape(-1).view(np.uint8)))


# ---------------------------------------------------------------- layer fingerprints
# (mirrored in record/common.py; a test holds the copies equal)

LAYER_SAMPLES = 16  # values kept per tensor, at indices derived from its element count alone
# Layer kinds by the words in a layer's class name, first match wins (torch and Keras names).
LAYER_KINDS = (
    ("dropout", ("dropout",)),
    ("embedding", ("embedding",)),
    ("normalisation", ("norm",)),
    ("convolution", ("conv",)),
    ("pooling", ("pool", "upsampl", "interpolat", "resiz")),
    ("linear", ("linear", "dense", "matmul", "einsum", "attention", "bilinear")),
    ("activation", ("relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax", "softplus",
                    "activation", "mish", "hardswish", "swish", "prelu", "threshold")),
)


def layer_kind(type_name: str) -> str:
    """The kind of a layer from its class name: linear (matmul), convolution, pooling
    (reduction), normalisation, dropout, embedding, activation or other."""
    name = type_name.lower()
    for kind, words in LAYER_KINDS:
        if any(word in name for word in words):
            return kind
    return "other"


_SAMPLE_INDICES: dict[int, Any] = {}  # by element count: a capture samples the same shapes


def sample_indices(count: int) -> np.ndarray:
    """LAYER_SAMPLES flat indices evenly spaced over `count` elements, first and last
    included (every index when there are fewer): integer arithmetic, the same everywhere."""
    indices = _SAMPLE_INDICES.get(count)
    if indices is None:
        k = min(count, LAYER_SAMPLES)
        indices = (np.zeros(k, dtype=np.int64) if k <= 1
                   else (np.arange(k, dtype=np.int64) * (count - 1)) // (k - 1))
        if len(_SAMPLE_INDICES) < 4096:
            _SAMPLE_INDICES[count] = indices
    return indices


def fingerprint(array) -> dict[str, Any]:
    """One tensor's fingerprint (see fingerprints)."""
    return fingerprints([array])[0]


# Tensors of up to this many elements are fingerprinted together (np.*.reduceat over their
# concatenation): a capture fingerprints every layer, and for small tensors each numpy call's
# overhead, not the arithmetic, is what costs. Larger ones go one by one, in cache.
BATCH_ELEMENTS = 1 << 14


def fingerprints(arrays: list) -> list[dict[str, Any]]:
    """Each tensor's fingerprint for the `layers` line: its hash_arrays hash (dtype, shape and
    exact bytes), L2 norm (float64) and max |x| of the finite values, the count of non-finite
    ones, and the values at sample_indices, exact: little-endian float32 ("f4:" + base64)
    for floats of up to 4 bytes, float64 ("f8:") for the rest. numpy's own sums, not np.dot:
    BLAS threads woken for a dot product cost up to a millisecond next to a training loop's.
    """
    arrays = [np.asarray(a) for a in arrays]
    small = [i for i, a in enumerate(arrays) if a.size <= BATCH_ELEMENTS]
    out: list[Any] = [None] * len(arrays)
    for i, found in zip(small, _fingerprint_batch([arrays[i] for i in small])):
        out[i] = found
    for i, a in enumerate(arrays):
        if out[i] is None:
            out[i] = _fingerprint_batch([a])[0]
    return out


def _fingerprint_batch(arrays: list) -> list[dict[str, Any]]:
    """fingerprints() of numpy arrays, reduced together in float64, segment by segment."""
    with np.errstate(all="ignore"):  # NaN, Inf and overflow are data here
        return _reduced_batch(arrays)


def _reduced_batch(arrays: list) -> list[dict[str, Any]]:
    flat = [a.reshape(-1) for a in arrays]
    sizes = np.array([f.size for f in flat], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(flat) else sizes
    wide = (np.concatenate(flat, dtype=np.float64, casting="unsafe") if flat
            else np.empty(0, dtype=np.float64))
    filled = sizes > 0  # reduceat gives an empty segment its next element, not 0
    squares = np.square(wide)
    totals = np.zeros(len(flat))
    peaks = np.zeros(len(flat))
    if wide.size:
        totals[filled] = np.add.reduceat(squares, starts[filled])
        peaks[filled] = np.maximum.reduceat(np.abs(wide), starts[filled])
    index = _batch_sample_indices(tuple(sizes.tolist()))
    picked = {"f4:": wide[index].astype("<f4"), "f8:": wide[index]}  # exact, either way
    out, at = [], 0
    for a, size, total, peak in zip(arrays, sizes.tolist(), totals.tolist(), peaks.tolist()):
        nonfinite = 0
        if not (math.isfinite(total) and math.isfinite(peak)):  # NaN, Inf or float64 overflow
            values = a.reshape(-1).astype(np.float64)
            finite = np.isfinite(values)
            nonfinite = int(size - np.count_nonzero(finite))
            values = values[finite]
            total = float(np.add.reduce(np.square(values)))
            peak = float(np.max(np.abs(values))) if values.size else 0.0
        width = "f4:" if a.dtype.kind == "f" and a.dtype.itemsize <= 4 else "f8:"
        count = min(size, LAYER_SAMPLES)
        sample = picked[width][at:at + count].tobytes()
        at += count
        out.append({
            "hash": hash_arrays((a,)),
            "norm": math.sqrt(total),
            "max_abs": peak,
            "nonfinite": nonfinite,
            "shape": list(a.shape),
            "dtype": _dtype_name(a.dtype),
            "sample": width + base64.b64encode(sample).decode("ascii"),
        })
    return out


_BATCH_INDICES: dict[tuple, Any] = {}  # by the sizes of a batch: each capture repeats them


def _batch_sample_indices(sizes: tuple) -> np.ndarray:
    """Every tensor's sample_indices, offset to where it starts in the concatenation."""
    index = _BATCH_INDICES.get(sizes)
    if index is None:
        starts = np.cumsum((0,) + sizes[:-1]) if sizes else ()
        parts = [start + sample_indices(size) for start, size in zip(starts, sizes)]
        index = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        if len(_BATCH_INDICES) < 256:
            _BATCH_INDICES[sizes] = index
    return index


_DTYPE_NAMES: dict[Any, str] = {}


def _dtype_name(dtype) -> str:
    """dtype.name, remembered (numpy works it out anew, in Python, on every call)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = dtype.name
    return name


def layer_records(items: list[tuple[str, str, str, str, Any]]) -> list[dict[str, Any]]:
    """Records of a `layers` line from (layer name, kind, phase, tensor name, array) items:
    which tensor of which layer, and its fingerprint."""
    found = fingerprints([item[4] for item in items])
    return [{"name": name, "kind": kind, "phase": phase, "tensor": tensor, **fp}
            for (name, kind, phase, tensor, _array), fp in zip(items, found)]


def hash_due(step: int, last_step: int, hash_every: int) -> bool:
    """Whether a step's hashes and gradient norm are due by the cadence: step 0, every
    `hash_every`-th and the last step. (`train` also pins any step whose loss is not finite,
    which it knows only after the step.)"""
    return step % hash_every == 0 or step == last_step


# ---------------------------------------------------------------- data


@dataclass  # built by keyword; not kw_only=True, which needs Python 3.10 (workers run on 3.8)
class Dataset:
    """Images (n, H, W) and integer targets (labels (n,) or masks (n, H, W)), split in two."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    segmentation: bool

    def source_hash(self) -> str:
        """Hash of the data as generated/loaded (float64), independent of the run dtype."""
        return hash_arrays([self.x_train, self.y_train, self.x_test, self.y_test])

    def cast(self, dtype: str) -> Dataset:
        """The same data with images in the run dtype."""
        return dataclasses.replace(self, x_train=self.x_train.astype(dtype),
                                   x_test=self.x_test.astype(dtype))


def load_digits(data_dir: str) -> Dataset:
    """The 8x8 UCI handwritten digits shipped with reprodiag, scaled to [0, 1], fixed split."""
    path = os.path.join(data_dir, DIGITS_FILE)
    try:
        with gzip.open(path, "rt", encoding="ascii") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    except (OSError, ValueError, EOFError) as exc:
        raise WorkerFailure("data", f"cannot read the digits data {path}: {exc}") from None
    if table.ndim != 2 or table.shape[1] != DIGITS_PIXELS + 1 or len(table) <= DIGITS_TEST:
        raise WorkerFailure("data", f"{path} is not the 8x8 digits table (shape {table.shape})")
    images = (table[:, :DIGITS_PIXELS] / 16.0).reshape(-1, 8, 8)
    labels = table[:, DIGITS_PIXELS].astype(np.int64)
    order = np.random.default_rng(DATA_SEED).permutation(len(table))
    test, train = order[:DIGITS_TEST], order[DIGITS_TEST:]
    return Dataset(name="digits", x_train=images[train], y_train=labels[train],
                   x_test=images[test], y_test=labels[test], n_classes=10, segmentation=False)


def make_shapes(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noisy grey images with 1-3 circles (class 1) and rectangles (class 2) on background 0."""
    images = 0.1 * rng.standard_normal((n, size, size))
    masks = np.zeros((n, size, size), dtype=np.int64)
    rows, cols = np.mgrid[0:size, 0:size]
    for i in range(n):
        for _ in range(int(rng.integers(1, 4))):
            shape_class = int(rng.integers(1, 3))
            if shape_class == 1:
                radius = rng.uniform(3.0, size / 4)
                cy, cx = rng.uniform(radius, size - radius, 2)
                inside = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2
            else:
                h, w = rng.integers(4, size // 2, 2)
                top, left = rng.integers(0, size - h), rng.integers(0, size - w)
                inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
            images[i][inside] = rng.uniform(0.5, 1.0)
            masks[i][inside] = shape_class
    return images, masks


def load_shapes() -> Dataset:
    """Synthetic segmentation data, generated identically everywhere from DATA_SEED."""
    rng = np.random.default_rng(DATA_SEED)
    x_train, y_train = make_shapes(SHAPES_TRAIN, SHAPES_SIZE, rng)
    x_test, y_test = make_shapes(SHAPES_TEST, SHAPES_SIZE, rng)
    return Dataset(name="shapes", x_train=x_train, y_train=y_train, x_test=x_test,
                   y_test=y_test, n_classes=3, segmentation=True)


def load_dataset(model: str, data_dir: str) -> Dataset:
    """The data a canary model trains on: digits for mlp/cnn, synthetic shapes for segnet."""
    return load_shapes() if model == "segnet" else load_digits(data_dir)


# ---------------------------------------------------------------- batches


class BatchStream:
    """Batches drawn by seeded numpy RNGs: which samples (shuffled per epoch or in order),
    then, with `augment`, small random shifts (targets shifted alike for masks) and noise."""

    def __init__(self, data: Dataset, batch_size: int, seed: int, shuffle: bool, augment: bool):
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self._order_rng = np.random.default_rng([seed, 1])
        self._augment_rng = np.random.default_rng([seed, 2])
        self._pending = np.empty(0, dtype=np.int64)
        self.indices = self._pending  # the sample indices of the batch `next` drew last

    def _indices(self) -> np.ndarray:
        n = len(self.data.x_train)
        while len(self._pending) < self.batch_size:
            epoch = self._order_rng.permutation(n) if self.shuffle else np.arange(n)
            self._pending = np.concatenate([self._pending, epoch])
        taken, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size :]
        return taken

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        """The next (images, targets), images in the dataset dtype."""
        idx = self.indices = self._indices()
        x, y = self.data.x_train[idx], self.data.y_train[idx]
        if self.augment:
            x, y = self._augmented(x, y)
        return x, y

    def _augmented(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = self._augment_rng
        reach = 1 if x.shape[1] <= 8 else 2
        shifts = rng.integers(-reach, reach + 1, size=(len(x), 2))
        x = np.stack([shift_image(img, dy, dx) for img, (dy, dx) in zip(x, shifts)])
        if self.data.segmentation:
            y = np.stack([shift_image(m, dy, dx) for m, (dy, dx) in zip(y, shifts)])
        noise = 0.05 * rng.standard_normal(x.shape)
        return (x + noise).astype(x.dtype), y


class BatchChain:
    """The running evidence of every batch so far, for `batch_hash`.

    A batch is x_train[indices] of the run's data (hashed as `dataset_hash`), augmented or
    not by the seeded augmentation RNG. Each step adds its sample indices (int64,
    little-endian) to one running sha256, and with augmentation the augmented arrays too;
    the hash of step s is that digest followed by batch s's own arrays (hash_arrays' format).
    So a different order or augmentation on any step 0..s, or different data, changes it,
    and it does not depend on hash_every; without augmentation a step costs 256 bytes of
    hashing instead of the whole batch.
    """

    def __init__(self, augment: bool):
        self._digest = hashlib.sha256()
        self._augment = augment

    def add(self, indices: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        """Chain one step's batch (called every step)."""
        self._digest.update(indices.astype("<i8", copy=False))
        if self._augment:
            update_digest(self._digest, (x, y))

    def hash(self, x: np.ndarray, y: np.ndarray) -> str:
        """The batch hash of the step whose batch is (x, y), the last one added."""
        digest = self._digest.copy()
        update_digest(digest, (x, y))
        return digest.hexdigest()[:HASH_CHARS]


def shift_image(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The image moved by (dy, dx) pixels, uncovered pixels filled with zero."""
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


# ---------------------------------------------------------------- metrics


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose top logit (last axis) is the label."""
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def mean_iou(logits: np.ndarray, masks: np.ndarray, n_classes: int) -> float:
    """Mean intersection-over-union of the classes present in prediction or target."""
    predicted = np.argmax(logits, axis=-1)
    ious = []
    for c in range(n_classes):
        union = np.sum((predicted == c) | (masks == c))
        if union:
            ious.append(np.sum((predicted == c) & (masks == c)) / union)
    return float(np.mean(ious)) if ious else 0.0


# ---------------------------------------------------------------- the run


class Backend:
    """What a framework script supplies. Logits are returned class-last as numpy arrays."""

    channels_first = True

    def settings(self) -> dict[str, Any]:
        """Framework settings in force, read back after applying the config."""
        raise NotImplementedError

    def build(self, data: Dataset) -> None:
        """Create the seeded model and optimizer for `data`."""
        raise NotImplementedError

    def parameter_arrays(self) -> list[np.ndarray]:
        """All parameters and buffers as numpy arrays, in a fixed order; they may be views of
        the live values, so they are hashed at once, before the next step."""
        raise NotImplementedError

    def n_params(self) -> int:
        raise NotImplementedError

    def train_step(self, x: np.ndarray, y: np.ndarray, with_norm: bool,
                   capture: bool = False) -> tuple[float, float]:
        """One optimizer step in training mode; returns (loss before the update, global L2
        norm of the gradients if `with_norm`, else NaN). Called every step: no per-step work
        beyond those two (the norm costs as much as the rest of the recording on a small
        model, so it is taken on hashed steps only). With `capture`, each layer's output and
        parameter gradients are fingerprinted for `layer_records`."""
        raise NotImplementedError

    def enable_layers(self) -> str:
        """Prepare layer capture; returns why the model's layers cannot be captured, or ""."""
        return ""

    def layer_records(self) -> list[dict[str, Any]] | None:
        """The records captured by the last train_step (taken: a second call gives None);
        None when it captured nothing."""
        return None

    def grad_norm(self) -> float:
        """The global L2 norm of the last step's gradients, taken now (for a step that turns
        out to need it after train_step: a non-finite loss)."""
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Inference-mode logits, class axis last."""
        raise NotImplementedError

    def learning_rate(self) -> float:
        raise NotImplementedError


def common_settings(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """Settings every worker reports: the run's own, Python/numpy, host, numerics variables."""
    settings: dict[str, Any] = {
        key: config[key]
        for key in ("model", "dtype", "optimizer", "lr", "batch_size", "steps", "seed")
    }
    settings.update(
        seed_effective=seed,
        shuffle=config["shuffle"],
        augment=config["augment"],
        device_requested=config["device"],
        python_version=platform.python_version(),
        numpy_version=np.__version__,
        platform=platform.platform(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
    )
    for name in NUMERICS_VARIABLES:
        settings[f"var.{name}"] = os.environ.get(name)
    return settings


def cpu_name() -> str:
    """The CPU model name as the OS reports it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _with_channel(x: np.ndarray, channels_first: bool) -> np.ndarray:
    return x[:, None] if channels_first else x[..., None]


def train(out: Output, backend: Backend, config: dict[str, Any], seed: int) -> None:
    """Build, report the environment, train step by step, evaluate, report `done`.

    Every step reports loss, learning rate and step time. Hashes and the gradient norm are
    emitted on hashed steps only (see hash_due; NOT_HASHED and NaN on the others) because
    hashing every parameter costs more than a small model's step, and the norm alone a good
    part of one (docs/performance.md): `param_hash` is the parameters after
    that step's update; `batch_hash` on step s covers all batches 0..s (see BatchChain), so
    a batch that differs on an unhashed step still shows at the next hashed one. With
    `layers`, the first step (and a backend's first step with a non-finite loss) is followed
    by a `layers` line: each layer's output and parameter gradients, fingerprinted. Later
    steps are not captured: once the parameters differ every layer does, and capturing every
    hashed step made bundles several times larger.
    """
    data = load_dataset(config["model"], config["data_dir"])
    source_hash = data.source_hash()
    data = data.cast(config["dtype"])
    backend.build(data)
    settings = {**common_settings(config, seed), **backend.settings()}
    out.emit(
        "env",
        settings=settings,
        dataset_hash=source_hash,
        init_param_hash=hash_arrays(backend.parameter_arrays()),
        n_params=int(backend.n_params()),
    )
    batches = BatchStream(data, config["batch_size"], seed, config["shuffle"], config["augment"])
    channels_first = backend.channels_first
    layers = config["layers"] and hasattr(backend, "enable_layers")  # a Backend has it
    if layers:
        why_not = backend.enable_layers()
        if why_not:
            layers = False
            out.emit("log", level="info", message=f"layers not captured: {why_not}")
    hash_every, last_step = config["hash_every"], config["steps"] - 1
    chain = BatchChain(config["augment"])
    loss = float("nan")
    steps_done = 0
    diverged = False
    started = time.perf_counter()
    for step in range(config["steps"]):
        x, y = batches.next()
        chain.add(batches.indices, x, y)
        due = hash_due(step, last_step, hash_every)
        t0 = time.perf_counter()
        inputs = _with_channel(x, channels_first)
        if layers and step == 0:  # layers are captured on the first step (and see below)
            loss, grad_norm = backend.train_step(inputs, y, due, capture=True)
        else:
            loss, grad_norm = backend.train_step(inputs, y, due)
        step_time = time.perf_counter() - t0
        if not due and not math.isfinite(loss):  # pinned, with the norm of what caused it
            due, grad_norm = True, backend.grad_norm()
        if due:
            param_hash = hash_arrays(backend.parameter_arrays())
            batch_hash = chain.hash(x, y)
        else:
            param_hash = batch_hash = NOT_HASHED
        out.emit_step(step, float(loss), float(grad_norm), param_hash, batch_hash,
                      float(backend.learning_rate()), step_time)
        records = backend.layer_records() if layers else None
        if records is not None:
            out.emit("layers", step=step, records=records)
        steps_done = step + 1
        if not math.isfinite(loss):
            diverged = True
            break
    wall_time = time.perf_counter() - started
    logits = backend.predict(_with_channel(data.x_test, channels_first))
    probe = logits[:PROBE_SIZE]
    if data.segmentation:
        metric_name, metric = "mean_iou", mean_iou(logits, data.y_test, data.n_classes)
    else:
        metric_name, metric = "accuracy", accuracy(logits, data.y_test)
    out.emit(
        "done",
        summary={
            "final_loss": float(loss),
            "metric_name": metric_name,
            "metric": metric,
            "probe_hash": hash_arrays([probe]),
            "steps": steps_done,
            "wall_time": wall_time,
            "diverged": diverged,
        },
    )


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(worker: str, framework: str, make_backend: Callable[[dict, int], Backend]) -> int:
    """Run one canary: hello, config, backend, training; every failure ends as an error line.

    `make_backend(config, seed)` imports the framework and applies the settings; it raises
    WorkerFailure for known causes (e.g. kind "no_gpu"). Returns the process exit code.
    """
    out = Output()
    out.emit(
        "hello",
        protocol=PROTOCOL_VERSION,
        recording_scheme=RECORDING_SCHEME,
        worker=worker,
        pid=os.getpid(),
        python=platform.python_version(),
    )
    if np is None:
        message = f"numpy cannot be imported by {sys.executable}: {_NUMPY_MISSING}"
        out.emit("error", kind="missing_framework", message=one_line(message))
        return 1
    try:
        signal.signal(signal.SIGTERM, _raise_interrupt)
        config = parse_config(sys.argv, framework)
        seed = resolve_seed(config["seed"])
        backend = make_backend(config, seed)
        train(out, backend, config, seed)
        return 0
    except WorkerFailure as exc:
        out.emit("error", kind=exc.kind, message=one_line(str(exc)))
        return 2 if exc.kind == "config" else 1
    except KeyboardInterrupt:
        out.emit("error", kind="cancelled", message="run cancelled")
        return 130
    except MemoryError:
        out.emit("error", kind="out_of_memory", message="the worker ran out of memory")
        return 1
    except Exception as exc:  # noqa: BLE001 - any failure must still end as a protocol line
        traceback.print_exc(file=sys.stderr)
        out.emit("error", kind="runtime", message=one_line(f"{type(exc).__name__}: {exc}"))
        return 1
