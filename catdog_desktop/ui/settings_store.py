"""QSettings as the session's settings store (core.app.session.SettingsStore)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings


class QSettingsStore:
    """Reads and writes through ``QSettings`` (the user's settings file, or a test's)."""

    def __init__(self, settings: QSettings | None = None):
        self.settings = settings if settings is not None else QSettings()

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value as the file has it (check its type: core.app.session.checked_setting), byte
        arrays as ``bytes`` so that the Qt-free session can check them."""
        value = self.settings.value(key, default)
        return value.data() if isinstance(value, QByteArray) else value

    def set(self, key: str, value: Any) -> None:
        self.settings.setValue(key, value)

    def remove(self, key: str) -> None:
        self.settings.remove(key)

    def sync(self) -> None:
        self.settings.sync()
