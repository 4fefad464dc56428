"""What the recorders share: the canonical array hash, the settings every run reports, and the
recording itself (steps into a RunRecord, then a bundle).

Framework-free: the torch and Keras recorders hand over plain numbers and numpy arrays.
`hash_arrays` and `NUMERICS_VARIABLES` mirror workers/canary_common.py (workers can import
nothing of reprodiag, and recorders nothing of workers); a test holds them equal.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import dataclasses
import hashlib
import itertools
import math
import os
import platform
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import numpy as np

from reprodiag.core.runs.config import RunConfig, field_problem
from reprodiag.core.runs.layers import capture_from_json
from reprodiag.core.runs.protocol import PROTOCOL_VERSION, Done, EnvInfo, Hello
from reprodiag.core.runs.record import STEP_COLUMNS, RunRecord, StepSeries
from reprodiag.errors import UserError

HASH_CHARS = 16
# Byte orders stored as is: little-endian, not applicable (one byte), native on a little-endian host.
_LITTLE_ENDIAN = ("<", "|", "=") if sys.byteorder == "little" else ("<", "|")
NOT_HASHED = ""  # the hash column of a step skipped by hash_every (or a batch not given)
# Steps a recording keeps as plain tuples before moving them into the record's columns at
# once: appending one tuple costs far less than a row of StepSeries.append.
FLUSH_ROWS = 1024
# The recorders' default hash cadence. A hashed step copies and hashes every parameter, which
# on a small model costs more than the step itself and grows with the parameter count; a
# user's loop runs far longer than a canary (RunConfig's 50). Figures: docs/performance.md.
RECORDER_HASH_EVERY = 100
# A hashed step whose arrays total at most this many bytes is hashed at once, on the training
# thread: handed to the hash thread, small arrays cost the loop more than hashing them (the
# two threads take turns at the GIL at every torch call). Above it sha256 runs long with the
# GIL released, and the hash thread lets the loop go on meanwhile.
INLINE_HASH_BYTES = 1 << 20

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


def hash_arrays(arrays) -> str:
    """A short sha256 over dtype, shape and exact bytes of each array, in the given order.

    The canaries' hash: bytes little-endian and C-ordered, so equal arrays hash equally on any
    host and any single-bit change changes the hash.
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
            # an ndarray is a buffer; numpy's stubs say so only for Python 3.12+
            digest.update(memoryview(a.reshape(-1).view(np.uint8)))  # type: ignore[arg-type]


# ---------------------------------------------------------------- layer fingerprints
# (a copy of workers/canary_common.py's; a test holds them equal)

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


# How much of a dataset `data_fingerprint` reads: its length and its first DATA_ITEMS items
# (rows of arrays), in order -- enough to tell one data set or preprocessing from another at
# a bounded cost; data that differs only further on is not seen.
DATA_ITEMS = 1024


def data_fingerprint(data: Any, arrays_of: Callable[[Any], list]) -> str:
    """The recorders' `dataset_hash`: sha256 over the item count and the first DATA_ITEMS
    items. `data` is an array or tensor (items = rows), a tuple/list/dict of them with equal
    lengths (columns, e.g. (x, y)), or a dataset with len() and indexing (a torch Dataset;
    a DataLoader counts as its .dataset); `arrays_of` turns an item or column into arrays."""
    data = getattr(data, "dataset", data)
    columns = _columns(data)
    digest = hashlib.sha256()
    if hasattr(data, "as_numpy_iterator"):  # a tf.data.Dataset: its elements in order
        digest.update(f"elements={int(data.cardinality())};".encode())
        for element in itertools.islice(data.as_numpy_iterator(), DATA_ITEMS):
            update_digest(digest, arrays_of(element))
    elif columns is not None:
        count = len(columns[0])
        digest.update(f"rows={count};".encode())
        for column in columns:
            update_digest(digest, arrays_of(column[:DATA_ITEMS]))
    else:
        try:
            count = len(data)
            items = [data[i] for i in range(min(count, DATA_ITEMS))]
        except (TypeError, KeyError, IndexError, NotImplementedError) as exc:
            raise UserError(f"data must be arrays, tensors or a dataset with len() and "
                            f"indexing, not {type(data).__name__} ({exc})") from None
        digest.update(f"items={count};".encode())
        for item in items:
            update_digest(digest, arrays_of(item))
    return digest.hexdigest()[:HASH_CHARS]


