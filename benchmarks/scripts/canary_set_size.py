"""Bundle size of the standard canary set (`reprodiag export --quick`'s configs) with layer
capture on and off: `canary_set_size.py OUT_DIR [smoke]` prints one JSON line (smoke: the
first config only, 3 steps, to check the script works).

Each config runs once per side (the sizes are deterministic but for timings and run ids);
both bundles carry the same environment snapshot, so they differ only by layers.json.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main() -> int:
    from reprodiag.core.env import capture
    from reprodiag.core.runs.canary_set import standard_configs
    from reprodiag.core.runs.session import available_frameworks, record_runs

    out = Path(sys.argv[1])
    snapshot = capture()
    configs = standard_configs(available_frameworks(snapshot), ["cpu"], quick=True)
    if sys.argv[2:] == ["smoke"]:
        configs = [configs[0].model_copy(update={"steps": 3})]
    sizes, layers_json = {}, 0
    for layers in (True, False):
        path = out / f"set-layers-{'on' if layers else 'off'}.reprodiag.zip"
        record_runs([c.model_copy(update={"layers": layers}) for c in configs], out=path,
                    snapshot=snapshot, label="size")
        sizes[layers] = path.stat().st_size
        if layers:
            with zipfile.ZipFile(path) as zf:
                layers_json = sum(i.compress_size for i in zf.infolist()
                                  if i.filename.endswith("layers.json"))
    print(json.dumps({"with_layers": sizes[True], "without_layers": sizes[False],
                      "layers_json_compressed": layers_json, "runs": len(configs)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
