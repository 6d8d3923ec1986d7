"""What a user does in the app, as test steps: drops, folder picks, fast settings."""

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog


def tiny_settings(panel, epochs=2):
    """Fast settings for the generated dataset: the small CNN from scratch, ``epochs`` epochs."""
    panel.backbone_box.setCurrentIndex(panel.backbone_box.findData("none"))  # resets the other fields
    panel.epochs.setValue(epochs)
    panel.image_size.setCurrentIndex(panel.image_size.findData(32))
    panel.batch_size.setValue(16)


def drop_urls(target, paths):
    """Drag ``paths`` over ``target`` and drop them there, as a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(target.rect().center(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    target.dragEnterEvent(enter)
    assert enter.isAccepted()
    target.dropEvent(QDropEvent(QPointF(target.rect().center()), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))


def drop_files(panel, paths):
    """Drop ``paths`` on the Classify tab's drop zone."""
    drop_urls(panel.zone, paths)


def choose_folder(qtbot, window, monkeypatch, folder):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    qtbot.mouseClick(window.dataset_panel.choose_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.session.scan is not None and window.session.scan.root == str(folder), timeout=30_000)
