"""Persistent GUI settings: window geometry and splitters, last tab, target interpreter,
recent bundles, the folder file dialogs open in.

Backed by QSettings (the platform's usual place) or an INI file given by path (tests), or
kept in memory only (offscreen screenshots must not touch the user's settings).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "reprodiag"
APPLICATION = "reprodiag"
MAX_RECENT = 10


class _TextSetting:
    """A text value stored under `key`: '' until one is set."""

    def __init__(self, key: str):
        self.key = key

    def __get__(self, settings: "AppSettings", owner: type | None = None) -> str:
        return str(settings._get(self.key, "") or "")

    def __set__(self, settings: "AppSettings", value: str) -> None:
        settings._set(self.key, value)


class AppSettings:
    """Typed access to the few values the window remembers between sessions."""

    def __init__(self, path: str | None = None, *, in_memory: bool = False):
        self._memory: dict[str, Any] = {}  # the values when in_memory
        self._qs: QSettings | None
        if in_memory:
            self._qs = None
        elif path:
            self._qs = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self._qs = QSettings(ORGANIZATION, APPLICATION)

    def _get(self, key: str, default: Any) -> Any:
        if self._qs is None:
            return self._memory.get(key, default)
        return self._qs.value(key, default)

    def _state(self, key: str) -> QByteArray | None:
        """Bytes Qt saved (a geometry, a splitter), or None when there are none."""
        value = self._get(key, None)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def _set(self, key: str, value: Any) -> None:
        if self._qs is None:
            self._memory[key] = value
        else:
            self._qs.setValue(key, value)

    # window
    @property
    def geometry(self) -> QByteArray | None:
        return self._state("window/geometry")

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._set("window/geometry", value)

    last_tab = _TextSetting("window/last_tab")

    def splitter(self, name: str) -> QByteArray | None:
        """A splitter's saved sizes (QSplitter.saveState), or None."""
        return self._state(f"splitters/{name}")

    def set_splitter(self, name: str, state: QByteArray) -> None:
        self._set(f"splitters/{name}", state)

    # file dialogs
    # The folder of the last file opened or saved through a dialog ('' before any).
    last_folder = _TextSetting("files/last_folder")

    # runs
    last_interpreter = _TextSetting("runs/last_interpreter")

    # bundles
    @property
    def recent_files(self) -> list[str]:
        value = self._get("bundles/recent", [])
        if isinstance(value, str):  # INI files hand back a one-element list as a string
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent(self, path: str) -> None:
        files = [path] + [p for p in self.recent_files if p != path]
        self._set("bundles/recent", files[:MAX_RECENT])

    def remove_recent(self, path: str) -> None:
        self._set("bundles/recent", [p for p in self.recent_files if p != path])

    def clear_recent(self) -> None:
        self._set("bundles/recent", [])

    def sync(self) -> None:
        if self._qs is not None:
            self._qs.sync()
