"""The standard canary set: the runs `reprodiag export` (and the Colab helper) records.

Chosen to expose the common causes of differing results cheaply: a single-thread MLP (the
most reproducible baseline), the same MLP with the framework's default threads, a CNN, and
the DeepLab-style segmentation net -- per installed framework and per available device.
"""

from __future__ import annotations

from reprodiag.core.runs.config import RunConfig


def standard_configs(
    frameworks: list[str], devices: list[str], *, quick: bool = False, seed: int = 0
) -> list[RunConfig]:
    """Configs of the standard set, in a stable order (pairs across machines by config)."""
    steps = {"mlp": 60, "cnn": 40, "segnet": 15} if quick else {"mlp": 300, "cnn": 150, "segnet": 60}
    out: list[RunConfig] = []
    for framework in frameworks:
        for device in devices:
            threads_variants = (1, None) if device == "cpu" else (None,)
            for threads in threads_variants:
                out.append(
                    RunConfig(framework=framework, model="mlp", device=device, seed=seed,
                              steps=steps["mlp"], threads=threads)
                )
            out.append(
                RunConfig(framework=framework, model="cnn", device=device, seed=seed,
                          steps=steps["cnn"], threads=1 if device == "cpu" else None)
            )
            out.append(
                RunConfig(framework=framework, model="segnet", device=device, seed=seed,
                          steps=steps["segnet"], batch_size=8, lr=0.01, optimizer="adam",
                          threads=1 if device == "cpu" else None)
            )
    return out
