"""The baseline of the canary end-to-end figure: `import torch` plus a bare training loop.

`bare_canary.py STEPS` trains the canary MLP (64-128-128-10, SGD lr 0.05, batches of 32,
one thread, seed 0) on the digits shipped with reprodiag for STEPS steps and prints the last
loss. No hashing, no protocol, no second process: the least any tool could do.
"""

from __future__ import annotations

import gzip
import os
import sys

import numpy as np
import torch

DIGITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src",
                      "reprodiag", "data", "digits.csv.gz")


def main() -> int:
    steps = int(sys.argv[1])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with gzip.open(DIGITS, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    x = torch.from_numpy((table[:, :64] / 16.0).astype(np.float32))
    y = torch.from_numpy(table[:, 64].astype(np.int64))
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.randperm(len(x))
    loss = None
    for step in range(steps):
        idx = order[(step * 32) % (len(x) - 32):][:32]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
    print(f"last loss {loss.item():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
