"""Evaluate panel: how good a model is (accuracy, per-class scores, a confusion matrix whose cells
show their pictures), its mistakes as a gallery, likely label errors, and fixing the data."""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSplitter, QVBoxLayout, QWidget

from ..core.wording import count
from .class_scores import ClassScoresTable
from .gallery import Gallery, items_from_label_issues, items_from_results
from .workers import JobRunner

EMPTY_TEXT = ("Train a model (tab 2) to see here what it gets wrong, or open a model and press "
              "“Evaluate on a folder…” to score it on any folder of class sub-folders.")
LABEL_CHECK_NOTE = ("These are suggestions, not facts: the model disagrees with the folder these pictures are "
                    "in. Look at each one before you move it.")


class EvaluationPanel(QWidget):
    evaluate_requested = Signal()      # "Evaluate on a folder…" (the panel's owner asks which folder)
    check_labels_requested = Signal()
    cancel_requested = Signal()
    train_again_requested = Signal()

    def __init__(self, jobs_: JobRunner, parent=None):
        super().__init__(parent)
        self.confusion_chart = None
        self.evaluation = None
        self.cell: tuple[int, int] | None = None

        self.source = QLabel(EMPTY_TEXT)
        self.source.setWordWrap(True)
        self.source.setTextFormat(Qt.TextFormat.RichText)
        self.evaluate_button = QPushButton("Evaluate on a folder…")
        self.evaluate_button.setToolTip("Score the model in use on a folder with one sub-folder per class "
                                        "(for example new photos it has never seen).")
        self.evaluate_button.clicked.connect(self.evaluate_requested)
        self.check_button = QPushButton("Check labels")
        self.check_button.setToolTip("Look for training pictures that are probably in the wrong class folder: "
                                     "each picture is judged by a model that did not train on it.")
        self.check_button.clicked.connect(self.check_labels_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.train_again_button = QPushButton("Train again")
        self.train_again_button.setToolTip("Train a new model on the corrected dataset, with the same settings.")
        self.train_again_button.setStyleSheet("font-weight: bold")
        self.train_again_button.setVisible(False)
        self.train_again_button.clicked.connect(self.train_again_requested)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.class_table = ClassScoresTable(150, f1=True)
        self.chart_holder = QVBoxLayout()
        self.chart_placeholder = QLabel("The confusion matrix appears here once the app has finished starting…")
        self.chart_placeholder.setWordWrap(True)
        self.chart_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.chart_holder.addWidget(self.chart_placeholder)
        self.all_mistakes_button = QPushButton("Show all mistakes")
        self.all_mistakes_button.setToolTip("Every wrong answer, the most confident first.")
        self.all_mistakes_button.clicked.connect(self.show_mistakes)

        self.gallery = Gallery(jobs_)

        self.scores = left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.summary)
        left_layout.addWidget(self.class_table)
        left_layout.addLayout(self.chart_holder, 1)
        left_layout.addWidget(self.all_mistakes_button)
        self.splitter = QSplitter()
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.gallery)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([400, 640])

        top = QHBoxLayout()
        top.addWidget(self.source, 1)
        for button in (self.train_again_button, self.evaluate_button, self.check_button, self.cancel_button):
            top.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.splitter, 1)
        self._show_empty()

    # ----- charts are created after the window shows (matplotlib is slow to import) --------
    def install_charts(self) -> None:
        from .chart import ConfusionChart

        if self.confusion_chart is not None:
            return
        self.confusion_chart = ConfusionChart(self)
        self.confusion_chart.cell_clicked.connect(self.show_cell)
        # The keyboard's way to a cell: Tab to the matrix, then the arrow keys (eventFilter).
        self.confusion_chart.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.confusion_chart.setToolTip("Click a cell, or Tab here and use the arrow keys, to see its pictures.")
        self.confusion_chart.installEventFilter(self)
        self.chart_holder.replaceWidget(self.chart_placeholder, self.confusion_chart)
        self.chart_placeholder.deleteLater()
        if self.evaluation is not None:
            self._draw_matrix()

    # ----- what is shown -------------------------------------------------------------------
    def show_evaluation(self, evaluation, source_html: str, move_classes: list[str] | None = None,
                        note: str = "") -> None:
        """``evaluation``: core.evaluate.evaluation.EvaluationResult; ``source_html`` says which model on which
        pictures; ``move_classes``: the class folders pictures can be moved to; ``note``: e.g. the
        classes left out."""
        self.evaluation = evaluation
        self.move_classes = list(move_classes if move_classes is not None else evaluation.class_names)
        self.source.setText(source_html)
        ev = evaluation
        self.summary.setText(
            f"<span style='font-size:15pt'><b>{ev.accuracy:.1%}</b> correct</span> on "
            f"{_pictures(ev.count, ev.split)}"
            + (f" (loss {ev.loss:.3f})." if ev.count else ".")
            + (f"<br><span style='color:#a86400'>{html.escape(note)}</span>" if note else ""))
        self.class_table.show_scores(ev.per_class)
        self.scores.setVisible(True)
        self.all_mistakes_button.setEnabled(bool(ev.mistakes))
        self._draw_matrix()
        self.show_mistakes()

    def _draw_matrix(self) -> None:
        if self.confusion_chart is not None and self.evaluation is not None and self.evaluation.class_names:
            ev = self.evaluation
            self.confusion_chart.show_matrix(ev.class_names, ev.confusion, clickable=bool(ev.results or ev.mistakes))
            self.confusion_chart.highlight(self.cell)

    def show_mistakes(self) -> None:
        """The gallery shows every wrong answer, the most confident first."""
        ev = self.evaluation
        if ev is None:
            return
        self.cell = None
        if self.confusion_chart is not None:
            self.confusion_chart.highlight(None)
        if not ev.mistakes and ev.count and not ev.results and ev.accuracy < 1:
            title = ("This model's pictures were not kept with it: press “Evaluate on a folder…” to see "
                     "what it gets wrong.")
        elif not ev.mistakes:
            title = ("<b>No mistakes</b> on these pictures." + (" Click a cell of the confusion matrix to see the "
                                                                "pictures it got right." if ev.results else ""))
        else:
            title = (f"<b>{count(len(ev.mistakes), 'mistake')}</b>, the ones the model was surest of first "
                     "(likeliest to be in the wrong folder). Double-click a picture to see it large.")
        self.gallery.show_items(items_from_results(ev.mistakes), title, self.move_classes)

    def show_cell(self, i: int, j: int) -> None:
        """The gallery shows the pictures of confusion-matrix cell (``i`` true, ``j`` predicted)."""
        ev = self.evaluation
        if ev is None:
            return
        self.cell = (i, j)
        if self.confusion_chart is not None:
            self.confusion_chart.highlight(self.cell)
        true, predicted = ev.class_names[i], ev.class_names[j]
        pictures = ev.cell(true, predicted)
        what = (f"{html.escape(true)} pictures the model got right" if i == j else
                f"{html.escape(true)} pictures the model took for {html.escape(predicted)}")
        title = f"<b>{count(len(pictures), 'picture')}</b>: {what}."
        if len(pictures) < ev.confusion[i][j]:
            title += " (The pictures of this cell were not kept with the model: evaluate it on a folder to see them.)"
        self.gallery.show_items(items_from_results(pictures), title, self.move_classes)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        """The arrow keys on the confusion matrix move to the next cell and show its pictures."""
        steps = {Qt.Key.Key_Left: (0, -1), Qt.Key.Key_Right: (0, 1), Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Down: (1, 0)}
        ev = self.evaluation
        if (watched is self.confusion_chart and event.type() == QEvent.Type.KeyPress and event.key() in steps
                and ev is not None and ev.class_names and (ev.results or ev.mistakes)):
            last = len(ev.class_names) - 1
            if self.cell is None:
                self.show_cell(0, 0)
            else:
                (i, j), (di, dj) = self.cell, steps[event.key()]
                self.show_cell(min(max(i + di, 0), last), min(max(j + dj, 0), last))
            return True
        return super().eventFilter(watched, event)

    def show_label_issues(self, check, move_classes: list[str]) -> None:
        """Likely label errors (core.evaluate.label_errors.LabelCheck), ranked, said to be suggestions."""
        self.cell = None
        if self.confusion_chart is not None:
            self.confusion_chart.highlight(None)
        issues = sorted(check.issues, key=lambda issue: -issue.score)
        if issues:
            title = (f"<b>{count(len(issues), 'likely label error')}</b> among "
                     f"{count(check.checked, 'training picture')}, the likeliest first. {html.escape(LABEL_CHECK_NOTE)}")
        else:
            title = (f"<b>No likely label errors</b> among {count(check.checked, 'training picture')}: the pictures "
                     "agree with their folders.")
        self.gallery.show_items(items_from_label_issues(issues), title, move_classes)

    def _show_empty(self) -> None:
        self.source.setText(EMPTY_TEXT)
        self.summary.setText("")
        self.class_table.setRowCount(0)
        self.all_mistakes_button.setEnabled(False)
        self.scores.setVisible(False)  # no empty table and matrix before there is anything to show
        self.move_classes: list[str] = []

    # ----- progress --------------------------------------------------------------------------
    def set_busy(self, text: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.evaluate_button.setEnabled(False)
        self.check_button.setEnabled(False)
        self.show_message(text)

    def set_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{text} · %v of %m" if text else "%v of %m")

    def set_idle(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.evaluate_button.setEnabled(True)
        self.check_button.setEnabled(True)

    def show_message(self, text: str, error: bool = False) -> None:
        colour = "#c62828" if error else "#424242"
        self.message.setText(f'<span style="color:{colour}">{html.escape(text)}</span>' if text else "")


def _pictures(n: int, split: str) -> str:
    """"all 200 pictures", "20 validation pictures", "40 test pictures"."""
    if split == "all":
        return f"all {count(n, 'picture')}" if n != 1 else "1 picture"
    return count(n, f"{split} picture")
