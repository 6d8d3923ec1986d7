"""Dataset panel: choose (or drop) a folder, see the classes, counts, examples and problems."""

from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QHeaderView, QLabel, QListWidget, QProgressBar, QPushButton,
    QSizePolicy, QTableWidget, QTableWidgetItem, QToolButton, QVBoxLayout, QWidget,
)

from ..core import wording
from ..core.app.jobs import DATASET_THUMB_SIZE as THUMB_SIZE
from .common import local_paths, pixmap_from_rgb, problems_html


class DatasetPanel(QWidget):
    folder_chosen = Signal(str)
    sample_requested = Signal()
    cancel_requested = Signal()
    pictures_dropped = Signal(list)    # pictures (not a folder) dropped here: to be classified
    try_model_requested = Signal()     # "Try the ready cats-vs-dogs model": the Classify tab

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.last_folder = ""
        #: Example pictures of the dataset shown, per class: (width, height, RGB bytes) each.
        self.thumbnails: dict[str, list[tuple[int, int, bytes]]] = {}

        self.choose_button = QPushButton("Choose dataset folder…")
        self.choose_button.setToolTip("A folder with one sub-folder per class, or with train/test folders (Ctrl+O)")
        self.choose_button.clicked.connect(self.choose_folder)
        self.sample_button = QPushButton("Try the sample dataset")
        self.sample_button.clicked.connect(self.sample_requested)
        self.sample_button.setVisible(False)
        self.path_label = QLabel("No dataset chosen yet. Choose a folder, or drop one here.")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setWordWrap(True)
        self.ready_model = QLabel(
            "A ready cats-vs-dogs model comes with the app: <a href=\"classify\">try it</a> "
            "— drop a photo anywhere in this window to classify it, no training needed.")
        self.ready_model.setTextFormat(Qt.TextFormat.RichText)
        self.ready_model.setWordWrap(True)
        self.ready_model.setStyleSheet("background:#e8f5e9; color:#1b5e20; padding:6px; border-radius:4px;")
        self.ready_model.linkActivated.connect(lambda _link: self.try_model_requested.emit())
        self.ready_model.setVisible(False)

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.TextFormat.RichText)
        self.notice.setVisible(False)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_requested)

        self.summary = QLabel(
            "<p>Lay your pictures out as <b>one sub-folder per class</b>, e.g. <tt>pets/cats</tt> and "
            "<tt>pets/dogs</tt>, or as <tt>train</tt> and <tt>test</tt> folders that each hold the class "
            "folders. JPEG, PNG, BMP, GIF, WebP and TIFF pictures are read.</p>"
        )
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setToolTip("Training pictures teach the model; validation pictures check it while it trains; "
                                "test pictures give the final score. “seed 1337” is the number that fixes "
                                "which pictures are held back, so the split is the same every time.")

        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Class", "Training", "Validation", "Test", "Examples"])
        for column, tip in enumerate(("A sub-folder of pictures: one kind of thing to recognise.",
                                      "Pictures the model learns from.",
                                      "Pictures held back to check the model while it trains.",
                                      "Pictures kept apart for the final score (a test folder).",
                                      "A few of the pictures, as read.")):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setTabKeyNavigation(False)  # Tab moves on to the next control, not the next cell
        header = self.table.horizontalHeader()
        for col in range(4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.setVisible(False)

        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.RichText)
        self.skipped_toggle = QToolButton()
        self.skipped_toggle.setCheckable(True)
        self.skipped_toggle.setVisible(False)
        self.skipped_toggle.toggled.connect(self._toggle_skipped)
        self.skipped_list = QListWidget()
        self.skipped_list.setVisible(False)
        self.skipped_list.setMaximumHeight(140)

        top = QHBoxLayout()
        top.addWidget(self.choose_button)
        top.addWidget(self.sample_button)
        top.addStretch(1)
        scan_row = QHBoxLayout()
        scan_row.addWidget(self.progress, 1)
        scan_row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.ready_model)
        layout.addWidget(self.path_label)
        layout.addWidget(self.notice)
        layout.addLayout(scan_row)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.problems)
        layout.addWidget(self.skipped_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.skipped_list)
        layout.addStretch(0)

    # ----- user actions -------------------------------------------------------------------
    @Slot()
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose dataset folder", self.last_folder or os.path.expanduser("~"))
        if folder:
            self.folder_chosen.emit(folder)

    def dragEnterEvent(self, event) -> None:
        # Any local file is accepted, so that dropping the wrong thing gets an explanation.
        if event.mimeData().hasUrls() and local_paths(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        paths = local_paths(event.mimeData().urls())
        if not paths:
            return
        event.acceptProposedAction()
        folders = [p for p in paths if os.path.isdir(p)]
        if folders:
            self.folder_chosen.emit(folders[0])
        elif any(is_picture(p) for p in paths):
            self.notice.setVisible(False)
            self.pictures_dropped.emit(paths)  # the window classifies them on the Classify tab
        else:
            self.show_notice(not_a_folder_message(paths[0]))

    def show_ready_model(self, ready: bool) -> None:
        """Say (or not) that a ready-made model can be tried at once (the built-in one)."""
        self.ready_model.setVisible(ready)

    def show_notice(self, message: str) -> None:
        """A message about the last drop that leaves the current dataset as it is."""
        self.notice.setText(f'<span style="color:#c62828">✖ {html.escape(message)}</span>')
        self.notice.setVisible(True)

    @Slot(bool)
    def _toggle_skipped(self, shown: bool) -> None:
        self.skipped_list.setVisible(shown)

    # ----- what the main window tells us ----------------------------------------------------
    def set_scanning(self, folder: str) -> None:
        self.last_folder = folder
        self.notice.setVisible(False)
        self.path_label.setText(f"<b>{html.escape(folder)}</b>")
        self.summary.setText("Looking at the pictures…")
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.choose_button.setEnabled(False)
        self.sample_button.setEnabled(False)

    def set_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} / {total} files checked")

    def _idle(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.choose_button.setEnabled(True)
        self.sample_button.setEnabled(True)

    def show_cancelled(self) -> None:
        """Scanning was cancelled and no dataset is in use: show none."""
        self._idle()
        self.path_label.setText("No dataset in use: scanning was cancelled. Choose a folder, or drop one here.")
        self.summary.setText("Scanning was cancelled.")
        self.table.setVisible(False)
        self.table.setRowCount(0)
        self.thumbnails = {}
        self.problems.clear()
        self.skipped_list.clear()
        self.skipped_toggle.setVisible(False)
        self.skipped_list.setVisible(False)

    def show_error(self, message: str) -> None:
        self._idle()
        self.table.setVisible(False)
        self.summary.setText(f'<span style="color:#c62828">✖ {html.escape(message)}</span>')
        self.problems.clear()

    def set_busy(self, busy: bool) -> None:
        """Training in progress: the dataset cannot change under it."""
        self.choose_button.setEnabled(not busy)
        self.sample_button.setEnabled(not busy)
        self.setAcceptDrops(not busy)

    def show_scan(self, scan) -> None:
        """Show ``scan`` with ``self.thumbnails`` as examples."""
        thumbnails = self.thumbnails
        self._idle()
        self.path_label.setText(f"<b>{html.escape(scan.root)}</b>")
        n = len(scan.class_names)
        if n:
            test = f", <b>{len(scan.test)}</b> for the final test" if scan.test is not None else ""
            self.summary.setText(
                f"Layout: <b>{scan.layout}</b> · {n} classes · <b>{len(scan.train)}</b> pictures to train on, "
                f"<b>{len(scan.validation)}</b> to validate ({html.escape(scan.validation_source)}){test}."
            )
        else:
            self.summary.setText("No classes found.")
        self.table.setVisible(bool(n))
        self.table.setRowCount(n)
        train, val = scan.train.counts(n), scan.validation.counts(n)
        test = scan.test.counts(n) if scan.test is not None else None
        for row, name in enumerate(scan.class_names):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            for col, value in ((1, train[row]), (2, val[row]), (3, test[row] if test else None)):
                item = QTableWidgetItem("—" if value is None else str(value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
            self.table.setCellWidget(row, 4, self._thumb_strip(thumbnails.get(name, [])))
            self.table.setRowHeight(row, THUMB_SIZE + 8)
        self.problems.setText(problems_html(scan.problems) if scan.problems else
                              '<span style="color:#2e7d32">✔ Ready to train.</span>')
        self.skipped_list.clear()
        for path, reason in scan.skipped[:2000]:
            self.skipped_list.addItem(f"{os.path.basename(path)} — {reason}   ({path})")
        count = len(scan.skipped)
        self.skipped_toggle.setVisible(bool(count))
        self.skipped_toggle.setText(f"{wording.count(count, 'file')} skipped — show why")
        self.skipped_toggle.setChecked(False)

    def _thumb_strip(self, thumbs) -> QWidget:
        strip = QWidget()
        row = QHBoxLayout(strip)
        row.setContentsMargins(2, 2, 2, 2)
        for width, height, data in thumbs:
            label = QLabel()
            label.setPixmap(pixmap_from_rgb(width, height, data))
            label.setFixedSize(THUMB_SIZE, THUMB_SIZE)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            row.addWidget(label)
        row.addStretch(1)
        strip.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        return strip


def is_picture(path: str) -> bool:
    """Whether ``path`` is named like a picture the app reads (and is not a folder)."""
    from ..core.data.images import is_image_name  # numpy and Pillow: not at startup

    return not os.path.isdir(path) and is_image_name(path)


def not_a_folder_message(path: str) -> str:
    """What to tell someone who dropped a file where a dataset folder is expected."""
    from ..core.data.images import unsupported_reason  # numpy and Pillow: not at startup

    name = os.path.basename(path) or path
    if not os.path.exists(path):
        return f"“{name}” no longer exists."
    kind = unsupported_reason(path)
    if kind:
        return f"“{name}” is {kind}. A dataset is a folder with one sub-folder of pictures per class."
    return f"“{name}” is not a folder. Drop a folder with one sub-folder of pictures per class."
