"""The main window: assembles the panels, owns the workers, menus, status bar and settings.

Importing this module imports neither TensorFlow nor matplotlib: both load in the background
after the window is on screen.
"""

from __future__ import annotations

import json
import logging
import os
import time

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QTabWidget

from .. import __version__
from ..core.config import PRESETS, TrainingConfig, preset
from ..paths import default_model_path, sample_dataset_dir
from . import tasks
from .classify_panel import ClassifyPanel
from .dataset_panel import DatasetPanel
from .training_panel import PanelReporter, TrainingPanel
from .workers import ThreadPool, Worker

log = logging.getLogger(__name__)

MAX_RECENT = 6


_BUNDLED = object()


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, default_model=_BUNDLED, sample_dataset=_BUNDLED):
        """``default_model``/``sample_dataset``: paths of the built-in model and sample folder
        (None for none; the bundled ones by default)."""
        super().__init__()
        self.settings = settings if settings is not None else QSettings()
        self.default_model = default_model_path() if default_model is _BUNDLED else default_model
        self.sample_dataset = sample_dataset_dir() if sample_dataset is _BUNDLED else sample_dataset
        self.setWindowTitle("catdog-desktop")
        self.pool = ThreadPool(self)
        self.scan = None
        self.classifier = None          # core.inference.Classifier in use
        self.model_unsaved = False
        self.tf_ready = False
        self.versions: dict[str, str] = {}
        self._scan_worker: Worker | None = None
        self._train_worker: Worker | None = None
        self._load_worker: Worker | None = None
        self._saving = None              # the classifier a background save is writing
        self._classify_worker: Worker | None = None
        self._last_batch_emit = 0.0
        self._drop_started = 0.0
        self.first_prediction_seconds: float | None = None

        self.dataset_panel = DatasetPanel()
        self.training_panel = TrainingPanel()
        self.training_reporter = PanelReporter(self.training_panel, self.statusBar().showMessage)
        self.classify_panel = ClassifyPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.dataset_panel, "1 · Dataset")
        self.tabs.addTab(self.training_panel, "2 · Train")
        self.tabs.addTab(self.classify_panel, "3 · Classify")
        self.setCentralWidget(self.tabs)

        self.dataset_panel.folder_chosen.connect(self.open_dataset)
        self.dataset_panel.cancel_requested.connect(self._cancel_scan)
        self.dataset_panel.sample_requested.connect(self.open_sample_dataset)
        self.dataset_panel.sample_button.setVisible(self.sample_dataset is not None)
        self.training_panel.train_requested.connect(self.start_training)
        self.training_panel.stop_requested.connect(self.stop_training)
        self.training_panel.save_requested.connect(self.save_model_dialog)
        self.classify_panel.classify_requested.connect(self.classify_paths)
        self.classify_panel.image_pasted.connect(self.classify_pasted)

        self.model_status = QLabel("No model")
        self.statusBar().addPermanentWidget(self.model_status)
        self._build_menus()
        self._restore_settings()
        self._update_model_labels()
        self._started_background = False
        self._closing = False
        self._pending_pictures: list[str] = []

    # ----- menus ----------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_dataset_action = QAction("Open &dataset folder…", self, shortcut=QKeySequence.StandardKey.Open,
                                           triggered=self.dataset_panel.choose_folder)
        self.open_model_action = QAction("Open &model…", self, shortcut=QKeySequence("Ctrl+Shift+O"),
                                         triggered=self.open_model_dialog)
        self.save_model_action = QAction("&Save model…", self, shortcut=QKeySequence.StandardKey.Save,
                                         triggered=self.save_model_dialog)
        self.recent_menu = file_menu.addMenu("Recent models")
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close)
        for action in (self.open_dataset_action, self.open_model_action, self.save_model_action):
            file_menu.addAction(action)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        train_menu = self.menuBar().addMenu("&Training")
        self.train_action = QAction("&Train", self, shortcut=QKeySequence("Ctrl+T"),
                                    triggered=self.training_panel._on_train_clicked)
        self.stop_action = QAction("&Stop", self, shortcut=QKeySequence("Ctrl+."),
                                   triggered=self.training_panel._on_stop_clicked)
        train_menu.addAction(self.train_action)
        train_menu.addAction(self.stop_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(QAction("&About catdog-desktop", self, triggered=self.show_about))
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self._recent_models()
        for path in recent:
            action = QAction(os.path.basename(path), self)
            action.setToolTip(path)
            action.setData(path)
            action.triggered.connect(self._open_recent)
            self.recent_menu.addAction(action)
        self.recent_menu.setEnabled(bool(recent))

    @Slot()
    def _open_recent(self) -> None:
        action = self.sender()
        if action is not None:
            self.load_model(action.data())

    def show_about(self) -> None:
        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import qVersion

        tf = self.versions.get("tensorflow", "still loading…")
        keras = self.versions.get("keras", "still loading…")
        QMessageBox.about(self, "About catdog-desktop", (
            f"<h3>catdog-desktop {__version__}</h3>"
            "<p>Train an image classifier on your own folders of pictures, and use it.</p>"
            f"<p>TensorFlow {tf}<br>Keras {keras}<br>Qt {qVersion()} (PySide6 {pyside_version})</p>"
        ))

    # ----- start-up: show first, then load the heavy libraries --------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._started_background:
            self._started_background = True
            QTimer.singleShot(0, self._start_background_loading)

    def _start_background_loading(self) -> None:
        self.statusBar().showMessage("Starting: loading TensorFlow in the background…")
        worker = Worker(tasks.warm_up, name="warm-up")
        worker.yielded.connect(self._on_warmup_step)
        worker.returned.connect(self._on_warmup_done)
        worker.errored.connect(self._on_warmup_error)
        self.pool.start(worker)

    @Slot(object)
    def _on_warmup_step(self, step) -> None:
        if step == "charts":
            self.training_panel.install_charts()

    @Slot(object)
    def _on_warmup_done(self, versions) -> None:
        self.versions = versions
        self.tf_ready = True
        self.statusBar().showMessage("Ready.", 5000)
        last = self.settings.value("last_model", "")
        if self._load_worker is not None:
            pass  # the user (or the command line) is already opening a model
        elif self.classifier is None and last and os.path.exists(last):
            self.load_model(last, quiet=True)
        elif self.classifier is None and self.default_model is not None:
            self.load_model(str(self.default_model), quiet=True)

    @Slot(str)
    def _on_warmup_error(self, message: str) -> None:
        self.statusBar().showMessage(f"TensorFlow could not be loaded: {message}")
        self.training_panel.show_message(f"TensorFlow could not be loaded, so training is not possible: {message}", error=True)

    def open_paths(self, paths: list[str]) -> None:
        """Open what was given on the command line (or to "Open with"): folder, model or pictures."""
        folders = [p for p in paths if os.path.isdir(p)]
        models = [p for p in paths if p.lower().endswith(".keras")]
        pictures = [p for p in paths if p not in folders and p not in models]
        if models:
            self.load_model(models[0])
        if folders and not pictures:
            self.open_dataset(folders[0])
        elif pictures:
            if self.classifier is not None:
                self.classify_paths(pictures + folders)
            else:
                self._pending_pictures = pictures + folders  # classified once a model is ready

    # ----- dataset --------------------------------------------------------------------------
    @Slot()
    def open_sample_dataset(self) -> None:
        if self.sample_dataset is not None:
            self.open_dataset(str(self.sample_dataset))

    @Slot(str)
    def open_dataset(self, folder: str) -> None:
        if self._train_worker is not None:
            self.statusBar().showMessage("Wait for training to finish before changing the dataset.", 5000)
            return
        self._cancel_scan()
        self.scan = None  # nothing trains on the previous folder while this one is checked
        self.tabs.setCurrentWidget(self.dataset_panel)
        self.dataset_panel.set_scanning(folder)
        self.training_panel.set_dataset_ready(False, "Looking at the dataset…")
        config = self.training_panel.config()
        worker = Worker(tasks.scan_folder, folder, config.validation_split, config.seed, name="scan")
        worker.progress.connect(self._on_scan_progress)
        worker.returned.connect(self._on_scan_done)
        worker.errored.connect(self._on_scan_error)
        worker.aborted.connect(self._on_scan_aborted)
        worker.finished.connect(self._on_scan_finished)
        self._scan_worker = self.pool.start(worker)
        self.settings.setValue("last_dataset", folder)

    @Slot()
    def _cancel_scan(self) -> None:
        if self._scan_worker is not None:
            self._scan_worker.stop()

    @Slot(object)
    def _on_scan_progress(self, progress) -> None:
        if self.sender() is self._scan_worker:
            self.dataset_panel.set_progress(*progress)

    @Slot(object)
    def _on_scan_done(self, payload) -> None:
        if self.sender() is not self._scan_worker:
            return  # an older scan that was replaced
        self._scan_worker = None  # done: Train may start now, before the thread has wound down
        scan, thumbnails = payload
        self.scan = scan
        self.dataset_panel.show_scan(scan, thumbnails)
        if scan.ok:
            self.training_panel.set_dataset_ready(True, f"Dataset: {os.path.basename(scan.root)} — "
                                                        f"{len(scan.class_names)} classes. Press Train.")
            self.statusBar().showMessage(f"Dataset ready: {len(scan.train) + len(scan.validation)} pictures in "
                                         f"{len(scan.class_names)} classes.", 8000)
        else:
            self.training_panel.set_dataset_ready(False, "The dataset has problems; see the Dataset tab.")

    @Slot(str)
    def _on_scan_error(self, message: str) -> None:
        if self.sender() is self._scan_worker:
            self._scan_worker = None
            self.scan = None
            self.dataset_panel.show_error(message)
            self.training_panel.set_dataset_ready(False, "Choose a usable dataset first.")

    @Slot()
    def _on_scan_aborted(self) -> None:
        if self.sender() is self._scan_worker:
            self.dataset_panel.show_cancelled()
            self.training_panel.set_dataset_ready(False, "Scanning was cancelled: choose a dataset.")

    @Slot()
    def _on_scan_finished(self) -> None:
        if self.sender() is self._scan_worker:
            self._scan_worker = None

    # ----- training -------------------------------------------------------------------------
    @Slot(object)
    def start_training(self, config: TrainingConfig) -> None:
        if self._train_worker is not None:
            return  # Train pressed twice
        if self.scan is None or not self.scan.ok or self._scan_worker is not None:
            self.training_panel.show_message("Choose a usable dataset first.", error=True)
            return
        if not self._keep_unsaved_model("training a new one"):
            return
        self._save_training_settings(config)
        worker = Worker(tasks.train_model, config, self.scan, name="train")
        worker.yielded.connect(self._on_training_event)
        worker.returned.connect(self._on_training_done)
        worker.errored.connect(self._on_training_error)
        worker.aborted.connect(self._on_training_aborted)
        worker.finished.connect(self._on_training_finished)
        self._train_worker = worker
        self.training_panel.training_started(config)
        self.dataset_panel.set_busy(True)
        self.tabs.setCurrentWidget(self.training_panel)
        self.statusBar().showMessage("Training…")
        self.pool.start(worker)

    @Slot()
    def stop_training(self) -> None:
        if self._train_worker is not None:
            self._train_worker.stop()

    @Slot(object)
    def _on_training_event(self, event) -> None:
        self.training_reporter.on_event(event)

    @Slot(object)
    def _on_training_done(self, result) -> None:
        from ..core.inference import Classifier

        if self._closing:
            return
        self.training_panel.show_result(result)
        self.classifier = Classifier(result.model, result.class_names, result.config.image_size, result.metadata())
        self.model_unsaved = True
        self._update_model_labels()
        self.statusBar().showMessage(f"Training finished: {result.evaluation.accuracy:.1%} on "
                                     f"{result.evaluation.split} pictures. Save the model to keep it.")

    @Slot(str)
    def _on_training_error(self, message: str) -> None:
        self.training_panel.show_message(f"Training failed: {message}", error=True)
        self.statusBar().showMessage("Training failed.")

    @Slot()
    def _on_training_aborted(self) -> None:
        self.training_panel.show_message("Training was stopped before the first epoch ended; no model was made.")
        self.statusBar().showMessage("Training stopped.", 5000)

    @Slot()
    def _on_training_finished(self) -> None:
        self._train_worker = None
        self.training_panel.training_finished()
        self.dataset_panel.set_busy(False)

    def _save_training_settings(self, config: TrainingConfig) -> None:
        self.settings.setValue("training_config", json.dumps(config.to_dict()))
        self.settings.setValue("preset", self.training_panel.preset_box.currentData())

    def is_training(self) -> bool:
        return self._train_worker is not None

    # ----- models ---------------------------------------------------------------------------
    def _update_model_labels(self) -> None:
        clf = self.classifier
        if clf is None:
            text = "No model yet: train one (tab 2) or open one (File → Open model…)."
            short = "No model"
        else:
            builtin = self.default_model is not None and clf.path == str(self.default_model)
            name = ("built-in cats-vs-dogs model" if builtin else
                    os.path.basename(clf.path) if clf.path else "trained just now")
            acc = (clf.metadata.get("evaluation") or {}).get("accuracy")
            acc_text = f", {acc:.1%} on held-out pictures" if isinstance(acc, (int, float)) else ""
            unsaved = " — not saved yet" if self.model_unsaved else ""
            text = f"Model: <b>{name}</b> ({', '.join(clf.class_names)}{acc_text}){unsaved}"
            short = f"Model: {name}{' (unsaved)' if self.model_unsaved else ''}"
        self.classify_panel.set_model_name(text)
        self.model_status.setText(short)
        self.save_model_action.setEnabled(clf is not None)

    @Slot()
    def save_model_dialog(self) -> None:
        if self.classifier is None:
            self.statusBar().showMessage("There is no model to save yet.", 5000)
            return
        path = self._ask_save_path()
        if path:
            self.save_model(path)

    def _ask_save_path(self) -> str:
        """The file the user chooses for the current model ("" if cancelled)."""
        start = self.classifier.path or os.path.join(self.settings.value("last_model_dir", os.path.expanduser("~")),
                                                     "my-model.keras")
        path, _ = QFileDialog.getSaveFileName(self, "Save model", start, "Keras models (*.keras)")
        return path

    def _show_save_failed(self, message: str) -> None:
        QMessageBox.warning(self, "Model not saved",
                            f"{message}\n\nThe trained model is still here: save it to another folder.")

    def _mark_saved(self, classifier, path) -> None:
        """``classifier`` now lives in ``path``: remember it, and say so if it is the active one."""
        classifier.path = str(path)
        self._remember_model(str(path))
        if classifier is self.classifier:
            self.model_unsaved = False
            self._update_model_labels()

    def _keep_unsaved_model(self, before: str) -> bool:
        """Before the unsaved trained model is replaced or dropped, offer to save it.

        Returns True when the caller may go on (saved, discarded, or nothing to lose).
        """
        if not self.model_unsaved or self.classifier is None:
            return True
        if self._saving is self.classifier:
            self.statusBar().showMessage("The model is still being saved: try again in a moment.", 5000)
            return False
        answer = QMessageBox.question(
            self, "Save the trained model?",
            f"The model you trained has not been saved. Save it before {before}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        if answer != QMessageBox.StandardButton.Save:
            return True
        path = self._ask_save_path()
        if not path:
            return False
        try:
            # Waited for here (a few MB, well under a second): what comes next needs it saved.
            saved = tasks.save_model(None, self.classifier, path)
        except Exception as exc:  # noqa: BLE001 - shown to the user, who can choose again
            self._show_save_failed(str(exc))
            return False
        self._mark_saved(self.classifier, saved)
        return True

    def save_model(self, path: str) -> None:
        self._saving = self.classifier
        worker = Worker(tasks.save_model, self.classifier, path, name="save")
        worker.returned.connect(self._on_saved)
        worker.errored.connect(self._on_save_error)
        self.statusBar().showMessage("Saving the model…")
        self.pool.start(worker)

    @Slot(object)
    def _on_saved(self, path) -> None:
        saved, self._saving = self._saving, None
        if saved is None:
            return
        self._mark_saved(saved, path)
        if saved is self.classifier:  # else another model became active meanwhile
            self.statusBar().showMessage(f"Model saved to {path}", 8000)

    @Slot(str)
    def _on_save_error(self, message: str) -> None:
        self._saving = None
        self.statusBar().showMessage("The model was not saved.")
        self._show_save_failed(message)

    @Slot()
    def open_model_dialog(self) -> None:
        start = self.settings.value("last_model_dir", os.path.expanduser("~"))
        path, _ = QFileDialog.getOpenFileName(self, "Open model", start, "Keras models (*.keras);;All files (*)")
        if path:
            self.load_model(path)

    def load_model(self, path: str, quiet: bool = False) -> None:
        if not quiet and not self._keep_unsaved_model("opening another model"):
            return
        worker = Worker(tasks.load_model, path, name="load-model")
        worker.returned.connect(self._on_model_loaded)
        worker.errored.connect(self._on_quiet_load_error if quiet else self._on_model_load_error)
        worker.finished.connect(self._on_load_finished)
        self.statusBar().showMessage(f"Opening {os.path.basename(path)}…")
        self._load_worker = self.pool.start(worker)  # the newest request wins

    @Slot()
    def _on_load_finished(self) -> None:
        if self.sender() is self._load_worker:
            self._load_worker = None

    @Slot(object)
    def _on_model_loaded(self, classifier) -> None:
        if self.sender() is not self._load_worker:
            return  # an older request, overtaken by a newer one
        self.classifier = classifier
        self.model_unsaved = False
        self._remember_model(classifier.path)
        self._update_model_labels()
        self.statusBar().showMessage(f"Model {os.path.basename(classifier.path)} is ready.", 8000)
        if self._pending_pictures:
            pending, self._pending_pictures = self._pending_pictures, []
            self.classify_paths(pending)

    @Slot(str)
    def _on_model_load_error(self, message: str) -> None:
        if self.sender() is not self._load_worker:
            return
        self.statusBar().showMessage("The model could not be opened.", 8000)
        self.classify_panel.show_message(message, error=True)
        self.tabs.setCurrentWidget(self.classify_panel)

    @Slot(str)
    def _on_quiet_load_error(self, message: str) -> None:
        log.info("last model not restored: %s", message)
        self.statusBar().showMessage("The last model could not be reopened.", 8000)

    def _recent_models(self) -> list[str]:
        value = self.settings.value("recent_models", [])
        if isinstance(value, str):
            value = [value] if value else []
        return [p for p in (value or []) if isinstance(p, str)]

    def _remember_model(self, path: str | None) -> None:
        if not path or (self.default_model is not None and path == str(self.default_model)):
            return
        recent = [path] + [p for p in self._recent_models() if p != path]
        self.settings.setValue("recent_models", recent[:MAX_RECENT])
        self.settings.setValue("last_model", path)
        self.settings.setValue("last_model_dir", os.path.dirname(path))
        self._rebuild_recent_menu()

    # ----- classifying ----------------------------------------------------------------------
    @Slot(list)
    def classify_paths(self, paths: list) -> None:
        self.tabs.setCurrentWidget(self.classify_panel)
        if self.classifier is None:
            self.classify_panel.show_message("There is no model yet: train one on the Train tab, or open one "
                                             "with File → Open model…", error=True)
            return
        self._drop_started = time.perf_counter()
        single = len(paths) == 1 and not os.path.isdir(paths[0])
        self.classify_panel.begin(1 if single else None)
        worker = Worker(tasks.classify, self.classifier, list(paths), name="classify")
        self._start_classify(worker)

    @Slot(object)
    def classify_pasted(self, image) -> None:
        if self.classifier is None:
            self.classify_panel.show_message("There is no model yet: train or open one first.", error=True)
            return
        self._drop_started = time.perf_counter()
        self.classify_panel.begin(1)
        self._start_classify(Worker(tasks.classify_image, self.classifier, image, name="classify"))

    def _start_classify(self, worker: Worker) -> None:
        for old in self.pool.running("classify"):
            old.stop()
        worker.yielded.connect(self._on_classify_event)
        worker.returned.connect(self._on_classify_done)
        worker.errored.connect(self._on_classify_error)
        self._classify_worker = worker
        self.pool.start(worker)

    @Slot(object)
    def _on_classify_event(self, event) -> None:
        if self.sender() is not self._classify_worker:
            return
        kind = event[0]
        if kind == "total":
            self.classify_panel.set_total(event[1])
        elif kind == "result":
            _, index, prediction, thumb = event
            if self.first_prediction_seconds is None:
                self.first_prediction_seconds = time.perf_counter() - self._drop_started
            self.classify_panel.add_result(index, prediction, thumb)

    @Slot(object)
    def _on_classify_done(self, skipped) -> None:
        if self.sender() is self._classify_worker:
            self.classify_panel.finish(skipped)

    @Slot(str)
    def _on_classify_error(self, message: str) -> None:
        if self.sender() is not self._classify_worker:
            return
        self.classify_panel.progress.setVisible(False)
        self.classify_panel.show_message(message, error=True)

    # ----- settings and closing ---------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1120, 780)
        saved = self.settings.value("training_config", "")
        if saved:
            try:
                config = TrainingConfig.from_dict(json.loads(saved))
                preset_name = self.settings.value("preset", "default")
                if preset_name in PRESETS and config.stem_stride != preset(preset_name).stem_stride:
                    # The saved size was meant for a network with another first stride (an older
                    # version's 64 px would halve today's default to 32 px): the preset's size comes back.
                    config.image_size = preset(preset_name).image_size
                self.training_panel.set_config(config, preset_name)
            except (ValueError, TypeError, AttributeError):
                log.info("ignored unreadable saved settings")
        self.dataset_panel.last_folder = self.settings.value("last_dataset", "") or ""

    def closeEvent(self, event) -> None:
        if self._closing:
            super().closeEvent(event)
            return
        if not self._keep_unsaved_model("quitting"):
            event.ignore()
            return
        self.settings.setValue("geometry", self.saveGeometry())
        self._save_training_settings(self.training_panel.config())
        self._closing = True  # results that arrive from now on are dropped
        if self.is_training():
            self.statusBar().showMessage("Stopping training…")
        self.pool.shutdown()
        self.settings.sync()
        super().closeEvent(event)
