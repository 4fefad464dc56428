"""Recording, the part both recorders share: steps kept as tuples, moved into the record's
columns in bulk, hashes made on the hash thread and written into their rows."""

import math

import numpy as np

from reprodiag.record.common import FLUSH_ROWS, Recording, hash_arrays


def test_steps_kept_between_flushes_all_reach_the_record_with_their_hashes():
    rec = Recording("torch", "TorchRecorder", label="", seed=0, hash_every=7,
                    recording_scheme="torch-recorder/3")
    n = 2 * FLUSH_ROWS + 300  # two flushes on the way, then rows still kept as tuples
    truth = {}
    for i in range(n):
        due = rec.hash_due()
        params = [np.full(3, i, dtype=np.float32)] if due else None
        if due:
            truth[i] = hash_arrays(params)
        rec.add_step(loss=1.0 / (i + 1), grad_norm=float(i) if due else math.nan, lr=0.1,
                     step_time=1e-3, params=params)
        assert rec.steps == i + 1
    steps = rec.live_record().steps
    assert len(steps) == n and steps.values("step") == list(range(n))
    assert steps.values("loss") == [1.0 / (i + 1) for i in range(n)]
    assert {i: h for i, h in enumerate(steps.hash_list("param_hash")) if h} == truth
    assert sorted(truth) == list(range(0, n, 7))
    # reading the record again, and adding after reading, keeps every row once
    rec.add_step(loss=0.5, grad_norm=math.nan, lr=0.1, step_time=1e-3)
    assert len(rec.live_record().steps) == n + 1 and rec.live_record().steps.loss[-1] == 0.5

