"""Layer capture: the bundle size of the standard canary set with it on and off
(scripts/canary_set_size.py), and the cost of one captured step on a ResNet-50-size model
(scripts/layer_capture_big.py)."""

from __future__ import annotations

import json
import tempfile

from benchmarks.harness import Result, Side, Sizes, script

# smoke: a narrow ResNet-50 on small images, only to check the script works
BIG = {"full": {"reps": 5, "width": 64, "size": 224, "batch": 2},
       "quick": {"reps": 2, "width": 64, "size": 224, "batch": 2},
       "smoke": {"reps": 1, "width": 4, "size": 32, "batch": 2}}


def run(sizes: Sizes) -> list[Result]:
    with tempfile.TemporaryDirectory() as folder:
        out = script("canary_set_size.py", folder, *(["smoke"] if sizes.mode == "smoke" else []))
    size = Result("layer_capture_bundle_size",
                  f"bundle size of the standard canary set (export --quick, {out['runs']} runs)",
                  "ratio", 1.25, Side("with layer capture (layers.json)", "bytes",
                                      [float(out["with_layers"])]),
                  Side("without (layers off)", "bytes", [float(out["without_layers"])]))
    size.extra["layers_json_compressed_bytes"] = out["layers_json_compressed"]
    big = script("layer_capture_big.py", json.dumps(BIG[sizes.mode]))
    step = Result("layer_capture_resnet50_step",
                  f"one captured step, ResNet-50 ({big['n_params'] / 1e6:.1f}M parameters, "
                  f"CPU, batch {BIG[sizes.mode]['batch']})", "ratio", 2.0,
                  Side("step + TorchRecorder.step, hashes and layers", "s", big["captured"]),
                  Side("the same step, loss.item() only", "s", big["plain"]))
    step.extra.update(hashes_only_s=big["hashes_only"], records=big["records"],
                      layers_line_bytes=big["layers_line_bytes"], threads=big["threads"])
    return [size, step]
