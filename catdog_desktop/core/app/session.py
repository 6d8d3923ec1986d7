"""The app's state without Qt: the dataset in use, the active model and whether it is saved, the
training settings, recent models. The window shows it and steers it; tests drive it without a
display (like napari's ViewerModel beside its Qt window).

Changes are announced through :class:`EventEmitter` objects in ``session.events``. Settings are
read and written here only, through a small store: ``ui.settings_store.QSettingsStore`` in the
app, a :class:`DictStore` in tests.
"""

from __future__ import annotations

import json
import logging
import os
import reprlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import TrainingConfig, config_from_settings, settings_to_dict

log = logging.getLogger(__name__)

MAX_RECENT = 6
BUILTIN_NAME = "built-in cats-vs-dogs model"

# Stored keys. TRAINING holds settings_to_dict() as JSON; OLD_TRAINING_KEYS are the older form.
TRAINING = "training"
OLD_TRAINING_KEYS = ("training_config", "preset")
RECENT_MODELS = "recent_models"
LAST_MODEL = "last_model"
LAST_MODEL_DIR = "last_model_dir"
LAST_EXPORT_DIR = "last_export_dir"
LAST_DATASET = "last_dataset"
LAST_PICTURES_DIR = "last_pictures_dir"
LAST_INBOX_DIR = "last_inbox_dir"
WINDOW_GEOMETRY = "geometry"  # the window's, written by it
ADVANCED_OPEN = "advanced_settings_open"
EXPLAIN_METHOD = "explain_method"
LAST_SORT_TARGET = "last_sort_target"
FAST_CLASSIFY = "fast_classify"
#: {model file: the user's "not sure" threshold} (JSON); a model without a file keeps its own in memory.
CONFIDENCE_THRESHOLDS = "confidence_thresholds"

#: Every stored key and the type of value it holds. A settings file can hold anything (QSettings
#: reads ``a, b`` as a list, a cut-short ``@ByteArray(`` as text, ``@Rect(…)`` as a rectangle), so
#: each value read is checked against this (:func:`checked_setting`) and a wrong one is ignored.
STORED_TYPES: dict[str, type | tuple[type, ...]] = {
    TRAINING: str, "training_config": (str, dict), "preset": str,
    RECENT_MODELS: (list, str), LAST_MODEL: str, LAST_MODEL_DIR: str, LAST_EXPORT_DIR: str,
    LAST_DATASET: str, LAST_PICTURES_DIR: str, LAST_INBOX_DIR: str, LAST_SORT_TARGET: str,
    WINDOW_GEOMETRY: bytes, ADVANCED_OPEN: (bool, str), EXPLAIN_METHOD: str, CONFIDENCE_THRESHOLDS: str,
    FAST_CLASSIFY: (bool, str),
}


def checked_setting(key: str, value: Any, default: Any = None) -> Any:
    """``value``, read from the settings under ``key``, when it has the type the app stores there
    (:data:`STORED_TYPES`); otherwise ``default``, and the damage is logged: a hand-edited or
    damaged settings file must never stop the app from starting."""
    if value is None or value is default:
        return default
    if isinstance(value, STORED_TYPES[key]) and not (isinstance(value, str) and "\0" in value):
        return value
    log.warning("ignored the stored setting %r: %s is not what the app stores there", key, reprlib.repr(value))
    return default


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
    trained: EventEmitter = field(default_factory=EventEmitter)   # (classifier): a training made a model
    recent: EventEmitter = field(default_factory=EventEmitter)    # (list of paths)
    explain_method: EventEmitter = field(default_factory=EventEmitter)  # (key): "Show where it looked" way chosen


