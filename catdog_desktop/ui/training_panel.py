"""Training panel: settings, Train/Stop, live progress and chart, then the evaluation."""

from __future__ import annotations

import dataclasses
import html
import os
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
    QListWidget, QProgressBar, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from ..core.config import PRESETS, TrainingConfig, preset
from ..core.events import BatchEvent, EpochEvent, PhaseEvent, Reporter

PRESET_LABELS = {"default": "Recommended", "quick": "Quick look (a few minutes)"}


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class TrainingPanel(QWidget):
    train_requested = Signal(object)   # TrainingConfig
    stop_requested = Signal()
    save_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.chart = None
        self.confusion_chart = None
        self._epoch_seconds: list[float] = []
        self._epochs = 0
        self._time_limit_seconds = 0.0  # of the running training; 0: none
        self._ready = False

        # --- settings ---
        self.preset_box = QComboBox()
        for key in sorted(PRESETS, key=lambda k: k != "default"):  # the recommended one first
            self.preset_box.addItem(PRESET_LABELS.get(key, key.title()), key)
        self.preset_box.currentIndexChanged.connect(self._on_preset_changed)
        self.epochs = QSpinBox(minimum=1, maximum=500)
        self.time_limit = QSpinBox(minimum=0, maximum=7 * 24 * 60, suffix=" min", singleStep=5)
        self.time_limit.setSpecialValueText("No limit")
        self.batch_size = QSpinBox(minimum=2, maximum=512)
        self.image_size = QComboBox()
        for size in (32, 48, 64, 80, 96, 128, 160):
            self.image_size.addItem(f"{size} × {size} px", size)
        self.learning_rate = QDoubleSpinBox(decimals=5, minimum=0.00001, maximum=1.0, singleStep=0.0005)
        self.validation_split = QSpinBox(minimum=5, maximum=50, suffix=" %")
        self.augmentation = QCheckBox("Vary the pictures while training (flip, rotate, zoom)")
        self.early_stopping = QCheckBox("Stop early when validation stops improving")
        self.epochs.setToolTip("Passes over all training pictures (at most). The best epoch is kept.")
        self.time_limit.setToolTip("Training ends within about this long, reading the pictures included "
                                   "(starting up and the final evaluation take a few seconds more). "
                                   "The learning rate is planned to fit the time, so the last epochs still "
                                   "settle the model; fewer epochs run if the time comes first.")
        self.image_size.setToolTip("Larger pictures can be more accurate but train more slowly. "
                                   "The recommended network halves them first (96 px: it works at 48).")
        self.validation_split.setToolTip("Share of the pictures held out to check progress (when the dataset has no validation folder).")
        for w in (self.augmentation, self.early_stopping):
            w.setChecked(True)

        form = QFormLayout()
        form.addRow("Settings", self.preset_box)
        form.addRow("Time limit", self.time_limit)
        form.addRow("Epochs (at most)", self.epochs)
        form.addRow("Image size", self.image_size)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Validation", self.validation_split)
        form.addRow(self.augmentation)
        form.addRow(self.early_stopping)
        settings = QGroupBox("Settings")
        settings.setLayout(form)
        settings.setMaximumWidth(360)

        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.setEnabled(False)
        self.train_button.clicked.connect(self.request_training)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop after the current batch and keep the best epoch so far")
        self.stop_button.clicked.connect(self.request_stop)
        self.hint = QLabel("Choose a dataset first.")
        self.hint.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)

        left = QVBoxLayout()
        left.addWidget(settings)
        left.addLayout(buttons)
        left.addWidget(self.hint)
        left.addStretch(1)

        # --- progress and chart ---
        self.progress = QProgressBar()
        self.progress.setFormat("")
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.chart_holder = QVBoxLayout()
        self.chart_placeholder = QLabel("The chart appears here once the app has finished starting…")
        self.chart_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.chart_placeholder.setMinimumHeight(220)
        self.chart_holder.addWidget(self.chart_placeholder)

        # --- evaluation ---
        self.result_box = QGroupBox("Evaluation on pictures the model never trained on")
        self.result_summary = QLabel()
        self.result_summary.setWordWrap(True)
        self.result_summary.setTextFormat(Qt.TextFormat.RichText)
        self.class_table = QTableWidget(0, 4)
        self.class_table.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "Pictures"])
        self.class_table.verticalHeader().setVisible(False)
        self.class_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.class_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.class_table.setMaximumHeight(150)
        self.mistakes = QListWidget()
        self.mistakes.setMaximumHeight(110)
        self.save_button = QPushButton("Save model…")
        self.save_button.clicked.connect(self.save_requested)
        self.confusion_holder = QVBoxLayout()
        result_left = QVBoxLayout()
        result_left.addWidget(self.result_summary)
        result_left.addWidget(self.class_table)
        result_left.addWidget(QLabel("Most confident mistakes:"))
        result_left.addWidget(self.mistakes)
        result_left.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignLeft)
        result_row = QHBoxLayout(self.result_box)
        result_row.addLayout(result_left, 3)
        result_row.addLayout(self.confusion_holder, 2)
        self.result_box.setVisible(False)

        right = QVBoxLayout()
        right.addWidget(self.progress)
        right.addWidget(self.status)
        right.addLayout(self.chart_holder, 1)
        right.addWidget(self.result_box, 1)

        layout = QHBoxLayout(self)
        layout.addLayout(left, 0)
        layout.addLayout(right, 1)
        self.set_config(TrainingConfig())

    # ----- charts are created after the window shows (matplotlib is slow to import) --------
    def install_charts(self) -> None:
        from .chart import ConfusionChart, HistoryChart

        if self.chart is not None:
            return
        self.chart = HistoryChart(self)
        self.chart_holder.replaceWidget(self.chart_placeholder, self.chart)
        self.chart_placeholder.deleteLater()
        self.confusion_chart = ConfusionChart(self)
        self.confusion_holder.addWidget(self.confusion_chart)

    # ----- settings -----------------------------------------------------------------------
    def preset_name(self) -> str:
        return self.preset_box.currentData()

    def config(self) -> TrainingConfig:
        """The settings shown, over the fields the form does not show (kept from set_config)."""
        base = dataclasses.replace(self._config)
        base.epochs = self.epochs.value()
        base.time_limit_minutes = float(self.time_limit.value())
        base.batch_size = self.batch_size.value()
        base.image_size = int(self.image_size.currentData())
        base.learning_rate = float(self.learning_rate.value())
        base.validation_split = self.validation_split.value() / 100.0
        base.augmentation = self.augmentation.isChecked()
        base.early_stopping = self.early_stopping.isChecked()
        return base

    def set_config(self, config: TrainingConfig, preset_name: str | None = None) -> None:
        self._config = dataclasses.replace(config)
        if preset_name is not None:
            index = self.preset_box.findData(preset_name)
            if index >= 0:
                self.preset_box.blockSignals(True)
                self.preset_box.setCurrentIndex(index)
                self.preset_box.blockSignals(False)
        self.epochs.setValue(config.epochs)
        minutes = config.time_limit_minutes
        self.time_limit.setValue(max(1, round(minutes)) if minutes > 0 else 0)  # 0.4 min stays a limit
        self.batch_size.setValue(config.batch_size)
        index = self.image_size.findData(config.image_size)
        if index < 0:
            self.image_size.addItem(f"{config.image_size} × {config.image_size} px", config.image_size)
            index = self.image_size.count() - 1
        self.image_size.setCurrentIndex(index)
        self.learning_rate.setValue(config.learning_rate)
        self.validation_split.setValue(int(round(config.validation_split * 100)))
        self.augmentation.setChecked(config.augmentation)
        self.early_stopping.setChecked(config.early_stopping)

    @Slot(int)
    def _on_preset_changed(self, _index: int) -> None:
        self.set_config(preset(self.preset_box.currentData()))

    def set_dataset_ready(self, ready: bool, message: str) -> None:
        self._ready = ready
        self.train_button.setEnabled(ready and not self.stop_button.isEnabled())
        self.hint.setText(message)

    # ----- actions ------------------------------------------------------------------------
    @Slot()
    def request_training(self) -> None:
        """What Train does: check the settings, then ask for a training."""
        config = self.config()
        try:
            config.validate()
        except ValueError as exc:
            self.hint.setText(f'<span style="color:#c62828">{html.escape(str(exc))}</span>')
            return
        self.train_requested.emit(config)

    @Slot()
    def request_stop(self) -> None:
        self.stop_button.setEnabled(False)
        self.status.setText("Stopping after this batch; the best epoch so far is kept…")
        self.stop_requested.emit()

    # ----- progress from the training worker ------------------------------------------------
    def training_started(self, config: TrainingConfig) -> None:
        self._epochs = config.epochs
        self._time_limit_seconds = config.time_limit_minutes * 60
        self._epoch_seconds = []
        self.train_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.preset_box.setEnabled(False)
        self.result_box.setVisible(False)
        self.progress.setRange(0, 0)
        self.progress.setFormat("")
        self.status.setText("Reading the pictures…")
        if self.chart is not None:
            self.chart.clear()

    def on_stage(self, event: PhaseEvent) -> None:
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(event.done)
        self.progress.setFormat(f"{event.message}: {event.done} / {event.total}")
        self.status.setText("Each picture is read once and kept in memory for all epochs.")

    def on_batch(self, info: BatchEvent) -> None:
        self.progress.setRange(0, info.batches)
        self.progress.setValue(info.batch)
        # With a time limit the number of epochs is an estimate, refined as each epoch ends.
        of = f"of {info.epochs}"
        if self._time_limit_seconds:
            of = f"of about {info.epochs}" if self._epoch_seconds else f"of at most {info.epochs}"
        self.progress.setFormat(f"Epoch {info.epoch} {of}: %p%")
        remaining = info.epoch_eta
        if self._epoch_seconds:
            per_epoch = sum(self._epoch_seconds) / len(self._epoch_seconds)
            remaining += per_epoch * (info.epochs - info.epoch)
            if self._time_limit_seconds:
                remaining = min(remaining, max(self._time_limit_seconds - info.elapsed, info.epoch_eta))
            total = f" · about {format_seconds(remaining)} left in all (less if it stops early)"
        else:
            total = ""
        self.status.setText(
            f"Epoch {info.epoch} {of} · batch {info.batch} of {info.batches} · "
            f"{info.images_per_second:.0f} pictures/s · {format_seconds(info.epoch_eta)} left in this epoch{total}"
        )
        if self.chart is not None:
            self.chart.add_batch(info.epoch, info.batch, info.batches, info.loss)

    def on_epoch(self, info: EpochEvent) -> None:
        self._epoch_seconds.append(info.epoch_seconds)
        if self.chart is not None:
            self.chart.add_epoch(info.epoch, {
                "loss": info.loss, "val_loss": info.val_loss,
                "accuracy": info.accuracy, "val_accuracy": info.val_accuracy,
            }, info.is_best)

    def training_finished(self) -> None:
        self.stop_button.setEnabled(False)
        self.preset_box.setEnabled(True)
        self.train_button.setEnabled(self._ready)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.result_box.isVisible() else 0)
        self.progress.setFormat("Done" if self.result_box.isVisible() else "")

    def show_message(self, text: str, error: bool = False) -> None:
        colour = "#c62828" if error else "#333"
        self.status.setText(f'<span style="color:{colour}">{html.escape(text)}</span>')

    def show_result(self, result) -> None:
        """``result`` is a core.training.TrainingResult."""
        ev = result.evaluation
        epochs = len(result.history)
        how = ("you stopped it" if result.stopped_by_user else
               "the time limit was reached" if result.stopped_by_time_limit else
               "it stopped improving" if result.stopped_early else "all epochs ran")
        if epochs == 0:  # the time limit came before the first pass over the pictures ended
            kept = "the model as it was at the limit, part-way through the first pass, is kept."
        else:
            kept = f"the model from epoch {result.best_epoch or '—'} is kept."
            if result.stopped_by_time_limit and result.best_epoch == epochs:
                kept += " It was still improving: a longer time limit would probably give a better model."
        self.status.setText(f"Finished: {epochs} epoch(s) in {format_seconds(result.train_seconds)} ({how}); {kept}")
        self.result_summary.setText(
            f"<span style='font-size:15pt'><b>{ev.accuracy:.1%}</b> correct</span> on {ev.count} "
            f"{ev.split} pictures (loss {ev.loss:.3f})."
            + "".join(f"<p>{html.escape(note)}</p>" for note in result.notes)
            + skipped_html(result.skipped)
        )
        self.class_table.setRowCount(len(ev.per_class))
        for row, scores in enumerate(ev.per_class):
            for col, text in enumerate((scores.name, f"{scores.precision:.1%}", f"{scores.recall:.1%}", str(scores.support))):
                self.class_table.setItem(row, col, QTableWidgetItem(text))
        self.mistakes.clear()
        for m in ev.mistakes[:50]:
            self.mistakes.addItem(f"{os.path.basename(m.path)}: is {m.true_class}, predicted {m.predicted_class} "
                                  f"({m.probabilities[m.predicted_class]:.0%} sure)")
        if not ev.mistakes:
            self.mistakes.addItem("No mistakes.")
        if self.confusion_chart is not None:
            self.confusion_chart.show_matrix(ev.class_names, ev.confusion)
        self.result_box.setVisible(True)


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


def skipped_html(skipped: list[tuple[str, str]], limit: int = 3) -> str:
    """Pictures that training could not read, by name and reason (the first few)."""
    if not skipped:
        return ""
    items = "; ".join(f"{html.escape(os.path.basename(p))} ({html.escape(r)})" for p, r in skipped[:limit])
    more = f"; and {len(skipped) - limit} more" if len(skipped) > limit else ""
    return (f"<br><span style='color:#a86400'>⚠ {len(skipped)} picture(s) could not be read and were "
            f"skipped: {items}{more}.</span>")
