"""canary_common in-process: data, batches, hashing, metrics and config checks (no framework)."""

from __future__ import annotations

import gzip
import io
import json
import math

import numpy as np
import pytest
from canary_harness import DATA_DIR

from reprodiag import paths
from reprodiag.core.runs.config import RunConfig, run_options
from reprodiag.core.runs.protocol import Done, Step, parse_line
from reprodiag.core.runs.record import DIVERGED, FINISHED, RunRecord


def test_shipped_digits_are_the_1797_images_with_their_licence(common):
    path = paths.data_file("digits.csv.gz")
    with gzip.open(path, "rt", encoding="ascii") as fh:
        table = np.loadtxt(fh, delimiter=",")
    assert table.shape == (1797, 65)
    assert table[:, :64].min() == 0 and table[:, :64].max() == 16
    assert sorted(set(table[:, 64].astype(int))) == list(range(10))
    licence = paths.data_file("DIGITS_LICENSE.txt").read_text(encoding="utf-8")
    assert "CC BY 4.0" in licence and "Alpaydin" in licence and "BSD 3-Clause" in licence


def test_digits_split_is_fixed_and_disjoint(common):
    a, b = common.load_digits(DATA_DIR), common.load_digits(DATA_DIR)
    assert a.x_train.shape == (1500, 8, 8) and a.x_test.shape == (297, 8, 8)
    assert a.source_hash() == b.source_hash()
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    train_rows = {row.tobytes() for row in a.x_train.reshape(1500, -1)}
    assert sum(row.tobytes() in train_rows for row in a.x_test.reshape(297, -1)) < 5


def test_missing_digits_is_a_data_failure(common, tmp_path):
    with pytest.raises(common.WorkerFailure) as info:
        common.load_digits(str(tmp_path))
    assert info.value.kind == "data"


def test_shapes_are_deterministic_and_contain_every_class(common):
    a, b = common.load_shapes(), common.load_shapes()
    assert a.source_hash() == b.source_hash()
    assert a.x_train.shape == (512, 32, 32) and a.y_test.shape == (128, 32, 32)
    assert set(np.unique(a.y_train)) == {0, 1, 2}
    # shapes are brighter than the background noise, so the task is learnable
    assert a.x_train[a.y_train > 0].mean() > 0.5
    assert abs(a.x_train[a.y_train == 0].mean()) < 0.05


def test_hash_changes_with_any_bit_dtype_or_shape(common):
    x = np.linspace(0, 1, 12, dtype=np.float32)
    base = common.hash_arrays([x])
    flipped = x.copy()
    flipped.view(np.uint32)[5] ^= 1
    assert common.hash_arrays([flipped]) != base
    assert common.hash_arrays([x.astype(np.float64)]) != base
    assert common.hash_arrays([x.reshape(3, 4)]) != base
    assert common.hash_arrays([x.copy()]) == base == common.hash_arrays([x.byteswap().view(">f4")])
    assert len(base) == 16 and int(base, 16) >= 0


def test_batches_repeat_per_seed_and_cover_each_epoch(common):
    data = common.load_digits(DATA_DIR)

    def first_indices(seed, shuffle):
        stream = common.BatchStream(data, 100, seed, shuffle, False)
        return np.concatenate([stream._indices() for _ in range(15)])

    epoch = first_indices(0, True)
    assert sorted(epoch) == list(range(1500))  # one permutation per epoch
    assert np.array_equal(epoch, first_indices(0, True))
    assert not np.array_equal(epoch, first_indices(1, True))
    assert np.array_equal(first_indices(0, False), np.arange(1500))


def test_batch_chain_sees_order_and_augmentation_on_every_step(common):
    data = common.load_digits(DATA_DIR)

    def hashes(augment, swap_at=None, change_at=None, hash_every=1):
        stream, chain, out = common.BatchStream(data, 8, 0, True, augment), common.BatchChain(augment), []
        for step in range(4):
            x, y = stream.next()
            indices = stream.indices.copy()
            if step == swap_at:
                indices[[0, 1]] = indices[[1, 0]]
            if step == change_at:
                x = x.copy()
                x[0, 0, 0] += 1e-3
            chain.add(indices, x, y)
            if step % hash_every == 0 or step == 3:
                out.append(chain.hash(x, y))
        return out

    plain = hashes(False)
    assert len(set(plain)) == 4
    assert hashes(False, hash_every=3) == [plain[0], plain[3]]  # hashing often changes nothing
    assert hashes(False, swap_at=1)[3] != plain[3]  # a different order on an unhashed step
    assert hashes(False, change_at=3)[3] != plain[3]  # the hashed batch's own content
    augmented = hashes(True)
    assert augmented[0] != plain[0]
    assert hashes(True, change_at=1)[3] != augmented[3]  # augmented content on any step


def test_batches_larger_than_the_data_span_epochs(common):
    data = common.load_digits(DATA_DIR)
    x, y = common.BatchStream(data, 2000, 0, True, False).next()
    assert x.shape == (2000, 8, 8) and y.shape == (2000,)


def test_augmentation_shifts_masks_with_their_images(common):
    data = common.load_shapes()
    stream = common.BatchStream(data, 16, 3, False, True)
    x, y = stream.next()
    assert x.dtype == data.x_train.dtype and not np.array_equal(x, data.x_train[:16])
    moved = [i for i in range(16) if not np.array_equal(y[i], data.y_train[i])]
    assert moved  # some masks moved ...
    for i in moved:  # ... exactly as their image did
        shifts = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
        assert any(
            np.array_equal(common.shift_image(data.y_train[i], dy, dx), y[i])
            and np.abs(common.shift_image(data.x_train[i], dy, dx) - x[i]).max() < 0.5
            for dy, dx in shifts
        )


