"""Layer capture and data fingerprints in the recorders, and the copies the workers hold.

Real torch models in this process (TorchRecorder) and real Keras fits (KerasCallback).
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys

import numpy as np
import pytest

from reprodiag import paths
from reprodiag.record import common as record_common

torch = pytest.importorskip("torch")


def load_worker(name: str):
    """A worker module imported as the worker scripts import their siblings."""
    folder = str(paths.worker_script("canary_common.py").parent)
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)


canary_common = load_worker("canary_common")
layers_torch = load_worker("layers_torch")
canary_tf = load_worker("canary_tf")

from reprodiag.record import TorchRecorder  # noqa: E402
from reprodiag.record import keras_callback, torch_layers  # noqa: E402

pytestmark = pytest.mark.framework  # runs real PyTorch / TensorFlow


# ------------------------------------------------------------------ copies held equal

def test_the_fingerprint_code_is_the_workers_own():
    for name in ("layer_kind", "sample_indices", "fingerprint", "fingerprints",
                 "_fingerprint_batch", "_reduced_batch", "_dtype_name", "layer_records"):
        assert inspect.getsource(getattr(record_common, name)) == inspect.getsource(
            getattr(canary_common, name))
    assert record_common.LAYER_KINDS == canary_common.LAYER_KINDS
    assert record_common.LAYER_SAMPLES == canary_common.LAYER_SAMPLES == 16
    assert inspect.getsource(torch_layers.TorchLayerHooks) == inspect.getsource(
        layers_torch.TorchLayerHooks)
    assert inspect.getsource(torch_layers._unhookable) == inspect.getsource(
        layers_torch._unhookable)
    for name in ("_leaf_layers", "_collect_outputs"):
        assert inspect.getsource(getattr(keras_callback, name)) == inspect.getsource(
            getattr(canary_tf, name))


@pytest.mark.parametrize("array", [
    np.arange(1000, dtype=np.float32).reshape(10, 100) / 7,
    np.array([1.0, np.nan, -np.inf, 2.0], dtype=np.float64),
    np.arange(5, dtype=np.int64), np.zeros((0, 3), dtype=np.float32),
    np.array([True, False]), np.float16([1.5, -2.25]),
])
def test_fingerprints_agree_between_the_copies_and_are_exact(array):
    ours, theirs = record_common.fingerprint(array), canary_common.fingerprint(array)
    assert ours == theirs
    finite = array[np.isfinite(array.astype(np.float64))].astype(np.float64)
    assert ours["nonfinite"] == array.size - finite.size
    assert ours["norm"] == pytest.approx(math.sqrt(float(np.sum(finite ** 2))), rel=1e-12)
    assert ours["hash"] == record_common.hash_arrays([array])
    indices = record_common.sample_indices(array.size)
    assert len(indices) == min(array.size, record_common.LAYER_SAMPLES)
    if array.size:
        assert indices[0] == 0 and indices[-1] == array.size - 1


def test_sample_indices_come_from_the_count_alone():
    n = record_common.LAYER_SAMPLES
    assert record_common.sample_indices(n).tolist() == list(range(n))
    spread = record_common.sample_indices(10_000)
    assert len(spread) == n and spread[0] == 0 and spread[-1] == 9_999
    assert (np.diff(spread) > 0).all()


@pytest.mark.parametrize("type_name, kind", [
    ("Linear", "linear"), ("Dense", "linear"), ("Conv2d", "convolution"),
    ("Conv2DTranspose", "convolution"), ("MaxPool2d", "pooling"),
    ("GlobalAveragePooling2D", "pooling"), ("BatchNorm2d", "normalisation"),
    ("LayerNormalization", "normalisation"), ("Dropout", "dropout"), ("Embedding", "embedding"),
    ("ReLU", "activation"), ("GELU", "activation"), ("Flatten", "other"),
    ("MultiheadAttention", "linear")])
def test_layer_kinds_from_class_names(type_name, kind):
    assert record_common.layer_kind(type_name) == kind == canary_common.layer_kind(type_name)


# ------------------------------------------------------------------ TorchRecorder

def train(model, rec, steps, *, extra=None):
    torch.manual_seed(3)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
        opt.zero_grad()
        out = model(x)
        loss = torch.nn.functional.cross_entropy(out if not isinstance(out, tuple) else out[0], y)
        loss.backward()
        opt.step()
        if extra is not None:
            extra(model)
        rec.step(loss, batch=(x, y))


class TupleNet(torch.nn.Module):
    """Returns a tuple from a leaf-like block and a dict from another; ReLU works in place."""

    class Split(torch.nn.Module):
        def forward(self, x):
            return x[:, :3], x[:, 3:]

    class Named(torch.nn.Module):
        def forward(self, x):
            return {"logits": x, "scaled": 2 * x}

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6, 6)
        self.relu = torch.nn.ReLU(inplace=True)
        self.split = self.Split()
        self.named = self.Named()

    def forward(self, x):
        a, b = self.split(self.relu(self.fc(x)))
        out = self.named(a + b)
        return out["logits"], out["scaled"]


def test_tuple_and_dict_outputs_and_in_place_ops():
    torch.manual_seed(0)
    model = TupleNet()
    rec = TorchRecorder(model, hash_every=2)
    train(model, rec, 3)
    capture = rec.record.layers[0]
    labels = [(r.phase, r.label) for r in capture.records]
    assert labels == [("input", "input in[0]"), ("forward", "fc"), ("forward", "relu"),
                      ("forward", "split out[0]"), ("forward", "split out[1]"),
                      ("forward", "named out['logits']"), ("forward", "named out['scaled']"),
                      ("backward", "fc grad.weight"), ("backward", "fc grad.bias")]
    fc, relu = capture.records[1], capture.records[2]
    # fc's output was fingerprinted before the in-place ReLU overwrote its negatives
    assert min(fc.sample) < 0 and min(relu.sample) >= 0 and fc.hash != relu.hash
    assert [c.step for c in rec.record.layers] == [0]


def test_the_models_own_hooks_are_kept_and_ours_removed():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    seen = []
    model[0].register_forward_hook(lambda m, args, out: seen.append(out.shape))
    model[2].register_forward_hook(lambda m, args, out: out * 0 + 1)  # replaces the output
    hooks_before = {name: dict(m._forward_hooks) for name, m in model.named_modules()}
    rec = TorchRecorder(model, hash_every=4)
    assert len(model[0]._forward_hooks) == 2  # ours, armed for step 0, after theirs
    train(model, rec, 6)  # captured: the first step only
    assert len(seen) == 6  # theirs ran on every step
    assert {name: dict(m._forward_hooks) for name, m in model.named_modules()} == hooks_before
    assert [c.step for c in rec.record.layers] == [0]
    last = [r for r in rec.record.layers[0].records if r.name == "2"][0]
    # the output their hook returned (8 x 3 ones), as the next one sees it
    assert last.sample == (1.0,) * min(24, record_common.LAYER_SAMPLES)


def test_hooks_are_armed_only_for_the_first_step_and_eval_passes_are_not_recorded():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 3))
    rec = TorchRecorder(model, hash_every=3)
    armed = []

    def evaluate(m):
        armed.append(bool(m[0]._forward_hooks))
        with torch.no_grad():
            m(torch.full((2, 6), 9.0))  # a validation pass between steps

    train(model, rec, 7, extra=evaluate)
    assert armed == [True, False, False, False, False, False, False]  # until its step() call
    assert [c.step for c in rec.record.layers] == [0]
    for capture in rec.record.layers:  # the batches of training, never the validation input
        assert capture.records[0].shape == (8, 6) and capture.records[1].shape == (8, 3)


def test_a_non_finite_loss_step_captures_the_gradients():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 3))
    rec = TorchRecorder(model, hash_every=100)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for i in range(4):
        x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
        if i == 2:
            x[0, 0] = float("inf")
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        rec.step(loss, batch=(x, y))
    steps = [c.step for c in rec.record.layers]
    assert steps == [0, 2]
    grads = rec.record.layers[1].records
    assert [r.label for r in grads] == ["0 grad.weight", "0 grad.bias"]
    assert grads[0].nonfinite > 0


def test_compiled_and_scripted_models_are_skipped_with_a_note():
    torch.manual_seed(0)
    scripted = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(6, 3)))
    rec = TorchRecorder(scripted, hash_every=2)
    train(scripted, rec, 3)
    assert rec.record.layers == [] and any("scripted" in line for line in rec.record.log)
    assert len(rec.record.steps) == 3  # training and recording went on
    if hasattr(torch, "compile"):
        compiled = torch.compile(torch.nn.Sequential(torch.nn.Linear(6, 3)))
        note = TorchRecorder(compiled, hash_every=2).record.log
        assert any("torch.compile" in line for line in note)


def test_layers_off_records_no_layers():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 3))
    rec = TorchRecorder(model, hash_every=2, layers=False)
    train(model, rec, 3)
    assert rec.record.layers == [] and not model[0]._forward_hooks


# ------------------------------------------------------------------ data fingerprints

def test_data_fingerprint_same_data_same_hash_one_changed_element_another():
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 5, generator=g), torch.randint(0, 3, (300,), generator=g)

    def fingerprint(data):
        model = torch.nn.Linear(5, 3)
        return TorchRecorder(model, data=data, layers=False)._rec.dataset_hash

    base = fingerprint((x, y))
    assert base == fingerprint((x.clone(), y.clone())) and len(base) == 16
    changed = x.clone()
    changed[7, 2] += 1e-3
    assert fingerprint((changed, y)) != base
    dataset = TensorDataset(x, y)
    assert fingerprint(dataset) == fingerprint(DataLoader(dataset, batch_size=4)) != ""
    changed_set = TensorDataset(changed, y)
    assert fingerprint(changed_set) != fingerprint(dataset)
    # only the first DATA_ITEMS items are read: a change further on is not seen
    n = record_common.DATA_ITEMS
    big = torch.zeros(n + 10, 2)
    later = big.clone()
    later[n + 5, 0] = 1.0
    assert fingerprint(big) == fingerprint(later) != fingerprint(big[:-1])
    model = torch.nn.Linear(5, 3)
    assert TorchRecorder(model)._rec.dataset_hash == ""  # no data: unknown


def test_bad_data_is_one_clear_error():
    from reprodiag.errors import UserError

    with pytest.raises(UserError, match="data must be arrays, tensors or a dataset"):
        TorchRecorder(torch.nn.Linear(2, 2), data=object())


# ------------------------------------------------------------------ KerasCallback

def keras_fit(*, layers=True, data="given", change=None, epochs=1):
    """A real Keras fit of a small dropout MLP with the callback; returns its record."""
    keras = pytest.importorskip("keras")
    from reprodiag.record import KerasCallback

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x, y = rng.random((256, 12)).astype("float32"), rng.integers(0, 3, 256)
    if change is not None:
        x[change] += 1.0
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu",
                                                                     name="fc"),
                              keras.layers.Dropout(0.25, name="drop"),
                              keras.layers.Dense(3, name="head")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    callback = KerasCallback(hash_every=3, layers=layers,
                             data=(x, y) if data == "given" else None)
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[callback])
    assert "call" not in model.layers[0].__dict__  # the probe's wrappers are gone
    return callback.record


def test_keras_probe_captures_layers_and_changes_no_number():
    with_layers, without = keras_fit(), keras_fit(layers=False)
    assert [c.step for c in with_layers.layers] == [0]  # before the first of 8 batches
    records = with_layers.layers[0].records
    assert [(r.phase, r.label) for r in records] == [
        ("input", "input in[0]"), ("forward", "fc"), ("forward", "drop"), ("forward", "head"),
        ("backward", "head grad.kernel"), ("backward", "head grad.bias"),
        ("backward", "fc grad.kernel"), ("backward", "fc grad.bias")]
    assert records[0].shape == (32, 12)  # the first PROBE_ROWS samples of data
    drop, fc = records[2], records[1]
    assert drop.hash == fc.hash  # inference mode: dropout is the identity, draws nothing
    from reprodiag.core.compare import compare_runs

    assert without.layers == [] and compare_runs(with_layers, without).verdict == "identical"


def test_keras_data_fingerprint_and_probe_see_one_changed_sample():
    from reprodiag.core.compare import compare_runs

    base, changed = keras_fit(), keras_fit(change=(5, 3))
    assert base.dataset_hash != changed.dataset_hash and len(base.dataset_hash) == 16
    assert keras_fit(layers=False).dataset_hash == base.dataset_hash
    lc = compare_runs(base, changed).layers
    assert lc.step == 0 and lc.parting.phase == "input"


def test_keras_without_data_records_no_layers_and_says_why():
    record = keras_fit(data=None)
    assert record.layers == [] and record.dataset_hash == ""
    assert any("needs data=" in line for line in record.log)


def test_fingerprints_of_a_batch_are_each_tensors_own():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((3, 5)).astype(np.float32), np.zeros((0,), np.float32),
              np.array([np.nan, 1.0, np.inf], np.float32), rng.standard_normal(20_000),
              np.arange(7, dtype=np.int32), rng.standard_normal(100).astype(np.float16),
              np.full(3, 1e200)]  # squares overflow float64: the slow path, still finite
    together = record_common.fingerprints(arrays)
    assert together == [record_common.fingerprint(a) for a in arrays]
    assert together == canary_common.fingerprints(arrays)
    assert together[2]["nonfinite"] == 2 and together[2]["norm"] == 1.0
    assert together[1]["norm"] == 0.0 and together[1]["sample"] == "f4:"
    assert together[3]["sample"].startswith("f8:") and together[5]["sample"].startswith("f4:")
    assert together[6]["max_abs"] == 1e200 and together[6]["nonfinite"] == 0
