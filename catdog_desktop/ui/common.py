"""Small helpers shared by the panels."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox


def pixmap_from_rgb(width: int, height: int, data: bytes) -> QPixmap:
    """A QPixmap from RGB bytes made by a worker (core.data.images.thumbnail)."""
    image = QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())  # copy: the QImage must not outlive ``data``


def local_paths(urls: list[QUrl]) -> list[str]:
    """Local file paths of dropped URLs (remote URLs are ignored)."""
    return [u.toLocalFile() for u in urls if u.isLocalFile() and u.toLocalFile()]


def dropped_files(mime) -> list[str]:
    """The files (not folders) among the local paths dropped in ``mime`` (a QMimeData)."""
    import os

    return [p for p in local_paths(mime.urls()) if not os.path.isdir(p)] if mime.hasUrls() else []

def problems_html(problems, limit: int = 12) -> str:
    """Errors in red, warnings in amber, as an HTML list."""
    colours = {"error": "#c62828", "warning": "#a86400"}
    icons = {"error": "✖", "warning": "⚠"}
    items = [
        f'<div style="color:{colours.get(p.level, "#333")}; margin-bottom:3px">{icons.get(p.level, "•")} '
        f"{html.escape(p.message)}</div>"
        for p in problems[:limit]
    ]
    if len(problems) > limit:
        items.append(f"<div>… and {len(problems) - limit} more</div>")
    return "".join(items)


def show_about(parent, versions: dict[str, str]) -> None:
    """Help → About: the app's version and the libraries' (``versions``: those loaded so far)."""
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion
    from PySide6.QtWidgets import QMessageBox

    from .. import __version__

    tf = versions.get("tensorflow", "still loading…")
    keras = versions.get("keras", "still loading…")
    QMessageBox.about(parent, "About catdog-desktop", (
        f"<h3>catdog-desktop {__version__}</h3>"
        "<p>Train an image classifier on your own folders of pictures, and use it.</p>"
        f"<p>TensorFlow {tf}<br>Keras {keras}<br>Qt {qVersion()} (PySide6 {pyside_version})</p>"
    ))


#: What each way of showing where the model looked is called (core.app.jobs.EXPLAIN_METHODS).
EXPLAIN_METHOD_NAMES = {
    "gradcam": ("What it reacted to (Grad-CAM)",
                "The places the answer was added up from, in the network's last layer: fast, smooth. Each "
                "place sees a neighbourhood, so the red can sit beside the thing that decided."),
    "occlusion": ("What changes its answer (hiding parts)",
                  "Hides each part of the picture in turn and colours it as hiding it lowers the model's "
                  "confidence: lands on the thing that decided; classifies 65 copies of the picture, so slower."),
}


def explain_method_box(method: str) -> QComboBox:
    """A drop-down of the ways to show where the model looked, ``method`` chosen; its items' data
    are the keys of core.app.jobs.EXPLAIN_METHODS."""
    box = QComboBox()
    for key, (name, tip) in EXPLAIN_METHOD_NAMES.items():
        box.addItem(name, key)
        box.setItemData(box.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
    box.setCurrentIndex(max(0, box.findData(method)))
    box.setToolTip("How the heat is worked out: hover over a choice for what it shows.")
    return box


def heat_sentence(class_name: str, method: str, found: bool = True) -> str:
    """What the red of a heatmap (core.app.jobs.explain) of ``class_name`` by ``method`` means."""
    if not found:
        return f"No part of the picture stands out as the reason for “{class_name}”."
    if method == "occlusion":
        return (f"In red, the parts whose hiding makes the model least sure of “{class_name}”; in blue, the "
                "parts it would answer the same without.")
    return f"In red, the parts of the picture that made the model say “{class_name}”; in blue, the parts that did not count."
