"""The Dataset tab's work: open a folder (chosen, dropped, the sample one, the last one at start-up,
or read again after pictures were moved), scan it in a worker (core.app.jobs) with progress and Cancel,
and show what was found. The session (core.app.session) holds the dataset in use."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QWidget

from ..core.app import jobs
from ..core.app.session import Session
from ..core.wording import count
from .dataset_panel import DatasetPanel
from .training import Training
from .workers import JobRunner


class Scanning(QObject):
    """Steers ``panel``; ``training`` is told while no dataset is ready, and no folder opens while it
    trains. ``sample_dataset``: the bundled sample folder (None: none); ``show_tab(widget)`` brings a
    tab to the front; ``status(text, ms)`` shows a status-bar message."""

    def __init__(self, panel: DatasetPanel, session: Session, jobs_: JobRunner, training: Training,
                 sample_dataset, show_tab: Callable[[QWidget], None], status: Callable[..., None]):
        super().__init__(panel)
        self.panel = panel
        self.session = session
        self.jobs = jobs_
        self.training = training
        self.sample_dataset = sample_dataset
        self.show_tab = show_tab
        self.status = status

        panel.folder_chosen.connect(self.open_dataset)
        panel.cancel_requested.connect(self.cancel)
        panel.sample_requested.connect(self.open_sample)
        panel.sample_button.setVisible(sample_dataset is not None)
        panel.last_folder = session.last_dataset
        session.events.dataset.connect(self._on_dataset_changed)
        if session.last_dataset and os.path.isdir(session.last_dataset):  # unless something opened first
            QTimer.singleShot(0, lambda: session.scan is None and self.open_dataset(session.last_dataset))

    @Slot()
    def open_sample(self) -> None:
        if self.sample_dataset is not None:
            self.open_dataset(str(self.sample_dataset))

    @Slot(str)
    def open_dataset(self, folder: str, show: bool = True) -> None:
        """Scan ``folder`` and make it the dataset in use; ``show``: bring the Dataset tab to the front
        (not when the folder is read again after pictures were moved from the Evaluate tab)."""
        if self.training.running():
            self.status("Wait for training to finish before changing the dataset.", 5000)
            return
        self.session.open_dataset(folder)
        if show:
            self.show_tab(self.panel)
        self.panel.set_scanning(folder)
        self.training.dataset_pending("Looking at the dataset…")
        config = self.training.panel.config()
        self.jobs.start("scan", jobs.scan_folder, folder, config.validation_split, config.seed,
                        progress=lambda p: self.panel.set_progress(*p), returned=self._on_done,
                        errored=self._on_error, aborted=self._on_aborted)

    @Slot()
    def cancel(self) -> None:
        self.jobs.stop("scan")

    def _on_done(self, payload) -> None:
        scan, self.panel.thumbnails = payload
        self.session.set_dataset(scan)
        if scan.ok:
            total = len(scan.train) + len(scan.validation) + (len(scan.test) if scan.test is not None else 0)
            self.status(f"Dataset ready: {count(total, 'picture')} in "
                        f"{count(len(scan.class_names), 'class', 'classes')}.", 8000)

    def _on_dataset_changed(self, scan) -> None:
        if scan is not None:
            self.panel.show_scan(scan)

    def _on_error(self, message: str) -> None:
        self.panel.show_error(message)
        self.training.dataset_pending("Choose a usable dataset first.")

    def _on_aborted(self) -> None:
        previous = self.session.cancel_opening()  # shown again through the session's dataset event
        if previous is None:
            self.panel.show_cancelled()
            self.training.dataset_pending("Scanning was cancelled: choose a dataset.")
        else:
            self.status(f"Scanning was cancelled: the dataset in use is still {os.path.basename(previous.root)}.", 8000)
