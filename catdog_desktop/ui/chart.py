"""Embedded matplotlib charts (FigureCanvasQTAgg, never pyplot).

Only the GUI thread touches these figures: workers send numbers, the panels call ``add_*``,
and the charts redraw with ``draw_idle()``. Import this module after the window is shown:
matplotlib costs about a second to import.
"""

from __future__ import annotations

import math

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

TRAIN_COLOUR = "#1f77b4"
VAL_COLOUR = "#ff7f0e"


class HistoryChart(FigureCanvasQTAgg):
    """Loss and accuracy per epoch, for training and validation, plus a live batch trace."""

    def __init__(self, parent=None):
        figure = Figure(figsize=(7, 3.2), layout="constrained")
        super().__init__(figure)
        self.setParent(parent)
        self.setMinimumHeight(220)
        self.ax_loss = figure.add_subplot(1, 2, 1)
        self.ax_acc = figure.add_subplot(1, 2, 2)
        self.ax_loss.set_title("Loss (lower is better)", fontsize=10)
        self.ax_acc.set_title("Accuracy (higher is better)", fontsize=10)
        for ax in (self.ax_loss, self.ax_acc):
            ax.set_xlabel("epoch", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(True, alpha=0.3)
        self.ax_acc.set_ylim(0, 1)
        self.lines = {
            "loss": self.ax_loss.plot([], [], "o-", color=TRAIN_COLOUR, ms=3, label="training")[0],
            "val_loss": self.ax_loss.plot([], [], "o-", color=VAL_COLOUR, ms=3, label="validation")[0],
            "accuracy": self.ax_acc.plot([], [], "o-", color=TRAIN_COLOUR, ms=3, label="training")[0],
            "val_accuracy": self.ax_acc.plot([], [], "o-", color=VAL_COLOUR, ms=3, label="validation")[0],
        }
        self.batch_line = self.ax_loss.plot([], [], "-", color=TRAIN_COLOUR, alpha=0.25, lw=1)[0]
        self.best_marker = self.ax_acc.plot([], [], "*", color="#2ca02c", ms=12, label="best")[0]
        self.ax_loss.legend(fontsize=8, loc="upper right")
        self.ax_acc.legend(fontsize=8, loc="lower right")
        self.clear()

    def clear(self) -> None:
        self.data = {key: ([], []) for key in self.lines}
        self.batch_data: tuple[list, list] = ([], [])
        for line in [*self.lines.values(), self.batch_line, self.best_marker]:
            line.set_data([], [])
        self._rescale()

    def add_batch(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        """A point of the running training loss inside the current epoch (faint line)."""
        if math.isfinite(loss):
            xs, ys = self.batch_data
            xs.append(epoch - 1 + batch / batches)
            ys.append(loss)
            self.batch_line.set_data(xs, ys)
            self._rescale()

    def add_epoch(self, epoch: int, metrics: dict, is_best: bool = False) -> None:
        for key, line in self.lines.items():
            value = metrics.get(key)
            if value is not None and math.isfinite(value):
                xs, ys = self.data[key]
                xs.append(epoch)
                ys.append(value)
                line.set_data(xs, ys)
        if is_best and metrics.get("val_accuracy") is not None:
            self.best_marker.set_data([epoch], [metrics["val_accuracy"]])
        self._rescale()

    def points(self, key: str) -> int:
        """How many epoch points a line has (used by tests and the status bar)."""
        return len(self.data[key][0])

    def _rescale(self) -> None:
        self.ax_loss.relim()
        self.ax_loss.autoscale_view()
        right = max([1.0, *self.data["loss"][0], *self.data["val_loss"][0], *self.batch_data[0]]) + 0.2
        self.ax_loss.set_xlim(0, right)
        self.ax_acc.set_xlim(0, right)
        self.draw_idle()


class ConfusionChart(FigureCanvasQTAgg):
    """The confusion matrix: rows are true classes, columns predicted ones."""

    def __init__(self, parent=None):
        figure = Figure(figsize=(3.6, 3.2), layout="constrained")
        super().__init__(figure)
        self.setParent(parent)
        self.setMinimumSize(260, 240)
        self.ax = figure.add_subplot(1, 1, 1)
        self.ax.set_axis_off()

    def show_matrix(self, class_names: list[str], confusion: list[list[int]]) -> None:
        ax = self.ax
        ax.clear()
        ax.set_axis_on()
        k = len(class_names)
        matrix = [[int(v) for v in row] for row in confusion]
        peak = max(1, max(max(row) for row in matrix))
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=peak)
        ax.set_xticks(range(k), class_names, rotation=30 if k > 3 else 0, fontsize=8)
        ax.set_yticks(range(k), class_names, fontsize=8)
        ax.set_xlabel("predicted", fontsize=9)
        ax.set_ylabel("true", fontsize=9)
        ax.set_title("Confusion matrix", fontsize=10)
        for i in range(k):
            for j in range(k):
                value = matrix[i][j]
                ax.text(j, i, str(value), ha="center", va="center", fontsize=9,
                        color="white" if value > peak * 0.6 else "black")
        self.draw_idle()
