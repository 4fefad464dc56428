"""Per-step time of the torch canary's own loop against the same loop recording only the loss.

`canary_steps.py '{"model": "mlp", "steps": 400, "reps": 5}'` prints one JSON line.

The subject is the worker's real training loop, `canary_common.train`, with the worker's
real `TorchBackend` (both imported from the worker folder, unchanged); its protocol lines go
to os.devnull through the worker's own Output (given a stream instead of fd 1). The baseline
is the same model, optimizer, data and batch stream, stepped with plain torch calls and one
JSON line with the loss per step. Both run single-threaded.

One repetition runs the two in alternating blocks of BLOCK steps: after every BLOCK-th canary
step, the canary's Output runs BLOCK baseline steps (on a model of its own) and the canary's
time leaves that out. This machine has slow phases lasting from a fraction of a second to
seconds (another tenant's load: a third of whole-loop samples ran 20-50% slower, CPU time as
much as wall time); alternating whole loops let them fall on one side more than the other and
swing the ratio of medians by +-10% run to run, where blocks of ~8 ms see the same phase.
Then each recording part is timed alone, and the pairs are repeated with hash_every 1, 10,
25 and 100 instead of the default, and with layer capture off (what-if figures: medians of
the pairs' ratios). The subject runs the default config: layer capture on.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from benchmarks.scripts.workers import import_workers  # noqa: E402

common, canary_torch = import_workers("canary_common", "canary_torch")
import torch  # noqa: E402

SEED = 0
HASH_EVERY_WHAT_IF = (1, 10, 25, 100)  # the run config's default is 50 (25, 10 before)
BLOCK = 20  # steps of one side before the other side runs as many


class NullOutput(common.Output):
    """canary_common.Output itself (emit, emit_step), writing to os.devnull instead of the
    parent's pipe; keeps the `done` summary."""

    def __init__(self) -> None:
        super().__init__(open(os.devnull, "w", encoding="utf-8"))
        self.summary: dict = {}

    def emit(self, message_type: str, /, **fields) -> None:
        super().emit(message_type, **fields)
        if message_type == "done":
            self.summary = fields["summary"]


def config(model: str, steps: int, device: str = "cpu") -> dict:
    from reprodiag.core.runs.config import RunConfig
    from reprodiag.paths import data_file

    cfg = RunConfig(framework="torch", model=model, device=device, seed=SEED, steps=steps,
                    threads=1)
    return json.loads(cfg.to_worker_json(data_dir=str(data_file(""))))


