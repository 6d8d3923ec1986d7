"""The report's figures: learning curves and the confusion matrix as matplotlib PNGs (drawn
off screen with the Agg backend; class names drawn as plain text, never as maths).
"""


from __future__ import annotations

import io
import logging
import math

import numpy as np

from ..safe_text import plain_label
from .values import _real, _whole

log = logging.getLogger(__name__)

# ----- figures ------------------------------------------------------------------------------------
def _figure_png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def curves_png(history: list[dict]) -> bytes | None:
    """Loss and accuracy per epoch, training and validation (None without a history)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    history = [h for h in history if isinstance(h, dict)]
    epochs = [_whole(h.get("epoch")) or i + 1 for i, h in enumerate(history)]
    if not any(_real(h.get(key)) is not None for h in history for key in ("loss", "accuracy", "val_loss", "val_accuracy")):
        return None  # nothing to draw
    fig = Figure(figsize=(9, 3.4))
    for ax, key, title in ((fig.add_subplot(1, 2, 1), "loss", "Loss (lower is better)"),
                           (fig.add_subplot(1, 2, 2), "accuracy", "Accuracy (higher is better)")):
        for prefix, label, style in (("", "training pictures", "-"), ("val_", "validation pictures", "-")):
            values = [_real(h.get(prefix + key), math.nan) for h in history]
            ax.plot(epochs, values, style, marker="o", markersize=3, label=label)
        stages = [h.get("stage") for h in history]
        for i in range(1, len(stages)):
            if stages[i] != stages[i - 1]:
                ax.axvline(epochs[i] - 0.5, color="#9e9e9e", linestyle=":", linewidth=1)
                ax.text(epochs[i] - 0.4, ax.get_ylim()[1], plain_label(stages[i]), fontsize=8, color="#616161",
                        va="top")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _figure_png(fig)


#: Classes up to which the confusion-matrix figure writes the counts in its cells (its table has them).
COUNTS_DRAWN_LIMIT = 20
#: Classes above which the report draws no confusion-matrix figure (it shows the table instead):
#: a 200-class figure cannot be read, and its 200 tick labels alone take seconds to lay out.
CONFUSION_FIGURE_LIMIT = 50


def confusion_png(confusion: list[list[int]], class_names: list[str]) -> bytes:
    """The confusion matrix as a heat grid with the counts written in."""
    from matplotlib.figure import Figure

    matrix = np.asarray(confusion, dtype=float)
    k = len(class_names)
    side = min(2.2 + 0.7 * k, 12)
    fig = Figure(figsize=(side + 1.2, side))
    ax = fig.add_subplot(1, 1, 1)
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(k if k <= COUNTS_DRAWN_LIMIT else 0):  # more would be too small to read, and slow to draw
        for j in range(k):
            ax.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center", fontsize=9,
                    color="white" if shares[i, j] > 0.6 else "black")
    labels = [plain_label(_short(n)) for n in class_names]  # a "$" is a dollar, not maths
    ax.set_xticks(range(k), labels, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("the model said")
    ax.set_ylabel("the folder says")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the folder's pictures")
    fig.tight_layout()
    return _figure_png(fig)


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "…"
