"""A thumbnail gallery of pictures with captions (the Evaluate tab's mistakes, a confusion-matrix
cell, likely label errors), and the large view a double-click opens.

Thumbnails are made lazily and off the GUI thread: the list asks for a picture's thumbnail when
it is painted, a worker (core.app.jobs.make_thumbnails) makes the newest requests first, and the
list shows a grey square meanwhile. So a list of thousands opens at once and scrolls smoothly
(benchmarks/gallery_bench.py measures it).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QAbstractListModel, QEvent, QModelIndex, QSize, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QColor, QDesktopServices, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListView, QMenu,
    QPushButton, QToolButton, QVBoxLayout, QWidget,
)

from ..core.app import jobs
from ..core.app.thumbnails import ThumbnailRequests
from .common import explain_method_box, heat_sentence, pixmap_from_rgb
from .workers import JobRunner

THUMB = jobs.GALLERY_THUMB_SIZE
#: Thumbnails kept in memory (about 40 kB each): enough for a few thousand pictures.
CACHE_SIZE = 4000
ItemRole = Qt.ItemDataRole.UserRole + 1
#: The large view's least picture side: with its caption and buttons it fits a 600-pixel-high screen.
PICTURE_SIDE = 360
#: Room for a thumbnail and three lines of caption ("cats → dogs 97 %", or a label check's longer
#: one, and what was done to it).
ITEM_SIZE = QSize(THUMB + 48, THUMB + 54)


@dataclass
class GalleryItem:
    """One picture in the gallery. ``score`` orders it (e.g. how sure a wrong answer was);
    ``label`` is the class its folder says; ``note`` says what was done to it ("moved to dogs")."""

    path: str
    caption: str
    tooltip: str
    score: float
    label: str | None = None
    predicted: str | None = None
    note: str = ""


def items_from_results(results) -> list[GalleryItem]:
    """Gallery items for core.evaluate.evaluation.PictureResult objects: "cats → dogs 97 %"."""
    items = []
    for r in results:
        arrow = f"{r.true_class} → {r.predicted_class}" if not r.correct else f"{r.true_class} ✓"
        probs = ", ".join(f"{name} {p:.1%}" for name, p in sorted(r.probabilities.items(), key=lambda kv: -kv[1]))
        items.append(GalleryItem(
            path=r.path, caption=f"{arrow} {r.confidence:.0%}",
            tooltip=f"{r.path}\nIn the folder of: {r.true_class}\nThe model says: {r.predicted_class} ({probs})",
            score=r.confidence, label=r.true_class, predicted=r.predicted_class))
    return items


def items_from_label_issues(issues) -> list[GalleryItem]:
    """Gallery items for likely label errors (core.evaluate.label_errors.LabelIssue: path, label,
    suggested, score): "labelled cats — looks like dogs, score 0.93"."""
    return [GalleryItem(
        path=i.path, caption=f"labelled {i.label} — looks like {i.suggested}, score {i.score:.2f}",
        tooltip=(f"{i.path}\nLabelled {i.label} (its folder); looks like {i.suggested}, score {i.score:.2f}.\n"
                 "A suggestion: look at the picture before you move it."),
        score=float(i.score), label=i.label, predicted=i.suggested) for i in issues]


SORTS = {
    "Most confident first": lambda item: (-item.score, item.path),
    "Least confident first": lambda item: (item.score, item.path),
    "By file name": lambda item: (os.path.basename(item.path).lower(), item.path),
}


class GalleryModel(QAbstractListModel):
    """The gallery's pictures; asks ``want_thumbnail(path)`` for each one it has to paint without
    a thumbnail, and shows it when :meth:`add_thumbnails` brings it."""

    def __init__(self, want_thumbnail: Callable[[str], None], parent=None):
        super().__init__(parent)
        self.want_thumbnail = want_thumbnail
        self.items: list[GalleryItem] = []
        self.sort_key = SORTS["Most confident first"]
        self._thumbs: OrderedDict[str, QPixmap] = OrderedDict()
        self._unreadable: set[str] = set()
        self._asked: set[str] = set()
        self._rows: dict[str, list[int]] = {}
        self._placeholder = _square(QColor("#e0e0e0"))
        self._broken = _square(QColor("#ffcdd2"))

    # ----- contents -------------------------------------------------------------------------
    def set_items(self, items: list[GalleryItem]) -> None:
        self.beginResetModel()
        self.items = sorted(items, key=self.sort_key)
        self._index_rows()
        self._asked &= set(self._thumbs)  # requests for pictures no longer listed are forgotten
        self.endResetModel()

    def sort_by(self, name: str) -> None:
        self.sort_key = SORTS[name]
        self.set_items(self.items)

    def item(self, row: int) -> GalleryItem:
        return self.items[row]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.items)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        item = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{item.caption}\n{item.note}" if item.note else item.caption
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(item.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{item.tooltip}\n\n{item.note}" if item.note else item.tooltip
        if role == Qt.ItemDataRole.SizeHintRole:
            return ITEM_SIZE  # every item alike: captions are never cut to the first one's width
        if role == Qt.ItemDataRole.ForegroundRole and item.note:
            return QColor("#6a1b9a")
        if role == ItemRole:
            return item
        return None

    def _thumbnail(self, path: str) -> QPixmap:
        icon = self._thumbs.get(path)
        if icon is not None:
            self._thumbs.move_to_end(path)
            return icon
        if path in self._unreadable:
            return self._broken
        if path not in self._asked:
            self._asked.add(path)
            self.want_thumbnail(path)
        return self._placeholder

    def add_thumbnails(self, made: list) -> None:
        """(path, (width, height, RGB bytes) or None) pairs from the worker."""
        for path, thumb in made:
            if thumb is None:
                self._unreadable.add(path)
            else:
                self._thumbs[path] = _boxed(pixmap_from_rgb(*thumb))
                if len(self._thumbs) > CACHE_SIZE:
                    old, _ = self._thumbs.popitem(last=False)
                    self._asked.discard(old)
            for row in self._rows.get(path, ()):
                index = self.index(row)
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def has_thumbnail(self, path: str) -> bool:
        return path in self._thumbs or path in self._unreadable

    def forget_requests(self) -> None:
        """The worker was restarted: what was asked for and not made is asked for again."""
        self._asked &= set(self._thumbs)

    def pending(self) -> list[str]:
        return [p for p in self._asked if p not in self._thumbs and p not in self._unreadable]

    def rename(self, old: str, new: str, note: str) -> None:
        """A picture moved (or came back): it keeps its place and thumbnail under its new path."""
        if old in self._thumbs:
            self._thumbs[new] = self._thumbs.pop(old)
            self._asked.add(new)
        for row in self._rows.get(old, ()):
            self.items[row].path = new
            self.items[row].note = note
            index = self.index(row)
            self.dataChanged.emit(index, index)
        self._index_rows()

    def _index_rows(self) -> None:
        self._rows = {}
        for row, item in enumerate(self.items):
            self._rows.setdefault(item.path, []).append(row)


def _class_folder(path: str) -> str:
    """The class a picture of the dataset is in now: its folder's name (as core.data.edits sees it)."""
    return os.path.basename(os.path.dirname(path))


