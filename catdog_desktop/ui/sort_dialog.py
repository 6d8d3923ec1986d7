"""*Sort into folders…*: where to, copy or move, and which confidence counts as "not sure".

The dialog says before anything happens what will go where ("cats/ 412, dogs/ 388, uncertain/ 12;
3 unreadable files stay where they are"), and checks the target with core.classify.sorting.check_target.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
    QLineEdit, QPushButton, QRadioButton, QVBoxLayout,
)

from ..core.classify import sorting
from ..core.errors import CatdogError


@dataclass
class SortChoice:
    target: str
    move: bool
    threshold: float | None


class SortDialog(QDialog):
    def __init__(self, results, sources: list[str], start_folder: str, threshold: float | None = None, parent=None):
        """``results``: core.classify.results.BatchResults to sort; ``sources``: what was classified (files and
        folders; the target may not be inside one); ``threshold``: the "not sure" threshold in use
        (the model's, or the one the user set on the Classify tab; None: none)."""
        super().__init__(parent)
        self.setWindowTitle("Sort into folders")
        self.results = results
        self.sources = sources
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("The folder that receives one sub-folder per class")
        if sources and os.path.isdir(sources[0]):
            self.folder.setText(os.path.normpath(sources[0]) + "-sorted")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        self.start_folder = start_folder
        self.copy = QRadioButton("Copy the files (the originals stay where they are)")
        self.move = QRadioButton("Move the files (Undo last sort puts them back)")
        self.copy.setChecked(True)
        self.use_threshold = QCheckBox("Pictures under")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(1, 99.9)
        self.threshold.setDecimals(1)
        self.threshold.setSuffix(" %")
        self.threshold.setValue(round((threshold or 0.6) * 100, 1))
        self.use_threshold.setChecked(bool(threshold))
        self.threshold.setEnabled(bool(threshold))
        self.use_threshold.toggled.connect(self.threshold.setEnabled)
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        self.preview.setTextFormat(Qt.TextFormat.PlainText)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color:#c62828")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.sort_button = self.buttons.addButton("Sort", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)

        where = QHBoxLayout()
        where.addWidget(self.folder, 1)
        where.addWidget(browse)
        unsure = QHBoxLayout()
        unsure.addWidget(self.use_threshold)
        unsure.addWidget(self.threshold)
        unsure.addWidget(QLabel("confidence go to uncertain/"))
        unsure.addStretch(1)
        form = QFormLayout()
        form.addRow("Sort into:", where)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.copy)
        layout.addWidget(self.move)
        layout.addLayout(unsure)
        layout.addWidget(self.preview)
        layout.addWidget(QLabel("Nothing is overwritten: a name already taken gets a number, e.g. “cat (2).jpg”."))
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        for signal in (self.folder.textChanged, self.copy.toggled, self.use_threshold.toggled, self.threshold.valueChanged):
            signal.connect(self._update)
        self.resize(640, 280)
        self._update()

    def choice(self) -> SortChoice:
        """The threshold is always explicit: unticked, no picture goes to uncertain/ for its confidence
        (0.0); pictures that look like none of the classes still do."""
        threshold = round(self.threshold.value() / 100, 4) if self.use_threshold.isChecked() else 0.0
        return SortChoice(self.folder.text().strip(), self.move.isChecked(), threshold)

    @Slot()
    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Sort into", self.folder.text() or self.start_folder)
        if folder:
            self.folder.setText(folder)

    @Slot()
    def _update(self) -> None:
        choice = self.choice()
        moves, unreadable = sorting.plan(self.results.predictions, self.results.class_names, choice.threshold)
        counts: dict[str, int] = dict.fromkeys(sorting.folder_names(self.results.class_names).values(), 0)
        for _, folder in moves:
            counts[folder] = counts.get(folder, 0) + 1
        spread = ", ".join(f"{folder}/ {n:,}" for folder, n in counts.items() if n) or "nothing"
        verb = "Moves" if choice.move else "Copies"
        text = f"{verb} {len(moves):,} picture{'s' * (len(moves) != 1)} into {spread}."
        strange = sum(1 for p in self.results.predictions if p.ok and p.unfamiliar)
        if strange:  # they are among those counted for uncertain/: say why, without adding them again
            uncertain = sorting.folder_names(self.results.class_names)[None]
            text += (f" {strange:,} of the {counts.get(uncertain, 0):,} in {uncertain}/ "
                     f"look{'s' * (strange == 1)} like none of the classes.")
        if unreadable:
            text += (f" {len(unreadable):,} unreadable file{'s stay' if len(unreadable) != 1 else ' stays'} "
                     "where they are.")
        self.preview.setText(text)
        self.error.clear()
        self.error.setVisible(False)
        self.sort_button.setEnabled(bool(choice.target) and bool(moves))

    @Slot()
    def _accept(self) -> None:
        try:
            sorting.check_target(self.choice().target, self.sources)
        except CatdogError as exc:
            self.error.setText(str(exc))
            self.error.setVisible(True)
            return
        self.accept()
