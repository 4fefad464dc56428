"""TorchRecorder on a real PyTorch training loop: what it records, and that recordings compare.

Same seed twice -> identical; another seed -> the runs part at the initial parameters. The
recorder's hash must be the canaries' hash, bit for bit, so it is checked against
workers/canary_common.py loaded from its file.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys

import numpy as np
import pytest

from reprodiag import paths
from reprodiag.core.bundle import read_bundle
from reprodiag.core.compare import compare_bundles
from reprodiag.core.compare.runs import DIVERGED, IDENTICAL
from reprodiag.core.knowledge.stages import Stage
from reprodiag.errors import UserError
from reprodiag.record import common as record_common

torch = pytest.importorskip("torch")
F = torch.nn.functional

from reprodiag.record import TorchRecorder  # noqa: E402

pytestmark = pytest.mark.framework  # runs real PyTorch / TensorFlow

STEPS = 12


def make_model(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def batches(n: int):
    """The same data for every run, whatever the model's seed."""
    gen = torch.Generator().manual_seed(1234)
    for _ in range(n):
        yield torch.randn(32, 8, generator=gen), torch.randint(0, 3, (32,), generator=gen)


def train(seed: int, steps: int = STEPS, **recorder_args):
    """A plain training loop with the recorder; returns it and per-step ground truth."""
    model, opt = make_model(seed)
    rec = TorchRecorder(model, label=f"seed {seed}", optimizer=opt, seed=seed, **recorder_args)
    truth = []
    for x, y in batches(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        grads = torch.cat([p.grad.flatten() for p in model.parameters()])
        truth.append({"loss": loss.item(), "grad_norm": torch.linalg.vector_norm(grads).item(),
                      "x": x, "y": y})
        rec.step(loss, batch=(x, y))
    return rec, model, truth


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    d = tmp_path_factory.mktemp("torch_recordings")
    return {name: read_bundle(train(seed)[0].save(d / f"{name}.reprodiag.zip"))
            for name, seed in (("a", 0), ("b", 0), ("other_seed", 1))}


@pytest.fixture(scope="module")
def canary_common():
    spec = importlib.util.spec_from_file_location(
        "canary_common_for_record", paths.worker_script("canary_common.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_same_seed_twice_compares_identical(bundles):
    comparison = compare_bundles(bundles["a"], bundles["b"])
    assert [p.verdict for p in comparison.pairs] == [IDENTICAL]
    assert len(bundles["a"].runs[0].steps) == STEPS


def test_another_seed_parts_at_the_initial_parameters(bundles):
    a, other = bundles["a"].runs[0], bundles["other_seed"].runs[0]
    assert a.init_param_hash != other.init_param_hash
    (pair,) = compare_bundles(bundles["a"], bundles["other_seed"]).pairs
    assert pair.verdict == DIVERGED
    assert pair.stage == Stage.INIT


def test_bundle_holds_a_user_recording_with_its_settings(bundles):
    bundle = bundles["a"]
    run = bundle.runs[0]
    assert bundle.snapshot is not None and bundle.label == "seed 0"
    assert run.status == "finished"
    cfg = run.config
    assert (cfg.framework, cfg.model, cfg.device, cfg.seed, cfg.steps) == (
        "torch", "custom", "cpu", 0, STEPS)
    assert (cfg.batch_size, cfg.lr, cfg.optimizer, cfg.dtype) == (32, 0.1, "sgd", "float32")
    s = run.settings
    assert s["user_recording"] is True and s["recorder"] == "TorchRecorder"
    assert s["threads"] == torch.get_num_threads() == cfg.threads
    assert s["deterministic"] is torch.are_deterministic_algorithms_enabled()
    assert s["framework_version"] == torch.__version__
    assert "var.CUBLAS_WORKSPACE_CONFIG" in s
    assert s["config_unknown"] == "shuffle, augment"
    assert run.summary["record_overhead_s"] > 0


def test_recorded_values_are_the_training_values():
    model, _ = make_model(3)
    init_hash = record_common.hash_arrays([t.numpy() for t in model.state_dict().values()])
    rec, model, truth = train(3, steps=4, hash_every=1)
    steps = rec.record.steps
    assert rec.record.init_param_hash == init_hash
    assert steps.values("step") == [0, 1, 2, 3]
    assert steps.values("loss") == [t["loss"] for t in truth]
    assert steps.values("grad_norm") == pytest.approx([t["grad_norm"] for t in truth], rel=1e-5)
    arrays = [a for t in truth for a in (t["x"].numpy(), t["y"].numpy())]
    # Chained: step s's batch hash is the digest of the batches of steps 0..s.
    assert steps.hash_list("batch_hash") == [record_common.hash_arrays(arrays[: 2 * (s + 1)])
                                             for s in range(4)]
    final = record_common.hash_arrays([t.numpy() for t in model.state_dict().values()])
    hashes = steps.hash_list("param_hash")
    assert hashes[-1] == final and hashes[0] != init_hash
    assert steps.values("lr") == [0.1] * 4
    assert all(t >= 0 for t in steps.values("step_time"))


def test_hash_every_skips_hashes_between_and_save_pins_the_last(tmp_path):
    rec, model, _ = train(0, steps=6, hash_every=2)
    hashes = rec.record.steps.hash_list("param_hash")
    assert [bool(h) for h in hashes] == [True, False, True, False, True, False]
    assert [bool(h) for h in rec.record.steps.hash_list("batch_hash")] == [True, False] * 3
    run = read_bundle(rec.save(tmp_path / "k.reprodiag.zip")).runs[0]
    final = record_common.hash_arrays([t.numpy() for t in model.state_dict().values()])
    assert run.steps.hash_list("param_hash") == hashes[:-1] + [final]
    # the last step's batch is gone by save(): its batch hash stays "not taken"
    assert run.steps.hash_list("batch_hash")[-1] == "" and run.settings["hash_every"] == 2
    assert run.recording_scheme == "torch-recorder/3"


def test_default_hash_every_is_100_and_a_non_finite_step_is_hashed():
    model, opt = make_model(0)
    rec = TorchRecorder(model, optimizer=opt)
    for i, (x, y) in enumerate(batches(104)):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        rec.step(loss * float("inf") if i == 102 else loss, batch=(x, y))
    steps = rec.record.steps
    assert len(steps) == 104 and steps.values("step") == list(range(104))
    assert [i for i, h in enumerate(steps.hash_list("param_hash")) if h] == [0, 100, 102]
    assert [i for i, h in enumerate(steps.hash_list("batch_hash")) if h] == [0, 100, 102]
    taken = [i for i, g in enumerate(steps.values("grad_norm")) if not math.isnan(g)]
    assert taken == [0, 100, 102]  # the gradient norm is taken where the hashes are
    assert rec.record.settings["hash_every"] == 100


@pytest.mark.parametrize("inline_limit", [0, 1 << 20], ids=["background", "inline"])
def test_hashes_are_of_the_parameters_at_their_step(monkeypatch, inline_limit):
    # Inline hashes read views of the live tensors; the hash thread reads copies: training
    # on meanwhile must not change what it hashes.
    monkeypatch.setattr(record_common, "INLINE_HASH_BYTES", inline_limit)
    model, opt = make_model(5)
    rec = TorchRecorder(model, optimizer=opt, hash_every=1)
    at_step = []
    for x, y in batches(30):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        rec.step(loss, batch=(x, y))
        at_step.append(record_common.hash_arrays([t.numpy() for t in model.state_dict().values()]))
    assert rec.record.steps.hash_list("param_hash") == at_step
    assert len(set(at_step)) == 30


def test_batch_hash_chains_the_batches_of_hashed_steps():
    def recorded(changed_step):
        model, opt = make_model(0)
        rec = TorchRecorder(model, optimizer=opt, hash_every=4)
        for i, (x, y) in enumerate(batches(5)):
            if i == changed_step:
                x = x.clone()
                x[7, 2] += 1.0  # one value of one sample
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            rec.step(loss, batch=(x, y))
        return rec.record.steps.hash_list("batch_hash"), rec.record.steps.values("loss")

    (plain, plain_loss), (first, _), (between, between_loss) = (
        recorded(None), recorded(0), recorded(2))
    assert [bool(h) for h in plain] == [True, False, False, False, True]
    assert first[0] != plain[0] and first[4] != plain[4]  # chained: step 0's batch stays in
    # a batch changed on an unhashed step is not in the hash (no host copy there), but the
    # loss of that step shows it
    assert between == plain and between_loss[:2] == plain_loss[:2]
    assert between_loss[2] != plain_loss[2]

def test_settings_follow_torch_flags():
    torch.use_deterministic_algorithms(True)
    try:
        rec, _, _ = train(0, steps=1)
    finally:
        torch.use_deterministic_algorithms(False)
    config = rec._rec.config()
    assert rec.record.settings["deterministic"] is True and config.deterministic is True


def test_nan_loss_marks_the_recording_diverged(tmp_path):
    model, opt = make_model(0)
    rec = TorchRecorder(model, optimizer=opt)
    rec.step(torch.tensor(float("nan")), batch=torch.zeros(4, 8))
    run = read_bundle(rec.save(tmp_path / "nan")).runs[0]
    assert run.status == "diverged" and math.isnan(run.steps.loss[0])


def test_bad_use_is_one_clear_error(tmp_path):
    model, _ = make_model(0)
    with pytest.raises(UserError, match="torch.nn.Module"):
        TorchRecorder("not a model")
    with pytest.raises(UserError, match="hash_every"):
        TorchRecorder(model, hash_every=0)
    rec = TorchRecorder(model)
    with pytest.raises(UserError, match="nothing recorded"):
        rec.save(tmp_path / "empty.reprodiag.zip")
    with pytest.raises(UserError, match="batch must be"):
        rec.step(1.0, batch="some text")
    with pytest.raises(UserError, match="single number"):
        rec.step(torch.ones(3), batch=None)


def test_hash_is_the_canaries_hash(canary_common):
    rng = np.random.default_rng(0)
    arrays = [
        rng.standard_normal((3, 4)).astype(np.float32),
        rng.standard_normal(5),
        rng.integers(0, 9, (2, 2, 2)),
        np.array(1.5),
        np.zeros((0, 3), np.float16),
        np.array([True, False]),
        rng.standard_normal((4, 4)).astype(">f4"),  # big-endian
        rng.standard_normal((6, 6))[::2, 1::2],  # not contiguous
    ]
    assert record_common.hash_arrays(arrays) == canary_common.hash_arrays(arrays)
    for a in arrays:
        assert record_common.hash_arrays([a]) == canary_common.hash_arrays([a])
    flipped = arrays[0].copy()
    flipped.view(np.uint32)[0, 0] ^= 1
    assert record_common.hash_arrays([flipped]) != record_common.hash_arrays(arrays[:1])
    assert record_common.NUMERICS_VARIABLES == canary_common.NUMERICS_VARIABLES


def test_grad_norm_is_the_torch_canarys(canary_common):
    from reprodiag.record.torch_recorder import cpu_grad_norm

    folder = str(paths.worker_script("canary_torch.py").parent)
    had_common = "canary_common" in sys.modules
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location("canary_torch_for_record",
                                                      paths.worker_script("canary_torch.py"))
        canary_torch = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(canary_torch)
    finally:
        sys.path.remove(folder)
        if not had_common:
            sys.modules.pop("canary_common", None)
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(shape, generator=gen) for shape in ((128, 64), (128,), (10, 3, 3), (1,))]
    grads.append(torch.randn(7, generator=gen, dtype=torch.float64))
    norm = cpu_grad_norm(torch, grads)
    assert norm == canary_torch._cpu_grad_norm(torch, grads)
    whole = torch.linalg.vector_norm(torch.cat([g.double().flatten() for g in grads])).item()
    assert norm == pytest.approx(whole, rel=1e-6)


def test_grad_norm_is_taken_on_hashed_steps_with_parameters_added_during_training():
    model, opt = make_model(0)
    rec = TorchRecorder(model, optimizer=opt, hash_every=2)
    extra = torch.nn.Parameter(torch.ones(3))
    norms = []
    for step, (x, y) in enumerate(batches(4)):
        if step == 1:
            model.register_parameter("extra", extra)  # after step 0 (hashed): seen from step 2
        opt.zero_grad()
        loss = F.cross_entropy(model(x) + model.extra if step >= 1 else model(x), y)
        loss.backward()
        rec.step(loss, batch=(x, y))
        grads = [p.grad.flatten() for p in model.parameters() if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.cat(grads)).item())
    recorded = rec.record.steps.values("grad_norm")
    assert recorded[0] == pytest.approx(norms[0], rel=1e-5)
    assert math.isnan(recorded[1]) and math.isnan(recorded[3])  # not hashed: not taken
    assert recorded[2] == pytest.approx(norms[2], rel=1e-5)  # the new parameter counts


def test_bfloat16_parameters_hash_by_their_bits():
    t = torch.randn(4, 3).to(torch.bfloat16)
    model = torch.nn.Linear(3, 2).to(torch.bfloat16)
    rec = TorchRecorder(model)
    assert len(rec.record.init_param_hash) == record_common.HASH_CHARS
    from reprodiag.record.torch_recorder import tensor_to_numpy

    assert tensor_to_numpy(torch, t).dtype == np.uint8


def test_importing_record_imports_no_framework():
    code = "import sys, reprodiag.record; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    top = {m.split(".")[0] for m in out.stdout.split()}
    assert not top & {"torch", "tensorflow", "keras", "jax", "PySide6", "pyqtgraph"}


def test_cli_compares_recordings(bundles, capsys):
    from reprodiag.cli import main

    assert main(["compare", str(bundles["a"].path), str(bundles["b"].path)]) == 0
    assert "identical" in capsys.readouterr().out