class Session:
    """The state of one run of the app. ``classifier`` is a core.classify.classifier.Classifier (or None)."""

    def __init__(self, store: SettingsStore | None = None, builtin_model: str | os.PathLike | None = None):
        self.store = store if store is not None else DictStore()
        self.builtin_model = str(builtin_model) if builtin_model is not None else None
        self.events = SessionEvents()
        self.scan = None
        self.classifier = None
        #: The model the last training made, whether it classifies or not: a training never replaces
        #: the active model by itself (unless there is none); the user chooses (:meth:`use_trained`).
        self.trained = None
        self._discarded: list = []  # unsaved models the user chose not to keep
        self._before_opening = None  # the dataset in use before the folder being opened now

    def _setting(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` if it has the right type (:func:`checked_setting`), else ``default``."""
        return checked_setting(key, self.store.get(key, default), default)

    def _flag_setting(self, key: str) -> bool:
        """A yes/no setting (QSettings gives "true" back as text from some files)."""
        return str(self._setting(key, False)).lower() in ("true", "1")

    def _json_setting(self, key: str) -> Any:
        """What the JSON text stored under ``key`` holds (None: nothing, or unreadable)."""
        text = self._setting(key)
        if not text:
            return None
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            log.warning("ignored the stored setting %r: not JSON", key)
            return None

    # ----- dataset -----------------------------------------------------------------------
    def set_dataset(self, scan) -> None:
        """``scan``: the core.data.dataset.DatasetScan now in use (None while a folder is checked)."""
        self.scan = scan
        if scan is not None:
            self._before_opening = None
        self.events.dataset.emit(scan)

    def open_dataset(self, folder: str) -> None:
        """A folder is being opened: nothing trains on the previous one meanwhile (it comes back
        with :meth:`cancel_opening`)."""
        if self.scan is not None:
            self._before_opening = self.scan
        self.store.set(LAST_DATASET, folder)
        self.set_dataset(None)

    def cancel_opening(self):
        """Opening a folder was cancelled: the dataset in use before it is the one in use again
        (None if there was none). Returns it."""
        previous, self._before_opening = self._before_opening, None
        if previous is not None:
            self.store.set(LAST_DATASET, previous.root)
        else:
            self.store.remove(LAST_DATASET)
        self.set_dataset(previous)
        return previous

    @property
    def last_dataset(self) -> str:
        return self._setting(LAST_DATASET, "") or ""

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
        stored = self._json_setting(TRAINING)
        if stored is not None:
            return config_from_settings(stored)
        old = {key: self._setting(key) for key in OLD_TRAINING_KEYS}
        return config_from_settings(old)

    def save_training_settings(self, preset_name: str, config: TrainingConfig) -> None:
        self.store.set(TRAINING, json.dumps(settings_to_dict(preset_name, config)))
        for key in OLD_TRAINING_KEYS:
            self.store.remove(key)

    @property
    def pictures_folder(self) -> str:
        """Where *Open pictures…* starts: the folder pictures were last opened from."""
        return self._setting(LAST_PICTURES_DIR, "") or os.path.expanduser("~")

    def set_pictures_folder(self, folder: str) -> None:
        self.store.set(LAST_PICTURES_DIR, folder)

    @property
    def inbox_folder(self) -> str:
        """The folder of unlabelled pictures the Inbox tab last opened ("" for none)."""
        return self._setting(LAST_INBOX_DIR, "") or ""

    def set_inbox_folder(self, folder: str) -> None:
        self.store.set(LAST_INBOX_DIR, folder)

    @property
    def last_sort_target(self) -> str:
        """The folder the Classify tab last sorted files into ("" for none): *Undo last sort* works there."""
        return self._setting(LAST_SORT_TARGET, "") or ""

    def set_last_sort_target(self, folder: str) -> None:
        self.store.set(LAST_SORT_TARGET, folder)

    @property
    def advanced_open(self) -> bool:
        """Whether the Advanced training settings were left open."""
        return self._flag_setting(ADVANCED_OPEN)

    def set_advanced_open(self, open_: bool) -> None:
        self.store.set(ADVANCED_OPEN, bool(open_))

    @property
    def fast_classify(self) -> bool:
        """Whether the Classify tab classifies folders with the model's int8 version where that gives the
        same answers (core.export.fast)."""
        return self._flag_setting(FAST_CLASSIFY)

    def set_fast_classify(self, on: bool) -> None:
        self.store.set(FAST_CLASSIFY, bool(on))

    @property
    def explain_method(self) -> str:
        """How "Show where it looked" draws its heat (one of core.app.jobs.EXPLAIN_METHODS), as last chosen."""
        from .jobs import EXPLAIN_METHODS

        value = str(self._setting(EXPLAIN_METHOD, EXPLAIN_METHODS[0]))
        return value if value in EXPLAIN_METHODS else EXPLAIN_METHODS[0]

    def set_explain_method(self, method: str) -> None:
        """Remember ``method``; when it is a change, tell every place that shows the choice."""
        if method != self.explain_method:
            self.store.set(EXPLAIN_METHOD, method)
            self.events.explain_method.emit(method)

    @property
    def window_geometry(self) -> bytes | None:
        """The window's size and place as it last saved them (None: none, or unusable)."""
        return self._setting(WINDOW_GEOMETRY)

    def set_window_geometry(self, geometry: bytes) -> None:
        self.store.set(WINDOW_GEOMETRY, geometry)

    # ----- the active model ------------------------------------------------------------------
    def set_model(self, classifier, unsaved: bool = False) -> None:
        """Make ``classifier`` the active model; a model opened from a file joins the recent ones.
        (``unsaved`` is implied by a model without a file; kept for callers that say it.)"""
        self.classifier = classifier
        if classifier is not None and classifier.path:
            self.remember_model(classifier.path)
            stored = self.confidence_override(classifier.path)
            if stored is not None:
                classifier.threshold_override = stored
        self.events.model.emit(classifier)

    @property
    def model_unsaved(self) -> bool:
        """True when the active model exists only in memory (trained and not saved)."""
        return self.classifier is not None and not self.classifier.path

    def set_trained_model(self, result) -> None:
        """A training just ended with ``result`` (core.training.train.TrainingResult). Its model becomes
        the active one only when there is none; otherwise the user chooses (:meth:`use_trained`)."""
        from ..classify.classifier import Classifier

        self.trained = Classifier(result.model, result.class_names, result.config.image_size, result.metadata())
        if self.classifier is None:
            self.set_model(self.trained)
        self.events.trained.emit(self.trained)

    def use_trained(self) -> None:
        """The user chose the model the last training made: it classifies from now on."""
        if self.trained is not None and self.trained is not self.classifier:
            self.set_model(self.trained)

    def mark_saved(self, classifier, path) -> None:
        """``classifier`` now lives in ``path`` (it may no longer be the active one)."""
        classifier.path = str(path)
        self.remember_model(str(path))
        self.set_confidence_override(str(path), getattr(classifier, "threshold_override", None))
        if classifier is self.classifier:
            self.events.model.emit(classifier)

    def at_risk(self, reason: str):
        """The unsaved model that ``reason`` would lose and the user has not discarded, or None.
        "training": a new training replaces the trained model (unless it is the active one, which
        stays); "opening": another model (opened, or the trained one) replaces the active one (unless
        it is the trained one, still a click away); "quitting": either."""
        candidates = []
        if reason in ("training", "quitting") and self.trained is not self.classifier:
            candidates.append(self.trained)
        if reason in ("opening", "quitting") and (reason == "quitting" or self.classifier is not self.trained):
            candidates.append(self.classifier)
        for model in candidates:
            if model is not None and not model.path and not any(model is d for d in self._discarded):
                return model
        return None

    def discard_unsaved(self, classifier=None) -> None:
        """The user chose not to keep ``classifier`` (by default every unsaved model): do not ask
        about it again."""
        self._discarded += [classifier] if classifier is not None else [self.trained, self.classifier]

    @property
    def has_unsaved_work(self) -> bool:
        """True when quitting would lose an unsaved trained model the user has not discarded."""
        return self.at_risk("quitting") is not None

    def model_comparison(self) -> str:
        """The trained model's held-out accuracy beside the active one's, when both were scored on
        the same pictures (same folder, classes and held-out split); otherwise why they cannot be
        compared. "" when nothing was trained."""
        trained, active = self.trained, self.classifier
        if trained is None:
            return ""
        mine = _score(trained.metadata)
        if mine and mine[2] == "cross-validation":   # it trained on every picture (core.training.few)
            this = f"This model: {mine[0]:.1%} correct, estimated by cross-validation on {mine[1]:,} pictures."
        else:
            this = (f"This model: {mine[0]:.1%} correct on {mine[1]:,} {mine[2]} pictures." if mine
                    else "This model has no score.")
        if active is trained:
            return f"{this} It is the model in use: it classifies the pictures you drop."
        if active is None:
            return this
        name = self.model_name_of(active)
        went_on = trained.metadata.get("continued_from") or {}
        compared = went_on.get("comparison")
        if compared and active.path and os.path.basename(active.path) == went_on.get("model"):
            return (f"This model: {compared['after']:.1%} correct on {compared['count']:,} {compared['split']} "
                    f"pictures. The model in use ({name}), which it went on from: {compared['before']:.1%} on the "
                    f"same pictures.")
        theirs = _score(active.metadata)
        if mine and theirs and _same_pictures(trained.metadata, active.metadata):
            return f"{this} The model in use ({name}): {theirs[0]:.1%} on the same pictures."
        return (f"{this} The model in use ({name}) was checked on other pictures, so the two scores "
                f"do not compare.")

    def is_builtin(self, path: str | None) -> bool:
        return bool(path) and self.builtin_model is not None and path == self.builtin_model

    def model_name(self) -> str | None:
        """How to call the active model: its file name, the built-in one, or "trained just now"."""
        return self.model_name_of(self.classifier)

    def model_name_of(self, clf) -> str | None:
        if clf is None:
            return None
        if self.is_builtin(clf.path):
            return BUILTIN_NAME
        return os.path.basename(clf.path) if clf.path else "trained just now"

    # ----- the "not sure" threshold the user chose, per model file ---------------------------
    def _confidence_overrides(self) -> dict[str, float]:
        stored = self._json_setting(CONFIDENCE_THRESHOLDS)
        return {k: float(v) for k, v in stored.items()
                if isinstance(k, str) and isinstance(v, (int, float)) and 0.0 <= v <= 1.0} if isinstance(stored, dict) else {}

    def confidence_override(self, path: str | None) -> float | None:
        """The threshold the user set for the model file ``path`` (None: its recorded default)."""
        return self._confidence_overrides().get(path) if path else None

    def set_confidence_override(self, path: str | None, value: float | None) -> None:
        """Remember (``value`` None: forget) the user's threshold for the model file ``path``."""
        if not path:
            return
        overrides = self._confidence_overrides()
        if value is None:
            if overrides.pop(path, None) is None:
                return
        else:
            overrides[path] = float(value)
        self.store.set(CONFIDENCE_THRESHOLDS, json.dumps(overrides))

    # ----- recent models ----------------------------------------------------------------------
    @property
    def recent_models(self) -> list[str]:
        value = self._setting(RECENT_MODELS, [])
        if isinstance(value, str):  # QSettings reads a list of one as its item
            value = [value] if value else []
        return [p for p in value if checked_setting(LAST_MODEL, p)]

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
        return self._setting(LAST_MODEL_DIR, "") or os.path.expanduser("~")

    @property
    def export_folder(self) -> str:
        """Where to start an export: the folder of the last export (if it is still there), else where
        models are saved."""
        folder = self._setting(LAST_EXPORT_DIR, "") or ""
        return folder if folder and os.path.isdir(folder) else self.model_folder

    def set_export_folder(self, folder: str) -> None:
        self.store.set(LAST_EXPORT_DIR, folder)

    def startup_model(self) -> str | None:
        """The model to open at start: the last one used if it still exists, else the built-in one."""
        last = self._setting(LAST_MODEL, "")
        if last and os.path.exists(last):
            return last
        return self.builtin_model


def _score(metadata: dict) -> tuple[float, int, str] | None:
    """(accuracy, pictures, split name) of a model's held-out evaluation, from its metadata."""
    ev = (metadata or {}).get("evaluation") or {}
    if not isinstance(ev.get("accuracy"), (int, float)):
        return None
    return float(ev["accuracy"]), int(ev.get("count") or 0), str(ev.get("split") or "held-out")


def _same_pictures(a: dict, b: dict) -> bool:
    """Whether two models were scored on the same held-out pictures: the same dataset folder and
    classes, the same split name and, for a validation split, the same share, seed and method."""
    from ..data.dataset import split_method_of

    da, db = a.get("dataset") or {}, b.get("dataset") or {}
    sa, sb = (a.get("evaluation") or {}).get("split"), (b.get("evaluation") or {}).get("split")
    if not da or da.get("root") != db.get("root") or da.get("class_names") != db.get("class_names") or sa != sb:
        return False
    if sa == "test":
        return True
    shared = all(da.get(k) == db.get(k) for k in ("validation_source", "validation_split", "seed"))
    # A validation folder is the same pictures however a share would have been chosen.
    from_folder = str(da.get("validation_source", "")).startswith("folder")
    return shared and (from_folder or split_method_of(da) == split_method_of(db))
