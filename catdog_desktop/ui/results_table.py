"""The Classify tab's table of many results: a model over the predictions (core.classify.classifier.Prediction),
sorted and filtered by a QSortFilterProxyModel, shown in a QTableView.

It stays quick with 20,000 rows: rows arrive in chunks; the model sorts itself with Python's
``sorted`` over one key per row (numbers as numbers) instead of letting the proxy compare rows
through ``data()``, which took 4 s for 20,000 rows; every row has the same height (nothing
measures all rows); and thumbnails are only made for the rows that are painted: the model asks for
them (``thumbnails_wanted``), a worker makes them, and at most :data:`THUMB_CACHE` are kept.
"""

from __future__ import annotations

import os
from collections import OrderedDict

from PySide6.QtCore import (
    QAbstractTableModel, QModelIndex, QRegularExpression, QSortFilterProxyModel, Qt, QTimer, Signal,
)
from PySide6.QtGui import QBrush, QColor, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView

from ..core.app.jobs import ROW_THUMB_SIZE
from .common import pixmap_from_rgb

FILTER_ROLE = Qt.ItemDataRole.UserRole + 2
#: Filter keys of rows that have no class of their own (never a folder name: they start with NUL).
NOT_SURE, NONE_OF_THESE, UNREADABLE = "\0not sure", "\0none of these", "\0unreadable"
#: Thumbnails kept (about 9 kB each): several screens of rows.
THUMB_CACHE = 1500
THUMB, FILE, CLASS, CONFIDENCE = range(4)
#: The Class column of an unreadable file: short, so it fits; the reason has a column of its own (the last).
UNREADABLE_TEXT = "✖ Unreadable"
_RED, _AMBER = QColor("#c62828"), QColor("#a86400")


def filter_key(prediction) -> str:
    """What the class filter matches a prediction by: its class, NOT_SURE, NONE_OF_THESE or UNREADABLE."""
    p = prediction
    return UNREADABLE if not p.ok else NONE_OF_THESE if p.unfamiliar else NOT_SURE if p.uncertain else p.class_name


def answer_text(prediction) -> str:
    """A readable prediction's answer in a few words: the class, "Not sure (cats?)" or "None of these
    (cats?)", and why when the picture itself gives no reason to believe any answer."""
    return prediction.answer(f"None of these ({prediction.class_name}?)", f"Not sure ({prediction.class_name}?)")


