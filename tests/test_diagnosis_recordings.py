"""The diagnosis of recorded user loops (TorchRecorder, KerasCallback) that differ in one
cause: other data, an unseeded initialisation, another learning rate, a loss that turns
non-finite. The true cause ranks first and nothing else reaches "likely"; and without a data
fingerprint, other data is never called nondeterminism."""

from __future__ import annotations

import os

import numpy as np
import pytest

from reprodiag.core.diagnose import Side, diagnose
from reprodiag.core.env import capture

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytestmark = [pytest.mark.slow, pytest.mark.framework]

STEPS = 24


@pytest.fixture(scope="module")
def snapshot():
    return capture()


def torch_loop(*, data_seed: int = 1234, lr: float = 0.1, seed: int | None = 0,
               declared_seed: int | None = 0, nan_at: int | None = None, fingerprint=True):
    """A plain torch loop recorded with TorchRecorder; returns the finished record."""
    torch = pytest.importorskip("torch")
    from reprodiag.record import TorchRecorder

    if seed is not None:
        torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    gen = torch.Generator().manual_seed(data_seed)
    x_all, y_all = torch.randn(STEPS * 16, 8, generator=gen), torch.randint(0, 3, (STEPS * 16,),
                                                                            generator=gen)
    if nan_at is not None:
        x_all[nan_at * 16, 0] = float("inf")
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    rec = TorchRecorder(model, optimizer=opt, seed=declared_seed,
                        data=(x_all, y_all) if fingerprint else None)
    for i in range(STEPS):
        x, y = x_all[i * 16:(i + 1) * 16], y_all[i * 16:(i + 1) * 16]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        rec.step(loss, batch=(x, y))
    return rec._rec.finished_record()


def keras_fit(tmp_path, name: str, *, data_seed: int = 5, lr: float = 0.1,
              seed: int | None = 0):
    keras = pytest.importorskip("keras")
    from reprodiag.core.bundle import read_bundle
    from reprodiag.record import KerasCallback

    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(data_seed)
    x, y = rng.standard_normal((96, 8)).astype("float32"), rng.integers(0, 3, 96)
    callback = KerasCallback(label=name, path=tmp_path / name, seed=seed, data=(x, y))
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[callback])
    return read_bundle(callback.saved_path).runs[0]


def top(a, b, snapshot):
    diagnosis = diagnose(Side(label="A", snapshot=snapshot, runs=[a]),
                         Side(label="B", snapshot=snapshot, runs=[b]))
    causes = [f for f in diagnosis.findings if f.kind == "cause" and f.id != "throttling"]
    ranking = [(f.id, round(f.likelihood, 2)) for f in causes]
    assert causes, ranking
    assert all(f.likelihood < 0.5 for f in causes[1:]), ranking
    return causes[0], ranking


@pytest.mark.parametrize("change, cause", [
    ({"data_seed": 99}, "dataset"),
    ({"lr": 0.2}, "config"),
    ({"seed": None, "declared_seed": None}, "unseeded"),
    ({"seed": 7}, "unrecorded_init"),
])
def test_recorded_torch_loops_name_the_one_cause(snapshot, change, cause):
    first, ranking = top(torch_loop(), torch_loop(**change), snapshot)
    assert first.id == cause and first.likelihood >= 0.75, ranking


def test_other_data_without_a_fingerprint_is_never_called_nondeterminism(snapshot):
    a, b = torch_loop(fingerprint=False), torch_loop(data_seed=99, fingerprint=False)
    diagnosis = diagnose(Side(label="A", snapshot=snapshot, runs=[a]),
                         Side(label="B", snapshot=snapshot, runs=[b]))
    ids = {f.id: f.likelihood for f in diagnosis.causes}  # notes (throttling) come first
    assert diagnosis.causes[0].id == "dataset" and ids["dataset"] < 0.75, ids
    assert ids.get("run_to_run", 0) < 0.1, ids
    assert "not fingerprinted" in diagnosis.causes[0].title


def test_a_loss_that_turns_non_finite_names_its_step_and_its_data(snapshot):
    a, b = torch_loop(), torch_loop(nan_at=9)
    diagnosis = diagnose(Side(label="A", snapshot=snapshot, runs=[a]),
                         Side(label="B", snapshot=snapshot, runs=[b]))
    ids = [f.id for f in diagnosis.causes]  # notes (a busy machine's throttling) come first
    assert ids[0] == "dataset", ids  # the inf came in with the data (fingerprint differs)
    nonfinite = next(f for f in diagnosis.findings if f.id == "nonfinite")
    assert any("became" in line and "step 9" in line for line in nonfinite.evidence)


@pytest.mark.parametrize("change, cause", [
    ({"data_seed": 6}, "dataset"),
    ({"lr": 0.3}, "config"),
    ({"seed": None}, "unseeded"),
])
def test_recorded_keras_fits_name_the_one_cause(tmp_path, snapshot, change, cause):
    a = keras_fit(tmp_path, "a")
    b = keras_fit(tmp_path, "b", **change)
    first, ranking = top(a, b, snapshot)
    assert first.id == cause and first.likelihood >= 0.75, ranking
