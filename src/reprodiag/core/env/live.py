"""Live utilisation for the GUI status bar: CPU, RAM and each GPU, cheap enough for 1/s.

psutil's cpu_percent is measured since the previous call (the first call reads 0.0);
NVML is initialised once per process by gpu.nvml().
"""

from __future__ import annotations

from typing import Any

import psutil

from reprodiag.core.env.gpu import live_gpus


def sample() -> dict[str, Any]:
    """{"cpu_percent", "ram_used", "ram_total", "gpus": [{"index", "util", "mem_used",
    "mem_total", "temperature"}]} -- gpus is [] without an NVIDIA driver."""
    memory = psutil.virtual_memory()
    return {
        "cpu_percent": float(psutil.cpu_percent(interval=None)),
        "ram_used": int(memory.total - memory.available),
        "ram_total": int(memory.total),
        "gpus": live_gpus(),
    }
