"""Per-step time of a user's own training loop with reprodiag's recorder and without.

`recorder_steps.py '{"framework": "torch"|"keras", "steps": 300, "reps": 5}'` prints one
JSON line. The model is the canary MLP shape (64-128-128-10) on fixed random batches of 32.

torch: the loop is zero_grad, forward, loss, backward, step and `loss.item()` (a loop that
logs its loss); the subject adds `TorchRecorder.step(loss, batch=(x, y))`. Keras: `model.fit`
with `KerasCallback` and without, per batch as the time of a fit of 3 x `steps` batches less
that of a fit of a tenth as many, over the difference in batches: each fit() call costs about
40 ms besides its batches (some 50 batches of this model), and timing whole fits of 100 batches
let that swing the ratio widely (0.44x-3.89x seen); it is reported apart (`fixed_per_fit_s`).
Both warm up twice first. Repetitions alternate the two, garbage collected before each; the
subject uses the recorders' default `hash_every=10`, then it is repeated as
often with `hash_every=1` (every step hashed: a what-if figure).
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
KERAS_LONG = 3  # a Keras sample: a fit of 3 x steps batches minus one of a tenth as many
# ... but at least this many batches: a fit()'s fixed cost varies by several ms, which would
# swamp the difference of a few short fits (smoke mode) and could even make it negative
KERAS_MIN_LONG = 200
FIXED: dict[str, list[float]] = {}  # Keras: seconds each fit() costs besides its batches


def _data(steps: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((steps * BATCH, 64)).astype(np.float32)
    y = rng.integers(0, 10, steps * BATCH)
    return x, y


def torch_sides(steps: int):
    import torch

    from reprodiag.record import TorchRecorder

    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()
    x_all, y_all = _data(steps)
    batches = [(torch.from_numpy(x_all[i * BATCH:(i + 1) * BATCH]),
                torch.from_numpy(y_all[i * BATCH:(i + 1) * BATCH])) for i in range(steps)]

    def loop(hash_every: int | None) -> float:
        recorder = (TorchRecorder(model, optimizer=optimizer, seed=SEED, hash_every=hash_every)
                    if hash_every else None)
        started = time.perf_counter()
        for x, y in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            if recorder is not None:
                recorder.step(loss, batch=(x, y))
            else:
                loss.item()
        return (time.perf_counter() - started) / len(batches)

    # subject: the recorder's default (hash_every=10); what-if: every step hashed
    return (lambda: loop(10)), (lambda: loop(None)), (lambda: loop(1))


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
    long = max(KERAS_LONG * steps, KERAS_MIN_LONG)
    short = max(long // 10, 1)
    x, y = _data(long)

    def fit(hash_every: int | None, n: int) -> float:
        callbacks = [KerasCallback(seed=SEED, hash_every=hash_every)] if hash_every else []
        gc.collect()
        started = time.perf_counter()
        model.fit(x[:n * BATCH], y[:n * BATCH], batch_size=BATCH, epochs=1, verbose=0,
                  shuffle=False, callbacks=callbacks)
        return time.perf_counter() - started

    def per_step(hash_every: int | None) -> float:
        """Seconds per batch of a long fit beyond a short one: each fit() call's fixed cost
        (tens of ms: data adapter, iterator, callback setup) cancels out."""
        t_short, t_long = fit(hash_every, short), fit(hash_every, long)
        step = (t_long - t_short) / (long - short)
        if step <= 0:
            raise SystemExit(f"a fit of {long} batches took no longer than one of {short}: "
                             "too noisy to measure, run again on a quieter machine")
        FIXED.setdefault("recorder" if hash_every == 10 else "plain" if not hash_every else "every_1",
                         []).append(t_short - short * step)
        return step

    for _ in range(2):  # builds and traces the train function, warms the data adapter
        per_step(10), per_step(None)
    FIXED.clear()
    return (lambda: per_step(10)), (lambda: per_step(None)), (lambda: per_step(1))


def main() -> int:
    args = json.loads(sys.argv[1])
    sides = torch_sides if args["framework"] == "torch" else keras_sides
    with_recorder, without, every_10 = sides(args["steps"])
    with_recorder(), without()  # warm-up
    recorded, plain = [], []
    for i in range(args["reps"]):
        order = (recorded, plain) if i % 2 == 0 else (plain, recorded)
        for side in order:
            gc.collect()
            side.append(with_recorder() if side is recorded else without())
    every = statistics.median(every_10() for _ in range(args["reps"]))
    out = {"recorder": recorded, "plain": plain, "hash_every_1": every}
    if FIXED:
        out["fixed_per_fit_s"] = {k: statistics.median(v) for k, v in FIXED.items()}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
