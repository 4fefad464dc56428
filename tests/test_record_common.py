"""Recording, the part both recorders share: steps kept as tuples, moved into the record's
columns in bulk, hashes made inline or on the hash thread and written into their rows."""

import math
import threading

import numpy as np

from reprodiag.record import common as record_common
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



def test_inline_and_background_hashes_agree_and_keep_the_batch_chain_in_order(monkeypatch):
    """Small hashed steps are hashed at once, large ones on the hash thread; mixed in one
    recording they give the hashes an all-inline recording gives, batch chain included."""
    def recorded(limit: int) -> tuple[list, list, list]:
        monkeypatch.setattr(record_common, "INLINE_HASH_BYTES", limit)
        rec = Recording("torch", "TorchRecorder", label="", seed=0, hash_every=1,
                        recording_scheme="torch-recorder/3")
        inline = []
        for i in range(40):
            size = 8 if i % 3 else 4096  # every third step large
            params = [np.full(size, i, dtype=np.float32)]
            batch = [np.arange(i, i + 5, dtype=np.int64)]
            inline.append(rec.hashes_inline(params[0].nbytes + batch[0].nbytes))
            rec.add_step(loss=1.0, grad_norm=1.0, lr=0.1, step_time=1e-3, params=params,
                         batch=batch, inline=inline[-1])
            if i % 6 == 0:
                rec.live_record()  # waits for the hash thread: the next small step is inline
        steps = rec.live_record().steps
        return steps.hash_list("param_hash"), steps.hash_list("batch_hash"), inline

    params_all, batches_all, inline_all = recorded(1 << 20)
    params_mixed, batches_mixed, inline_mixed = recorded(1024)
    assert all(inline_all) and not all(inline_mixed) and any(inline_mixed)
    assert params_mixed == params_all and batches_mixed == batches_all
    assert len(set(batches_all)) == 40  # each step's batch joined the chain


def test_no_inline_hash_while_an_earlier_step_is_still_on_the_hash_thread(monkeypatch):
    monkeypatch.setattr(record_common, "INLINE_HASH_BYTES", 1 << 20)
    rec = Recording("torch", "TorchRecorder", label="", seed=0, hash_every=1,
                    recording_scheme="torch-recorder/3")
    gate = threading.Event()
    record_common._hash_thread().submit(gate.wait, 30)  # holds the hash thread
    rec.add_step(loss=1.0, grad_norm=1.0, lr=0.1, step_time=1e-3,
                 params=[np.ones(4, np.float32)], batch=[np.ones(2)], inline=False)
    assert not rec.hashes_inline(16)  # the batch chain must be fed in step order
    gate.set()
    rec.live_record()
    assert rec.hashes_inline(16) and not rec.hashes_inline((1 << 20) + 1)
