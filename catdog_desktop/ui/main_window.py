"""The main window: assembles the panels, menus and status bar, and connects them to the session
(core.session: the app's state) and to the jobs that run in worker threads (core.jobs).

Importing this module imports neither TensorFlow nor matplotlib: both load in the background
after the window is on screen.
"""

from __future__ import annotations

import logging
import os

from PySide6.QtCore import QSettings, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox

from ..core.app import jobs
from ..core.app.session import Session
from ..core.wording import count
from ..paths import default_model_path, inside_package, sample_dataset_dir
from .classify_panel import ClassifyPanel
from .classifying import Classifying
from .common import dropped_files, local_paths, show_about
from .dataset_panel import DatasetPanel
from .evaluating import Evaluating
from .evaluation_panel import EvaluationPanel
from .model_files import ModelFiles
from .panel_tabs import PanelTabs
from .report_export import ReportExport
from .settings_store import QSettingsStore
from .training_panel import PanelReporter, TrainingPanel
from .workers import JobRunner, WorkerThreads

log = logging.getLogger(__name__)

_BUNDLED = object()
#: Room left for the window's title bar when it is sized to the screen (its frame is not known yet).
TITLE_BAR = 32


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, default_model=_BUNDLED, sample_dataset=_BUNDLED):
        """``default_model``/``sample_dataset``: paths of the built-in model and sample folder
        (None for none; the bundled ones by default)."""
        super().__init__()
        self.store = QSettingsStore(settings)
        self.session = Session(self.store, default_model_path() if default_model is _BUNDLED else default_model)
        self.sample_dataset = sample_dataset_dir() if sample_dataset is _BUNDLED else sample_dataset
        self.setWindowTitle("catdog-desktop")
        self.workers = WorkerThreads(self)
        self.jobs = JobRunner(self.workers, self)
        self.models = ModelFiles(self, self.session, self.jobs, self.statusBar().showMessage, self._on_model_load_error)
        self.reports = ReportExport(self, self.session, self.jobs, self.statusBar().showMessage,
                                    lambda: self.evaluating.shown_model)
        self.tf_ready = False
        self.tf_failed = False
        self.versions: dict[str, str] = {}
        self._started_background = False

        self.dataset_panel = DatasetPanel()
        self.training_panel = TrainingPanel()
        self.classify_panel = ClassifyPanel()
        self.training_reporter = PanelReporter(self.training_panel, self.statusBar().showMessage)
        self.classifying = Classifying(self.classify_panel, self.session, self.jobs,
                                       lambda: self.tabs.setCurrentWidget(self.classify_panel), self.model_coming)
        self.models.after_load = self._after_model_load
        self.tabs = PanelTabs()  # each panel scrolls when the window is smaller than it (a 1024×600 screen)
        self.tabs.addTab(self.dataset_panel, "1 · Dataset")
        self.tabs.addTab(self.training_panel, "2 · Train")
        self.tabs.addTab(self.classify_panel, "3 · Classify")
        self.evaluation_panel = EvaluationPanel(self.jobs)
        self.evaluating = Evaluating(self.evaluation_panel, self.session, self.jobs, self,
                                     rescan=lambda folder: self.open_dataset(folder, show=False),
                                     status=self.statusBar().showMessage)
        self.tabs.addTab(self.evaluation_panel, "4 · Evaluate")
        self.setCentralWidget(self.tabs)
        self.model_status = QLabel("No model")
        self.statusBar().addPermanentWidget(self.model_status)

        self.dataset_panel.folder_chosen.connect(self.open_dataset)
        self.dataset_panel.cancel_requested.connect(self._cancel_scan)
        self.dataset_panel.sample_requested.connect(self.open_sample_dataset)
        self.dataset_panel.sample_button.setVisible(self.sample_dataset is not None)
        self.dataset_panel.pictures_dropped.connect(self.classify_paths)
        self.dataset_panel.try_model_requested.connect(lambda: self.tabs.setCurrentWidget(self.classify_panel))
        self.dataset_panel.show_ready_model(self.session.builtin_model is not None)
        self.setAcceptDrops(True)  # a picture dropped on any tab is classified (the panels' own drops come first)
        self.training_panel.train_requested.connect(self.start_training)
        self.training_panel.stop_requested.connect(self.stop_training)
        self.training_panel.save_requested.connect(lambda: self.models.save_dialog(self.session.trained))
        self.training_panel.use_trained_requested.connect(self.use_trained_model)
        self.training_panel.mistakes_requested.connect(lambda: self.tabs.setCurrentWidget(self.evaluation_panel))
        self.evaluation_panel.train_again_requested.connect(self.train_again)
        self.classify_panel.classify_requested.connect(self.classify_paths)
        self.classify_panel.image_pasted.connect(self.classifying.classify_pasted)
        self.classify_panel.pictures_opened.connect(self.session.set_pictures_folder)
        self.classify_panel.pictures_folder = self.session.pictures_folder
        self.session.events.dataset.connect(self._on_dataset_changed)
        self.session.events.model.connect(self._on_model_changed)
        self.session.events.trained.connect(lambda _trained: self._show_model_choice())
        self.session.events.recent.connect(self._rebuild_recent_menu)

        self._build_menus()
        geometry = self.session.window_geometry
        if not (geometry and self.restoreGeometry(geometry)) or self.width() < 480 or self.height() < 320:
            self.resize(1120, 780)  # none kept, or damaged: Qt "restores" a few stray bytes as a 1×1 window
        self._fit_screen()
        preset_name, config = self.session.training_settings()
        self.training_panel.set_config(config, preset_name)
        self.training_panel.form.set_advanced_open(self.session.advanced_open)
        self.training_panel.form.advanced_toggled.connect(self.session.set_advanced_open)
        self.dataset_panel.last_folder = self.session.last_dataset
        self._on_model_changed(None)
        if self.model_coming():
            self.classify_panel.model_label.setText("Loading the model…")
            self.model_status.setText("Loading the model…")
        if self.session.last_dataset and os.path.isdir(self.session.last_dataset):
            QTimer.singleShot(0, lambda: self.session.scan is None and self.open_dataset(self.session.last_dataset))

    # ----- menus ----------------------------------------------------------------------------
    def _build_menus(self) -> None:
        def action(text, slot, shortcut=None) -> QAction:
            made = QAction(text, self, triggered=slot)
            if shortcut is not None:
                made.setShortcut(shortcut)
            return made

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(action("Open &dataset folder…", self.dataset_panel.choose_folder, QKeySequence.StandardKey.Open))
        file_menu.addAction(action("Open &model…", self.models.open_dialog, QKeySequence("Ctrl+Shift+O")))
        file_menu.addAction(action("&Classify folder…", self.classify_panel.open_folder, QKeySequence("Ctrl+Shift+F")))
        self.save_model_action = action("&Save model…", self.models.save_dialog, QKeySequence.StandardKey.Save)
        file_menu.addAction(self.save_model_action)
        self.export_model_action = action("&Export model…", self.export_model)
        file_menu.addAction(self.export_model_action)
        self.builtin_action = action("Use &built-in model", self.models.use_builtin)
        self.builtin_action.setEnabled(self.session.builtin_model is not None)
        file_menu.addAction(self.builtin_action)
        self.recent_menu = file_menu.addMenu("&Recent models")
        file_menu.addSeparator()
        self.report_action = action("Export &report…", self.reports.export_dialog, QKeySequence("Ctrl+Shift+E"))
        file_menu.addAction(self.report_action)
        file_menu.addSeparator()
        file_menu.addAction(action("&Quit", self.close, QKeySequence.StandardKey.Quit))
        # Tabs by the platform's keys wherever the focus is (QTabWidget itself only when its tab bar has it).
        view_menu = self.menuBar().addMenu("&View")
        for text, step, keys in (("&Next tab", 1, ("Ctrl+Tab", "Ctrl+PgDown")),
                                 ("&Previous tab", -1, ("Ctrl+Shift+Tab", "Ctrl+Shift+Backtab", "Ctrl+PgUp"))):
            made = action(text, lambda _=False, s=step: self.tabs.setCurrentIndex(
                (self.tabs.currentIndex() + s) % self.tabs.count()))
            made.setShortcuts([QKeySequence(k) for k in keys])
            view_menu.addAction(made)
        train_menu = self.menuBar().addMenu("&Training")
        self.train_action = action("&Train", self.training_panel.request_training, QKeySequence("Ctrl+T"))
        self.stop_action = action("&Stop", self.training_panel.request_stop, QKeySequence("Ctrl+."))
        train_menu.addAction(self.train_action)
        train_menu.addAction(self.stop_action)
        self.menuBar().addMenu("&Help").addAction(action("&About catdog-desktop", lambda: show_about(self, self.versions)))
        self._rebuild_recent_menu(self.session.recent_models)

    def _fit_screen(self) -> None:
        """No larger than the screen's free area (a 1024×600 netbook, or the size kept from a larger
        screen): the panels scroll rather than fall off the bottom of the screen."""
        screen = self.screen()
        if screen is not None:
            free = screen.availableGeometry()
            title_bar = max(self.frameGeometry().height() - self.height(), TITLE_BAR)  # not known before it shows
            self.resize(min(self.width(), free.width()), min(self.height(), free.height() - title_bar))

    def _rebuild_recent_menu(self, recent: list[str]) -> None:
        self.models.fill_recent_menu(self.recent_menu, recent)

    # ----- start-up: show first, then load the heavy libraries --------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._started_background:
            self._started_background = True
            QTimer.singleShot(0, self._start_background_loading)

    def _start_background_loading(self) -> None:
        self.statusBar().showMessage("Starting: loading TensorFlow in the background…")
        self.jobs.start("warm-up", jobs.warm_up, yielded=lambda step: self._install_charts(),
                        returned=self._on_warmup_done, errored=self._on_warmup_error)

    def _install_charts(self) -> None:
        self.training_panel.install_charts()
        self.evaluation_panel.install_charts()

    def _on_warmup_done(self, versions: dict) -> None:
        self.versions = versions
        self.tf_ready = True
        self.statusBar().showMessage("Ready.", 5000)
        startup = self.session.startup_model()
        if not self.jobs.busy("load-model") and self.session.classifier is None and startup:
            self.load_model(startup, quiet=True)  # unless the user (or the command line) already opens one

    def _on_warmup_error(self, message: str) -> None:
        self.tf_failed = True
        self._no_model_coming()
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
        elif pictures and self.session.classifier is not None:
            self.classify_paths(pictures + folders)
        elif pictures:
            self.classifying.wait_for_model(pictures + folders)  # classified once a model is ready
            self.model_status.setText("Loading the model…")

    # ----- dataset --------------------------------------------------------------------------
    @Slot()
    def open_sample_dataset(self) -> None:
        if self.sample_dataset is not None:
            self.open_dataset(str(self.sample_dataset))

    @Slot(str)
    def open_dataset(self, folder: str, show: bool = True) -> None:
        """Scan ``folder`` and make it the dataset in use; ``show``: bring the Dataset tab to the front
        (not when the folder is read again after pictures were moved from the Evaluate tab)."""
        if self.is_training():
            self.statusBar().showMessage("Wait for training to finish before changing the dataset.", 5000)
            return
        self.session.open_dataset(folder)
        if show:
            self.tabs.setCurrentWidget(self.dataset_panel)
        self.dataset_panel.set_scanning(folder)
        self.training_panel.set_dataset_ready(False, "Looking at the dataset…")
        config = self.training_panel.config()
        self.jobs.start("scan", jobs.scan_folder, folder, config.validation_split, config.seed,
                        progress=lambda p: self.dataset_panel.set_progress(*p), returned=self._on_scan_done,
                        errored=self._on_scan_error, aborted=self._on_scan_aborted)

    @Slot()
    def _cancel_scan(self) -> None:
        self.jobs.stop("scan")

    def _on_scan_done(self, payload) -> None:
        scan, self.dataset_panel.thumbnails = payload
        self.session.set_dataset(scan)
        if scan.ok:
            total = len(scan.train) + len(scan.validation) + (len(scan.test) if scan.test is not None else 0)
            self.statusBar().showMessage(f"Dataset ready: {count(total, 'picture')} in "
                                         f"{count(len(scan.class_names), 'class', 'classes')}.", 8000)

    def _on_dataset_changed(self, scan) -> None:
        if scan is None:
            return
        self.dataset_panel.show_scan(scan)
        if scan.ok:
            self.training_panel.set_dataset_ready(True, f"Dataset: {os.path.basename(scan.root)} — "
                                                        f"{count(len(scan.class_names), 'class', 'classes')}. "
                                                        "Press Train.")
        else:
            self.training_panel.set_dataset_ready(False, "The dataset has problems; see the Dataset tab.")

    def _on_scan_error(self, message: str) -> None:
        self.dataset_panel.show_error(message)
        self.training_panel.set_dataset_ready(False, "Choose a usable dataset first.")

    def _on_scan_aborted(self) -> None:
        previous = self.session.cancel_opening()  # shown again through the session's dataset event
        if previous is None:
            self.dataset_panel.show_cancelled()
            self.training_panel.set_dataset_ready(False, "Scanning was cancelled: choose a dataset.")
        else:
            self.statusBar().showMessage(f"Scanning was cancelled: the dataset in use is still "
                                         f"{os.path.basename(previous.root)}.", 8000)

    # ----- training -------------------------------------------------------------------------
    @Slot(object)
    def start_training(self, config) -> None:
        if self.is_training():
            return  # Train pressed twice
        scan = self.session.scan
        if scan is None or not scan.ok:
            self.training_panel.show_message("Choose a usable dataset first.", error=True)
            return
        if not self.models.keep_unsaved("training a new one", "training"):
            return
        self.session.save_training_settings(self.training_panel.preset_name(), config)
        data = self.session.training_data(config)  # split again first if the share or seed changed
        self.training_panel.training_started(config)
        self.evaluating.set_training(True)
        self.evaluating.trained_again()
        self.dataset_panel.set_busy(True)
        self.tabs.setCurrentWidget(self.training_panel)
        self.statusBar().showMessage("Training…")
        self.jobs.start("train", jobs.train_model, config, data,
                        yielded=self.training_reporter.on_event, returned=self._on_training_done,
                        errored=self._on_training_error, aborted=self._on_training_aborted,
                        finished=self._on_training_finished)

    @Slot()
    def stop_training(self) -> None:
        self.jobs.stop("train")

    def is_training(self) -> bool:
        return self.jobs.busy("train")

    @Slot()
    def train_again(self) -> None:
        """The Evaluate tab's "Train again": the same settings, on the dataset as it is now."""
        self.tabs.setCurrentWidget(self.training_panel)
        if self.evaluating.flush_rescan() or self.jobs.busy("scan"):  # pictures moved: train on the folder as it is now
            self.statusBar().showMessage("Reading the changed dataset, then training…")
            QTimer.singleShot(200, self.train_again)
            return
        self.training_panel.request_training()

    def _on_training_done(self, result) -> None:
        self.training_panel.show_result(result)
        self.session.set_trained_model(result)
        self.evaluating.show_training(result)  # after: it belongs to the trained model
        in_use = "" if self.session.classifier is self.session.trained else " The model in use is unchanged."
        ev = result.evaluation
        score = f"{ev.accuracy:.1%} on {ev.split} pictures" if ev.checked else f"not checked on {ev.split} pictures"
        self.statusBar().showMessage(f"Training finished: {score}.{in_use} Save the model to keep it.")

    @Slot()
    def use_trained_model(self) -> None:
        if self.models.keep_unsaved("using the new one", "opening"):
            self.session.use_trained()
            self.statusBar().showMessage("The model trained just now is the model in use. It is not saved yet: "
                                         "File → Save model… keeps it.")

    def _show_model_choice(self) -> None:
        if self.session.trained is not None:
            self.training_panel.show_choice(self.session.model_comparison(),
                                            in_use=self.session.trained is self.session.classifier)

    def _on_training_error(self, message: str) -> None:
        self.training_panel.show_message(f"Training failed: {message}", error=True)
        self.statusBar().showMessage("Training failed.")

    def _on_training_aborted(self) -> None:
        self.training_panel.show_message("Training was stopped before the first epoch ended; no model was made.")
        self.statusBar().showMessage("Training stopped.", 5000)

    def _on_training_finished(self) -> None:
        self.training_panel.training_finished()
        self.evaluating.set_training(False)
        self.dataset_panel.set_busy(False)

    # ----- models ---------------------------------------------------------------------------
    def _on_model_changed(self, classifier) -> None:
        name, unsaved = self.session.model_name(), self.session.model_unsaved
        self.classify_panel.show_model(name, classifier, unsaved)
        self.model_status.setText(f"Model: {name}{' (unsaved)' if unsaved else ''}" if classifier else "No model")
        self.save_model_action.setEnabled(classifier is not None)
        self.report_action.setEnabled(classifier is not None)
        self.export_model_action.setEnabled(classifier is not None)
        self._show_model_choice()
        self.classifying.model_changed(classifier)
        self.evaluating.model_changed(classifier)

    def model_coming(self) -> bool:
        """Whether a model is on its way: being opened, or the start-up one once TensorFlow has loaded."""
        return self.session.classifier is None and (
            self.jobs.busy("load-model")
            or (not self.tf_ready and not self.tf_failed and self.session.startup_model() is not None))

    def _after_model_load(self) -> None:
        if self.session.classifier is None:
            self._no_model_coming()

    def _no_model_coming(self) -> None:
        """The model being loaded will not come: "Loading the model…" no longer, and the pictures
        waiting for it are told."""
        self.classifying.no_model_coming()
        if self.session.classifier is None:
            self.classify_panel.show_model(None, None, False)
            self.model_status.setText("No model")

    # ----- drops anywhere in the window ------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        """A picture (or several) dropped on any tab but the panels' own drop areas: classify it."""
        paths = local_paths(event.mimeData().urls()) if event.mimeData().hasUrls() else []
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()
            self.classify_paths(paths)

    def _on_model_load_error(self, message: str) -> None:
        self.classify_panel.show_message(message, error=True)
        self.tabs.setCurrentWidget(self.classify_panel)

    def load_model(self, path: str, quiet: bool = False) -> None:
        self.models.load(path, quiet)

    def save_model(self, path: str) -> None:
        self.models.save(path)

    @Slot()
    def export_model(self) -> None:
        """File → Export model…: the model in use, checked on the open dataset if it has its classes."""
        from .export_dialog import ExportDialog

        classifier, scan = self.session.classifier, self.session.scan
        previous = getattr(self, "export_dialog", None)
        if previous is not None and previous.running():  # one export at a time: show it again
            previous.show()
            previous.raise_()
            return
        if classifier is None:
            return
        if previous is not None:
            previous.deleteLater()
        data = scan.root if scan is not None and set(scan.class_names) == set(classifier.class_names) else ""
        folder = self.session.export_folder
        self.export_dialog = ExportDialog(self, classifier, self.jobs,
                                          folder if not inside_package(folder) else os.path.expanduser("~"), data)
        self.export_dialog.exported.connect(
            lambda out: self.session.set_export_folder(os.path.dirname(os.path.abspath(out.rstrip("/\\")))))
        self.export_dialog.open()

    # ----- classifying ----------------------------------------------------------------------
    @Slot(list)
    def classify_paths(self, paths: list) -> None:
        self.classifying.classify_paths(paths)

    # ----- closing ----------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if self.is_training() and QMessageBox.question(
                self, "Quit?", "A training is running. Stop it and quit?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel) != QMessageBox.StandardButton.Yes:
            event.ignore()
            return
        moving = self.classifying.moving_files()
        if moving and QMessageBox.question(
                self, "Quit?", moving,
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel) != QMessageBox.StandardButton.Yes:
            event.ignore()
            return
        if not self.models.keep_unsaved("quitting", "quitting"):
            event.ignore()
            return
        self.session.set_window_geometry(self.saveGeometry())
        self.session.save_training_settings(self.training_panel.preset_name(), self.training_panel.config())
        if self.is_training():
            self.statusBar().showMessage("Stopping training…")
        self.jobs.drop_all()  # results that arrive from now on are not wanted
        self.workers.shutdown()
        self.store.sync()
        super().closeEvent(event)