class BareLoop:
    """The baseline: the same training recording only the loss, run `steps` at a time."""

    def __init__(self, cfg: dict) -> None:
        self.backend = canary_torch.make_backend(cfg, SEED)
        data = common.load_dataset(cfg["model"], cfg["data_dir"]).cast(cfg["dtype"])
        self.backend.build(data)
        self.batches = common.BatchStream(data, cfg["batch_size"], SEED, cfg["shuffle"],
                                          cfg["augment"])
        self.sink = NullOutput()
        self.steps = 0
        self.seconds = 0.0

    def run(self, steps: int) -> None:
        backend, batches, sink = self.backend, self.batches, self.sink
        model, optimizer, loss_fn = backend.model, backend.optimizer, backend.loss_fn
        model.train()
        started = time.perf_counter()
        for step in range(self.steps, self.steps + steps):
            x, y = batches.next()
            x = torch.from_numpy(x[:, None]).to(backend.device)
            y = torch.from_numpy(y).to(backend.device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            sink.emit("step", step=step, loss=loss.item())
        self.seconds += time.perf_counter() - started
        self.steps += steps


class InterleavingOutput(NullOutput):
    """The canary's Output, running a block of baseline steps after every BLOCK-th step and
    keeping the time that took apart."""

    def __init__(self, bare: BareLoop) -> None:
        super().__init__()
        self.bare = bare
        self.outside = 0.0  # seconds spent on the baseline inside the canary's loop

    def emit_step(self, step: int, *values) -> None:
        super().emit_step(step, *values)
        if (step + 1) % BLOCK == 0:
            started = time.perf_counter()
            self.bare.run(BLOCK)
            self.outside += time.perf_counter() - started


def paired_step_times(cfg: dict) -> tuple[float, float]:
    """Seconds per step of canary_common.train and of the baseline, run in alternating
    blocks of BLOCK steps (cfg's steps a multiple of BLOCK, so both run as many)."""
    bare = BareLoop(cfg)
    backend = canary_torch.make_backend(cfg, SEED)
    out = InterleavingOutput(bare)
    common.train(out, backend, cfg, SEED)
    steps = out.summary["steps"]
    return (out.summary["wall_time"] - out.outside) / steps, bare.seconds / bare.steps


def parts(cfg: dict, calls: int) -> tuple[dict[str, float], int]:
    """Seconds per call of each thing the canary records besides the loss; parameter count."""
    backend = canary_torch.make_backend(cfg, SEED)
    data = common.load_dataset(cfg["model"], cfg["data_dir"]).cast(cfg["dtype"])
    backend.build(data)
    batches = common.BatchStream(data, cfg["batch_size"], SEED, cfg["shuffle"], cfg["augment"])
    x, y = batches.next()
    backend.enable_layers()
    backend.train_step(x[:, None], y, True)  # gradients exist, as after a real step
    sink = NullOutput()
    chain = common.BatchChain(cfg["augment"])
    model, optimizer, loss_fn = backend.model, backend.optimizer, backend.loss_fn
    xt, yt = torch.from_numpy(x[:, None]).to(backend.device), torch.from_numpy(y).to(backend.device)

    def bare_step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt), yt)
        loss.backward()
        optimizer.step()
        return loss.item()

    backend.train_step(x[:, None], y, True, capture=True)
    layer_records = backend.layer_records()
    jobs = {
        "train_step_backend": lambda: backend.train_step(x[:, None], y, False),
        "train_step_bare": bare_step,
        "param_hash": lambda: common.hash_arrays(backend.parameter_arrays()),
        "read_parameters_only": backend.parameter_arrays,
        "batch_chain_add": lambda: chain.add(batches.indices, x, y),
        "batch_hash": lambda: chain.hash(x, y),
        "grad_norm": backend.grad_norm,
        "train_step_captured": lambda: (backend.train_step(x[:, None], y, True, capture=True),
                                        backend.layer_records()),
        "layers_line": lambda: sink.emit("layers", step=1, records=layer_records),
        "step_line": lambda: sink.emit_step(1, 0.1, 0.2, "0" * 16, "1" * 16, 0.05, 0.001),
        "loss_line": lambda: sink.emit("step", step=1, loss=0.1),
    }
    timings = {}
    for name, job in jobs.items():
        job()
        t0 = time.perf_counter()
        for _ in range(calls):
            job()
        timings[name] = (time.perf_counter() - t0) / calls
    return timings, backend.n_params()


def main() -> int:
    args = json.loads(sys.argv[1])
    device = args.get("device", "cpu")
    steps = max(BLOCK, args["steps"] // BLOCK * BLOCK)
    cfg = config(args["model"], steps, device)
    torch.set_num_threads(1)
    canary, bare = [], []
    paired_step_times(config(args["model"], BLOCK, device))  # warm-up: allocations, dispatch
    for _ in range(args["reps"]):
        subject, baseline = paired_step_times(cfg)
        canary.append(subject)
        bare.append(baseline)
    variants = {f"hash_every_{k}": {**cfg, "hash_every": k} for k in HASH_EVERY_WHAT_IF}
    variants["layers_off"] = {**cfg, "layers": False}
    what_if = {name: statistics.median(
        canary / bare for canary, bare in (paired_step_times(variant)
                                           for _ in range(args["reps"])))
        for name, variant in variants.items()}
    timings, n_params = parts(cfg, max(20, args["steps"] // 2))
    print(json.dumps({"canary": canary, "bare": bare, "what_if_ratio": what_if, "parts": timings,
                      "bare_median": statistics.median(bare), "n_params": n_params,
                      "threads": torch.get_num_threads(),
                      "device_name": torch.cuda.get_device_name() if device == "gpu" else "cpu"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
