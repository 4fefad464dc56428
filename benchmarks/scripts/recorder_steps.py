"""Per-step time of a user's own training loop with reprodiag's recorder and without.

`recorder_steps.py '{"framework": "torch"|"keras", "steps": 300, "reps": 5}'` prints one
JSON line. The model is the canary MLP shape (64-128-128-10) on fixed random batches of 32:
a 26k-parameter model whose 0.35 ms step is about as short as a step gets, the worst case
for a recorder's per-step work.

torch: the loop is zero_grad, forward, loss, backward, step and `loss.item()` (a loop that
logs its loss); the subject adds `TorchRecorder.step(loss, batch=(x, y))`. One repetition
runs the two on two copies of the model in alternating blocks of BLOCK steps, so that the
machine's slow phases (see canary_steps.py) fall on both alike. Keras: `model.fit` with
`KerasCallback` and without, in the same way: fits of KERAS_BLOCK batches taking turns on one
model, each timed inside the fit from its first batch to its epoch's end by a callback that
leaves Keras's dispatch as it is (`Clock`). Each fit()'s own fixed cost (some 40 ms, about 40
batches of this model; timed whole, even as a long fit less a short one, it spread the pairs'
ratios over 0.83x-1.38x) is reported apart (`fixed_per_fit_s`). Both warm up first. One
recorder per cadence records all repetitions, as in a long loop; a TorchRecorder's first step
(the settings read) is timed apart (`first_step_s`). The subject uses the recorders' defaults
(RECORDER_HASH_EVERY, layer capture on, given `data=` as the docs show: KerasCallback probes
the layers on it); then the pairs are repeated as often with `hash_every=10`, `hash_every=1`
and with layers off (what-if figures: medians of the pairs' ratios).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import numpy as np  # noqa: E402

BATCH = 32
SEED = 0
# Keras: batches per fit(); each fit() costs some 40 ms besides its batches (data adapter,
# iterator, callbacks), which the Clock leaves out
KERAS_BLOCK = 50
FIXED: dict[str, list[float]] = {}  # Keras: seconds each fit() costs besides its batches
DEFAULT = "default"  # the recorder made with its defaults (cadence, layers on)
LAYERS_OFF = "layers_off"
WHAT_IF = (10, 1, LAYERS_OFF)  # hash_every values (and layers off) also timed
BLOCK = 20  # torch: steps of one side before the other side runs as many


def _data(steps: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((steps * BATCH, 64)).astype(np.float32)
    y = rng.integers(0, 10, steps * BATCH)
    return x, y


def torch_sides(steps: int):
    import torch

    from reprodiag.record import TorchRecorder

    torch.set_num_threads(1)
    loss_fn = torch.nn.CrossEntropyLoss()
    x_all, y_all = _data(steps)
    batches = [(torch.from_numpy(x_all[i * BATCH:(i + 1) * BATCH]),
                torch.from_numpy(y_all[i * BATCH:(i + 1) * BATCH])) for i in range(steps)]

    def model_and_optimizer():
        torch.manual_seed(SEED)
        model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                    torch.nn.Linear(128, 128), torch.nn.ReLU(),
                                    torch.nn.Linear(128, 10))
        return model, torch.optim.SGD(model.parameters(), lr=0.05)

    recorded_side, plain_side = model_and_optimizer(), model_and_optimizer()

    def train(side, some_batches, recorder) -> float:
        """Seconds the loop takes over `some_batches` (recorder None: loss.item() only)."""
        model, optimizer = side
        started = time.perf_counter()
        for x, y in some_batches:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            if recorder is not None:
                recorder.step(loss, batch=(x, y))
            else:
                loss.item()
        return time.perf_counter() - started

    data = (torch.from_numpy(x_all), torch.from_numpy(y_all))

    def recorder(variant):
        """A recorder on the recorded side: its defaults, another cadence, or layers off."""
        model, optimizer = recorded_side
        return TorchRecorder(model, optimizer=optimizer, seed=SEED, data=data,
                             **_options(variant))

    recorders: dict = {}  # one per cadence, recording every repetition, as a long loop would

    def paired(rep: int, hash_every=DEFAULT) -> tuple[float, float]:
        """Seconds per step with the recorder and without, in alternating blocks."""
        if hash_every not in recorders:
            recorders[hash_every] = recorder(hash_every)
        rec, with_rec, without = recorders[hash_every], 0.0, 0.0
        for start in range(0, len(batches), BLOCK):
            block = batches[start:start + BLOCK]
            with_rec += train(recorded_side, block, rec)
            without += train(plain_side, block, None)
        return with_rec / len(batches), without / len(batches)

    def first_step() -> float:
        """Seconds a new recorder's first step() takes (it reads the settings and hashes)."""
        rec, (model, optimizer), (x, y) = recorder(DEFAULT), recorded_side, batches[0]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        started = time.perf_counter()
        rec.step(loss, batch=(x, y))
        return time.perf_counter() - started

    return paired, first_step


