"""The window's tabs, each panel in a scroll area: on a small screen (1024×600, a netbook, a
laptop at 150 %) a panel taller or wider than the window scrolls instead of pushing its buttons
("Use this model", "Save model…", Move/Exclude/Undo) off the bottom of the screen.

The scroll areas are the tab widget's business: ``addTab``, ``setCurrentWidget``,
``currentWidget`` and ``indexOf`` take and give the panels themselves.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QTabWidget, QWidget


def scrolling(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area that gives it all the room there is, and scroll bars
    when that is less than it needs (its minimum size)."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    area.setWidget(widget)
    return area


class PanelTabs(QTabWidget):
    """A QTabWidget whose pages scroll (see the module docstring)."""

    def addTab(self, panel: QWidget, title: str) -> int:  # noqa: N802 - Qt's name
        return super().addTab(scrolling(panel), title)

    def area(self, panel: QWidget) -> QScrollArea | None:
        """The scroll area that holds ``panel``."""
        for index in range(self.count()):
            page = self.widget(index)
            if isinstance(page, QScrollArea) and page.widget() is panel:
                return page
        return None

    def indexOf(self, panel: QWidget) -> int:  # noqa: N802 - Qt's name
        area = self.area(panel)
        return super().indexOf(area if area is not None else panel)

    def setCurrentWidget(self, panel: QWidget) -> None:  # noqa: N802 - Qt's name
        area = self.area(panel)
        super().setCurrentWidget(area if area is not None else panel)

    def currentWidget(self) -> QWidget | None:  # noqa: N802 - Qt's name
        page = super().currentWidget()
        return page.widget() if isinstance(page, QScrollArea) else page