def _columns(data: Any) -> Optional[list]:
    """`data` as a list of equally long array-likes (rows = items), or None for a dataset."""
    if hasattr(data, "shape") and len(getattr(data, "shape", ())) >= 1:
        return [data]
    if isinstance(data, dict):
        parts = [data[key] for key in sorted(data, key=str)]
    elif isinstance(data, (tuple, list)):
        parts = list(data)
    else:
        return None
    shapes = [getattr(part, "shape", None) for part in parts]
    lengths = [s[0] if s is not None and len(s) >= 1 else None for s in shapes]
    if parts and None not in lengths and len(set(lengths)) == 1:
        return parts
    return None


_hasher_lock = threading.Lock()
_hasher: Optional[concurrent.futures.ThreadPoolExecutor] = None


def _hash_thread() -> concurrent.futures.ThreadPoolExecutor:
    """The one background thread every recording in this process hashes on (first in, first
    out, so each recording's batch chain is fed in step order)."""
    global _hasher
    with _hasher_lock:
        if _hasher is None:
            _hasher = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="reprodiag-hash")
        return _hasher


def _forget_hash_thread() -> None:
    """In a forked child the thread is gone but the executor would still count it."""
    global _hasher, _hasher_lock
    _hasher, _hasher_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_hash_thread)


def cpu_name() -> str:
    """The CPU model name as the OS reports it."""
    from reprodiag.core.env.system import cpuinfo_pairs

    for key, value in cpuinfo_pairs():
        if key.lower() == "model name" and value:
            return value
    return platform.processor() or platform.machine() or "unknown CPU"


