"""The per-class scores table: precision, recall (and F1 on the Evaluate tab) and pictures for each
class, shown after a training on the Train tab and with every evaluation on the Evaluate tab."""

from __future__ import annotations

from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem

_TIPS = {
    "Class": "The class (a folder of your dataset).",
    "Precision": "Of the pictures the model called this class, the share that really were.",
    "Recall": "Of the pictures of this class, the share the model recognised.",
    "F1": "Precision and recall in one number (their harmonic mean).",
    "Pictures": "How many pictures of this class were checked.",
}


class ClassScoresTable(QTableWidget):
    """One row per class, read-only, no taller than its rows need and at most ``most_height`` pixels
    (no empty band under two classes' rows, which a small screen cannot spare). ``f1``: show the F1
    column; ``pictures_tip``: what the Pictures column counts."""

    def __init__(self, most_height: int, f1: bool = False, pictures_tip: str = _TIPS["Pictures"], parent=None):
        self._columns = ["Class", "Precision", "Recall"] + (["F1"] if f1 else []) + ["Pictures"]
        super().__init__(0, len(self._columns), parent)
        self._most_height = most_height
        self.setHorizontalHeaderLabels(self._columns)
        for column, name in enumerate(self._columns):
            self.horizontalHeaderItem(column).setToolTip(pictures_tip if name == "Pictures" else _TIPS[name])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setTabKeyNavigation(False)  # Tab moves on to the next control, not the next cell
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setMaximumHeight(most_height)

    def show_scores(self, per_class) -> None:
        """``per_class``: core.evaluate.evaluation ClassScores, one per class."""
        self.setRowCount(len(per_class))
        for row, scores in enumerate(per_class):
            cells = {"Class": scores.name, "Precision": f"{scores.precision:.1%}", "Recall": scores.recall_text(),
                     "F1": f"{scores.f1:.2f}", "Pictures": str(scores.support)}
            for column, name in enumerate(self._columns):
                self.setItem(row, column, QTableWidgetItem(cells[name]))
        rows = sum(self.rowHeight(row) for row in range(self.rowCount()))
        self.setMaximumHeight(min(self._most_height,
                                  self.horizontalHeader().sizeHint().height() + rows + 2 * self.frameWidth()))
