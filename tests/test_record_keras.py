"""KerasCallback on a real `model.fit` (TensorFlow backend, CPU): what it records, and that
recordings compare -- same seed twice identical, another seed parting at the initial weights."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from reprodiag.core.bundle import read_bundle
from reprodiag.core.compare import compare_bundles
from reprodiag.core.compare.runs import DIVERGED, IDENTICAL
from reprodiag.core.knowledge.stages import Stage
from reprodiag.errors import UserError
from reprodiag.record import KerasCallback, hash_arrays
from reprodiag.record import common as record_common

pytestmark = pytest.mark.framework  # runs real PyTorch / TensorFlow

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

N, BATCH, EPOCHS = 96, 16, 2
BATCHES = EPOCHS * N // BATCH


def data():
    rng = np.random.default_rng(5)
    return rng.standard_normal((N, 8)).astype("float32"), rng.integers(0, 3, N)


def fit(seed: int, path, **callback_args):
    """A plain seeded Keras training with the callback; returns it and the weight hashes."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    initial = hash_arrays(model.get_weights())
    callback = KerasCallback(label=f"seed {seed}", path=path, seed=seed, **callback_args)
    x, y = data()
    history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=True, verbose=0,
                        callbacks=[callback])
    return {"callback": callback, "initial": initial, "final": hash_arrays(model.get_weights()),
            "history": history.history, "bundle": read_bundle(callback.saved_path)}


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    d = tmp_path_factory.mktemp("keras_recordings")
    # hash_every=10 so that a step between the first and the last is hashed
    return {name: fit(seed, d / name, hash_every=10)
            for name, seed in (("a", 0), ("b", 0), ("other", 1))}


def test_same_seed_twice_compares_identical(fits):
    comparison = compare_bundles(fits["a"]["bundle"], fits["b"]["bundle"])
    assert [p.verdict for p in comparison.pairs] == [IDENTICAL]


def test_another_seed_parts_at_the_initial_weights(fits):
    (pair,) = compare_bundles(fits["a"]["bundle"], fits["other"]["bundle"]).pairs
    assert pair.verdict == DIVERGED and pair.stage == Stage.INIT


def test_recorded_values_are_the_training_values(fits):
    fit_a = fits["a"]
    run = fit_a["bundle"].runs[0]
    assert fit_a["callback"].saved_path.name == "a.reprodiag.zip"
    assert run.init_param_hash == fit_a["initial"]
    assert len(run.steps) == BATCHES and run.steps.values("step") == list(range(BATCHES))
    hashes = run.steps.hash_list("param_hash")
    assert hashes[-1] == fit_a["final"]  # the last batch is hashed when training ends
    # first, every 10th (hash_every=10), last; the weights change every batch
    assert [i for i, h in enumerate(hashes) if h] == [0, 10, BATCHES - 1]
    assert len(set(hashes)) == 4 and run.config.hash_every == 10
    # the last batch of each epoch reports the epoch's loss, as History does
    per_epoch = [run.steps.loss[(e + 1) * N // BATCH - 1] for e in range(EPOCHS)]
    assert per_epoch == pytest.approx(fit_a["history"]["loss"], rel=1e-6)
    assert all(math.isnan(g) for g in run.steps.grad_norm)
    assert set(run.steps.hash_list("batch_hash")) == {""}
    assert run.steps.values("lr") == pytest.approx([0.1] * BATCHES)


def test_bundle_says_what_a_callback_cannot_see(fits):
    run = fits["a"]["bundle"].runs[0]
    cfg, s = run.config, run.settings
    assert (cfg.framework, cfg.model, cfg.device, cfg.seed, cfg.steps) == (
        "tensorflow", "custom", "cpu", 0, BATCHES)
    assert cfg.optimizer == "sgd" and cfg.dtype == "float32"
    assert s["recorder"] == "KerasCallback" and s["keras_backend"] == "tensorflow"
    assert "NaN" in s["note.grad_norm"] and "running mean" in s["note.loss"]
    assert "batch_size" in s["config_unknown"]
    assert isinstance(s["op_determinism"], bool) and isinstance(s["tf32"], bool)
    assert run.status == "finished"


def test_bad_arguments_are_one_clear_error():
    for bad in (-1, 0, 2.5, 10**7):
        with pytest.raises(UserError, match="hash_every"):
            KerasCallback(hash_every=bad)
    with pytest.raises(UserError, match="seed"):
        KerasCallback(seed="zero")


def test_fast_weight_reads_equal_get_weights_with_non_trainable_weights():
    from reprodiag.record.keras_callback import _variable_reader

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)  # moving statistics move too
    read = _variable_reader(model, "tensorflow")
    assert read != model.get_weights  # the fast path, not the fallback
    fast, plain = read(), model.get_weights()
    assert [(a.dtype, a.shape) for a in fast] == [(a.dtype, a.shape) for a in plain]
    assert hash_arrays(fast) == hash_arrays(plain)


@pytest.mark.parametrize("inline_limit", [0, 1 << 20], ids=["background", "inline"])
def test_hashes_are_of_the_weights_at_their_batch(monkeypatch, inline_limit):
    # The callback hashes small weight read-outs at once and hands large ones to the hash
    # thread while training goes on: each must be the weights after its own batch.
    monkeypatch.setattr(record_common, "INLINE_HASH_BYTES", inline_limit)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    at_batch = []

    class Truth(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            at_batch.append(hash_arrays(model.get_weights()))

    rec = KerasCallback(hash_every=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32 * 40, 8)).astype("float32")
    y = rng.integers(0, 3, 32 * 40)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False, callbacks=[rec, Truth()])
    assert rec.record.steps.hash_list("param_hash") == at_batch
    assert len(set(at_batch)) == 40


def test_default_cadence_hashes_the_first_and_every_100th_batch():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rec = KerasCallback()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8 * 105, 8)).astype("float32")
    model.fit(x, rng.integers(0, 3, 8 * 105), batch_size=8, epochs=1, verbose=0,
              shuffle=False, callbacks=[rec])
    record = rec.record
    assert len(record.steps) == 105 and record.settings["hash_every"] == 100
    assert [i for i, h in enumerate(record.steps.hash_list("param_hash")) if h] == [0, 100]
