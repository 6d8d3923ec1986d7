"""Classify panel: drop pictures or folders (or open, or paste) and see what the model says."""

from __future__ import annotations

import html
import os
import time

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox, QDoubleSpinBox, QFileDialog, QFrame, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
    QPushButton, QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from ..core.wording import count
from ..core.jobs import ROW_THUMB_SIZE as ROW_THUMB
from .common import local_paths, pixmap_from_rgb

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


def answer_text(prediction, class_names) -> str:
    """A prediction's answer in a few words: the class, "Not sure (cats?)" or "None of these (cats?)"."""
    if prediction.unfamiliar:
        return f"None of these ({prediction.class_name}?)"
    if prediction.uncertain:
        return f"Not sure ({prediction.class_name}?)"
    return prediction.class_name


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
    explain_toggled = Signal(bool)          # "Show where it looked" checked or not
    threshold_changed = Signal(object)      # the user's "not sure" threshold (None: the model's default)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model_label = QLabel("No model yet.")
        self.model_label.setWordWrap(True)
        self.open_button = QPushButton("Open pictures…")
        self.open_button.clicked.connect(self.open_pictures)
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
                                    "(red: most; a Grad-CAM heatmap)")
        self.explain_box.toggled.connect(self._on_explain_toggled)
        self.explain_note = QLabel()
        self.explain_note.setWordWrap(True)
        self.explain_note.setStyleSheet("color:#616161;")
        side = QVBoxLayout()
        side.addWidget(self.verdict)
        side.addLayout(self.bars_box)
        side.addWidget(self.explain_box)
        side.addWidget(self.explain_note)
        side.addStretch(1)
        single_row = QHBoxLayout(single)
        single_row.addWidget(self.preview, 3)
        single_row.addLayout(side, 2)
        # page 2: many pictures in a table
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["", "Picture", "Class", "Probability"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(ROW_THUMB, ROW_THUMB))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        for page in (self.invite, single, self.table):
            self.stack.addWidget(page)
        zone_layout = QVBoxLayout(self.zone)
        zone_layout.addWidget(self.stack)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.threshold = ThresholdBox()
        self.threshold.changed.connect(self.threshold_changed)
        self.why_doubt = QLabel(WHY_DOUBT)
        self.why_doubt.setWordWrap(True)
        self.why_doubt.setStyleSheet("color:#616161;")

        top = QHBoxLayout()
        top.addWidget(self.model_label, 1)
        top.addWidget(self.open_button)
        top.addWidget(self.paste_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.threshold)
        layout.addWidget(self.why_doubt)
        layout.addWidget(self.zone, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        #: Where *Open pictures…* starts (the folder last used; the window sets it).
        self.pictures_folder = os.path.expanduser("~")
        self._results: dict[int, object] = {}
        self._single_thumb = None
        self._finished: tuple | None = None   # finish()'s arguments, to say the counts again
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
        """Name the active model (core.inference.Classifier or None) above the pictures."""
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

    def show_message(self, text: str, error: bool = False) -> None:
        colour = "#c62828" if error else "#424242"
        self.message.setText(f'<span style="color:{colour}">{html.escape(text)}</span>')

    def remark(self, mark) -> None:
        """The threshold changed: ``mark(prediction)`` sets each shown prediction's "not sure" again."""
        for prediction in self._results.values():
            mark(prediction)
        if self._expected <= 1 and self._results:
            self._show_single(self._results[min(self._results)], self._single_thumb)
        else:
            for index, prediction in self._results.items():
                if prediction.ok:
                    self._set_answer(index, prediction)
        if self._finished is not None:
            self.finish(*self._finished)  # the counts of "not sure" changed

    def begin(self, count: int | None) -> None:
        """A new batch of pictures is being classified (count unknown while folders expand)."""
        self._results = {}
        self._finished = None
        self._began = time.perf_counter()
        self._expected = count or 0
        self.table.setRowCount(0)
        self.message.clear()
        self.progress.setVisible(True)
        self.progress.setRange(0, count or 0)
        self.progress.setValue(0)

    def set_total(self, total: int) -> None:
        self._expected = total
        self.progress.setRange(0, max(total, 1))
        if total > 1:
            self.table.setRowCount(total)
            self.stack.setCurrentIndex(2)

    def add_result(self, index: int, prediction, thumb) -> None:
        """One picture's prediction (core.inference.Prediction) and its thumbnail bytes or None."""
        if self.first_result_seconds is None:
            self.first_result_seconds = time.perf_counter() - self._began
        self._results[index] = prediction
        self.progress.setValue(len(self._results))
        if self._expected <= 1:
            self._show_single(prediction, thumb)
        else:
            self._set_row(index, prediction, thumb)

    def finish(self, skipped: list[tuple[str, str]] | None = None, note: str = "") -> None:
        """All pictures are classified; ``note`` (e.g. which model re-classified them) leads the message."""
        self._finished = (skipped, note)
        self.progress.setVisible(False)
        failures = [p for p in self._results.values() if not p.ok]
        parts = [note] if note else []
        if self._expected > 1:
            counts: dict[str, int] = {}
            for p in self._results.values():
                if p.ok:
                    answer = "none of these" if p.unfamiliar else "not sure" if p.uncertain else p.class_name
                    counts[answer] = counts.get(answer, 0) + 1
            # "cats: 1", not "1 cats": class names are folder names, often plural.
            spread = ", ".join(f"{name}: {n}" for name, n in sorted(counts.items()))
            ok = len(self._results) - len(failures)
            parts.append(f"{count(ok, 'picture')} classified ({spread})"
                         + (f"; {count(len(failures), 'file')} could not be read." if failures else "."))
        elif failures:
            parts.append(f"{os.path.basename(failures[0].path or '')}: {failures[0].error}.")
        if skipped:
            names = ", ".join(os.path.basename(p) for p, _ in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            parts.append(f"Skipped: {names}{more} ({skipped[0][1]}).")
        if not self._results and not skipped:
            parts.append("No pictures found there.")
        if parts:
            self.show_message(" ".join(parts), error=bool(failures or skipped or not self._results))
        else:
            self.message.clear()

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

    def show_heatmap(self, overlay, class_name: str, found: bool = True) -> None:
        """The picture with the heat drawn on it ((width, height, RGB bytes), from core.jobs.explain)."""
        if not self.explain_box.isChecked():
            return
        self._set_preview(overlay)
        if found:
            self.explain_note.setText(f"In red, the parts of the picture that made the model say “{class_name}”; "
                                      "in blue, the parts that did not count.")
        else:
            self.explain_note.setText(f"No part of the picture stands out as the reason for “{class_name}”.")

    def explain_failed(self, message: str) -> None:
        """No heatmap for this picture or model: say why, and show the picture as it is."""
        self._set_preview(self._picture)
        self.explain_note.setText(message)
    def _verdict_html(self, prediction) -> str:
        big = "<span style='font-size:22pt; color:{}'><b>{}</b></span>"
        cls = html.escape(prediction.class_name)
        if prediction.unfamiliar:
            names = html.escape(", ".join(self._class_names or sorted(prediction.probabilities)))
            return (big.format(DOUBT_COLOUR, f"Looks like none of: {names}")
                    + f"<br>It is far from every picture the model learned from; if it must choose: {cls} "
                      f"({prediction.probability:.1%}).")
        if prediction.uncertain:
            return (big.format(DOUBT_COLOUR, "Not sure")
                    + f"<br>Maybe {cls}: {prediction.probability:.1%} sure, under the threshold above.")
        return big.format("#212121", cls) + f"<br>{prediction.probability:.1%} sure"

    def _set_answer(self, row: int, prediction) -> None:
        answer = QTableWidgetItem(answer_text(prediction, self._class_names))
        if prediction.uncertain or prediction.unfamiliar:
            answer.setForeground(QColor(DOUBT_COLOUR))
            answer.setToolTip("Looks like none of the classes the model knows." if prediction.unfamiliar else
                              "The model is less sure than the threshold above.")
        self.table.setItem(row, 2, answer)
        self.table.setItem(row, 3, QTableWidgetItem(f"{prediction.probability:.1%}"))

    def _set_row(self, row: int, prediction, thumb) -> None:
        icon_item = QTableWidgetItem()
        if thumb is not None:
            icon_item.setIcon(QIcon(pixmap_from_rgb(*thumb)))
        self.table.setItem(row, 0, icon_item)
        name = QTableWidgetItem(os.path.basename(prediction.path or ""))
        name.setToolTip(prediction.path or "")
        self.table.setItem(row, 1, name)
        if prediction.ok:
            self._set_answer(row, prediction)
        else:
            err = QTableWidgetItem(f"✖ {prediction.error}")
            err.setForeground(Qt.GlobalColor.darkRed)
            self.table.setItem(row, 2, err)
            self.table.setSpan(row, 2, 1, 2)
        self.table.setRowHeight(row, ROW_THUMB + 6)

    def results(self) -> list:
        """The predictions of the last batch, in order (for tests and export)."""
        return [self._results[i] for i in sorted(self._results)]