def test_shift_image_moves_and_zero_fills(common):
    image = np.arange(1, 10).reshape(3, 3)
    assert common.shift_image(image, 1, -1).tolist() == [[0, 0, 0], [2, 3, 0], [5, 6, 0]]
    assert np.array_equal(common.shift_image(image, 0, 0), image)


def test_metrics(common):
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert common.accuracy(logits, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    masks = np.array([[0, 1], [1, 2]])
    perfect = np.eye(3)[masks]  # one-hot logits, class axis last
    assert common.mean_iou(perfect, masks, 3) == 1.0
    wrong = np.eye(3)[np.array([[0, 1], [1, 1]])]
    assert common.mean_iou(wrong, masks, 3) == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_config_checks(common):
    good = json.loads(RunConfig().to_worker_json(DATA_DIR))
    assert common.parse_config(["w", json.dumps(good)], "torch") == good
    cases = [
        ["w"],
        ["w", "not json"],
        ["w", "[1]"],
        ["w", json.dumps({**good, "steps": 0})],
        ["w", json.dumps({**good, "dtype": "float16"})],
        ["w", json.dumps({k: v for k, v in good.items() if k != "lr"})],
    ]
    for argv in cases:
        with pytest.raises(common.WorkerFailure) as info:
            common.parse_config(argv, "torch")
        assert info.value.kind == "config" and "\n" not in str(info.value)
    with pytest.raises(common.WorkerFailure, match="this worker runs tensorflow"):
        common.parse_config(["w", json.dumps(good)], "tensorflow")


def test_the_workers_config_checks_are_runconfigs(common):
    """The worker's copy of RunConfig's choices and bounds (it cannot import reprodiag) takes
    exactly what RunConfig takes among the choices a front end offers."""
    from test_run_options import accepted, probes

    assert set(common._FIELD_CHECKS) == set(RunConfig.model_fields) | {"data_dir"}
    for option in run_options():
        for value in probes(option):
            assert common._FIELD_CHECKS[option.name](value) == accepted(option, value), (
                option.name, value)


def test_unseeded_draws_a_fresh_seed(common):
    assert common.resolve_seed(7) == 7
    drawn = {common.resolve_seed(None) for _ in range(5)}
    assert len(drawn) > 1 and all(0 <= s < 2**31 for s in drawn)


class SoftmaxRegression:
    """A real (numpy) Backend: softmax regression trained by plain gradient descent."""

    channels_first = True

    def __init__(self, lr):
        self.lr = lr

    def settings(self):
        return {"framework": "numpy"}

    def build(self, data):
        self.w = np.zeros((64, data.n_classes), dtype=data.x_train.dtype)

    def parameter_arrays(self):
        return [self.w]

    def n_params(self):
        return self.w.size

    def _probabilities(self, x):
        z = x.reshape(len(x), -1) @ self.w
        e = np.exp(z)  # no max-shift on purpose: a huge lr overflows to inf/inf = NaN
        return e / e.sum(axis=1, keepdims=True)

    def train_step(self, x, y, with_norm):
        with np.errstate(all="ignore"):
            p = self._probabilities(x)
            loss = -np.mean(np.log(p[np.arange(len(y)), y]))
            self.grad = x.reshape(len(x), -1).T @ (p - np.eye(self.w.shape[1])[y]) / len(y)
            self.w = self.w - self.lr * self.grad
        return float(loss), self.grad_norm() if with_norm else float("nan")

    def grad_norm(self):
        with np.errstate(all="ignore"):
            return float(np.sqrt(np.sum(self.grad**2)))

    def predict(self, x):
        with np.errstate(all="ignore"):
            return self._probabilities(x)

    def learning_rate(self):
        return self.lr


def test_step_line_is_what_json_dumps_writes(common):
    stream = io.StringIO()
    out = common.Output(stream)
    numbers = [0.1, -2.5e-300, 1e300, 3.0, float("nan"), float("inf"), float("-inf"), 0.0, -0.0]
    for i, value in enumerate(numbers):
        out.emit_step(i, value, numbers[-1 - i], "0123456789abcdef", "", 0.05, value)
        out.emit("step", step=i, loss=value, grad_norm=numbers[-1 - i],
                 param_hash="0123456789abcdef", batch_hash="", lr=0.05, step_time=value)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 * len(numbers)
    assert lines[0::2] == lines[1::2]
    assert all(isinstance(parse_line(line), Step) for line in lines)


@pytest.mark.parametrize("lr, diverges", [(0.5, False), (100.0, True)])
def test_training_loop_stops_at_a_non_finite_loss(common, lr, diverges):
    config = json.loads(RunConfig(steps=30, lr=lr).to_worker_json(DATA_DIR))
    stream = io.StringIO()
    common.train(common.Output(stream), SoftmaxRegression(lr), config, seed=0)
    messages = [parse_line(line) for line in stream.getvalue().splitlines()]
    steps = [m for m in messages if isinstance(m, Step)]
    done = messages[-1]
    assert isinstance(done, Done) and done.summary["diverged"] is diverges
    assert done.summary["steps"] == len(steps)
    if diverges:
        assert len(steps) < 30 and not math.isfinite(steps[-1].loss)
        assert all(math.isfinite(s.loss) for s in steps[:-1])
        assert steps[-1].param_hash and steps[-1].batch_hash  # the diverging step is pinned
    else:
        assert len(steps) == 30 and done.summary["metric"] > 0.5
    record = RunRecord(config=RunConfig(steps=30, lr=lr))
    for message in messages:
        record.apply(message)
    assert record.status == (DIVERGED if diverges else FINISHED)
