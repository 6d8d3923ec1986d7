"""Classify panel: drop pictures or folders (or open, or paste) and see what the model says."""

from __future__ import annotations

import html
import os
import time

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFrame, QHBoxLayout, QLabel, QProgressBar,
    QPushButton, QStackedWidget, QToolButton, QVBoxLayout, QWidget,
)

from ..core.classify.results import BatchResults
from ..core.wording import count
from ..core.app.jobs import EXPLAIN_METHODS
from .common import explain_method_box, heat_sentence, local_paths, pixmap_from_rgb
from .results_table import NONE_OF_THESE, NOT_SURE, UNREADABLE, ResultsModel, ResultsProxy, ResultsView, filter_key

#: The smallest side of the single-picture preview on screen (the picture itself is larger).
PREVIEW_MIN_SIDE = 360
IMAGE_FILTER = "Pictures (*.jpg *.jpeg *.png *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"
#: Colour of "not sure" and "none of these" (amber: a warning, not an error).
DOUBT_COLOUR = "#a86400"
WHY_DOUBT = ("A model trained on cats and dogs always answers cat or dog, even for a photo of a car: "
             "“not sure” and “looks like none of these” tell you when not to trust its answer.")


def doubt_sentence(class_names) -> str:
    """The one sentence that says why "not sure" exists, in the model's own classes."""
    names = list(class_names)
    if sorted(n.lower() for n in names) == ["cats", "dogs"] or len(names) < 2:
        return WHY_DOUBT
    either = ", ".join(names[:-1]) + " or " + names[-1]
    return (f"A model trained on these classes always answers {either}, even for a photo of a car: "
            "“not sure” and “looks like none of these” tell you when not to trust its answer.")


class ThresholdBox(QWidget):
    """The "not sure" threshold: a percentage, its default from the validation pictures marked,
    and a button back to the default. Emits ``changed(value or None)`` (None: the default)."""

    changed = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 99.9)
        self.spin.setDecimals(1)
        self.spin.setSingleStep(5.0)
        self.spin.setSuffix(" %")
        self.spin.setSpecialValueText("never")
        self.spin.setToolTip("Answers the model is less sure of than this are shown as “not sure”.")
        self.spin.valueChanged.connect(self._on_value)
        self.default_label = QLabel()
        self.default_label.setWordWrap(True)
        self.default_label.setStyleSheet("color:#616161;")
        self.reset = QPushButton("Use default")
        self.reset.clicked.connect(self._on_reset)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Say “not sure” below"))
        row.addWidget(self.spin)
        row.addWidget(self.reset)
        row.addWidget(self.default_label, 1)
        self._default: float | None = None
        self._quiet = False

    def show_threshold(self, default: float | None, override: float | None, why_none: str = "") -> None:
        """The model's recorded ``default`` (None: it has none, ``why_none`` says why) and the user's ``override``."""
        self._default = default
        if default is not None:
            self.default_label.setText(f"default {100 * default:.1f} %: below it, this model's answers on its validation "
                                       "pictures were right less than 90 % of the time")
        else:
            self.default_label.setText("no default for this model" + (f" ({why_none})" if why_none else "")
                                       + ": set one to mark unsure answers")
        value = override if override is not None else default
        self._quiet = True
        self.spin.setValue(100.0 * value if value is not None else 0.0)
        self._quiet = False
        self.reset.setEnabled(override is not None)

    def _on_value(self, percent: float) -> None:
        if self._quiet:
            return
        value = round(percent / 100.0, 4)
        is_default = self._default is not None and abs(value - self._default) < 5e-4
        self.reset.setEnabled(not is_default and not (self._default is None and value == 0.0))
        self.changed.emit(None if is_default else value)

    def _on_reset(self) -> None:
        self._quiet = True
        self.spin.setValue(100.0 * self._default if self._default is not None else 0.0)
        self._quiet = False
        self.reset.setEnabled(False)
        self.changed.emit(None)


