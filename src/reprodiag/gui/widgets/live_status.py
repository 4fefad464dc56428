"""Status-bar readout of live CPU, RAM and GPU load (core.env.live.sample, once a second)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

SAMPLE_MS = 1000
GIB = 2**30


def format_sample(sample: dict[str, Any]) -> str:
    """'CPU 12% · RAM 6.1/15.5 GiB · GPU0 45% 3.2/24.0 GiB 61°C'."""
    parts = []
    cpu = sample.get("cpu_percent")
    if isinstance(cpu, (int, float)):
        parts.append(f"CPU {cpu:.0f}%")
    used, total = sample.get("ram_used"), sample.get("ram_total")
    if isinstance(used, (int, float)) and isinstance(total, (int, float)) and total:
        parts.append(f"RAM {used / GIB:.1f}/{total / GIB:.1f} GiB")
    for gpu in sample.get("gpus") or []:
        name = f"GPU{gpu.get('index', '')}"
        if gpu.get("error"):
            parts.append(f"{name} unavailable")
            continue
        bits = [name]
        if isinstance(gpu.get("util"), (int, float)):
            bits.append(f"{gpu['util']:.0f}%")
        mu, mt = gpu.get("mem_used"), gpu.get("mem_total")
        if isinstance(mu, (int, float)) and isinstance(mt, (int, float)) and mt:
            bits.append(f"{mu / GIB:.1f}/{mt / GIB:.1f} GiB")
        if isinstance(gpu.get("temperature"), (int, float)):
            bits.append(f"{gpu['temperature']:.0f}°C")
        parts.append(" ".join(bits))
    return " · ".join(parts)


class LiveStatus(QLabel):
    """Samples the machine once a second while visible; a failing sample shows as text."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setToolTip("Live load of this machine: CPU, memory and, when present, each "
                        "NVIDIA GPU's utilisation, memory and temperature")
        self._timer = QTimer(self)
        self._timer.setInterval(SAMPLE_MS)
        self._timer.timeout.connect(self.sample_now)

    def start(self) -> None:
        self.sample_now()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def sample_now(self) -> None:
        from reprodiag.core.env import live  # psutil and NVML: loaded by the first sample, not before

        try:
            self.setText(format_sample(live.sample()))
        except Exception as exc:  # noqa: BLE001 - a failing sensor must not take the window down
            self.setText(f"live load unavailable: {type(exc).__name__}")