def keras_sides(steps: int):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from reprodiag.record import KerasCallback

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _data(steps)
    block = min(KERAS_BLOCK, steps)

    class Clock(keras.callbacks.Callback):
        """The seconds from a fit's first batch to its epoch's end. It overrides no batch-end
        hook: one would make Keras run every batch end synchronously, which the baseline
        (no callback) does not; the epoch end comes after Keras has waited for them all."""

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.started

    def fit(start: int, n: int, recorder) -> float:
        """Seconds the batches start..start+n take in one fit(); its fixed cost goes to FIXED."""
        clock = Clock()
        callbacks = [clock] if recorder is None else [recorder, clock]
        whole = time.perf_counter()
        model.fit(x[start * BATCH:(start + n) * BATCH], y[start * BATCH:(start + n) * BATCH],
                  batch_size=BATCH, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
        whole = time.perf_counter() - whole
        FIXED.setdefault("plain" if recorder is None else "recorder", []).append(
            whole - clock.seconds)
        return clock.seconds

    callbacks: dict = {}  # one per cadence through every repetition: a later fit()
    # continues its recording, as epochs would

    def paired(rep: int, hash_every=DEFAULT) -> tuple[float, float]:
        """Seconds per batch with the callback and without: fits of `block` batches taking
        turns."""
        if hash_every not in callbacks:
            callbacks[hash_every] = KerasCallback(seed=SEED, data=(x, y), **_options(hash_every))
        recorder, with_rec, without = callbacks[hash_every], 0.0, 0.0
        for start in range(0, steps, block):
            n = min(block, steps - start)
            with_rec += fit(start, n, recorder)
            without += fit(start, n, None)
        return with_rec / steps, without / steps

    for _ in range(2):  # builds and traces the train function, warms the data adapter
        fit(0, block, None)
    return paired, None


def _options(variant) -> dict:
    """The recorder's keyword arguments for a variant (DEFAULT, a hash_every, LAYERS_OFF)."""
    if variant == DEFAULT:
        return {}
    return {"layers": False} if variant == LAYERS_OFF else {"hash_every": variant}


def main() -> int:
    args = json.loads(sys.argv[1])
    sides = torch_sides if args["framework"] == "torch" else keras_sides
    # paired(rep, k): seconds per step with the recorder (at hash_every k, by default its
    # default) and without
    paired, first_step = sides(args["steps"])
    paired(0)  # warm-up; the recorder's first step, with its settings read, falls here
    FIXED.clear()
    recorded, plain = [], []
    for i in range(args["reps"]):
        gc.collect()
        subject, baseline = paired(i)
        recorded.append(subject)
        plain.append(baseline)
    what_if = {(k if k == LAYERS_OFF else f"hash_every_{k}"): statistics.median(
        subject / baseline for subject, baseline in (paired(i, k) for i in range(args["reps"])))
        for k in WHAT_IF}
    out = {"recorder": recorded, "plain": plain, "what_if_ratio": what_if}
    if first_step is not None:
        out["first_step_s"] = statistics.median(first_step() for _ in range(5))
    if FIXED:
        out["fixed_per_fit_s"] = {k: statistics.median(v) for k, v in FIXED.items()}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
