"""File → Export model…: choose a format and a destination, export in a worker (progress, Cancel),
then show whether the exported file agrees with the app's model (core.export.exporter's parity check)."""

from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QMessageBox,
    QProgressBar, QPushButton, QRadioButton, QVBoxLayout, QWidget,
)

from ..core.app import jobs
from ..core.export.formats import FLOAT_MAX_DIFFERENCE, FORMATS
from ..core.export.exporter import check_destination, destination, planned_files
from ..core.errors import ExportError
from .panel_tabs import scrolling
from .workers import JobRunner

JOB = "export"


class ExportDialog(QDialog):
    """Exports ``classifier``. ``folder``: where the destination starts; ``data_folder``: pictures to
    check on (class sub-folders), or "" for the model's own training folder / generated pictures."""

    #: An export was written (passed its check or not): its path (the folder it is in is where the next starts).
    exported = Signal(str)

    def __init__(self, parent: QWidget, classifier, jobs_: JobRunner, folder: str, data_folder: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Export model")
        self.classifier = classifier
        self.jobs = jobs_
        self.result = None
        self.folder = folder
        stem = os.path.splitext(os.path.basename(classifier.path or "my-model"))[0]

        self.formats = QButtonGroup(self)
        format_box = QVBoxLayout()
        for i, (key, spec) in enumerate(FORMATS.items()):
            button = QRadioButton(spec.title)
            button.setProperty("format", key)
            explanation = QLabel(spec.explanation)
            explanation.setStyleSheet("color: #666; margin-left: 22px; margin-bottom: 4px")
            self.formats.addButton(button, i)
            format_box.addWidget(button)
            format_box.addWidget(explanation)
        self.formats.button(0).setChecked(True)
        self.formats.idToggled.connect(lambda *_: self._format_changed())

        self.path_edit = QLineEdit(os.path.join(folder, stem))
        self.browse_button = QPushButton("Choose…")
        self.browse_button.clicked.connect(self._choose_path)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        self.data_edit = QLineEdit(data_folder)
        self.data_edit.setPlaceholderText("the folder the model was trained on, else generated pictures")
        self.data_button = QPushButton("Choose…")
        self.data_button.clicked.connect(self._choose_data)
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_edit, 1)
        data_row.addWidget(self.data_button)
        form = QFormLayout()
        form.addRow("Save as:", path_row)
        form.addRow("Check on pictures in:", data_row)
        note = QLabel("After exporting, the pictures go through the exported file in its own runtime and "
                      "through the app's model, and the answers are compared.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #666")

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_label.setVisible(False)

        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel_or_close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)

        self.settings = QWidget()
        settings = QVBoxLayout(self.settings)
        settings.setContentsMargins(0, 0, 0, 0)
        settings.addWidget(QLabel("<b>Format</b>"))
        settings.addLayout(format_box)
        settings.addLayout(form)
        settings.addWidget(note)
        # Everything but the buttons scrolls: with a result shown the dialog was 683 px high, taller
        # than a 1024×600 screen, and its buttons fell off the bottom.
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.addWidget(self.settings)
        body_layout.addWidget(self.status)
        body_layout.addWidget(self.progress)
        body_layout.addWidget(self.result_label)
        body_layout.addStretch(1)
        self.body_area = scrolling(body)
        layout = QVBoxLayout(self)
        layout.addWidget(self.body_area, 1)
        layout.addLayout(buttons)
        self.setMinimumWidth(620)
        free = self.screen().availableGeometry().height() if self.screen() is not None else 600
        self.resize(620, min(body.sizeHint().height() + 60, free - 60))  # all of it, where the screen allows
        self._format_changed()

    def format(self) -> str:
        return self.formats.checkedButton().property("format")

    def _format_changed(self) -> None:
        """Keep the destination's ending in step with the format (a folder for a SavedModel); the
        previous format's result is no longer what the button does, so it goes."""
        if not self.running():
            self.result_label.setVisible(False)
            self.status.setText("")
            self.export_button.setText("Export")
        text = self.path_edit.text().strip()
        if not text:
            return
        base, ending = os.path.splitext(text)
        if ending.lower() in (".tflite", ".onnx"):
            text = base
        self.path_edit.setText(str(destination(self.format(), text)) if FORMATS[self.format()].suffix else text)

    @Slot()
    def _choose_path(self) -> None:
        spec = FORMATS[self.format()]
        pattern = f"{spec.title} (*{spec.suffix})" if spec.suffix else "Folder name (*)"
        # The overwrite question is ours (start()): it covers the files written beside the model too.
        path, _ = QFileDialog.getSaveFileName(self, "Export model as", self.path_edit.text(), pattern,
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.path_edit.setText(path)
            self._format_changed()

    @Slot()
    def _choose_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Pictures to check the export on (one folder per class)",
                                                  self.data_edit.text() or self.folder)
        if folder:
            self.data_edit.setText(folder)

    @Slot()
    def start(self) -> None:
        fmt, out = self.format(), self.path_edit.text().strip()
        if not out:
            self._show_error("Choose where to save the export.")
            return
        try:
            # Everything but "it exists" first: some destinations are refused even when replacing
            # (a folder of the user's that is not one of our exports).
            check_destination(fmt, out, force=True)
        except ExportError as exc:
            self._show_error(str(exc))
            return
        existing = [p for p in planned_files(fmt, out) if p.exists()]
        force = bool(existing)
        if existing:
            names = "\n".join(p.name for p in existing)
            if QMessageBox.question(self, "Replace?", f"These already exist in {existing[0].parent}:\n{names}\n\n"
                                    "Replace them?", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel
                                    ) != QMessageBox.StandardButton.Yes:
                return
        self.result = None
        self.settings.setEnabled(False)
        self.export_button.setEnabled(False)
        self.result_label.setVisible(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status.setStyleSheet("")
        self.status.setText("Reading the pictures for the check…")
        self.jobs.start(JOB, jobs.export_model, self.classifier, fmt, out, self.data_edit.text().strip() or None,
                        force, progress=self._on_progress, returned=self._on_done,
                        errored=self._on_error, aborted=self._on_aborted, finished=self._on_finished)

    def running(self) -> bool:
        return self.jobs.busy(JOB)

    def _on_progress(self, value) -> None:
        done, total, message = value
        self.progress.setRange(0, total)  # a total of 0: a step without a share of its own (a busy bar)
        self.progress.setValue(done)
        if message:
            self.status.setText(f"{message}…")

    def _on_done(self, result) -> None:
        self.result = result
        self.exported.emit(result.path)
        colour = "#2e7d32" if result.passed else "#c62828"
        if result.passed and result.required_agreement is None:
            colour = "#a86400" if result.agreement < 0.99 else "#2e7d32"
        headline = ("Export checked: it agrees with the app." if result.passed and result.required_agreement
                    else "Export written; quantised, so check its figures." if result.passed
                    else "The export FAILED the check: it does not compute what the app computes.")
        figures = [f"Same answer as the app: <b>{result.agreement:.1%}</b> of {result.pictures} pictures",
                   f"Largest difference of a probability: {result.max_difference:.2g}"]
        if result.accuracy is not None:
            figures.append(f"Accuracy: {result.accuracy:.1%} (the app's model: {result.app_accuracy:.1%})")
        figures += [f"Checked on: {html.escape(result.parity_source)}", f"Runtime: {html.escape(result.runtime)}",
                    f"Size: {result.size_bytes / 1e6:.2f} MB"]
        if not result.passed:
            figures.append(f"<b>A float export must give the same answer on at least {result.required_agreement:.1%} "
                           f"of the pictures, with probabilities within {FLOAT_MAX_DIFFERENCE}. "
                           "Do not use this file.</b>")
        if result.kept:
            figures.append(f"<b>{html.escape(result.kept_note())}</b>")
        files = "<br>".join(html.escape(p) for p in result.files)
        self.result_label.setText(
            f'<p style="color:{colour}; font-size: 14px"><b>{headline}</b></p>'
            f"<p>{'<br>'.join(figures)}</p>"
            f"<p>Files written (the model card records these figures):<br><span style='color:#555'>{files}</span></p>")
        self.result_label.setVisible(True)
        self.status.setText("")
        # The verdict is what was waited for: in view, however small the screen, after the layout has it.
        QTimer.singleShot(0, lambda: self.body_area.ensureWidgetVisible(self.result_label))

    def _on_error(self, message: str) -> None:
        self._show_error(f"The model was not exported: {message}")

    def _on_aborted(self) -> None:
        self.status.setStyleSheet("")
        self.status.setText("The export was cancelled; nothing was written.")

    def _on_finished(self) -> None:
        self.progress.setVisible(False)
        self.settings.setEnabled(True)
        self.export_button.setEnabled(True)
        self.export_button.setText("Export again" if self.result is not None else "Export")
        self.cancel_button.setText("Close")

    def _show_error(self, message: str) -> None:
        self.status.setStyleSheet("color: #c62828")
        self.status.setText(message)

    @Slot()
    def _cancel_or_close(self) -> None:
        if self.running():
            self.status.setText("Cancelling…")
            self.jobs.stop(JOB)
        else:
            self.reject()

    def reject(self) -> None:
        """Escape or the window's close button: stop a running export first (it cleans up)."""
        if self.running():
            self.jobs.stop(JOB)
            self.status.setText("Cancelling…")
            return
        super().reject()
