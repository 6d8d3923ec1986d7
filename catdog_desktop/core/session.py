"""The app's state without Qt: the dataset in use, the active model and whether it is saved, the
training settings, recent models. The window shows it and steers it; tests drive it without a
display (like napari's ViewerModel beside its Qt window).

Changes are announced through :class:`EventEmitter` objects in ``session.events``. Settings are
read and written here only, through a small store: ``ui.settings_store.QSettingsStore`` in the
app, a :class:`DictStore` in tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .config import TrainingConfig, config_from_settings, settings_to_dict

MAX_RECENT = 6
BUILTIN_NAME = "built-in cats-vs-dogs model"

# Stored keys. TRAINING holds settings_to_dict() as JSON; OLD_TRAINING_KEYS are the older form.
TRAINING = "training"
OLD_TRAINING_KEYS = ("training_config", "preset")
RECENT_MODELS = "recent_models"
LAST_MODEL = "last_model"
LAST_MODEL_DIR = "last_model_dir"
LAST_DATASET = "last_dataset"
WINDOW_GEOMETRY = "geometry"  # the window's, written by it
ADVANCED_OPEN = "advanced_settings_open"


class SettingsStore(Protocol):
    """Where settings persist between launches."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def set(self, key: str, value: Any) -> None: ...
    def remove(self, key: str) -> None: ...


class DictStore(dict):
    """A :class:`SettingsStore` in memory (tests, or a session that remembers nothing)."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def remove(self, key: str) -> None:
        self.pop(key, None)


class EventEmitter:
    """A plain-Python signal: ``connect(callback)``, then ``emit(*args)`` calls every callback in
    the order they were connected."""

    def __init__(self) -> None:
        self._callbacks: list[Callable] = []

    def connect(self, callback: Callable) -> Callable:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args) -> None:
        for callback in list(self._callbacks):
            callback(*args)


@dataclass
class SessionEvents:
    dataset: EventEmitter = field(default_factory=EventEmitter)   # (scan or None)
    model: EventEmitter = field(default_factory=EventEmitter)     # (classifier or None): active model or its saved state
    recent: EventEmitter = field(default_factory=EventEmitter)    # (list of paths)


class Session:
    """The state of one run of the app. ``classifier`` is a core.inference.Classifier (or None)."""

    def __init__(self, store: SettingsStore | None = None, builtin_model: str | os.PathLike | None = None):
        self.store = store if store is not None else DictStore()
        self.builtin_model = str(builtin_model) if builtin_model is not None else None
        self.events = SessionEvents()
        self.scan = None
        self.classifier = None
        self.model_unsaved = False
        self._discarded = None  # the unsaved model the user chose to discard

    # ----- dataset -----------------------------------------------------------------------
    def set_dataset(self, scan) -> None:
        """``scan``: the core.dataset.DatasetScan now in use (None while a folder is checked)."""
        self.scan = scan
        self.events.dataset.emit(scan)

    def open_dataset(self, folder: str) -> None:
        """A folder is being opened: nothing trains on the previous one meanwhile."""
        self.store.set(LAST_DATASET, folder)
        self.set_dataset(None)

    @property
    def last_dataset(self) -> str:
        return self.store.get(LAST_DATASET, "") or ""

    def training_data(self, config: TrainingConfig):
        """The dataset split as ``config`` asks. The split is decided here only: when the share or
        seed changed since the scan, the same files are split again (not re-read) and the new
        split becomes the dataset in use."""
        scan = self.scan.resplit(config.validation_split, config.seed)
        if scan is not self.scan:
            self.set_dataset(scan)
        return scan

    # ----- training settings ---------------------------------------------------------------
    def training_settings(self) -> tuple[str, TrainingConfig]:
        """The preset name and config the user last trained with (or closed the app with)."""
        stored = self.store.get(TRAINING)
        if stored:
            try:
                return config_from_settings(json.loads(stored))
            except ValueError:
                pass
        old = {key: self.store.get(key) for key in OLD_TRAINING_KEYS}
        return config_from_settings(old)

    def save_training_settings(self, preset_name: str, config: TrainingConfig) -> None:
        self.store.set(TRAINING, json.dumps(settings_to_dict(preset_name, config)))
        for key in OLD_TRAINING_KEYS:
            self.store.remove(key)

    @property
    def advanced_open(self) -> bool:
        """Whether the Advanced training settings were left open."""
        return str(self.store.get(ADVANCED_OPEN, False)).lower() in ("true", "1")

    def set_advanced_open(self, open_: bool) -> None:
        self.store.set(ADVANCED_OPEN, bool(open_))

    # ----- the active model ------------------------------------------------------------------
    def set_model(self, classifier, unsaved: bool = False) -> None:
        """Make ``classifier`` the active model; a model opened from a file joins the recent ones."""
        self.classifier = classifier
        self.model_unsaved = bool(unsaved and classifier is not None)
        if classifier is not None and not unsaved:
            self.remember_model(classifier.path)
        self.events.model.emit(classifier)

    def set_trained_model(self, result) -> None:
        """A training just ended with ``result`` (core.training.TrainingResult): its model is
        active and not saved yet."""
        from .inference import Classifier

        classifier = Classifier(result.model, result.class_names, result.config.image_size, result.metadata())
        self.set_model(classifier, unsaved=True)

    def mark_saved(self, classifier, path) -> None:
        """``classifier`` now lives in ``path`` (it may no longer be the active one)."""
        classifier.path = str(path)
        self.remember_model(str(path))
        if classifier is self.classifier:
            self.model_unsaved = False
            self.events.model.emit(classifier)

    def discard_unsaved(self) -> None:
        """The user chose not to keep the unsaved model: do not ask about it again."""
        self._discarded = self.classifier

    @property
    def has_unsaved_work(self) -> bool:
        """True when an unsaved trained model would be lost and the user has not discarded it."""
        return self.model_unsaved and self.classifier is not None and self.classifier is not self._discarded

    def is_builtin(self, path: str | None) -> bool:
        return bool(path) and self.builtin_model is not None and path == self.builtin_model

    def model_name(self) -> str | None:
        """How to call the active model: its file name, the built-in one, or "trained just now"."""
        clf = self.classifier
        if clf is None:
            return None
        if self.is_builtin(clf.path):
            return BUILTIN_NAME
        return os.path.basename(clf.path) if clf.path else "trained just now"

    # ----- recent models ----------------------------------------------------------------------
    @property
    def recent_models(self) -> list[str]:
        value = self.store.get(RECENT_MODELS, [])
        if isinstance(value, str):
            value = [value] if value else []
        return [p for p in (value or []) if isinstance(p, str)]

    def remember_model(self, path: str | None) -> None:
        if not path or self.is_builtin(path):
            return
        recent = ([path] + [p for p in self.recent_models if p != path])[:MAX_RECENT]
        self.store.set(RECENT_MODELS, recent)
        self.store.set(LAST_MODEL, path)
        self.store.set(LAST_MODEL_DIR, os.path.dirname(path))
        self.events.recent.emit(recent)

    @property
    def model_folder(self) -> str:
        """Where to start a model file dialog."""
        return self.store.get(LAST_MODEL_DIR, "") or os.path.expanduser("~")

    def startup_model(self) -> str | None:
        """The model to open at start: the last one used if it still exists, else the built-in one."""
        last = self.store.get(LAST_MODEL, "")
        if last and os.path.exists(last):
            return last
        return self.builtin_model
