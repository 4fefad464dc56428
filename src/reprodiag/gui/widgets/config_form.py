"""The canary-config form, built from the RunConfig model's own fields (`run_options()`):
their titles, descriptions, types, bounds and choices.

Each field gets the editor its type calls for (choice, check box, spin box, the field's
"unset" word as the special value of an optional number); `config()` validates through
RunConfig itself, so the form cannot drift from the model the CLI and workers use.
"""

from __future__ import annotations

from typing import Any, Callable

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

from reprodiag.core.runs.config import RunConfig, RunOption, run_option, run_options
from reprodiag.errors import UserError

FLOAT_DECIMALS = 5
FLOAT_STEP = 0.01


def label(name: str) -> str:
    """The form's label of a RunConfig field (its title)."""
    return run_option(name).title


def tooltip(option: RunOption) -> str:
    return option.description[:1].upper() + option.description[1:]


def _int_range(option: RunOption) -> tuple[int, int]:
    low = int(option.low) if option.low is not None else -2**31
    high = int(option.high) if option.high is not None else 2**31 - 1
    return low - (1 if option.optional else 0), high  # one below: the "unset" special value


def _float_range(option: RunOption) -> tuple[float, float]:
    low = option.low if option.low is not None else -1e9
    if option.low_exclusive:  # the smallest value the spin box can show above the bound
        low += 10.0 ** -FLOAT_DECIMALS
    return low, option.high if option.high is not None else 1e9


class _Editor:
    """Binds one field to its widget: read a value from it, write a value into it."""

    def __init__(self, option: RunOption):
        self.name = option.name
        self.kind: str = option.kind  # or "tristate": an optional bool
        self.optional = option.optional
        self.widget: QComboBox | QCheckBox | QSpinBox | QDoubleSpinBox
        if option.kind == "choice":
            self.widget = QComboBox()
            self.widget.addItems(list(option.choices))
        elif option.kind == "bool" and option.optional:
            self.kind = "tristate"
            self.widget = QComboBox()
            self.widget.addItems([option.unset, "on", "off"])
        elif option.kind == "bool":
            self.widget = QCheckBox()
        elif option.kind == "int":
            self.widget = QSpinBox()
            self.widget.setRange(*_int_range(option))
            if option.optional:
                self.widget.setSpecialValueText(option.unset)
        else:
            self.widget = QDoubleSpinBox()
            self.widget.setDecimals(FLOAT_DECIMALS)
            self.widget.setRange(*_float_range(option))
            self.widget.setSingleStep(FLOAT_STEP)

    def get(self) -> Any:
        w = self.widget
        if isinstance(w, QComboBox):
            if self.kind == "tristate":
                return {0: None, 1: True, 2: False}[w.currentIndex()]
            return w.currentText()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            v = w.value()
            return None if self.optional and v == w.minimum() else v
        return w.value()

    def set(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, QComboBox):
            if self.kind == "tristate":
                w.setCurrentIndex(0 if value is None else (1 if value else 2))
            else:
                w.setCurrentText(str(value))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QSpinBox):
            w.setValue(w.minimum() if value is None else int(value))
        else:
            w.setValue(float(value))

    def connect(self, slot: Callable[..., None]) -> None:
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
        for option in run_options():
            editor = _Editor(option)
            tip = tooltip(option)
            editor.widget.setToolTip(tip)
            editor.connect(lambda *_: self.changed.emit())
            layout.addRow(option.title + ":", editor.widget)
            layout.labelForField(editor.widget).setToolTip(tip)
            self.editors[option.name] = editor
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
            title = label(field) if field in RunConfig.model_fields else field
            raise UserError(f"{title}: {err.get('msg', 'invalid value')}")

    def set_config(self, cfg: RunConfig) -> None:
        for name, value in cfg.model_dump().items():
            if name in self.editors:
                self.editors[name].set(value)