class ResultsModel(QAbstractTableModel):
    """Predictions in the order they were classified. "Not sure" and "none of these" are the
    predictions' own flags (set by the Classifier from its threshold; the panel re-marks them when
    the user changes it, then calls :meth:`refresh`)."""

    thumbnails_wanted = Signal(list)   # paths whose thumbnails the view wants

    def __init__(self, parent=None):
        super().__init__(parent)
        self.class_names: list[str] = []
        #: Predictions in the order they were classified (CSV and sorting into folders use this order).
        self.rows: list = []
        self._order: list[int] = []     # table row -> index in self.rows
        self._position: list[int] = []  # index in self.rows -> table row
        self._sorted_by: tuple[int, Qt.SortOrder] | None = None
        self._thumbs: OrderedDict[str, QPixmap | None] = OrderedDict()
        self._asked: dict[str, None] = {}
        self._rows_of: dict[str, list[int]] = {}
        self._ask_timer = QTimer(self, singleShot=True, interval=30)
        self._ask_timer.timeout.connect(self._ask)

    # ----- filling ---------------------------------------------------------------------------
    def reset(self, class_names: list[str]) -> None:
        self.beginResetModel()
        self.class_names = list(class_names)
        self.rows = []
        self._order, self._position = [], []
        self._sorted_by = None
        self._rows_of = {}
        self._asked.clear()
        self.endResetModel()

    def append(self, predictions: list) -> None:
        if not predictions:
            return
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(predictions) - 1)
        for i, p in enumerate(predictions, first):
            self.rows.append(p)
            self._order.append(i)
            self._position.append(i)
            if p.path:
                self._rows_of.setdefault(p.path, []).append(i)
        self.endInsertRows()
        if self._sorted_by is not None:
            self.sort(*self._sorted_by)  # new rows join their place (a sort of 20,000 keys: ~20 ms)

    def prediction(self, row: int):
        """The prediction shown in table row ``row`` (of this model, not the proxy)."""
        return self.rows[self._order[row]]

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        if column < 0:
            return
        self.layoutAboutToBeChanged.emit()
        old_indexes = self.persistentIndexList()
        old_rows = [self._order[i.row()] for i in old_indexes]
        keys = [self._sort_key(p, column) for p in self.rows]
        # Unreadable files stay last whichever way, and ties keep the classified order.
        ok = [i for i in range(len(self.rows)) if self.rows[i].ok]
        ok.sort(key=keys.__getitem__, reverse=order == Qt.SortOrder.DescendingOrder)
        self._order = ok + [i for i in range(len(self.rows)) if not self.rows[i].ok]
        self._position = [0] * len(self._order)
        for row, i in enumerate(self._order):
            self._position[i] = row
        self._sorted_by = (column, order)
        self.changePersistentIndexList(old_indexes, [self.index(self._position[r], i.column())
                                                     for r, i in zip(old_rows, old_indexes)])
        self.layoutChanged.emit()

    def refresh(self) -> None:
        """The predictions' flags changed (a new threshold): show them again, in the sorted order."""
        if self.rows:
            self.dataChanged.emit(self.index(0, CLASS), self.index(len(self.rows) - 1, CLASS))
            if self._sorted_by is not None and self._sorted_by[0] == CLASS:
                self.sort(*self._sorted_by)

    def replace_paths(self, moved: dict[str, str]) -> None:
        """Files moved by a sort (or moved back by its undo): rows follow them."""
        import dataclasses

        for old, new in moved.items():
            for i in self._rows_of.pop(old, []):
                self.rows[i] = dataclasses.replace(self.rows[i], path=new)
                self._rows_of.setdefault(new, []).append(i)
            if old in self._thumbs:
                self._thumbs[new] = self._thumbs.pop(old)
        if moved and self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, self.columnCount() - 1))

    def set_thumbnail(self, path: str, thumb) -> None:
        self._asked.pop(path, None)
        self._thumbs[path] = pixmap_from_rgb(*thumb) if thumb is not None else None
        while len(self._thumbs) > THUMB_CACHE:
            self._thumbs.popitem(last=False)
        for i in self._rows_of.get(path, []):
            index = self.index(self._position[i], THUMB)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    # ----- Qt model -------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else 5 + len(self.class_names)

    def reason_column(self) -> int:
        """The last column: why a file could not be read, in full (the Class column only says that it could not)."""
        return 4 + len(self.class_names)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        if section < 4:
            return ("", "File", "Class", "Confidence")[section]
        if section == self.reason_column():
            return "Why unreadable"
        return self.class_names[section - 4]

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        p, col = self.rows[self._order[index.row()]], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(p, col)
        if role == FILTER_ROLE:
            return filter_key(p)
        if role == Qt.ItemDataRole.DecorationRole and col == THUMB and p.ok and p.path:
            return self._thumbnail(p.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == FILE:
                return p.path
            if col in (CLASS, self.reason_column()) and not p.ok:
                return p.error
            if col == CLASS and p.doubt:
                return f"Not sure: {p.doubt}, so no answer can be trusted. Best guess: {p.class_name} ({p.probability:.1%})."
            if col == CLASS and p.unfamiliar:
                return f"Looks like none of the classes the model knows; if it must choose: {p.class_name}."
            if col == CLASS and p.uncertain:
                return f"Best guess: {p.class_name} ({p.probability:.1%}), under the confidence threshold."
        if role == Qt.ItemDataRole.ForegroundRole and col in (CLASS, self.reason_column()):
            if not p.ok:
                return QBrush(_RED)
            if p.uncertain or p.unfamiliar:
                return QBrush(_AMBER)
        if role == Qt.ItemDataRole.TextAlignmentRole and CONFIDENCE <= col < self.reason_column():
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _text(self, p, col: int):
        if col == FILE:
            return os.path.basename(p.path or "")
        if col == CLASS:
            return UNREADABLE_TEXT if not p.ok else answer_text(p)
        if col == self.reason_column():
            return p.error
        if not p.ok or col == THUMB:
            return None
        value = p.probability if col == CONFIDENCE else p.probabilities.get(self.class_names[col - 4], 0.0)
        return f"{value:.1%}"

    def _sort_key(self, p, col: int):
        if col == FILE:
            return os.path.basename(p.path or "").lower()
        if col == self.reason_column():
            return ""  # only unreadable files have one, and they sort apart
        if not p.ok:
            return 0.0  # sorted apart (last) anyway
        if col == CLASS:
            return (bool(p.unfamiliar), bool(p.uncertain), p.class_name.lower())
        if col == CONFIDENCE or col == THUMB:
            return p.probability
        return p.probabilities.get(self.class_names[col - 4], 0.0)

    def _thumbnail(self, path: str):
        if path in self._thumbs:
            self._thumbs.move_to_end(path)
            return self._thumbs[path]
        if path not in self._asked:
            self._asked[path] = None
            self._ask_timer.start()
        return None

    def _ask(self) -> None:
        # The newest requests first; older ones that scrolled away are dropped by the next job.
        wanted = [p for p in reversed(list(self._asked)) if p not in self._thumbs][:200]
        self._asked = dict.fromkeys(reversed(wanted))
        if wanted:
            self.thumbnails_wanted.emit(wanted)

    def forget_requests(self) -> None:
        """The thumbnail job ended without making these: they are asked for again when painted."""
        self._asked.clear()


class ResultsProxy(QSortFilterProxyModel):
    """Shows one class (or all); sorting is passed on to the ResultsModel, which does it quicker."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFilterRole(FILTER_ROLE)
        self.setFilterKeyColumn(CLASS)

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)

    def show_only(self, key: str | None) -> None:
        """Show the rows whose FILTER_ROLE is ``key`` (a class name, NOT_SURE, UNREADABLE), or all."""
        pattern = "" if key is None else "^" + QRegularExpression.escape(key) + "$"
        self.setFilterRegularExpression(QRegularExpression(pattern))


class ResultsView(QTableView):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.verticalHeader().setVisible(False)
        rows = self.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no row is ever measured
        rows.setDefaultSectionSize(ROW_THUMB_SIZE + 6)
        self.setIconSize(QPixmap(ROW_THUMB_SIZE, ROW_THUMB_SIZE).size())
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # as classified, until a click
        self.setSortingEnabled(True)
        self.setTabKeyNavigation(False)  # Tab moves on to the next control, not the next cell
        self.sort_menu = QMenu("Sort by", self)  # the keyboard's way to sort (a header needs a click)
        self.sort_menu.aboutToShow.connect(self._fill_sort_menu)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)  # the Menu key or a right-click
        self.customContextMenuRequested.connect(lambda pos: self.sort_menu.popup(self.viewport().mapToGlobal(pos)))

    def _fill_sort_menu(self) -> None:
        """An entry per column and way: "File, A to Z", "Confidence, highest first"…"""
        self.sort_menu.clear()
        model = self.model()
        for column in range(FILE, model.columnCount()):
            if self.isColumnHidden(column):
                continue
            name = model.headerData(column, Qt.Orientation.Horizontal)
            ways = ((", A to Z", Qt.SortOrder.AscendingOrder), (", Z to A", Qt.SortOrder.DescendingOrder))
            if column >= CONFIDENCE and column != model.columnCount() - 1:  # numbers: the highest first is wanted most
                ways = ((", highest first", Qt.SortOrder.DescendingOrder), (", lowest first", Qt.SortOrder.AscendingOrder))
            for words, order in ways:
                self.sort_menu.addAction(name + words, lambda c=column, o=order: self.sortByColumn(c, o))

    def size_columns(self, classes: int) -> None:
        """Fixed starting widths (measuring the contents would read every row); the file name stretches."""
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(FILE, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)
        self.setColumnWidth(THUMB, ROW_THUMB_SIZE + 12)
        self.setColumnWidth(CLASS, 170)
        self.setColumnWidth(CONFIDENCE, 95)
        for col in range(4, 4 + classes):
            self.setColumnWidth(col, 80)
        self.setColumnWidth(4 + classes, 300)
        self.show_reasons(False)

    def show_reasons(self, shown: bool) -> None:
        """The "Why unreadable" column (the last), shown once a file could not be read."""
        self.setColumnHidden(self.model().columnCount() - 1, not shown)
