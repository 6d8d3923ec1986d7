"""Render resources/icons/catdog-desktop.svg to PNG sizes (run after editing the SVG).

    QT_QPA_PLATFORM=offscreen python scripts/make_icons.py
"""

import shutil
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "icons" / "catdog-desktop.svg"
SIZES = (16, 32, 48, 64, 128, 256, 512)

if __name__ == "__main__":
    app = QGuiApplication([])
    renderer = QSvgRenderer(str(SVG))
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        image.save(str(SVG.parent / f"catdog-desktop-{size}.png"))
    # The running app loads its window icon from package data.
    package = ROOT / "catdog_desktop" / "resources"
    shutil.copy(SVG, package / "catdog-desktop.svg")
    shutil.copy(SVG.parent / "catdog-desktop-256.png", package / "catdog-desktop-256.png")
    print("icons written")
