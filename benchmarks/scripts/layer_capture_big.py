"""The cost of one captured step on a ResNet-50-size model on the CPU.

`layer_capture_big.py '{"reps": 3, "width": 64, "size": 224, "batch": 2}'` prints one JSON
line. The model is ResNet-50 built here from torch.nn layers (bottleneck blocks 3-4-6-3,
base width 64: 25.6M parameters; no download). Three sides: a plain training step (forward,
loss, backward, SGD step, loss.item()); the same step followed by a new `TorchRecorder`'s
first step, the one it captures layers on (parameters and batch hashed, every layer's output
and gradient fingerprinted); and the same with layers=False (hashes only). Each side's steps
run in a row, the recorders' background hashing finished within its step; a recorder's first
step also reads the settings in force (~1 ms).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import torch  # noqa: E402
from torch import nn  # noqa: E402


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.down is None else self.down(x)))


def resnet50(width: int = 64, classes: int = 1000) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False),
                               nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                               nn.MaxPool2d(3, stride=2, padding=1)]
    cin = width
    for i, blocks in enumerate((3, 4, 6, 3)):
        w = width * 2 ** i
        for j in range(blocks):
            layers.append(Bottleneck(cin, w, 2 if j == 0 and i > 0 else 1))
            cin = w * Bottleneck.expansion
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def main() -> int:
    from reprodiag.record import TorchRecorder

    args = json.loads(sys.argv[1])
    torch.manual_seed(0)
    model = resnet50(args["width"])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(args["batch"], 3, args["size"], args["size"])
    y = torch.randint(0, 1000, (args["batch"],))
    loss_fn = nn.CrossEntropyLoss()

    def step(recorder) -> float:
        """Seconds of one training step, with the recorder's whole work on it (its hashes
        finished: `record` waits for the hash thread)."""
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        if recorder is None:
            loss.item()
        else:
            recorder.step(loss, batch=(x, y))
            recorder.record  # noqa: B018 - waits for the step's hashes
        return time.perf_counter() - started

    def timed(make) -> list[float]:
        """Each repetition a recorder's first step (the one that captures layers), after a
        warm-up step (kernels, allocations) with a recorder of its own."""
        times = []
        for i in range(args["reps"] + 1):
            recorder = make()
            seconds = step(recorder)
            if recorder is not None and recorder._hooks is not None:
                recorder._hooks.disarm()  # a recorder dropped here arms nothing further
            if i:
                times.append(seconds)
        return times

    # One side after the other: every side's steps in a row (a recorder's hooks are armed
    # for its first step only, so none fires in another side's pass).
    made: list = []

    def capturing():
        made.append(TorchRecorder(model, optimizer=optimizer, hash_every=1))
        return made[-1]

    plain = timed(lambda: None)
    hashed = timed(lambda: TorchRecorder(model, optimizer=optimizer, hash_every=1,
                                         layers=False))
    captured = timed(capturing)
    with_layers = made[-1]
    records = len(with_layers.record.layers[-1].records)
    capture = with_layers.record.layers[-1]
    line = json.dumps({"type": "layers", "step": capture.step,
                       "records": [r.to_json() for r in capture.records]})
    print(json.dumps({
        "plain": plain, "captured": captured, "hashes_only": hashed,
        "n_params": sum(p.numel() for p in model.parameters()), "records": records,
        "layers_line_bytes": len(line), "threads": torch.get_num_threads(),
        "plain_median": statistics.median(plain)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
