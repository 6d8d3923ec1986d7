"""File → Export report…: ask where, then write the HTML report (core.report) in the background,
with progress and Cancel. The model reported on is the one the user is looking at: the model the
last training made while the Evaluate tab shows it, else the model in use. The dataset in use, when
it has classes the model knows, gives the mistakes and likely label errors (the report says whether
those are the pictures the model trained on)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog, QWidget

from ..core.app import jobs
from ..core.app.session import Session
from .workers import JobRunner

log = logging.getLogger(__name__)


class ReportExport(QObject):
    def __init__(self, window: QWidget, session: Session, jobs_: JobRunner, status: Callable[..., None],
                 shown_model: Callable[[], object] = lambda: None):
        """``shown_model()``: the model whose figures the Evaluate tab shows (None for none)."""
        super().__init__(window)
        self.shown_model = shown_model
        self.window = window
        self.session = session
        self.jobs = jobs_
        self.status = status
        self.progress: QProgressDialog | None = None
        self.folder = os.path.expanduser("~")

    def model(self):
        """The model to report on: the one the last training made when the Evaluate tab shows it
        (the user just looked at its figures, even if another model classifies), else the one in use."""
        trained = self.session.trained
        if trained is not None and self.shown_model() is trained:
            return trained
        return self.session.classifier

    @Slot()
    def export_dialog(self) -> None:
        classifier = self.model()
        if classifier is None:
            self.status("There is no model to report on yet: train or open one.", 5000)
            return
        if self.jobs.busy("report"):
            self.status("A report is being written already.", 5000)
            return
        stem = os.path.splitext(self.session.model_name_of(classifier) or "model")[0].replace(" ", "-")
        # The dialog asks before replacing a file (Qt's default), so the job may replace it.
        path, _ = QFileDialog.getSaveFileName(self.window, "Export report", os.path.join(self.folder, f"{stem}-report.html"),
                                              "Web pages (*.html)")
        if path:
            self.export(path)

    def export(self, path: str) -> None:
        """Write the report of :meth:`model` to ``path`` in the background."""
        classifier = self.model()
        if classifier is None:
            return
        if not os.path.splitext(path)[1]:
            path += ".html"
        self.folder = os.path.dirname(path) or self.folder
        scan = self._pictures_for(classifier)
        name = self.session.model_name_of(classifier)
        if not classifier.path:
            name = "the model trained just now (not saved)"
        elif self.session.is_builtin(classifier.path):
            name = f"the {name} ({os.path.basename(classifier.path)})"
        self.progress = QProgressDialog("Writing the report…", "Cancel", 0, 0, self.window)
        self.progress.setWindowTitle("Export report")
        self.progress.setWindowModality(Qt.WindowModality.NonModal)
        self.progress.setMinimumDuration(400)
        self.progress.canceled.connect(lambda: self.jobs.stop("report"))
        self.status(f"Writing the report on {name}…")
        self.jobs.start("report", jobs.export_report, classifier, path, scan, True, name,
                        progress=self._on_progress, returned=self._on_written, errored=self._on_error,
                        aborted=lambda: self.status("The report was not written.", 5000),
                        finished=self._close_progress)

    def _pictures_for(self, classifier):
        """The dataset in use when the model knows some of its classes (then the report shows the
        mistakes and likely label errors), else None (what the model recorded is shown)."""
        scan = self.session.scan
        if scan is None or not set(scan.class_names) & set(classifier.class_names):
            return None
        return scan

    def _on_progress(self, value) -> None:
        done, total, message = value
        if self.progress is not None:
            self.progress.setLabelText(f"{message}…")
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(min(done, total))

    def _on_written(self, path: str) -> None:
        self.status(f"Report written to {path}", 10000)

    def _on_error(self, message: str) -> None:
        self.status("The report was not written.", 8000)
        QMessageBox.warning(self.window, "Report not written", message)

    def _close_progress(self) -> None:
        if self.progress is not None:
            self.progress.reset()
            self.progress.deleteLater()
            self.progress = None
