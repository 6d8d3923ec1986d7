"""The Train tab's work: start a training (once the unsaved model in use is kept or given up),
follow it on the panel and the status bar, stop it, and take its result ("Use this model",
"Save model…"); also "Train again" from the Evaluate tab. The training runs in a worker (core.app.jobs)."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QWidget

from ..core.app import jobs
from ..core.training.events import BatchEvent, EpochEvent, PhaseEvent, Reporter
from ..core.app.session import Session
from ..core.wording import count
from .evaluating import Evaluating
from .model_files import ModelFiles
from .training_panel import TrainingPanel
from .workers import JobRunner


class Training(QObject):
    """Steers ``panel``. ``show_tab(widget)`` brings a tab to the front; ``status(text, ms)`` shows a
    status-bar message; ``dataset_busy(bool)``: the Dataset tab's controls are off while it trains."""

    def __init__(self, panel: TrainingPanel, session: Session, jobs_: JobRunner, models: ModelFiles,
                 evaluating: Evaluating, show_tab: Callable[[QWidget], None], status: Callable[..., None],
                 dataset_busy: Callable[[bool], None]):
        super().__init__(panel)
        self.panel = panel
        self.session = session
        self.jobs = jobs_
        self.models = models
        self.evaluating = evaluating
        self.show_tab = show_tab
        self.status = status
        self.dataset_busy = dataset_busy
        self.reporter = PanelReporter(panel, status)

        panel.train_requested.connect(self.start)
        panel.stop_requested.connect(self.stop)
        panel.save_requested.connect(lambda: models.save_dialog(session.trained))
        panel.use_trained_requested.connect(self.use_trained)
        panel.mistakes_requested.connect(lambda: show_tab(evaluating.panel))
        evaluating.panel.train_again_requested.connect(self.train_again)
        session.events.dataset.connect(self._on_dataset_changed)
        session.events.trained.connect(lambda _trained: self.show_model_choice())
        session.events.model.connect(lambda _classifier: self.show_model_choice())
        session.events.model.connect(self._on_model_changed)
        preset_name, config = session.training_settings()
        panel.set_config(config, preset_name)
        panel.form.set_advanced_open(session.advanced_open)
        panel.form.advanced_toggled.connect(session.set_advanced_open)

    # ----- the dataset it trains on ------------------------------------------------------------
    def dataset_pending(self, message: str) -> None:
        """No dataset to train on yet (being read, failed, cancelled): Train is off, ``message`` says why."""
        self.panel.set_dataset_ready(False, message)

    def _on_dataset_changed(self, scan) -> None:
        if scan is None:
            return
        if scan.ok:
            self.panel.set_dataset_ready(True, f"Dataset: {os.path.basename(scan.root)} — "
                                               f"{count(len(scan.class_names), 'class', 'classes')}. Press Train.")
        else:
            self.dataset_pending("The dataset has problems; see the Dataset tab.")

    def _on_model_changed(self, classifier) -> None:
        """"Train on from the model in use" is offered for a saved model this app made."""
        if classifier is None or not classifier.path:
            why = ("Save the model in use first: training goes on from a model file." if classifier is not None
                   else None)
            self.panel.set_continuable(None, *([why] if why else []))
            return
        from ..core.training.starting_point import recorded_config

        if recorded_config(classifier.metadata) is None:
            self.panel.set_continuable(None, f"{os.path.basename(classifier.path)} does not record how it was "
                                             "trained (a model from elsewhere): training cannot go on from it.")
        else:
            self.panel.set_continuable(os.path.basename(classifier.path))

    def save_settings(self) -> None:
        """Keep the settings on the form for the next start."""
        self.session.save_training_settings(self.panel.preset_name(), self.panel.config())

    # ----- starting and stopping ---------------------------------------------------------------
    @Slot(object)
    def start(self, config) -> None:
        if self.running():
            return  # Train pressed twice
        scan = self.session.scan
        if scan is None or not scan.ok:
            self.panel.show_message("Choose a usable dataset first.", error=True)
            return
        if not self.models.keep_unsaved("training a new one", "training"):
            return
        self.session.save_training_settings(self.panel.preset_name(), config)
        start_from = None
        if self.panel.continue_box.isChecked() and self.panel.continue_box.isEnabled():
            from ..core.training.starting_point import continuing_config

            start_from = self.session.classifier.path
            config = continuing_config(config, self.session.classifier.metadata)
        data = self.session.training_data(config)  # split again first if the share or seed changed
        self.panel.training_started(config)
        self.evaluating.set_training(True)
        self.evaluating.trained_again()
        self.dataset_busy(True)
        self.show_tab(self.panel)
        self.status("Training…")
        self.jobs.start("train", jobs.train_model, config, data, start_from,
                        yielded=self.reporter.on_event, returned=self.on_done,
                        errored=self._on_error, aborted=self._on_aborted, finished=self._on_finished)

    @Slot()
    def stop(self) -> None:
        self.jobs.stop("train")

    def running(self) -> bool:
        return self.jobs.busy("train")

    @Slot()
    def train_again(self) -> None:
        """The Evaluate tab's "Train again": the same settings, on the dataset as it is now."""
        self.show_tab(self.panel)
        if self.evaluating.flush_rescan() or self.jobs.busy("scan"):  # pictures moved: train on the folder as it is now
            self.status("Reading the changed dataset, then training…")
            QTimer.singleShot(200, self.train_again)
            return
        self.panel.request_training()

    # ----- how it ended ------------------------------------------------------------------------
    def on_done(self, result) -> None:
        """A training returned ``result`` (core.training.train.TrainingResult): shown here and on the
        Evaluate tab; the model in use stays until "Use this model"."""
        self.panel.show_result(result)
        self.session.set_trained_model(result)
        self.evaluating.show_training(result)  # after: it belongs to the trained model
        in_use = "" if self.session.classifier is self.session.trained else " The model in use is unchanged."
        ev = result.evaluation
        where = ev.where() if ev.folds else f"on {ev.split} pictures"
        score = f"{ev.accuracy:.1%} {where}" if ev.checked else f"not checked on {ev.split} pictures"
        self.status(f"Training finished: {score}.{in_use} Save the model to keep it.")

    @Slot()
    def use_trained(self) -> None:
        if self.models.keep_unsaved("using the new one", "opening"):
            self.session.use_trained()
            self.status("The model trained just now is the model in use. It is not saved yet: "
                        "File → Save model… keeps it.")

    def show_model_choice(self) -> None:
        if self.session.trained is not None:
            self.panel.show_choice(self.session.model_comparison(),
                                   in_use=self.session.trained is self.session.classifier)

    def _on_error(self, message: str) -> None:
        self.panel.show_message(f"Training failed: {message}", error=True)
        self.status("Training failed.")

    def _on_aborted(self) -> None:
        self.panel.show_message("Training was stopped before the first epoch ended; no model was made.")
        self.status("Training stopped.", 5000)

    def _on_finished(self) -> None:
        self.panel.training_finished()
        self._on_model_changed(self.session.classifier)
        self.evaluating.set_training(False)
        self.dataset_busy(False)


class PanelReporter(Reporter):
    """The app's Reporter: shows a training's events on the panel, and each epoch on ``status``."""

    def __init__(self, panel: TrainingPanel, status: Callable[[str], None]):
        self.panel = panel
        self.status = status

    def on_stage(self, event: PhaseEvent) -> None:
        self.panel.on_stage(event)

    def on_batch_end(self, event: BatchEvent) -> None:
        self.panel.on_batch(event)

    def on_epoch_end(self, event: EpochEvent) -> None:
        self.panel.on_epoch(event)
        self.status(f"Epoch {event.epoch}: validation accuracy {event.val_accuracy:.1%}")
