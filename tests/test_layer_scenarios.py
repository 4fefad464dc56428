"""Where two real runs part inside the model, on differences whose answer is known.

Canaries run as real worker processes through the launcher (torch and TensorFlow on the
CPU); user models are recorded in this process with TorchRecorder. For each pair the
parting layer and its magnitude class are asserted: the values below are what these kernels
do on an x86-64 CPU with AVX2 (this project's machines), each explained where it is met.
"""

from __future__ import annotations

import os

import pytest

from reprodiag.core.compare import compare_runs
from reprodiag.core.compare.layers import BITWISE, GROSS, LAST_BITS, REDUCTION
from reprodiag.core.runs import launcher
from reprodiag.core.runs.config import RunConfig

pytestmark = pytest.mark.framework  # runs real PyTorch / TensorFlow

torch = pytest.importorskip("torch")

STEPS = 20  # captured at steps 0 and 19 (the last): hash_every 50


@pytest.fixture(scope="module")
def canary():
    """canary(env={...}, **config) -> a finished RunRecord, each distinct one run once."""
    cache: dict = {}

    def get(env: dict[str, str] | None = None, **fields):
        config = RunConfig(**{"steps": STEPS, "threads": 1, "seed": 0, **fields})
        key = (config, tuple(sorted((env or {}).items())))
        if key not in cache:
            saved = dict(os.environ)
            os.environ.update(env or {})
            try:
                cache[key] = launcher.run(config, timeout=300)
            finally:
                os.environ.clear()
                os.environ.update(saved)
        record = cache[key]
        assert record.status == "finished", (record.reason, record.log[-5:])
        return record

    return get


def parting(a, b):
    lc = compare_runs(a, b).layers
    assert lc is not None
    return lc


def test_torch_cnn_1_vs_2_threads_parts_in_the_last_linear_weight_gradient(canary):
    # The forward pass is the same at 1 and 2 threads; the weight gradient of the last
    # linear layer sums over the batch, a sum split between threads at 2: last-bit rounding.
    lc = parting(canary(model="cnn"), canary(model="cnn", threads=2))
    assert lc.step == 0 and lc.input_matched
    assert (lc.parting.name, lc.parting.kind, lc.parting.phase, lc.parting.tensor) == (
        "8", "linear", "backward", "grad.weight")
    assert lc.magnitude == LAST_BITS and 0 < lc.ulps <= 4 and lc.rel_error < 1e-6
    assert all(row.equal for row in lc.rows[1:])  # nothing else differs at step 0 yet
    assert lc.nonfinite is None


def test_aten_default_capability_parts_in_the_first_convolution(canary):
    # Where the CPU has AVX2, ATEN_CPU_CAPABILITY=default makes torch use its scalar kernels:
    # the first convolution computes in another order at step 0 (and uniform_ draws the
    # initial weights with other roundings too: the initial-parameter hashes differ).
    a = canary(model="cnn")
    b = canary(model="cnn", env={"ATEN_CPU_CAPABILITY": "default"})
    assert b.settings["cpu_capability"] == "DEFAULT"
    if a.settings["cpu_capability"] == "DEFAULT":
        pytest.skip("this CPU has no vector capability: default is what torch uses anyway")
    lc = parting(a, b)
    assert lc.step == 0 and lc.input_matched
    assert (lc.parting.name, lc.parting.kind, lc.parting.phase) == ("0", "convolution", "forward")
    assert lc.magnitude == REDUCTION and 1e-8 < lc.rel_error < 1e-5


def test_keras_onednn_off_vs_on_parts_in_a_convolution_at_rounding_scale(canary):
    pytest.importorskip("tensorflow")
    off = canary(framework="tensorflow", model="cnn", onednn=False)
    on = canary(framework="tensorflow", model="cnn", onednn=True)
    assert (off.settings["onednn_enabled"], on.settings["onednn_enabled"]) == (False, True)
    lc = parting(off, on)
    assert lc.step == 0 and lc.input_matched
    # the first convolution (one input channel) is computed alike; the second is not
    assert (lc.parting.name, lc.parting.kind, lc.parting.phase) == (
        "1.conv2d", "convolution", "forward")
    assert lc.magnitude in (LAST_BITS, REDUCTION) and lc.rel_error < 1e-5


def test_float32_vs_float64_parts_at_the_first_layer_that_computes(canary):
    # The batch and its flattening hold the same values in both dtypes (matched by value);
    # the first linear layer rounds its float32 sums.
    lc = parting(canary(model="mlp"), canary(model="mlp", dtype="float64"))
    assert lc.step == 0 and lc.input_matched
    first = next(row for row in lc.rows)
    assert (lc.parting.name, lc.parting.kind, lc.parting.phase) == ("1", "linear", "forward")
    assert first.a.dtype == "float32" and first.b.dtype == "float64"
    # float32 rounding against float64's: a few ULP in each sampled value
    assert lc.magnitude in (LAST_BITS, REDUCTION) and lc.rel_error < 1e-5


def test_identical_runs_part_nowhere_and_capture_changes_no_number(canary):
    a, again = canary(model="cnn"), canary(model="cnn", hash_every=7)  # a second run
    lc = parting(a, again)  # another hash cadence, the same first step
    assert lc.step is None and lc.parting is None and lc.magnitude == BITWISE
    assert lc.steps == [0] and lc.summary.startswith("no layer differs")
    bare = canary(model="cnn", layers=False)
    assert bare.layers == [] and compare_runs(a, bare).layers is None
    # the same numbers, hashes included, with capture on or off
    assert compare_runs(a, bare).verdict == "identical"