def _boxed(picture: QPixmap) -> QPixmap:
    """``picture`` centred on a clear THUMB x THUMB square: every thumbnail is as tall as the next,
    so the captions under wide and tall pictures line up."""
    if picture.width() == THUMB and picture.height() == THUMB:
        return picture
    box = QPixmap(THUMB, THUMB)
    box.fill(Qt.GlobalColor.transparent)
    painter = QPainter(box)
    painter.drawPixmap((THUMB - picture.width()) // 2, (THUMB - picture.height()) // 2, picture)
    painter.end()
    return box


def _square(colour: QColor) -> QPixmap:
    pix = QPixmap(THUMB, THUMB)
    pix.fill(colour)
    return pix


class FittedListView(QListView):
    """An icon list whose columns share its width: each grid cell widens (never below a picture and
    its caption) so that the columns fill the view, instead of a strip of up to a cell's width
    staying empty at the right."""

    def viewportEvent(self, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Resize:
            self.fit_columns()
        return super().viewportEvent(event)

    def fit_columns(self) -> None:
        least = ITEM_SIZE.width() + 8
        width = self.viewport().width()
        # A pixel to spare: a row exactly as wide as the view wraps its last picture.
        columns = max(1, (width - 1) // least)
        cell = QSize(max(least, (width - 1) // columns), ITEM_SIZE.height() + 8)
        if cell != self.gridSize():
            self.setGridSize(cell)


class Gallery(QWidget):
    """Thumbnails with captions, a sort order, and the actions a user takes on pictures.

    Signals carry the chosen paths: ``move_requested(paths, class_name)``,
    ``exclude_requested(paths)``, ``undo_requested()``; ``opened(item)`` on double-click.
    """

    move_requested = Signal(list, str)
    exclude_requested = Signal(list)
    undo_requested = Signal()
    opened = Signal(object)

    def __init__(self, jobs_: JobRunner, parent=None):
        super().__init__(parent)
        self.jobs = jobs_
        self.requests = ThumbnailRequests()
        self._start_pending = False
        self.model = GalleryModel(self._want_thumbnail, self)
        self.view = FittedListView()
        self.view.setModel(self.model)
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)   # layout without asking every item its size
        self.view.setIconSize(QSize(THUMB, THUMB))
        self.view.fit_columns()  # and again at each resize
        self.view.setWordWrap(True)
        self.view.setSpacing(0)  # the grid cells have room around each picture already (fit_columns)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._on_context_menu)
        self.view.activated.connect(self._on_double_clicked)  # a double-click, or Enter on the current picture
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())

        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.sort_box = QComboBox()
        self.sort_box.addItems(list(SORTS))
        self.sort_box.setToolTip("Most confident first: the wrong answers the model was surest of come first; "
                                 "they are the likeliest to be pictures in the wrong folder.")
        self.sort_box.currentTextChanged.connect(self.model.sort_by)

        self.move_button = QToolButton()
        self.move_button.setText("Move to")
        self.move_button.setToolTip("Move the selected pictures to another class folder (you are asked first).")
        self.move_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.move_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # reached with Tab; Space opens its menu
        self.move_menu = QMenu(self)
        self.move_menu.aboutToShow.connect(self._fill_move_menu)  # again: a move changes the pictures' class
        self.move_button.setMenu(self.move_menu)
        self.exclude_button = QPushButton("Exclude")
        self.exclude_button.setToolTip("Move the selected pictures into the _excluded folder beside the class "
                                       "folders: out of the dataset, for training and scores. Nothing is deleted.")
        self.exclude_button.clicked.connect(lambda: self._emit_for_selection(self.exclude_requested.emit))
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Put back the pictures of the last move or exclusion.")
        self.undo_button.clicked.connect(self.undo_requested)
        self.locate_button = QPushButton("Open file location")
        self.locate_button.clicked.connect(self.open_location)

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(QLabel("Order:"))
        top.addWidget(self.sort_box)
        actions = QHBoxLayout()
        for button in (self.move_button, self.exclude_button, self.undo_button, self.locate_button):
            actions.addWidget(button)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addLayout(actions)
        self.class_names: list[str] = []
        self.can_undo = False
        self.editable = True
        self._update_buttons()

    # ----- contents -------------------------------------------------------------------------
    def show_items(self, items: list[GalleryItem], title: str, class_names: list[str]) -> None:
        """Show ``items`` (any order: the chosen sort applies) under ``title`` (HTML)."""
        self.requests.clear()
        self.title.setText(title)
        self.class_names = list(class_names)
        self.model.set_items(items)
        self.view.scrollToTop()
        self._update_buttons()

    def set_can_undo(self, can_undo: bool) -> None:
        self.can_undo = can_undo
        self._update_buttons()

    def set_editable(self, editable: bool) -> None:
        """Whether pictures may be moved now (not while a training reads them, nor while a move runs)."""
        self.editable = editable
        self._update_buttons()

    def selected_items(self) -> list[GalleryItem]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        return [self.model.item(r) for r in rows]

    def select_rows(self, rows: list[int]) -> None:
        selection = self.view.selectionModel()
        selection.clearSelection()
        for row in rows:
            selection.select(self.model.index(row), selection.SelectionFlag.Select)

    # ----- thumbnails ----------------------------------------------------------------------
    def _want_thumbnail(self, path: str) -> None:
        """Called while the list paints: the worker is started after the paint, not inside it."""
        self.requests.put(path)
        if not self._start_pending and not self.jobs.busy("gallery-thumbnails"):
            self._start_pending = True
            QTimer.singleShot(0, self._start_thumbnails)

    def _start_thumbnails(self) -> None:
        self._start_pending = False
        if not self.jobs.busy("gallery-thumbnails"):
            self.jobs.start("gallery-thumbnails", jobs.make_thumbnails, self.requests, THUMB,
                            yielded=self.model.add_thumbnails, finished=self._on_thumbnails_finished)

    def _on_thumbnails_finished(self) -> None:
        # It only ends when stopped (or failed): what it had not made yet is asked for again when painted.
        self.model.forget_requests()
        self.requests.clear()

    # ----- actions ---------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        selected = bool(self.view.selectionModel().selectedIndexes())
        targets = self._fill_move_menu()
        self.move_button.setEnabled(selected and self.editable and bool(targets))
        self.exclude_button.setEnabled(selected and self.editable)
        self.undo_button.setEnabled(self.can_undo and self.editable)
        self.locate_button.setEnabled(selected)

    def _fill_move_menu(self) -> list[str]:
        self.move_menu.clear()
        targets = self._move_targets()
        for name in targets:
            action = self.move_menu.addAction(name)
            action.triggered.connect(lambda _=False, n=name: self._emit_move(n))
        return targets

    def _move_targets(self) -> list[str]:
        """The classes the selected pictures can move to: not the one they are all in already."""
        current = {_class_folder(item.path) for item in self.selected_items()}
        return [name for name in self.class_names if current != {name}]

    def _emit_move(self, class_name: str) -> None:
        """Move the selected pictures to ``class_name``, but for those already in it."""
        paths = [item.path for item in self.selected_items() if _class_folder(item.path) != class_name]
        if paths:
            self.move_requested.emit(paths, class_name)

    def _emit_for_selection(self, emit: Callable[[list], None]) -> None:
        paths = [item.path for item in self.selected_items()]
        if paths:
            emit(paths)

    @Slot()
    def open_location(self) -> None:
        items = self.selected_items()
        if items:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(items[0].path)))

    def _on_context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        if index.isValid() and not self.view.selectionModel().isSelected(index):
            self.select_rows([index.row()])
        if not self.selected_items():
            return
        menu = QMenu(self)
        move = menu.addMenu("Move to")
        move.setEnabled(self.editable)
        for name in self._move_targets():
            move.addAction(name, lambda n=name: self._emit_move(n))
        exclude = menu.addAction("Exclude from the dataset",
                                 lambda: self._emit_for_selection(self.exclude_requested.emit))
        exclude.setEnabled(self.editable)
        undo = menu.addAction("Undo last move", self.undo_requested.emit)
        undo.setEnabled(self.can_undo and self.editable)
        menu.addSeparator()
        menu.addAction("Open large", lambda: self.opened.emit(self.selected_items()[0]))
        menu.addAction("Open file location", self.open_location)
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def _on_double_clicked(self, index) -> None:
        if index.isValid():
            self.opened.emit(self.model.item(index.row()))


class PictureDialog(QDialog):
    """One picture large, with its caption and (when a model is open) where the model looked.

    ``picture`` and ``heatmap`` come from workers: the dialog starts them through ``jobs_``.
    """

    def __init__(self, item: GalleryItem, jobs_: JobRunner, classifier=None, parent=None,
                 explain_method: str = jobs.EXPLAIN_METHODS[0]):
        super().__init__(parent)
        self.item = item
        self.jobs = jobs_
        self.classifier = classifier
        self.setWindowTitle(os.path.basename(item.path))
        self.picture = QLabel("Loading…")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(PICTURE_SIDE, PICTURE_SIDE)
        self.caption = QLabel(f"<b>{_escape(item.caption)}</b><br>{_escape(item.tooltip).replace(chr(10), '<br>')}"
                              + (f"<br><i>{_escape(item.note)}</i>" if item.note else ""))
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.heatmap_box = QCheckBox("Show where it looked")
        self.heatmap_box.setEnabled(self.can_explain())
        if not self.heatmap_box.isEnabled():
            self.heatmap_box.setToolTip("Needs a model: open or train one first.")
        self.heatmap_box.toggled.connect(self._on_heatmap_toggled)
        self.explain_method = explain_method_box(explain_method)
        self.explain_method.setEnabled(self.heatmap_box.isEnabled())
        self.explain_method.currentIndexChanged.connect(lambda _index: self._on_heatmap_toggled(
            self.heatmap_box.isChecked()))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.caption)
        self.heat_note = QLabel()
        self.heat_note.setWordWrap(True)
        self.heat_note.setVisible(False)
        heat_row = QHBoxLayout()
        heat_row.addWidget(self.heatmap_box)
        heat_row.addWidget(self.explain_method)
        heat_row.addStretch(1)
        layout.addLayout(heat_row)
        layout.addWidget(self.heat_note)
        layout.addWidget(buttons)
        self._plain: QPixmap | None = None
        self._heat: dict[str, QPixmap] = {}  # by way of working it out (core.app.jobs.EXPLAIN_METHODS)
        self._notes: dict[str, str] = {}     # what its red means, by the same
        # Job kinds of this dialog's own: the runner keeps only the newest job of a kind, so with
        # shared kinds a second open dialog would drop the first one's load ("Loading…" for ever).
        self._picture_kind = f"gallery-picture-{id(self)}"
        self._heatmap_kind = f"gallery-heatmap-{id(self)}"
        self.jobs.start(self._picture_kind, jobs.picture_preview, item.path, jobs.PREVIEW_SIZE,
                        returned=self._on_picture, errored=lambda m: self.picture.setText(m))

    def can_explain(self) -> bool:
        """A heatmap (core.app.jobs.explain) needs a model."""
        return self.classifier is not None

    def _on_picture(self, thumb) -> None:
        if thumb is None:
            self.picture.setText("This picture cannot be read (was it moved or deleted?).")
            return
        self._plain = pixmap_from_rgb(*thumb)
        heat = self._heat.get(self.explain_method.currentData()) if self.heatmap_box.isChecked() else None
        self._show(heat if heat is not None else self._plain)

    def _on_heatmap_toggled(self, on: bool) -> None:
        method = self.explain_method.currentData()
        self.heat_note.setVisible(False)
        if not on or method not in self._heat:
            if self._plain is not None:
                self._show(self._plain)
        if not on:
            self.jobs.stop(self._heatmap_kind)
            return
        if method in self._heat:
            self._show(self._heat[method])
            self._note(self._notes[method])
            return
        names = list(self.classifier.class_names)
        index = names.index(self.item.predicted) if self.item.predicted in names else None
        self._note("Working out where it looked…")
        self.jobs.start(self._heatmap_kind, jobs.explain, self.classifier, self.item.path, index, method,
                        returned=self._on_heatmap, errored=self._on_heatmap_error)

    def _on_heatmap(self, result) -> None:
        method = result["method"]
        self._heat[method] = pixmap_from_rgb(*result["overlay_rgb"])
        self._notes[method] = heat_sentence(result["class_name"], method, result["found"])
        if self.heatmap_box.isChecked() and method == self.explain_method.currentData():
            self._show(self._heat[method])
            self._note(self._notes[method])

    def _on_heatmap_error(self, message: str) -> None:
        """No heat this way (Grad-CAM and a model without convolutions): say so under the picture,
        which stays as it is; choosing the other way tries that at once."""
        self._note(message, error=True)

    def _note(self, text: str, error: bool = False) -> None:
        self.heat_note.setStyleSheet("color:#c62828;" if error else "color:#616161;")
        self.heat_note.setText(text)
        self.heat_note.setVisible(True)

    def done(self, result: int) -> None:
        self.jobs.stop(self._heatmap_kind)  # nobody will see it: free the cores
        super().done(result)

    def _show(self, pix: QPixmap) -> None:
        side = max(PICTURE_SIDE, min(self.picture.width(), self.picture.height()) - 8)
        self.picture.setPixmap(pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))


def _escape(text: str) -> str:
    import html

    return html.escape(text or "")
