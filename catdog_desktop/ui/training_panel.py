"""Training panel: the settings form, Train/Stop, live progress and chart, then the evaluation
and the choice of which model classifies."""

from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QCheckBox, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout,
                               QWidget)

from ..core.training import advice
from ..core.config import TrainingConfig
from ..core.training.events import BatchEvent, EpochEvent, PhaseEvent
from ..core.training.progress import RunProgress, format_seconds
from ..core.wording import count
from .class_scores import ClassScoresTable
from .training_form import TrainingForm


STOP_TIP = "Stop after the current batch and keep the best epoch so far"
#: Why "Train on from the model in use" is off, when there is no model in use to train on from.
NO_MODEL_TO_CONTINUE = "Open a model saved by catdog-desktop first: training then goes on from it."


#: The result box's title after a training scored on held-out pictures.
RESULT_TITLE = "Evaluation on pictures the model never trained on"

class TrainingPanel(QWidget):
    train_requested = Signal(object)   # TrainingConfig
    stop_requested = Signal()
    save_requested = Signal()
    use_trained_requested = Signal()   # "Use this model": the trained model classifies from now on
    mistakes_requested = Signal()      # "See its mistakes": the Evaluate tab

    def __init__(self, parent=None):
        super().__init__(parent)
        self.chart = None
        self.confusion_chart = None
        self._run = RunProgress()
        self._ready = False

        # --- settings ---
        self.form = TrainingForm()
        self.form.setMaximumWidth(400)
        # The form's fields, by the names the window and the tests use.
        for name in ("preset_box", "backbone_box", "time_limit", "epochs", "image_size", "batch_size",
                     "learning_rate", "validation_split", "seed", "augmentation", "early_stopping", "fine_tune"):
            setattr(self, name, getattr(self.form, name))

        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.setEnabled(False)
        self.train_button.clicked.connect(self.request_training)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip(STOP_TIP)
        self.stop_button.clicked.connect(self.request_stop)
        self.hint = QLabel("Choose a dataset first.")
        self.hint.setWordWrap(True)
        self.continue_box = QCheckBox("Train on from the model in use")
        self.continue_box.setEnabled(False)
        self.continue_box.setToolTip(NO_MODEL_TO_CONTINUE)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)

        left = QVBoxLayout()
        left.addWidget(self.form)
        left.addWidget(self.continue_box)
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
        self.result_box = QGroupBox(RESULT_TITLE)
        self.result_summary = QLabel()
        self.result_summary.setWordWrap(True)
        self.result_summary.setTextFormat(Qt.TextFormat.RichText)
        self.result_summary.setToolTip("Correct: the share of held-out pictures the model got right. Loss: how "
                                       "far its confidence was from the truth on average (lower is better).")
        self.result_notes = QLabel()
        self.result_notes.setWordWrap(True)
        self.result_notes.setTextFormat(Qt.TextFormat.RichText)
        self.class_table = ClassScoresTable(120, pictures_tip="How many held-out pictures of this class were checked.")
        self.mistakes_button = QPushButton("See the pictures it got wrong…")
        self.mistakes_button.setToolTip("The Evaluate tab: its mistakes as pictures, the most confident first, "
                                        "and a confusion matrix whose cells show their pictures.")
        self.mistakes_button.clicked.connect(self.mistakes_requested)
        self.confusion_holder = QVBoxLayout()
        result_left = QVBoxLayout()
        result_left.addWidget(self.result_summary)
        result_left.addWidget(self.result_notes)
        result_left.addWidget(self.class_table)
        result_left.addWidget(self.mistakes_button)
        result_row = QHBoxLayout(self.result_box)
        result_row.addLayout(result_left, 3)
        result_row.addLayout(self.confusion_holder, 2)
        self.result_box.setVisible(False)

        # --- which model classifies: the trained one or the one in use ---
        self.choice_box = QGroupBox("The model you trained")
        self.choice_text = QLabel()
        self.choice_text.setWordWrap(True)
        self.choice_text.setTextFormat(Qt.TextFormat.RichText)
        self.use_button = QPushButton("Use this model")
        self.use_button.setToolTip("Classify pictures with the model you just trained from now on.")
        self.use_button.clicked.connect(self.use_trained_requested)
        self.save_button = QPushButton("Save model…")
        self.save_button.setToolTip("Keep the model you just trained in a file (Ctrl+S saves the model in use).")
        self.save_button.clicked.connect(self.save_requested)
        choice_buttons = QHBoxLayout()
        choice_buttons.addWidget(self.use_button)
        choice_buttons.addWidget(self.save_button)
        choice_layout = QVBoxLayout(self.choice_box)
        choice_layout.addWidget(self.choice_text)
        choice_layout.addLayout(choice_buttons)
        self.choice_box.setVisible(False)
        self.choice_box.setMaximumWidth(400)
        left.insertWidget(left.count() - 1, self.choice_box)

        right = QVBoxLayout()
        right.addWidget(self.progress)
        right.addWidget(self.status)
        right.addLayout(self.chart_holder, 1)
        right.addWidget(self.result_box, 1)

        layout = QHBoxLayout(self)
        layout.addLayout(left, 0)
        layout.addLayout(right, 1)

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
        # Shorter than the charts' own least heights: after a training, the tab (chart, result and
        # the choice of model) then fits a 1024×600 screen without scrolling.
        self.chart.setMinimumHeight(170)
        self.confusion_chart.setMinimumSize(220, 190)

    # ----- settings -----------------------------------------------------------------------
    def preset_name(self) -> str:
        return self.form.preset_name()

    def config(self) -> TrainingConfig:
        return self.form.config()

    def set_config(self, config: TrainingConfig, preset_name: str | None = None) -> None:
        self.form.set_config(config, preset_name)

    def set_continuable(self, name: str | None, why_not: str = NO_MODEL_TO_CONTINUE) -> None:
        """Whether a training may go on from the model in use (its file ``name``), else why not."""
        self.continue_box.setEnabled(name is not None)
        if name is None:
            self.continue_box.setChecked(False)
            self.continue_box.setText("Train on from the model in use")
            self.continue_box.setToolTip(why_not)
        else:
            self.continue_box.setText(f"Train on from the model in use ({name})")
            self.continue_box.setToolTip(
                f"The new model starts from {name}'s weights (it keeps its model type and image size) and is "
                f"compared with it on the same held-out pictures; {name} itself is not changed.")

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
        """Stop: after this batch, keeping the best epoch. Stop again: skip checking that model too."""
        if not self.stop_button.isEnabled():
            return
        if self._run.stopping:
            self.stop_button.setEnabled(False)
            self._show_progress(self._run.skip_requested())
        else:
            self.stop_button.setToolTip("Stop again to skip checking the kept model on the test pictures "
                                        "(it is then kept unchecked)")
            self._show_progress(self._run.stop_requested())
        self.stop_requested.emit()

    # ----- progress from the training worker ------------------------------------------------
    def training_started(self, config: TrainingConfig) -> None:
        self._run = RunProgress(config.time_limit_minutes * 60)
        self.train_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.stop_button.setToolTip(STOP_TIP)
        self.form.setEnabled(False)
        self.continue_box.setEnabled(False)
        self.hint.setVisible(False)  # "Press Train." while it trains would confuse
        self.result_box.setVisible(False)
        self.choice_box.setVisible(False)
        self._show_progress(self._run.starting())
        if self.chart is not None:
            self.chart.clear()

    def _show_progress(self, view) -> None:
        if view is None:
            return
        self.progress.setRange(0, view.total)
        self.progress.setValue(view.done)
        self.progress.setFormat(view.bar + (" · %p%" if view.total else ""))
        self.status.setText(html.escape(view.detail))

    def on_stage(self, event: PhaseEvent) -> None:
        self._show_progress(self._run.view(event))

    def on_batch(self, info: BatchEvent) -> None:
        self._show_progress(self._run.view(info))
        if self.chart is not None:
            self.chart.add_batch(info.epoch, info.batch, info.batches, info.loss)

    def on_epoch(self, info: EpochEvent) -> None:
        self._run.view(info)
        if self.chart is not None:
            self.chart.add_epoch(info.epoch, {
                "loss": info.loss, "val_loss": info.val_loss,
                "accuracy": info.accuracy, "val_accuracy": info.val_accuracy,
            }, info.is_best, info.phase)

    def training_finished(self) -> None:
        self.stop_button.setEnabled(False)
        self.form.setEnabled(True)
        self.hint.setVisible(True)
        self.train_button.setEnabled(self._ready)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.result_box.isVisibleTo(self) else 0)
        self.progress.setFormat("Done" if self.result_box.isVisibleTo(self) else "")

    def show_message(self, text: str, error: bool = False) -> None:
        colour = "#c62828" if error else "#333"
        self.status.setText(f'<span style="color:{colour}">{html.escape(text)}</span>')

    def show_result(self, result) -> None:
        """``result`` is a core.training.train.TrainingResult."""
        ev = result.evaluation
        epochs = len(result.history)
        how = ("you stopped it" if result.stopped_by_user else
               "the time limit was reached" if result.stopped_by_time_limit else
               "it stopped improving" if result.stopped_early else "all epochs ran")
        kept = ("the model as it was at the limit, part-way through the first pass, is kept." if epochs == 0
                else f"the model from epoch {result.best_epoch or '—'} is kept.")
        every = getattr(result, "cross_validation", None) is not None   # no epoch picked (core.training.few)
        if every:
            self.status.setText(f"Finished in {format_seconds(result.train_seconds)}: the classifier learned from "
                                "every picture, and cross-validation estimated how often it is right.")
        else:
            self.status.setText(
                f"Finished: {count(epochs, 'epoch')} in {format_seconds(result.train_seconds)} ({how}); {kept}")
        if every and self.chart is not None:
            self.chart.clear("The classifier learned from every picture at once: no epochs to chart. How often "
                             "it is right is estimated by cross-validation, below.")
        self.result_box.setTitle("Accuracy estimated by cross-validation (each picture scored by a classifier "
                                 "trained without it)" if ev.folds else RESULT_TITLE)
        where = html.escape(ev.where()) if ev.folds else f"on {count(ev.count, ev.split + ' picture')}"
        score = (f"<span style='font-size:15pt'><b>{ev.accuracy:.1%}</b> correct</span> "
                 f"{where} (loss {ev.loss:.3f})." if ev.checked else
                 f"<span style='font-size:15pt'><b>Unchecked</b></span>: the check on the {html.escape(ev.split)} "
                 f"pictures was skipped.")
        self.result_summary.setText(score + skipped_html(result.skipped))
        lines = [f"<span style='color:#1b5e20'>Tip: {html.escape(s)}</span>" for s in advice.advice(result)]
        comparison = getattr(result, "comparison", None)
        if comparison is not None:
            lines.insert(0, f"<b>{html.escape(comparison.sentence())}</b>")
        lines += [html.escape(s) for s in result.notes]
        lines += [html.escape(s) for s in (advice.stage_times(result), advice.cache_sentence(result)) if s]
        self.result_notes.setText("<br>".join(lines))
        self.result_notes.setVisible(bool(lines))
        self.class_table.show_scores(ev.per_class)
        self.mistakes_button.setText(f"See the {count(len(ev.mistakes), 'picture')} it got wrong…" if ev.mistakes
                                     else "See its pictures (no mistakes)…")
        if self.confusion_chart is not None:
            self.confusion_chart.show_matrix(ev.class_names, ev.confusion)
            self.confusion_chart.setVisible(ev.checked)
        self.class_table.setVisible(ev.checked)  # an unchecked model has no scores to show
        self.mistakes_button.setVisible(ev.checked)
        self.result_box.setVisible(True)

    def show_choice(self, text: str, in_use: bool) -> None:
        """What the trained model is against the one in use (``text``, HTML), and whether it is the
        one in use already (then there is nothing to choose)."""
        self.choice_text.setText(text)
        self.use_button.setVisible(not in_use)
        self.choice_box.setVisible(True)


def skipped_html(skipped: list[tuple[str, str]], limit: int = 3) -> str:
    """Pictures that training could not read, by name and reason (the first few)."""
    if not skipped:
        return ""
    items = "; ".join(f"{html.escape(os.path.basename(p))} ({html.escape(r)})" for p, r in skipped[:limit])
    more = f"; and {len(skipped) - limit} more" if len(skipped) > limit else ""
    return (f"<br><span style='color:#a86400'>⚠ {count(len(skipped), 'picture')} could not be read and "
            f"{'was' if len(skipped) == 1 else 'were'} skipped: {items}{more}.</span>")
