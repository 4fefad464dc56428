"""Per-step time of a user's own training loop with reprodiag's recorder and without.

`recorder_steps.py '{"framework": "torch"|"keras", "steps": 300, "reps": 5}'` prints one
JSON line. The model is the canary MLP shape (64-128-128-10) on fixed random batches of 32.

torch: the loop is zero_grad, forward, loss, backward, step and `loss.item()` (a loop that
logs its loss); the subject adds `TorchRecorder.step(loss, batch=(x, y))`. Keras: one
`model.fit` epoch of `steps` batches with `KerasCallback` and without. Repetitions alternate
the two; then the subject is repeated as often with `hash_every=10` (a what-if figure).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import numpy as np  # noqa: E402

BATCH = 32
SEED = 0


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

    return (lambda: loop(1)), (lambda: loop(None)), (lambda: loop(10))


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
    model.fit(x[:BATCH * 2], y[:BATCH * 2], batch_size=BATCH, epochs=1, verbose=0)  # builds

    def fit(hash_every: int | None) -> float:
        callbacks = [KerasCallback(seed=SEED, hash_every=hash_every)] if hash_every else []
        started = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False,
                  callbacks=callbacks)
        return (time.perf_counter() - started) / steps

    return (lambda: fit(1)), (lambda: fit(None)), (lambda: fit(10))


def main() -> int:
    args = json.loads(sys.argv[1])
    sides = torch_sides if args["framework"] == "torch" else keras_sides
    with_recorder, without, every_10 = sides(args["steps"])
    with_recorder(), without()  # warm-up
    recorded, plain = [], []
    for i in range(args["reps"]):
        order = (recorded, plain) if i % 2 == 0 else (plain, recorded)
        for side in order:
            side.append(with_recorder() if side is recorded else without())
    every = statistics.median(every_10() for _ in range(args["reps"]))
    print(json.dumps({"recorder": recorded, "plain": plain, "hash_every_10": every}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
