"""The Inbox tab's view: a folder of unlabelled pictures, the picture to label next with the
model's suggestion and why it was chosen, one key (or click) per label, the pictures that come
next, and how often the model is right as the labels grow. It only shows and asks: the flow
(:mod:`.labelling`) holds the inbox session and runs the work.

Keys, while the tab has the focus: 1–9 a class, Enter the suggestion, S skip, N a new class,
Backspace undo. The percentage box keeps its own typing (digits, Backspace, Enter), and Enter on
"Next up" brings that picture forward.
"""

from __future__ import annotations

import os
from html import escape

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractSpinBox, QApplication, QCheckBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QProgressBar,
    QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from ..core.safe_text import plain_label
from .common import pixmap_from_rgb

#: The picture to label is shown at most this large (it fits a 1024×600 screen with the buttons).
PICTURE_SIDE = 300
#: Pictures listed under "Next up".
NEXT_UP = 12
#: Class keys: 1–9.
CLASS_KEYS = 9
PathRole = Qt.ItemDataRole.UserRole + 1


class InboxPanel(QWidget):
    """See the module docstring. Signals say what the user asked for; the flow decides."""

    choose_inbox = Signal()
    choose_dataset = Signal()
    open_requested = Signal()
    class_chosen = Signal(str)          # a class name (a key 1–9 or its button)
    accept_requested = Signal()         # Enter: the suggestion
    skip_requested = Signal()
    new_class_requested = Signal()
    undo_requested = Signal()
    accept_all_requested = Signal(float)  # at least this sure (0-1)
    retrain_requested = Signal()
    save_model_requested = Signal()
    picture_picked = Signal(str)        # a picture of "Next up" clicked: label it next

    def __init__(self, parent=None):
        super().__init__(parent)
        self.class_names: list[str] = []
        self._class_buttons: list[QPushButton] = []
        self.chart = None

        # --- where from, where to ---
        self.inbox_edit = QLineEdit()
        self.inbox_edit.setReadOnly(True)
        self.inbox_edit.setPlaceholderText("a folder of pictures nobody has sorted yet (any depth)")
        self.dataset_edit = QLineEdit()
        self.dataset_edit.setReadOnly(True)
        self.dataset_edit.setPlaceholderText("the dataset folder: one sub-folder per class (may be empty)")
        inbox_button = QPushButton("Choose…", clicked=lambda: self.choose_inbox.emit())
        dataset_button = QPushButton("Choose…", clicked=lambda: self.choose_dataset.emit())
        self.use_model_box = QCheckBox("Suggest with the model in use")
        self.use_model_box.setToolTip("Without it, a classifier learns from the pictures labelled so far (a "
                                      "second each time), starting from nothing.")
        self.open_button = QPushButton("Open inbox", clicked=lambda: self.open_requested.emit())
        self.open_button.setDefault(True)
        folders = QGridLayout()
        folders.addWidget(QLabel("Unlabelled pictures:"), 0, 0)
        folders.addWidget(self.inbox_edit, 0, 1)
        folders.addWidget(inbox_button, 0, 2)
        folders.addWidget(QLabel("Labelled go to:"), 1, 0)
        folders.addWidget(self.dataset_edit, 1, 1)
        folders.addWidget(dataset_button, 1, 2)
        open_row = QHBoxLayout()
        open_row.addWidget(self.use_model_box)
        open_row.addStretch(1)
        open_row.addWidget(self.open_button)
        folders.addLayout(open_row, 2, 1, 1, 2)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.message = QLabel("Choose a folder of unlabelled pictures and the dataset their labels go to, then "
                              "open the inbox: the model shows the pictures it most needs you to label.")
        self.message.setWordWrap(True)
        self.counts = QLabel()
        self.counts.setWordWrap(True)

        # --- the picture to label ---
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(PICTURE_SIDE, PICTURE_SIDE - 60)
        self.picture.setStyleSheet("background: #f4f4f4; border-radius: 4px;")
        self.name = QLabel()
        self.name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.suggestion = QLabel()
        self.suggestion.setTextFormat(Qt.TextFormat.RichText)
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet("color: #555;")
        self.class_row = QHBoxLayout()
        self.new_class_button = QPushButton("N · New class…", clicked=lambda: self.new_class_requested.emit())
        self.new_class_button.setToolTip("Label the picture with a class the dataset does not have yet (N).")
        self.accept_button = QPushButton("Enter · Accept", clicked=lambda: self.accept_requested.emit())
        self.skip_button = QPushButton("S · Skip", clicked=lambda: self.skip_requested.emit())
        self.skip_button.setToolTip("Leave it in the inbox; it comes up again after the others (S).")
        self.undo_button = QPushButton("⌫ · Undo", clicked=lambda: self.undo_requested.emit())
        self.undo_button.setToolTip("Put the last labelled picture (or the last “accept all”) back in the "
                                    "inbox (Backspace).")
        actions = QHBoxLayout()
        for button in (self.accept_button, self.skip_button, self.undo_button):
            actions.addWidget(button)
        actions.addStretch(1)
        label_box = QGroupBox("Label this picture")
        left = QVBoxLayout(label_box)
        left.addWidget(self.picture, 1)
        left.addWidget(self.name)
        left.addWidget(self.suggestion)
        left.addWidget(self.reason)
        left.addLayout(self.class_row)
        left.addLayout(actions)

        # --- what comes next, and how the model is doing ---
        self.next_up = QListWidget()
        self.next_up.setIconSize(QSize(48, 48))
        self.next_up.setMinimumWidth(260)
        self.next_up.setWordWrap(True)
        self.next_up.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.next_up.setToolTip("The pictures that come next, in order. Click one to label it now.")
        self.next_up.itemActivated.connect(lambda item: self.picture_picked.emit(item.data(PathRole)))
        self.next_up.itemClicked.connect(lambda item: self.picture_picked.emit(item.data(PathRole)))
        self.chart_holder = QVBoxLayout()
        self.chart_placeholder = QLabel("The chart appears once the app has started.")
        self.chart_holder.addWidget(self.chart_placeholder)
        right = QVBoxLayout()
        right.addWidget(QLabel("Next up:"))
        right.addWidget(self.next_up, 1)
        right.addLayout(self.chart_holder)
        middle = QHBoxLayout()
        middle.addWidget(label_box, 3)
        middle.addLayout(right, 2)

        # --- the easy bulk, and the model ---
        self.accept_above = QSpinBox()
        self.accept_above.setRange(50, 100)
        self.accept_above.setValue(95)
        self.accept_above.setSuffix(" %")
        self.accept_all_button = QPushButton("Accept all this sure…", clicked=lambda: self.accept_all_requested.emit(
            self.accept_above.value() / 100))
        self.accept_all_button.setToolTip("Label every picture whose suggestion is at least this sure with it: "
                                          "you see how many first, and one Undo takes them all back.")
        self.retrain_button = QPushButton("Learn from the labels now", clicked=lambda: self.retrain_requested.emit())
        self.retrain_button.setToolTip("The model learns from every few labels by itself; this does it now.")
        self.save_model_button = QPushButton("Save as a model…", clicked=lambda: self.save_model_requested.emit())
        self.save_model_button.setToolTip("Save the model as it is now (the classes of the dataset's folders) to "
                                          "use it on the Classify tab or elsewhere.")
        bulk = QHBoxLayout()
        bulk.addWidget(QLabel("Suggestions at least"))
        bulk.addWidget(self.accept_above)
        bulk.addWidget(self.accept_all_button)
        bulk.addStretch(1)
        bulk.addWidget(self.retrain_button)
        bulk.addWidget(self.save_model_button)

        layout = QVBoxLayout(self)
        layout.addLayout(folders)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.counts)
        layout.addLayout(middle, 1)
        layout.addLayout(bulk)

        self._keys()
        self.show_picture_to_label(None)
        self.set_open(False)

    def _keys(self) -> None:
        def key(sequence, slot) -> None:
            shortcut = QShortcut(QKeySequence(sequence), self, slot)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.shortcuts.append(shortcut)

        self.shortcuts: list[QShortcut] = []
        for k in range(1, CLASS_KEYS + 1):
            key(str(k), lambda k=k: self._class_key(k - 1))
        for sequence in ("Return", "Enter"):
            key(sequence, self._enter)
        key("S", lambda: self._if_enabled(self.skip_button))
        key("N", lambda: self._if_enabled(self.new_class_button))
        key("Backspace", lambda: self._if_enabled(self.undo_button))

    def _enter(self) -> None:
        """Enter accepts the suggestion, except where it means something else: on "Next up" it brings
        the picture forward, in the percentage box (or any text field) it does nothing here."""
        focus = QApplication.focusWidget()
        if focus is self.next_up:
            item = self.next_up.currentItem()
            if item is not None:
                self.picture_picked.emit(item.data(PathRole))
        elif not isinstance(focus, (QAbstractSpinBox, QLineEdit)):
            self._if_enabled(self.accept_button)

    def _class_key(self, index: int) -> None:
        if index < len(self._class_buttons):
            self._if_enabled(self._class_buttons[index])

    @staticmethod
    def _if_enabled(button: QPushButton) -> None:
        if button.isEnabled() and button.isVisible():
            button.click()

    def install_charts(self) -> None:
        from .chart import LabelsChart

        if self.chart is not None:
            return
        self.chart = LabelsChart(self)
        self.chart_holder.replaceWidget(self.chart_placeholder, self.chart)
        self.chart_placeholder.deleteLater()

    # ----- what the flow shows -------------------------------------------------------------
    def set_folders(self, inbox: str, dataset: str) -> None:
        self.inbox_edit.setText(inbox)
        self.dataset_edit.setText(dataset)

    def set_model_available(self, name: str | None) -> None:
        """The model in use (None: none, or one without features, e.g. an exported file)."""
        self.use_model_box.setEnabled(name is not None)
        self.use_model_box.setText(f"Suggest with the model in use ({name})" if name else
                                   "Suggest with the model in use (none open)")
        if name is None:
            self.use_model_box.setChecked(False)

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b00020;" if error else "")

    def show_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setVisible(True)
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{text}: %v of %m" if text else "%v of %m")

    def hide_progress(self) -> None:
        self.progress.setVisible(False)

    def set_open(self, is_open: bool, busy: bool = False) -> None:
        """``is_open``: an inbox is open (labelling possible); ``busy``: a job that moves pictures runs."""
        can_label = is_open and not busy
        for button in (*self._class_buttons, self.new_class_button, self.skip_button):
            button.setEnabled(can_label and bool(self.name.text()))
        self.accept_button.setEnabled(can_label and self._suggested is not None)
        self.undo_button.setEnabled(can_label)
        self.accept_all_button.setEnabled(can_label)
        self.accept_above.setEnabled(can_label)
        self.retrain_button.setEnabled(can_label)
        self.save_model_button.setEnabled(can_label)
        self.open_button.setEnabled(not busy)

    def set_classes(self, names: list[str]) -> None:
        """One button per class, keys 1–9 for the first nine."""
        if names == self.class_names:
            return
        self.class_names = list(names)
        for button in self._class_buttons:
            self.class_row.removeWidget(button)
            button.deleteLater()
        self.class_row.removeWidget(self.new_class_button)
        self._class_buttons = []
        for k, name in enumerate(names):
            label = plain_label(name)
            button = QPushButton(f"{k + 1} · {label}" if k < CLASS_KEYS else label)
            button.setToolTip(f"Label it {label}" + (f" (key {k + 1})." if k < CLASS_KEYS else "."))
            button.clicked.connect(lambda _=False, n=name: self.class_chosen.emit(n))
            self.class_row.addWidget(button)
            self._class_buttons.append(button)
        self.class_row.addWidget(self.new_class_button)

    _suggested: str | None = None

    def show_picture_to_label(self, suggestion) -> None:
        """The picture to label now (a core.label.choose.Suggestion), or None when none is left."""
        self._suggested = suggestion.suggestion if suggestion is not None else None
        if suggestion is None:
            self.picture.clear()
            self.picture.setText("No picture to label.")
            self.name.setText("")
            self.suggestion.setText("")
            self.reason.setText("")
            self.accept_button.setText("Enter · Accept")
            return
        self.picture.setText("Loading…")
        self.name.setText(f"#{suggestion.rank} · {os.path.basename(suggestion.path)}")
        self.name.setToolTip(suggestion.path)
        if suggestion.suggestion is not None:
            sure = f" ({suggestion.probability:.0%})" if suggestion.probability is not None else ""
            odd = " — but it looks like none of the classes" if suggestion.unfamiliar else ""
            self.suggestion.setText(f"Suggested: <b>{escape(suggestion.suggestion)}</b>{sure}{escape(odd)}")
            self.accept_button.setText(f"Enter · Accept “{plain_label(suggestion.suggestion)}”")
        else:
            self.suggestion.setText("No suggestion yet: label a few pictures of each class first.")
            self.accept_button.setText("Enter · Accept")
        self.reason.setText(f"Why now: {suggestion.reason}.")

    def show_picture(self, path: str, thumb) -> None:
        """The picture to label's pixels, (width, height, RGB bytes) or None when it cannot be read."""
        if thumb is None:
            self.picture.setText("This picture cannot be read (was it moved or deleted?). Skip it (S).")
            return
        pix = pixmap_from_rgb(*thumb)
        side = max(self.picture.height(), PICTURE_SIDE - 60)
        self.picture.setPixmap(pix.scaled(QSize(max(self.picture.width(), PICTURE_SIDE), side),
                                          Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))

    def show_next_up(self, suggestions: list) -> None:
        """The pictures after the one shown (Suggestions), the first :data:`NEXT_UP`."""
        self.next_up.clear()
        for s in suggestions[:NEXT_UP]:
            # The reason names the model's class and how sure it is, when it has one.
            item = QListWidgetItem(f"{os.path.basename(s.path)}\n{s.reason}")
            item.setData(PathRole, s.path)
            item.setToolTip(f"{s.path}\nWhy: {s.reason}")
            self.next_up.addItem(item)

    def set_thumbnail(self, path: str, thumb) -> None:
        if thumb is None:
            return
        for row in range(self.next_up.count()):
            item = self.next_up.item(row)
            if item.data(PathRole) == path:
                item.setIcon(QIcon(pixmap_from_rgb(*thumb)))

    def show_counts(self, text: str) -> None:
        self.counts.setText(text)
