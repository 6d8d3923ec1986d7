"""Embedded matplotlib charts (FigureCanvasQTAgg, never pyplot).

Only the GUI thread touches these figures: workers send numbers, the panels call ``add_*``,
and the charts redraw with ``draw_idle()``. Import this module after the window is shown:
matplotlib costs about a second to import.

A drawing of the history chart takes about 0.1 s (constrained layout, two axes), and a fast
training sends 10–20 events a second (a pretrained classifier runs 30 epochs in a few seconds):
drawing after each one kept the GUI thread busy and the window froze for seconds. The history
chart therefore draws at most every :data:`REDRAW_INTERVAL_MS`; its data is always current.
"""

from __future__ import annotations

import math

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from PySide6.QtCore import Qt, QTimer, Signal

from ..core.safe_text import plain_label

TRAIN_COLOUR = "#1f77b4"
VAL_COLOUR = "#ff7f0e"
FINE_TUNE_COLOUR = "#9c27b0"


#: The history chart draws at most this often (milliseconds) while a training sends events.
REDRAW_INTERVAL_MS = 400


class HistoryChart(FigureCanvasQTAgg):
    """Loss and accuracy per epoch, for training and validation, plus a live batch trace. All
    epochs share one axis; where fine-tuning begins a shaded, labelled span marks it. Before the
    first training the axes are hidden behind a sentence (empty axes only raise questions)."""

    EMPTY_TEXT = "Loss and accuracy appear here, epoch by epoch, when you train."

    def __init__(self, parent=None):
        figure = Figure(figsize=(7, 3.2), layout="constrained")
        super().__init__(figure)
        self.setParent(parent)
        self._redraw = QTimer(self, singleShot=True, interval=REDRAW_INTERVAL_MS, timeout=self.draw_idle)
        self.setMinimumHeight(220)
        self.setToolTip("Loss: how far the model's confidence is from the truth (lower is better). Accuracy: the "
                        "share of pictures it gets right. Validation: on pictures it does not train on.")
        self.ax_loss = figure.add_subplot(1, 2, 1)
        self.ax_acc = figure.add_subplot(1, 2, 2)
        self.ax_loss.set_title("Loss (lower is better)", fontsize=10)
        self.ax_acc.set_title("Accuracy (higher is better)", fontsize=10)
        for ax in (self.ax_loss, self.ax_acc):
            ax.set_xlabel("epoch", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(True, alpha=0.3)
        self.lines = {
            "loss": self.ax_loss.plot([], [], "o-", color=TRAIN_COLOUR, ms=3, label="training")[0],
            "val_loss": self.ax_loss.plot([], [], "o-", color=VAL_COLOUR, ms=3, label="validation")[0],
            "accuracy": self.ax_acc.plot([], [], "o-", color=TRAIN_COLOUR, ms=3)[0],
            "val_accuracy": self.ax_acc.plot([], [], "o-", color=VAL_COLOUR, ms=3)[0],
        }
        self.batch_line = self.ax_loss.plot([], [], "-", color=TRAIN_COLOUR, alpha=0.25, lw=1)[0]
        self.best_marker = self.ax_acc.plot([], [], "*", color="#2ca02c", ms=12, label="best epoch")[0]
        # Where fine-tuning begins: a shaded span to the right edge on both charts, labelled.
        self.fine_tune_spans = [ax.axvspan(0, 0, color=FINE_TUNE_COLOUR, alpha=0.12, lw=0, label=None)
                                for ax in (self.ax_loss, self.ax_acc)]
        # Its label at the right end, inside the plot (clipped to it): from the start of a span that
        # begins near the last epoch it stuck out beyond the axes.
        self.fine_tune_labels = [ax.text(0, 0.98, "fine-tuning ", transform=ax.get_xaxis_transform(), va="top",
                                         ha="right", fontsize=8, color="#6a1b9a", clip_on=True)
                                 for ax in (self.ax_loss, self.ax_acc)]
        # One legend above both charts, outside them: it can never hide a point.
        self.legend = figure.legend(handles=[self.lines["loss"], self.lines["val_loss"], self.best_marker],
                                    loc="outside upper center", ncol=3, fontsize=8, frameon=False)
        self.empty_text = figure.text(0.5, 0.5, self.EMPTY_TEXT, ha="center", va="center", fontsize=11,
                                      color="#616161", wrap=True)
        self.clear()

    def clear(self, empty_text: str | None = None) -> None:
        """No epochs; the sentence shown instead: ``empty_text`` (default :data:`EMPTY_TEXT`)."""
        self.empty_text.set_text(empty_text or self.EMPTY_TEXT)
        self.data = {key: ([], []) for key in self.lines}
        self.batch_data: tuple[list, list] = ([], [])
        self.fine_tune_start: float | None = None
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

    def add_epoch(self, epoch: int, metrics: dict, is_best: bool = False, phase: str = "train") -> None:
        for key, line in self.lines.items():
            value = metrics.get(key)
            if value is not None and math.isfinite(value):
                xs, ys = self.data[key]
                xs.append(epoch)
                ys.append(value)
                line.set_data(xs, ys)
        if is_best and metrics.get("val_accuracy") is not None:
            self.best_marker.set_data([epoch], [metrics["val_accuracy"]])
        if phase == "fine-tuning" and self.fine_tune_start is None:
            self.fine_tune_start = epoch - 0.5
        self._rescale()

    def points(self, key: str) -> int:
        """How many epoch points a line has (used by tests and the status bar)."""
        return len(self.data[key][0])

    def is_empty(self) -> bool:
        return not self.batch_data[0] and not any(xs for xs, _ in self.data.values())

    def _rescale(self) -> None:
        empty = self.is_empty()
        for ax in (self.ax_loss, self.ax_acc):
            ax.set_visible(not empty)
        self.legend.set_visible(not empty)
        self.empty_text.set_visible(empty)
        self.ax_loss.relim(visible_only=True)
        self.ax_loss.autoscale_view()
        # Accuracy zooms to the curves (as the report's chart does): fixed at 0–1, a run from 93 % to
        # 97 % was a flat line at the top. Never beyond 0 or much beyond 100 %.
        self.ax_acc.relim(visible_only=True)
        self.ax_acc.autoscale_view(scalex=False)
        bottom, top = self.ax_acc.get_ylim()
        self.ax_acc.set_ylim(max(0.0, bottom), min(1.01, top), auto=True)  # auto: zoom again next time
        right = max([1.0, *self.data["loss"][0], *self.data["val_loss"][0], *self.batch_data[0]]) + 0.2
        self.ax_loss.set_xlim(0, right)
        self.ax_acc.set_xlim(0, right)
        start = self.fine_tune_start
        for span, label in zip(self.fine_tune_spans, self.fine_tune_labels):
            span.set_visible(start is not None)
            label.set_visible(start is not None)
            if start is not None:
                span.set_x(start)
                span.set_width(right - start)
                label.set_x(right)
        if not self._redraw.isActive():  # the changes so far are drawn when it fires, with any that follow
            self._redraw.start()


class ConfusionChart(FigureCanvasQTAgg):
    """The confusion matrix: rows are true classes, columns predicted ones. A click on a cell emits
    ``cell_clicked(true_index, predicted_index)``; :meth:`highlight` outlines the chosen cell."""

    cell_clicked = Signal(int, int)

    def __init__(self, parent=None):
        figure = Figure(figsize=(3.6, 3.2), layout="constrained")
        super().__init__(figure)
        self.setParent(parent)
        self.setMinimumSize(260, 240)
        self.ax = figure.add_subplot(1, 1, 1)
        self.ax.set_axis_off()
        self.class_count = 0
        self._outline = None
        self.mpl_connect("button_press_event", self._on_press)

    def show_matrix(self, class_names: list[str], confusion: list[list[int]], clickable: bool = False) -> None:
        ax = self.ax
        ax.clear()
        ax.set_axis_on()
        self._outline = None
        k = self.class_count = len(class_names)
        matrix = [[int(v) for v in row] for row in confusion]
        peak = max(1, max(max(row) for row in matrix))
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=peak)
        labels = [plain_label(name) for name in class_names]  # a "$" is a dollar, not maths
        ax.set_xticks(range(k), labels, rotation=30 if k > 3 else 0, fontsize=8)
        ax.set_yticks(range(k), labels, fontsize=8)
        ax.set_xlabel("predicted", fontsize=9)
        ax.set_ylabel("true", fontsize=9)
        ax.set_title("Confusion matrix" + (" (click a cell)" if clickable else ""), fontsize=10)
        for i in range(k):
            for j in range(k):
                value = matrix[i][j]
                ax.text(j, i, str(value), ha="center", va="center", fontsize=9,
                        color="white" if value > peak * 0.6 else "black")
        self.setCursor(Qt.CursorShape.PointingHandCursor if clickable else Qt.CursorShape.ArrowCursor)
        self.draw_idle()

    def cell_at(self, x: float | None, y: float | None) -> tuple[int, int] | None:
        """The (row, column) under data coordinates ``x``, ``y``, or None outside the matrix."""
        if x is None or y is None:
            return None
        i, j = int(round(y)), int(round(x))
        return (i, j) if 0 <= i < self.class_count and 0 <= j < self.class_count else None

    def cell_centre(self, i: int, j: int) -> tuple[float, float]:
        """Where cell (``i``, ``j``) is on the widget, in Qt's logical pixels (for tests)."""
        x, y = self.ax.transData.transform((j, i))
        ratio = self.device_pixel_ratio or 1
        return x / ratio, self.height() - y / ratio

    def highlight(self, cell: tuple[int, int] | None) -> None:
        if self._outline is not None:
            self._outline.remove()
            self._outline = None
        if cell is not None and self.class_count:
            i, j = cell
            self._outline = self.ax.add_patch(Rectangle((j - 0.48, i - 0.48), 0.96, 0.96, fill=False,
                                                        edgecolor="#ff7f0e", linewidth=3))
        self.draw_idle()

    def _on_press(self, event) -> None:
        if event.inaxes is not self.ax or event.button != 1:
            return
        cell = self.cell_at(event.xdata, event.ydata)
        if cell is not None:
            self.cell_clicked.emit(*cell)


