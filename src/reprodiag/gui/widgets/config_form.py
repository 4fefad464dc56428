"""The canary-config form, built from the RunConfig model's own fields, types and bounds.

Each field gets the editor its type calls for (choice, check box, spin box, "default"
special value for optional numbers); `config()` validates through RunConfig itself, so the
form cannot drift from the model the CLI and workers use.
"""

from __future__ import annotations

import typing
from typing import Any, Literal

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

from reprodiag.core.runs.config import DEVICES, FRAMEWORKS, MODELS, RunConfig
from reprodiag.errors import UserError

LABELS = {
    "framework": "Framework", "model": "Model", "device": "Device", "seed": "Seed",
    "steps": "Steps", "batch_size": "Batch size", "lr": "Learning rate",
    "optimizer": "Optimizer", "dtype": "Float type", "deterministic": "Deterministic ops",
    "tf32": "Allow TF32", "threads": "CPU threads", "shuffle": "Shuffle batches",
    "augment": "Augment data", "onednn": "TF oneDNN", "hash_every": "Hash every",
    "layers": "Capture layers",
}
# Choices a canary can run (the model type also allows "custom": recorded, never run).
CHOICES = {"framework": FRAMEWORKS, "model": MODELS, "device": DEVICES}
HELP = {
    "framework": "Framework under test; it is imported only inside the worker process",
    "model": "Canary model: a small MLP, a small CNN, or a DeepLab-style segmentation net",
    "device": "Where the worker trains: CPU, GPU, or the framework's choice (auto)",
    "seed": "Seed for every random generator; 'unseeded' shows what an unseeded run does",
    "steps": "Optimizer steps to record (each step's loss; gradient norm and hashes on hashed steps)",
    "batch_size": "Examples per training step",
    "lr": "Learning rate of the optimizer",
    "optimizer": "SGD (simplest arithmetic) or Adam",
    "dtype": "float64 separates algorithm differences from float32 rounding",
    "deterministic": "Ask the framework for deterministic kernels "
                     "(torch.use_deterministic_algorithms / TF op determinism)",
    "tf32": "Allow TF32 matmuls/convolutions on GPUs of compute capability 8.0 and newer",
    "threads": "Intra-op CPU threads; the thread count changes summation order",
    "shuffle": "Shuffle batches each epoch (seeded)",
    "augment": "Seeded data augmentation (random flips/noise)",
    "onednn": "TensorFlow oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS); default = TF's choice",
    "hash_every": "Hash parameters and batches and take the gradient norm every k-th step (and "
                  "the first, last and non-finite ones); 1 = every step. Recording only: runs "
                  "still pair",
    "layers": "Fingerprint each layer's output and gradients on hashed steps, so a comparison "
              "names the first layer where two runs part. Recording only: runs still pair",
}


def _none_text(description: str | None, fallback: str = "default") -> str:
    """'unseeded' from a field description like 'None = unseeded'."""
    if description and "None =" in description:
        return description.split("None =", 1)[1].strip()
    return fallback


def _bounds(info) -> tuple[float, float]:
    """(lower, upper) from the field's annotated-types constraints (Ge/Gt/Le/Lt)."""
    lo, hi = -2**31, 2**31 - 1
    for m in info.metadata:
        lo = next((v for v in (getattr(m, "ge", None), getattr(m, "gt", None)) if v is not None),
                  lo)
        hi = next((v for v in (getattr(m, "le", None), getattr(m, "lt", None)) if v is not None),
                  hi)
    return lo, hi


class _Editor:
    """Binds one field to its widget: read a value from it, write a value into it."""

    def __init__(self, name: str, info):
        self.name = name
        ann = info.annotation
        optional = typing.get_origin(ann) is typing.Union and type(None) in typing.get_args(ann)
        base = next(a for a in typing.get_args(ann) if a is not type(None)) if optional else ann
        none_text = _none_text(info.description)
        if typing.get_origin(base) is Literal:
            self.kind = "choice"
            self.widget = QComboBox()
            self.widget.addItems([str(v) for v in CHOICES.get(name, typing.get_args(base))])
        elif base is bool and optional:
            self.kind = "tristate"
            self.widget = QComboBox()
            self.widget.addItems([none_text, "on", "off"])
        elif base is bool:
            self.kind = "bool"
            self.widget = QCheckBox()
        elif base is int:
            self.kind = "int"
            lo, hi = _bounds(info)
            self.widget = QSpinBox()
            self.optional = optional
            self.widget.setRange(int(lo) - (1 if optional else 0), int(hi))
            if optional:
                self.widget.setSpecialValueText(none_text)
        elif base is float:
            self.kind = "float"
            lo, hi = _bounds(info)
            self.widget = QDoubleSpinBox()
            self.widget.setDecimals(5)
            self.widget.setRange(max(lo, 1e-5) if lo == 0 else lo, hi)
            self.widget.setSingleStep(0.01)
        else:  # a field type this form does not know: fail loudly in development
            raise TypeError(f"RunConfig.{name}: no editor for {ann!r}")
        self.optional = optional

    def get(self) -> Any:
        w = self.widget
        if self.kind == "choice":
            return w.currentText()
        if self.kind == "tristate":
            return {0: None, 1: True, 2: False}[w.currentIndex()]
        if self.kind == "bool":
            return w.isChecked()
        if self.kind == "int":
            v = w.value()
            return None if self.optional and v == w.minimum() else v
        return w.value()

    def set(self, value: Any) -> None:
        w = self.widget
        if self.kind == "choice":
            w.setCurrentText(str(value))
        elif self.kind == "tristate":
            w.setCurrentIndex(0 if value is None else (1 if value else 2))
        elif self.kind == "bool":
            w.setChecked(bool(value))
        elif self.kind == "int":
            w.setValue(w.minimum() if value is None else int(value))
        else:
            w.setValue(float(value))

    def connect(self, slot) -> None:
        w = self.widget
        if isinstance(w, QComboBox):
            w.currentIndexChanged.connect(slot)
        elif isinstance(w, QCheckBox):
            w.toggled.connect(slot)
        else:
            w.valueChanged.connect(slot)


class ConfigForm(QWidget):
    """Edits a RunConfig; starts at the model's defaults."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setVerticalSpacing(4)
        self.editors: dict[str, _Editor] = {}
        for name, info in RunConfig.model_fields.items():
            editor = _Editor(name, info)
            tip = HELP.get(name, info.description or name)
            editor.widget.setToolTip(tip)
            editor.connect(lambda *_: self.changed.emit())
            layout.addRow(LABELS.get(name, name.replace("_", " ").capitalize()) + ":",
                          editor.widget)
            layout.labelForField(editor.widget).setToolTip(tip)
            self.editors[name] = editor
        self.set_config(RunConfig())

    def widget(self, name: str) -> QWidget:
        return self.editors[name].widget

    def values(self) -> dict[str, Any]:
        return {name: e.get() for name, e in self.editors.items()}

    def config(self, **overrides: Any) -> RunConfig:
        """The config in the form (with overrides); UserError names the bad field."""
        values = {**self.values(), **overrides}
        try:
            return RunConfig(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = str(err.get("loc", ("config",))[0])
            raise UserError(f"{LABELS.get(field, field)}: {err.get('msg', 'invalid value')}")

    def set_config(self, cfg: RunConfig) -> None:
        for name, value in cfg.model_dump().items():
            if name in self.editors:
                self.editors[name].set(value)
