"""The main window: builds the panels (views, *_panel.py) and the flows that run their work
(scanning, training, classifying, evaluating: jobs in worker threads, core.app.jobs), the menus and the
status bar, wires them to the session (core.app.session: the app's state), and handles closing.

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
from ..paths import default_model_path, sample_dataset_dir
from .classify_panel import ClassifyPanel
from .classifying import Classifying
from .common import dropped_files, local_paths, show_about
from .dataset_panel import DatasetPanel
from .evaluating import Evaluating
from .evaluation_panel import EvaluationPanel
from .inbox_panel import InboxPanel
from .labelling import Labelling
from .model_files import ModelFiles
from .panel_tabs import PanelTabs
from .report_export import ReportExport
from .settings_store import QSettingsStore
from .scanning import Scanning
from .training import Training
from .training_panel import TrainingPanel
from .workers import JobRunner, WorkerThreads

log = logging.getLogger(__name__)

_BUNDLED = object()
#: Room left for the window's title bar when it is sized to the screen (its frame is not known yet).
TITLE_BAR = 32
Button = QMessageBox.StandardButton


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
        self.evaluation_panel = EvaluationPanel(self.jobs)
        self.inbox_panel = InboxPanel()
        self.tabs = PanelTabs()  # each panel scrolls when the window is smaller than it (a 1024×600 screen)
        for panel, title in ((self.dataset_panel, "1 · Dataset"), (self.training_panel, "2 · Train"),
                             (self.classify_panel, "3 · Classify"), (self.evaluation_panel, "4 · Evaluate"), (self.inbox_panel, "5 · Inbox")):
            self.tabs.addTab(panel, title)
        self.setCentralWidget(self.tabs)
        status, show_tab = self.statusBar().showMessage, self.tabs.setCurrentWidget
        self.classifying = Classifying(self.classify_panel, self.session, self.jobs,
                                       lambda: show_tab(self.classify_panel), self.model_coming)
        self.evaluating = Evaluating(self.evaluation_panel, self.session, self.jobs, self,
                                     rescan=lambda folder: self.open_dataset(folder, show=False), status=status)
        self.training = Training(self.training_panel, self.session, self.jobs, self.models, self.evaluating,
                                 show_tab, status, self.dataset_panel.set_busy)
        self.scanning = Scanning(self.dataset_panel, self.session, self.jobs, self.training,
                                 self.sample_dataset, show_tab, status)
        self.labelling = Labelling(self.inbox_panel, self.session, self.jobs, self, status, self.models)
        self.session.events.dataset.connect(lambda scan: self.labelling.dataset_opened(scan.root) if scan else None)
        self.models.after_load = self._after_model_load
        self.model_status = QLabel("No model")
        self.statusBar().addPermanentWidget(self.model_status)

        self.dataset_panel.pictures_dropped.connect(self.classify_paths)
        self.dataset_panel.try_model_requested.connect(lambda: show_tab(self.classify_panel))
        self.dataset_panel.show_ready_model(self.session.builtin_model is not None)
        self.setAcceptDrops(True)  # a picture dropped on any tab is classified (the panels' own drops come first)
        self.classify_panel.classify_requested.connect(self.classify_paths)
        self.classify_panel.image_pasted.connect(self.classifying.classify_pasted)
        self.classify_panel.pictures_opened.connect(self.session.set_pictures_folder)
        self.classify_panel.pictures_folder = self.session.pictures_folder
        self.session.events.model.connect(self._on_model_changed)
        self.session.events.recent.connect(lambda recent: self.models.fill_recent_menu(self.recent_menu, recent))

        self._build_menus()
        geometry = self.session.window_geometry
        if not (geometry and self.restoreGeometry(geometry)) or self.width() < 480 or self.height() < 320:
            self.resize(1120, 780)  # none kept, or damaged: Qt "restores" a few stray bytes as a 1×1 window
        self._fit_screen()
        self._on_model_changed(None)
        if self.model_coming():
            self.classify_panel.model_label.setText("Loading the model…")
            self.model_status.setText("Loading the model…")

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
        self.models.fill_recent_menu(self.recent_menu, self.session.recent_models)

    def _fit_screen(self) -> None:
        """No larger than the screen's free area (a 1024×600 netbook, or the size kept from a larger
        screen): the panels scroll rather than fall off the bottom of the screen."""
        screen = self.screen()
        if screen is not None:
            free = screen.availableGeometry()
            title_bar = max(self.frameGeometry().height() - self.height(), TITLE_BAR)  # not known before it shows
            self.resize(min(self.width(), free.width()), min(self.height(), free.height() - title_bar))

    # ----- start-up: show first, then load the heavy libraries --------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._started_background:
            self._started_background = True
            log.debug("main window shown")  # the frozen build's smoke test waits for this line
            QTimer.singleShot(0, self._start_background_loading)

    def _start_background_loading(self) -> None:
        self.statusBar().showMessage("Starting: loading TensorFlow in the background…")
        self.jobs.start("warm-up", jobs.warm_up, yielded=lambda step: self._install_charts(),
                        returned=self._on_warmup_done, errored=self._on_warmup_error)

    def _install_charts(self) -> None:
        self.training_panel.install_charts()
        self.evaluation_panel.install_charts()
        self.inbox_panel.install_charts()

    def _on_warmup_done(self, versions: dict) -> None:
        self.versions = versions
        self.tf_ready = True
        log.debug("TensorFlow ready")
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

    # ----- what the tests and the command line reach on the window ------------------------------
    def open_dataset(self, folder: str, show: bool = True) -> None:
        self.scanning.open_dataset(folder, show)

    def start_training(self, config) -> None:
        self.training.start(config)

    def is_training(self) -> bool:
        return self.training.running()

    def use_trained_model(self) -> None:
        self.training.use_trained()

    # ----- models ---------------------------------------------------------------------------
    def _on_model_changed(self, classifier) -> None:
        name, unsaved = self.session.model_name(), self.session.model_unsaved
        self.classify_panel.show_model(name, classifier, unsaved)
        self.model_status.setText(f"Model: {name}{' (unsaved)' if unsaved else ''}" if classifier else "No model")
        self.save_model_action.setEnabled(classifier is not None)
        self.report_action.setEnabled(classifier is not None)
        self.export_model_action.setEnabled(classifier is not None)
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
        self.models.export()

    @property
    def export_dialog(self):
        return self.models.export_dialog

    # ----- classifying ----------------------------------------------------------------------
    @Slot(list)
    def classify_paths(self, paths: list) -> None:
        self.classifying.classify_paths(paths)

    # ----- closing ----------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        def refused(question: str) -> bool:
            return QMessageBox.question(self, "Quit?", question, Button.Yes | Button.Cancel) != Button.Yes

        moving = self.classifying.moving_files()
        if ((self.is_training() and refused("A training is running. Stop it and quit?"))
                or (moving and refused(moving)) or not self.models.keep_unsaved("quitting", "quitting")):
            event.ignore()
            return
        self.session.set_window_geometry(self.saveGeometry())
        self.training.save_settings()
        if self.is_training():
            self.statusBar().showMessage("Stopping training…")
        self.jobs.drop_all()  # results that arrive from now on are not wanted
        self.workers.shutdown()
        self.store.sync()
        super().closeEvent(event)