class DropZone(QFrame):
    """A large area that accepts dropped files and folders."""

    dropped = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setObjectName("dropzone")
        self._set_hover(False)

    def _set_hover(self, hover: bool) -> None:
        colour = "#1f77b4" if hover else "#9e9e9e"
        background = "#e8f1fb" if hover else "#fafafa"
        self.setStyleSheet(f"#dropzone {{ border: 2px dashed {colour}; border-radius: 10px; background: {background}; }}")

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and local_paths(event.mimeData().urls()):
            event.acceptProposedAction()
            self._set_hover(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self._set_hover(False)

    def dropEvent(self, event) -> None:
        self._set_hover(False)
        paths = local_paths(event.mimeData().urls())
        if paths:
            event.acceptProposedAction()
            self.dropped.emit(paths)


class ClassifyPanel(QWidget):
    classify_requested = Signal(list)       # paths (files and folders)
    image_pasted = Signal(object)           # (width, height, RGB bytes)
    pictures_opened = Signal(str)           # the folder *Open pictures…* took them from
    cancel_requested = Signal()             # stop classifying (the rows so far stay)
    export_requested = Signal(str)          # write the rows shown (shown_results) as CSV to this path
    sort_requested = Signal()               # *Sort into folders…*
    undo_sort_requested = Signal()          # *Undo last sort*
    explain_toggled = Signal(bool)          # "Show where it looked" checked or not (True again: work it out again)
    explain_method_changed = Signal(str)    # how the heat is worked out (a key of core.app.jobs.EXPLAIN_METHODS)
    threshold_changed = Signal(object)      # the user's "not sure" threshold (None: the model's default)
    fast_toggled = Signal(bool)             # "Fast (int8) for large folders" checked or not

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model_label = QLabel("No model yet.")
        self.model_label.setWordWrap(True)
        self.open_button = QPushButton("Open pictures…")
        self.open_button.clicked.connect(self.open_pictures)
        self.folder_button = QPushButton("Classify folder…")
        self.folder_button.setToolTip("Classify every picture in a folder and its sub-folders")
        self.folder_button.clicked.connect(self.open_folder)
        self.fast_box = QCheckBox("Fast (int8) for large folders")
        self.fast_box.setToolTip(
            "Classify folders with the model's 8-bit version, several times faster, if it gives the same answer "
            "as the full model on at least 99 % of the held-out pictures. It is made and checked once per model "
            "(up to a minute), on the folder the model was trained on (else the dataset open on the Dataset "
            "tab); single pictures always use the full model.")
        self.fast_box.toggled.connect(self.fast_toggled)
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("Classify a picture copied to the clipboard (Ctrl+V)")
        self.paste_button.clicked.connect(self.paste)
        QShortcut(QKeySequence.StandardKey.Paste, self, activated=self.paste)

        self.zone = DropZone()
        self.zone.dropped.connect(self.classify_requested)
        self.stack = QStackedWidget()

        # page 0: the invitation
        self.invite = QLabel("Drop pictures or a folder here\n\nor use “Open pictures…” or paste one")
        self.invite.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.invite.setStyleSheet("color:#616161; font-size:16pt;")
        # page 1: one picture, large, with a bar per class
        single = QWidget()
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(PREVIEW_MIN_SIDE, PREVIEW_MIN_SIDE)
        self.verdict = QLabel()
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.verdict.setWordWrap(True)
        self.bars_box = QVBoxLayout()
        self.explain_box = QCheckBox("Show where it looked")
        self.explain_box.setToolTip("Colour the parts of the picture that made the model choose its answer "
                                    "(red: most)")
        self.explain_box.toggled.connect(self._on_explain_toggled)
        self.explain_method = explain_method_box(EXPLAIN_METHODS[0])
        self.explain_method.currentIndexChanged.connect(self._on_explain_method_changed)
        self.explain_note = QLabel()
        self.explain_note.setWordWrap(True)
        self.explain_note.setStyleSheet("color:#616161;")
        side = QVBoxLayout()
        side.addWidget(self.verdict)
        side.addLayout(self.bars_box)
        side.addWidget(self.explain_box)
        side.addWidget(self.explain_method)
        side.addWidget(self.explain_note)
        side.addStretch(1)
        single_row = QHBoxLayout(single)
        single_row.addWidget(self.preview, 3)
        single_row.addLayout(side, 2)
        # page 2: many pictures in a sortable, filterable table, with what can be done with them
        self.model = ResultsModel(self)
        self.proxy = ResultsProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = ResultsView()
        self.table.setModel(self.proxy)
        self.table.activated.connect(self._open_picture)  # a double-click, or Enter on the current row
        self.class_filter = QComboBox()
        self.class_filter.setToolTip("Show only the pictures of one class")
        self.class_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.class_filter.currentIndexChanged.connect(self._filter_changed)
        self.sort_by_button = QToolButton()
        self.sort_by_button.setText("Sort by")
        self.sort_by_button.setToolTip("Sort the table by a column (as a click on its header does)")
        self.sort_by_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.sort_by_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # reached with Tab; Space opens its menu
        self.sort_by_button.setMenu(self.table.sort_menu)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("One row per file shown (all, or the ones the filter shows): path, class, "
                                      "confidence, each class's probability, error")
        self.export_button.clicked.connect(self.choose_csv)
        self.sort_button = QPushButton("Sort into folders…")
        self.sort_button.setToolTip("Copy or move the pictures into a folder per class")
        self.sort_button.clicked.connect(self.sort_requested)
        self.undo_sort_button = QPushButton("Undo last sort")
        self.undo_sort_button.clicked.connect(self.undo_sort_requested)
        self.undo_sort_button.setEnabled(False)
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Show:"))
        tools.addWidget(self.class_filter)
        tools.addWidget(self.sort_by_button)
        tools.addStretch(1)
        for button in (self.export_button, self.sort_button, self.undo_sort_button):
            tools.addWidget(button)
        many = QWidget()
        many_layout = QVBoxLayout(many)
        many_layout.setContentsMargins(0, 0, 0, 0)
        many_layout.addLayout(tools)
        many_layout.addWidget(self.table, 1)
        for page in (self.invite, single, many):
            self.stack.addWidget(page)
        zone_layout = QVBoxLayout(self.zone)
        zone_layout.addWidget(self.stack)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.threshold = ThresholdBox()
        self.threshold.changed.connect(self.threshold_changed)
        self.why_doubt = QLabel(WHY_DOUBT)
        self.why_doubt.setWordWrap(True)
        self.why_doubt.setStyleSheet("color:#616161;")

        top = QHBoxLayout()
        top.addWidget(self.model_label, 1)
        top.addWidget(self.open_button)
        top.addWidget(self.folder_button)
        top.addWidget(self.fast_box)
        top.addWidget(self.paste_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.threshold)
        layout.addWidget(self.why_doubt)
        layout.addWidget(self.zone, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.message)
        #: Where *Open pictures…* starts (the folder last used; the window sets it).
        self.pictures_folder = os.path.expanduser("~")
        self._single = None      # the prediction shown large, when one picture was classified
        self._single_thumb = None
        self._finished: tuple | None = None   # finish()'s arguments, to say the counts again
        self._model_in_use = ""  # which model classified this batch, and why (with "Fast" on)
        self._class_names: list[str] = []
        self._expected = 0
        self._began = 0.0
        #: Seconds from a drop to its first prediction on screen (the first one; for the benchmark).
        self.first_result_seconds: float | None = None
        self._picture = None  # the single picture shown: (width, height, RGB bytes)
        self._preview_side = PREVIEW_MIN_SIDE

    # ----- user actions -------------------------------------------------------------------
    @Slot()
    def open_pictures(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open pictures", self.pictures_folder, IMAGE_FILTER)
        if paths:
            self.pictures_folder = os.path.dirname(paths[0])
            self.pictures_opened.emit(self.pictures_folder)
            self.classify_requested.emit(paths)

    @Slot()
    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Classify the pictures in", self.pictures_folder)
        if folder:
            self.pictures_folder = folder
            self.pictures_opened.emit(folder)
            self.classify_requested.emit([folder])

    @Slot()
    def choose_csv(self) -> None:
        """Ask where to save the rows shown as CSV (the dialog asks before replacing a file); the
        title and the suggested name say when a filter shows only some."""
        first = next((p.path for p in self.model.rows if p.path), None)
        folder = os.path.dirname(first) if first else self.pictures_folder
        results, shown = self.shown_results()
        part = "" if shown is None else "-" + "".join(c if c.isalnum() else "-" for c in shown.lower())
        suggested = os.path.join(os.path.dirname(folder) or folder,
                                 f"{os.path.basename(folder) or 'pictures'}-predictions{part}.csv")
        title = ("Export results as CSV" if shown is None
                 else f"Export the {count(len(results.predictions), 'row')} shown ({shown}) as CSV")
        path, _ = QFileDialog.getSaveFileName(self, title, suggested, "CSV files (*.csv)")
        if path:
            self.export_requested.emit(path if path.lower().endswith(".csv") else path + ".csv")

    @Slot()
    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return
        if mime.hasUrls() and local_paths(mime.urls()):
            self.classify_requested.emit(local_paths(mime.urls()))
        elif mime.hasImage():
            image = QImage(mime.imageData()).convertToFormat(QImage.Format.Format_RGB888)
            if image.isNull():
                self.show_message("The clipboard holds no picture.", error=True)
                return
            rows = image.constBits().tobytes()
            stride, width = image.bytesPerLine(), image.width()
            data = b"".join(rows[y * stride: y * stride + 3 * width] for y in range(image.height()))
            self.image_pasted.emit((width, image.height(), data))
        else:
            self.show_message("The clipboard holds no picture. Copy a picture or a picture file first.", error=True)

    # ----- what the main window tells us ----------------------------------------------------
    def show_model(self, name: str | None, classifier, unsaved: bool) -> None:
        """Name the active model (core.classify.classifier.Classifier or None) above the pictures."""
        self.threshold.setEnabled(classifier is not None)
        if classifier is None:
            self.model_label.setText("No model yet: train one (tab 2) or open one (File → Open model…).")
            return
        self._class_names = list(classifier.class_names)
        self.why_doubt.setText(doubt_sentence(self._class_names))
        recorded = ((classifier.metadata.get("calibration") or {}).get("confidence_threshold") or {})
        self.threshold.show_threshold(classifier.recorded_threshold, classifier.threshold_override,
                                      recorded.get("reason", "it was made before the app recorded one") or "")
        acc = (classifier.metadata.get("evaluation") or {}).get("accuracy")
        acc_text = f", {acc:.1%} on held-out pictures" if isinstance(acc, (int, float)) else ""
        self.model_label.setText(f"Model: <b>{html.escape(name)}</b> ({html.escape(', '.join(classifier.class_names))}"
                                 f"{acc_text}){' — not saved yet' if unsaved else ''}")

    def show_message(self, text: str, error: bool = False, warning: bool = False, details: str = "") -> None:
        """``text`` under the pictures: red for an ``error`` (nothing done), amber for a ``warning``
        (done, but not for everything), else grey; ``details`` (plain text) in its tooltip."""
        colour = "#c62828" if error else "#b45309" if warning else "#424242"
        self.message.setText(f'<span style="color:{colour}">{html.escape(text)}</span>')
        self.message.setToolTip(f"<p>{html.escape(details).replace(chr(10), '<br>')}</p>" if details else "")

    def remark(self, mark) -> None:
        """The threshold changed: ``mark(prediction)`` sets each shown prediction's "not sure" again."""
        if self._single is not None:
            mark(self._single)
            self._show_single(self._single, self._single_thumb)
        for prediction in self.model.rows:
            mark(prediction)
        self.model.refresh()
        if self._finished is not None:
            self.finish(*self._finished)  # the counts of "not sure" changed

    def begin(self, count: int | None, class_names: list[str] | None = None) -> None:
        """A new batch of pictures is being classified (count unknown while folders expand) by a
        model with ``class_names`` (the table's probability columns)."""
        self._single = None
        self._finished = None
        self._model_in_use = ""
        self._began = time.perf_counter()
        self._expected = count or 0
        self.model.reset(class_names or [])
        self.table.size_columns(len(self.model.class_names))
        self._fill_filter()
        self.message.clear()
        self.progress.setVisible(True)
        self.progress.setRange(0, count or 0)
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m")
        self.cancel_button.setVisible(True)
        self._set_tools_enabled(False)

    def set_total(self, total: int) -> None:
        self._expected = total
        self.progress.setRange(0, max(total, 1))
        if total > 1:
            self.stack.setCurrentIndex(2)

    def preparing(self, message: str) -> None:
        """The fast model is being prepared: ``message`` says the step (no share known)."""
        self.progress.setRange(0, 0)
        self.progress.setFormat(message)
        self.show_message(f"{message}…")

    def show_model_in_use(self, sentence: str) -> None:
        """Which model classifies this batch, and why (core.export.fast.FastDecision.sentence): said
        now and kept in the message when the batch is done."""
        self._model_in_use = sentence[:1].upper() + sentence[1:] + "."
        self.progress.setRange(0, max(self._expected, 1))
        self.progress.setFormat("%v / %m")
        self.show_message(self._model_in_use)

    def add_rows(self, rows) -> None:
        """Results as they come (core.classify.results.ClassifiedRows)."""
        if self.first_result_seconds is None:
            self.first_result_seconds = time.perf_counter() - self._began
        if self._expected <= 1:
            self._single = rows.predictions[0]
            self._show_single(rows.predictions[0], rows.thumb)
        else:
            self.model.append(rows.predictions)
            if not all(p.ok for p in rows.predictions):
                self.table.show_reasons(True)
        self.progress.setValue(rows.done)
        if rows.total > 1 and rows.images_per_second:
            self.progress.setFormat(f"%v / %m · {rows.images_per_second:,.0f} pictures/s")

    def finish(self, skipped: list[tuple[str, str]] | None = None, note: str = "", stopped: bool = False) -> None:
        """Classifying ended; ``note`` (e.g. which model re-classified them) leads the message."""
        self._finished = (skipped, note, stopped)
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        results = self.results()
        failures = [p for p in results if not p.ok]
        parts = [note] if note else []
        if stopped:
            parts.append(f"Stopped after {count(len(results), 'file')}.")
        if self._expected > 1:
            counts: dict[str, int] = dict.fromkeys(self.model.class_names, 0)
            for p in results:
                if p.ok:
                    answer = "none of these" if p.unfamiliar else "not sure" if p.uncertain else p.class_name
                    counts[answer] = counts.get(answer, 0) + 1
            # "cats: 1", not "1 cats": class names are folder names, often plural.
            spread = ", ".join(f"{name}: {n}" for name, n in counts.items() if n)
            ok = len(results) - len(failures)
            if ok:
                parts.append(f"{count(ok, 'picture')} classified ({spread})"
                             + (f"; {count(len(failures), 'file')} could not be read." if failures else "."))
            elif failures:
                parts.append(f"None of the {count(len(failures), 'file')} could be read as a picture.")
            self._fill_filter()
            self._set_tools_enabled(bool(results))
        elif failures:
            parts.append(f"{os.path.basename(failures[0].path or '')}: {failures[0].error}.")
        if skipped:
            names = ", ".join(os.path.basename(p) for p, _ in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            parts.append(f"Skipped: {names}{more} ({skipped[0][1]}).")
        if not results and not skipped:
            parts.append("No pictures found there.")
        if self._model_in_use:
            parts.append(self._model_in_use)
        if parts:
            done = len(results) - len(failures)
            self.show_message(" ".join(parts), error=not done, warning=bool(done and (failures or skipped)))
        else:
            self.message.clear()

    def stopped(self, message: str = "") -> None:
        """Classifying was cancelled or failed: the rows so far stay, and can be exported or sorted."""
        self.finish(stopped=not message)
        if message:
            self.show_message(message, error=True)

    def batch_results(self) -> BatchResults:
        """The rows of the table as plain data (core.classify.results.BatchResults), in classified order."""
        return BatchResults(self.model.class_names, list(self.model.rows))

    def shown_results(self) -> tuple[BatchResults, str | None]:
        """The rows the class filter shows, in classified order, and the filter's name ("dogs",
        "Not sure"), or all rows and None when it shows all."""
        key = self.class_filter.currentData()
        if key is None:
            return self.batch_results(), None
        name = self.class_filter.currentText().rsplit(" (", 1)[0]
        return BatchResults(self.model.class_names, [p for p in self.model.rows if filter_key(p) == key]), name

    def set_undo_available(self, target: str | None) -> None:
        self.undo_sort_button.setEnabled(bool(target))
        self.undo_sort_button.setToolTip(f"Undo the last sort into {target}" if target else "No sort to undo")

    def _set_tools_enabled(self, enabled: bool) -> None:
        for widget in (self.class_filter, self.sort_by_button, self.export_button, self.sort_button):
            widget.setEnabled(enabled)

    def _fill_filter(self) -> None:
        """The filter's choices, with counts once there are rows: all, each class, not sure, unreadable."""
        keys: dict[str, int] = dict.fromkeys(self.model.class_names, 0)
        extra = {NOT_SURE: 0, NONE_OF_THESE: 0, UNREADABLE: 0}
        role = self.proxy.filterRole()
        for row in range(self.model.rowCount()):
            key = self.model.data(self.model.index(row, 2), role)
            (extra if key in extra else keys)[key] = (extra if key in extra else keys).get(key, 0) + 1
        current = self.class_filter.currentData()
        self.class_filter.blockSignals(True)
        self.class_filter.clear()
        self.class_filter.addItem(f"All pictures ({self.model.rowCount():,})", None)
        for name, n in keys.items():
            self.class_filter.addItem(f"{name} ({n:,})", name)
        for key, label in ((NOT_SURE, "Not sure"), (NONE_OF_THESE, "None of these"), (UNREADABLE, "Unreadable")):
            if extra[key]:
                self.class_filter.addItem(f"{label} ({extra[key]:,})", key)
        index = self.class_filter.findData(current)
        self.class_filter.setCurrentIndex(max(index, 0))
        self.class_filter.blockSignals(False)
        self.proxy.show_only(self.class_filter.currentData())

    @Slot(int)
    def _filter_changed(self, _index: int) -> None:
        self.proxy.show_only(self.class_filter.currentData())

    @Slot(object)
    def _open_picture(self, index) -> None:
        prediction = self.model.prediction(self.proxy.mapToSource(index).row())
        if not prediction.path or not os.path.exists(prediction.path):
            self.show_message(f"{prediction.path} is no longer there.", error=True)
        elif not QDesktopServices.openUrl(QUrl.fromLocalFile(prediction.path)):
            self.show_message(f"No program is set up to open {os.path.basename(prediction.path)}.", error=True)

    def _show_single(self, prediction, thumb) -> None:
        self._single_thumb = thumb
        self.stack.setCurrentIndex(1)
        name = os.path.basename(prediction.path) if prediction.path else "Pasted picture"
        if thumb is None or thumb is not self._picture:  # else shown again (e.g. re-marked): keep its heatmap
            self._picture = thumb
            self._preview_side = max(PREVIEW_MIN_SIDE, min(self.preview.width(), self.preview.height()) - 8)
            self._set_preview(thumb)
            self.explain_note.setText("Working out where it looked…" if self.explain_box.isChecked() and prediction.ok
                                      else "")
        self.explain_box.setEnabled(prediction.ok)
        self.explain_method.setEnabled(prediction.ok)
        while self.bars_box.count():
            item = self.bars_box.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        if not prediction.ok:
            self.verdict.setText(f"<b>{html.escape(name)}</b><br><span style='color:#c62828'>✖ Cannot classify "
                                 f"this file: {html.escape(prediction.error)}.</span>")
            return
        self.verdict.setText(f"{html.escape(name)}<br>{self._verdict_html(prediction)}")
        for cls, p in sorted(prediction.probabilities.items(), key=lambda kv: -kv[1]):
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(int(round(p * 1000)))
            bar.setFormat(f"{cls}: {p:.1%}")
            bar.setTextVisible(True)
            self.bars_box.addWidget(bar)
        self.message.clear()

    def _set_preview(self, picture) -> None:
        if picture is None:
            self.preview.clear()
            return
        # The side chosen when the picture came: the heatmap and back show it at the same size.
        side = self._preview_side
        self.preview.setPixmap(pixmap_from_rgb(*picture).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                                                  Qt.TransformationMode.SmoothTransformation))

    # ----- where it looked --------------------------------------------------------------------
    @Slot(bool)
    def _on_explain_toggled(self, on: bool) -> None:
        if not on:
            self._set_preview(self._picture)
            self.explain_note.clear()
        else:
            self.explain_note.setText("Working out where it looked…")
        self.explain_toggled.emit(on)

    def chosen_explain_method(self) -> str:
        return self.explain_method.currentData()

    def set_explain_method(self, method: str) -> None:
        """Choose ``method`` (as if the user had): worked out again if a heatmap is on screen."""
        self.explain_method.setCurrentIndex(max(0, self.explain_method.findData(method)))

    @Slot(int)
    def _on_explain_method_changed(self, _index: int) -> None:
        self.explain_method_changed.emit(self.chosen_explain_method())
        if self.explain_box.isChecked() and self.explain_box.isEnabled():
            self.explain_note.setText("Working out where it looked…")
            self.explain_toggled.emit(True)

    def show_heatmap(self, overlay, class_name: str, found: bool = True, method: str = "gradcam") -> None:
        """The picture with the heat drawn on it ((width, height, RGB bytes), from core.app.jobs.explain)
        by ``method``: shown if that is still the way chosen."""
        if not self.explain_box.isChecked() or method != self.chosen_explain_method():
            return
        self._set_preview(overlay)
        self.explain_note.setText(heat_sentence(class_name, method, found))

    def explain_failed(self, message: str) -> None:
        """No heatmap for this picture or model: say why, and show the picture as it is."""
        self._set_preview(self._picture)
        self.explain_note.setText(message)

    def _verdict_html(self, prediction) -> str:
        big = "<span style='font-size:22pt; color:{}'><b>{}</b></span>"
        cls = html.escape(prediction.class_name)
        if prediction.doubt:
            return (big.format(DOUBT_COLOUR, "Not sure")
                    + f"<br>{html.escape(prediction.doubt.capitalize())}, so no answer can be trusted; "
                      f"if it must choose: {cls} ({prediction.probability:.1%}).")
        if prediction.unfamiliar:
            names = html.escape(", ".join(self._class_names or sorted(prediction.probabilities)))
            return (big.format(DOUBT_COLOUR, f"Looks like none of: {names}")
                    + f"<br>It is far from every picture the model learned from; if it must choose: {cls} "
                      f"({prediction.probability:.1%}).")
        if prediction.uncertain:
            return (big.format(DOUBT_COLOUR, "Not sure")
                    + f"<br>Maybe {cls}: {prediction.probability:.1%} sure, under the threshold above.")
        return big.format("#212121", cls) + f"<br>{prediction.probability:.1%} sure"

    def results(self) -> list:
        """The predictions of the last batch, in order (for tests and export)."""
        if self._expected <= 1:
            return [self._single] if self._single is not None else []
        return list(self.model.rows)

    def row_count(self) -> int:
        """Rows the table shows (after the class filter)."""
        return self.proxy.rowCount()

    def cell_text(self, row: int, column: int) -> str:
        """The text of a cell as the table shows it (sorted and filtered)."""
        return self.proxy.data(self.proxy.index(row, column)) or ""