class LabelsChart(FigureCanvasQTAgg):
    """The Inbox tab's: how often the classifier retrained on the labels is right against how many
    pictures are labelled, one point per retraining: cross-checked (each labelled picture scored by
    a classifier that did not learn from it: core.label.head) and, in a train/test layout, on the
    test pictures, which no label goes to. Before the first point, a sentence."""

    EMPTY_TEXT = "How often the model is right appears here as you label."

    def __init__(self, parent=None):
        figure = Figure(figsize=(3.6, 2.4), layout="constrained")
        super().__init__(figure)
        self.setParent(parent)
        self.setMinimumSize(240, 170)
        self.setToolTip("Cross-checked: each labelled picture scored by a classifier trained without it. The "
                        "pictures you label are the ones the model found hardest, so this runs below how often it is "
                        "right on the rest of the pile. Test pictures: the dataset's test folder, which no label "
                        "goes to: the fairest figure, when there is one.")
        self.ax = figure.add_subplot(1, 1, 1)
        self.ax.set_title("How often it is right", fontsize=9)
        self.ax.set_xlabel("labelled pictures", fontsize=8)
        self.ax.tick_params(labelsize=7)
        self.ax.grid(True, alpha=0.3)
        self.ax.yaxis.set_major_formatter(lambda value, _pos: f"{value:.0%}")
        self.ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        self.line = self.ax.plot([], [], "o-", color=VAL_COLOUR, ms=3, label="cross-checked")[0]
        self.test_line = self.ax.plot([], [], "s-", color=TRAIN_COLOUR, ms=3, label="test pictures")[0]
        self.legend = self.ax.legend(fontsize=7, loc="lower right")
        self.empty_text = figure.text(0.5, 0.5, self.EMPTY_TEXT, ha="center", va="center", fontsize=9,
                                      color="#616161", wrap=True)
        self.points: list[tuple[int, float]] = []        # (labelled, cross-checked)
        self.test_points: list[tuple[int, float]] = []   # (labelled, on the test pictures)
        self._rescale()

    def add_point(self, labelled: int, accuracy: float | None, test: float | None = None) -> None:
        """A retraining on ``labelled`` pictures: right ``accuracy`` of the time cross-checked and
        ``test`` on the test pictures (None: not known)."""
        for points, value in ((self.points, accuracy), (self.test_points, test)):
            if value is not None and math.isfinite(value):
                points[:] = sorted([p for p in points if p[0] != labelled] + [(labelled, value)])
        self._rescale()

    def clear(self) -> None:
        self.points, self.test_points = [], []
        self._rescale()

    def _rescale(self) -> None:
        both = self.points + self.test_points
        self.ax.set_visible(bool(both))
        self.empty_text.set_visible(not both)
        self.line.set_data([p[0] for p in self.points], [p[1] for p in self.points])
        self.test_line.set_data([p[0] for p in self.test_points], [p[1] for p in self.test_points])
        self.legend.set_visible(bool(self.test_points))
        if both:
            ys = [p[1] for p in both]
            self.ax.set_xlim(0, max(p[0] for p in both) * 1.05 + 1)
            self.ax.set_ylim(max(0.0, min(ys) - 0.05), min(1.01, max(ys) + 0.03))
        self.draw_idle()