def process_settings() -> dict[str, Any]:
    """Settings of this process every run reports: Python, numpy, host, numerics variables."""
    settings: dict[str, Any] = {
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    for name in NUMERICS_VARIABLES:
        settings[f"var.{name}"] = os.environ.get(name)
    return settings


def optimizer_kind(class_name: str) -> Optional[str]:
    """RunConfig's optimizer for an optimizer class name ("sgd", "adam"), None for others."""
    name = class_name.lower()
    if name == "sgd":
        return "sgd"
    if name.startswith("adam") or name == "nadam":
        return "adam"
    return None


class Recording:
    """The steps of one user training, kept as a live RunRecord and saved as a bundle.

    The recorders feed it the same messages a canary worker sends (hello, env, step), so a
    recording reads, compares and diagnoses like a canary run.
    """

    def __init__(self, framework: str, recorder: str, *, label: str, seed: Optional[int],
                 hash_every: int, recording_scheme: str):
        if not isinstance(label, str):
            raise UserError(f"label must be a string, not {type(label).__name__}")
        for name, value in (("hash_every", hash_every), ("seed", seed)):
            problem = field_problem(name, value)  # RunConfig's own bounds
            if problem is not None:
                raise UserError(f"{name}={value!r}: {problem}")
        self.framework = framework
        self.recorder = recorder
        self.label = label
        self.seed = seed
        self.hash_every = hash_every
        self.facts: dict[str, Any] = {}  # what the recorder learnt for the RunConfig
        self.overhead = 0.0  # seconds spent inside the recorder's per-step work
        # `label` names the environment (the bundle), as in a canary session, not the run.
        self.record = RunRecord(config=RunConfig(framework=framework, model="custom", steps=1),
                                python=sys.executable, worker=recorder)
        self.record.apply(Hello(worker=recorder, protocol=PROTOCOL_VERSION, pid=os.getpid(),
                                python=platform.python_version(),
                                recording_scheme=recording_scheme))
        self.record.started_at = time.time()
        self._settings_done = False
        self._last_param_hash = NOT_HASHED
        self._count = 0  # steps recorded: those in self.record.steps, then self._rows
        # The latest steps' (loss, grad_norm, lr, step_time), not yet in self.record.steps.
        self._rows: list[tuple[float, float, float, float]] = []
        # Hashed steps whose hashes are not in their row yet: (row, future of (param, batch
        # hash)), in step order; an inline one's future is done when it is added.
        self._pending: collections.deque = collections.deque()
        self._batch_digest = hashlib.sha256()  # the batch chain; fed in step order (_hash_step)
        self._batches_seen = False
        self.dataset_hash = ""  # data_fingerprint of the data= a recorder was given; "" = unknown

    @property
    def steps(self) -> int:
        """Steps recorded so far."""
        return self._count

    def hash_due(self, loss: float = 0.0) -> bool:
        """Whether the step about to be recorded gets its hashes: the first, every
        `hash_every`-th, and any step whose `loss` is not finite, so a divergence is pinned
        exactly. The last step is hashed by `pin_last_step`. (Called after every optimizer
        step: kept to one expression.)"""
        return self._count % self.hash_every == 0 or not math.isfinite(loss)

    def add_layers(self, step: int, records: list[dict[str, Any]]) -> None:
        """The layer fingerprints of recorded step `step` (records as the workers send them)."""
        if records:
            self.record.apply(capture_from_json(step, records))

    def pin_last_step(self, param_hash: str) -> None:
        """The parameter hash the last recorded step gets in a saved bundle if hash_every
        skipped it (training ends, or is saved, there): the model as it is now is the one
        after it. Its batch is gone by then, so its batch hash stays as recorded."""
        self._last_param_hash = param_hash

    def start(self, init_param_hash: str, n_params: int) -> None:
        """The hash of the parameters before training, and their count."""
        self.record.init_param_hash = init_param_hash
        self.record.n_params = int(n_params)

    def settings_read(self) -> bool:
        return self._settings_done

    def set_settings(self, framework_settings: dict[str, Any], notes: dict[str, Any]) -> None:
        """The settings in force, read once when training runs (the env message)."""
        settings = {**process_settings(), **framework_settings, **notes,
                    "user_recording": True, "recorder": self.recorder,
                    "hash_every": self.hash_every, "seed": self.seed}
        self.record.apply(EnvInfo(settings=settings, dataset_hash=self.dataset_hash,
                                  init_param_hash=self.record.init_param_hash,
                                  n_params=self.record.n_params))
        self._settings_done = True

    def hashes_inline(self, nbytes: int) -> bool:
        """Whether the hashed step about to be added, its arrays `nbytes` in all, is hashed
        at once (`add_step(inline=True)`): when they are small (INLINE_HASH_BYTES) and no
        earlier step is still on the hash thread, so that the batch chain is fed in step
        order. Otherwise the recorder hands over copies for the hash thread."""
        return nbytes <= INLINE_HASH_BYTES and (not self._pending or self._pending[-1][1].done())

    def add_step(self, *, loss: float, grad_norm: float, lr: float, step_time: float,
                 params: Optional[list] = None, batch: Optional[list] = None,
                 inline: bool = False) -> None:
        """Append the next step (all four numbers floats). It is numbered here, one after the
        last, and kept as a tuple; every FLUSH_ROWS steps, and when the record is read or
        saved, the tuples go into the step columns at once (`_flush`): RunRecord.apply's
        ordering checks cannot fail, and a row of StepSeries.append costs some 10 us, more
        than all of the rest of an unhashed step.

        A hashed step passes `params`, the parameters after it, and `batch`, the arrays of
        its batch (None if not given). `param_hash` is their hash_arrays, `batch_hash` the
        running digest of every batch given on a hashed step so far. With `inline` (see
        `hashes_inline`) they are hashed here and may be views of the live tensors.
        Otherwise they must be arrays the recording may keep -- copies, not views of tensors
        training will change -- and are hashed on a background thread (sha256 releases the
        GIL, so on a second core the training loop does not wait for it); the hashes reach
        the step's row at a later step, or when the record is read (`live_record`) or saved.
        """
        index = self._count
        self._rows.append((loss, grad_norm, lr, step_time))
        self._count = index + 1
        if params is not None:
            if inline:
                hashed: concurrent.futures.Future = concurrent.futures.Future()
                hashed.set_result(self._hash_step(params, batch))
            else:
                hashed = _hash_thread().submit(self._hash_step, params, batch)
            self._pending.append((index, hashed))
        if len(self._rows) >= FLUSH_ROWS:
            self._flush(wait=False)

    def _hash_step(self, params: list, batch: Optional[list]) -> tuple[str, str]:
        """The hashes of one hashed step (on the hash thread, or inline)."""
        param_hash = hash_arrays(params)
        if batch:
            update_digest(self._batch_digest, batch)
            self._batches_seen = True
        batch_hash = self._batch_digest.hexdigest()[:HASH_CHARS] if self._batches_seen else NOT_HASHED
        return param_hash, batch_hash

    def _flush(self, wait: bool) -> None:
        """Move the kept rows into the step columns, then write the finished hashes into
        their rows (all of them, waiting, if `wait`); a hashing error is raised here, on the
        caller's thread."""
        rows = self._rows
        if rows:
            self.record.steps.extend_unhashed(self._count - len(rows),
                                              np.array(rows, dtype=np.float64))
            self._rows = []
        pending = self._pending
        while pending and (wait or pending[0][1].done()):
            index, future = pending.popleft()
            self.record.steps.set_hashes(index, *future.result())

    def live_record(self) -> RunRecord:
        """The live record: every step so far, every hash taken so far written in."""
        self._flush(wait=True)
        return self.record

    def config(self) -> RunConfig:
        """The RunConfig of this recording; fields it cannot know keep their defaults and are
        listed in the `config_unknown` setting."""
        facts, defaults = self.facts, RunConfig()
        known: dict[str, Any] = {
            "framework": self.framework, "model": "custom", "seed": self.seed,
            "steps": self.steps, "device": facts.get("device", "cpu"),
            "deterministic": bool(facts.get("deterministic", False)),
            "tf32": bool(facts.get("tf32", False)), "threads": _positive(facts.get("threads")),
            "hash_every": self.hash_every,
        }
        unknown = []
        for name in ("batch_size", "lr", "optimizer", "dtype"):
            value = facts.get(name)
            if value is not None and field_problem(name, value) is None:
                known[name] = value
            else:
                unknown.append(name)
        unknown += ["shuffle", "augment"]  # a user pipeline's data handling is not visible
        if self.framework == "tensorflow":
            known["onednn"] = facts.get("onednn")
        self.record.settings["config_unknown"] = ", ".join(unknown)
        return defaults.model_copy(update=known)

    def finished_record(self) -> RunRecord:
        """A copy of the record as it stands, ended (finished, or diverged on a NaN loss)."""
        if not self.steps:
            raise UserError(f"{self.recorder}: nothing recorded yet; call step() after each "
                            "optimizer step, then save()")
        self._flush(wait=True)
        config = self.config()
        steps = self.record.steps
        wall = time.time() - (self.record.started_at or time.time())
        summary = {"final_loss": steps.loss[-1], "steps": self.steps, "wall_time": wall,
                   "diverged": any(not math.isfinite(v) for v in steps.loss),
                   "record_overhead_s": self.overhead / self.steps}
        record = dataclasses.replace(self.record, config=config, steps=self._steps_with_last_hashed(),
                                     settings=dict(self.record.settings), log=list(self.record.log))
        record.apply(Done(summary=summary))
        return record

    def _steps_with_last_hashed(self) -> StepSeries:
        """A copy of the steps, the last one given the pinned parameter hash if it has none."""
        steps = self.record.steps
        columns = {name: steps.values(name) for name in STEP_COLUMNS}
        if self._last_param_hash and not columns["param_hash"][-1]:
            columns["param_hash"][-1] = self._last_param_hash
        return StepSeries(**columns)

    def save(self, path: Any, *, deep: bool = False) -> Path:
        """Write the recording and an environment snapshot of this Python as one bundle."""
        from reprodiag.core.bundle import write_bundle
        from reprodiag.core.env import capture

        if path is None or not str(path):
            raise UserError("save() needs a file name like mine.reprodiag.zip")
        record = self.finished_record()
        return write_bundle(Path(path).expanduser(), snapshot=capture(deep=deep), runs=[record],
                            label=self.label or socket.gethostname())


def _positive(value: Any) -> Optional[int]:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1024
    return value if ok else None