def test_keras_canary_capture_changes_no_number(canary):
    pytest.importorskip("tensorflow")
    with_layers = canary(framework="tensorflow", model="cnn", onednn=False)
    without = canary(framework="tensorflow", model="cnn", onednn=False, layers=False)
    assert without.layers == [] and [c.step for c in with_layers.layers] == [0]
    assert compare_runs(with_layers, without).verdict == "identical"


# ------------------------------------------------------------------ user models, recorded


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(20, 32)
        self.act = torch.nn.ReLU()
        self.drop = torch.nn.Dropout(0.3)
        self.fc2 = torch.nn.Linear(32, 32)
        self.act2 = torch.nn.ReLU(inplace=True)
        self.head = torch.nn.Linear(32, 4)

    def forward(self, x):
        return self.head(self.act2(self.fc2(self.drop(self.act(self.fc1(x))))))


def recorded(*, dropout_seed: int = 0, inf_in=None, steps: int = 12):
    """A TorchRecorder recording of Net on fixed data; init always from seed 0."""
    from reprodiag.record import TorchRecorder

    torch.manual_seed(0)
    model = Net()
    g = torch.Generator().manual_seed(1)
    x_all, y_all = torch.randn(256, 20, generator=g), torch.randint(0, 4, (256,), generator=g)
    if inf_in is not None:
        with torch.no_grad():
            getattr(model, inf_in).weight[3, 5] = float("inf")
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    torch.manual_seed(dropout_seed)  # the stream dropout draws its masks from
    rec = TorchRecorder(model, optimizer=opt, hash_every=5, data=(x_all, y_all))
    for i in range(steps):
        x, y = x_all[i * 16:(i + 1) * 16], y_all[i * 16:(i + 1) * 16]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        rec.step(loss, batch=(x, y))
    return rec._rec.finished_record()


def test_a_differently_seeded_dropout_parts_at_the_dropout_layer():
    lc = parting(recorded(), recorded(dropout_seed=1))
    assert lc.step == 0 and lc.input_matched
    assert (lc.parting.name, lc.parting.kind, lc.parting.phase) == ("drop", "dropout", "forward")
    assert lc.magnitude == GROSS
    earlier = [r for r in lc.grid_layers[:lc.grid_layers.index(lc.parting)]]
    assert [r.name for r in earlier] == ["input", "fc1", "act"]  # matched before it


def test_an_inf_in_one_layers_weights_names_that_layer_as_the_first_non_finite():
    lc = parting(recorded(), recorded(inf_in="fc2"))
    assert (lc.nonfinite.layer.name, lc.nonfinite.layer.phase) == ("fc2", "forward")
    assert lc.nonfinite.step == 0 and lc.nonfinite.sides == "B"
    assert (lc.parting.name, lc.magnitude) == ("fc2", GROSS)


def test_two_identical_recordings_part_nowhere():
    a, b = recorded(), recorded()
    lc = parting(a, b)
    assert [c.step for c in a.layers] == [0] and lc.steps == [0]
    assert lc.step is None and lc.nonfinite is None and a.dataset_hash == b.dataset_hash != ""


def test_compare_names_the_parting_layer_in_text_markdown_and_json(canary, tmp_path):
    import json
    import subprocess
    import sys

    from reprodiag.core.bundle import write_bundle

    paths = [write_bundle(tmp_path / name, snapshot=None, runs=[run], label=name)
             for name, run in (("one", canary(model="cnn")), ("two", canary(model="cnn", threads=2)))]

    def compare(*flags: str) -> str:
        done = subprocess.run([sys.executable, "-m", "reprodiag", "compare", *map(str, paths),
                               *flags], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    text = compare()
    assert ("layers: layers part at step 0 in 8 grad.weight (linear, backward) with equal "
            "inputs; last bits") in text
    assert "8 grad.weight  linear       backward" in text  # the per-layer table
    markdown = compare("--markdown")
    assert "| layer | kind | phase | rel. error | ULPs | class |" in markdown
    assert "| 8 grad.weight | linear | backward |" in markdown
    layers = json.loads(compare("--json"))["pairs"][0]["layers"]
    assert layers["parting"] == {"name": "8", "kind": "linear", "phase": "backward",
                                 "tensor": "grad.weight"}
    assert layers["step"] == 0 and layers["magnitude"] == LAST_BITS and layers["ulps"] <= 4
    assert layers["rows"][0]["a"]["hash"] != layers["rows"][0]["b"]["hash"]


# ------------------------------------------------------------------ the diagnosis reads them


def _diagnose(a, b):
    from reprodiag.core.diagnose import Side, diagnose

    return diagnose(Side(label="A", runs=[a]), Side(label="B", runs=[b]))


def test_the_diagnosis_names_threads_in_the_layer_where_they_act(canary):
    top = _diagnose(canary(model="cnn"), canary(model="cnn", threads=2)).causes[0]
    assert top.id == "threads" and top.likelihood_word == "very likely"
    assert any(line.startswith("fits:") and "8 grad.weight (linear, backward)" in line
               for line in top.evidence)


def test_a_dropout_parting_first_is_a_random_stream_not_kernel_numerics():
    diagnosis = _diagnose(recorded(), recorded(dropout_seed=1))
    top = diagnosis.causes[0]
    assert top.id == "rng_stream" and top.likelihood >= 0.5, [
        (f.id, f.likelihood) for f in diagnosis.findings]
    assert all(f.likelihood < 0.1 for f in diagnosis.findings if f.id == "run_to_run")


def test_a_nan_born_in_one_layer_names_that_layer():
    diagnosis = _diagnose(recorded(), recorded(inf_in="fc2"))
    nonfinite = next(f for f in diagnosis.findings if f.id == "nonfinite")
    assert nonfinite.likelihood >= 0.5
    assert any("first non-finite values appear in layer fc2" in line and "in B" in line
               for line in nonfinite.evidence)
