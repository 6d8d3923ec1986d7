import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog


@pytest.fixture(autouse=True)
def dialogs(monkeypatch):
    """Modal message boxes would hang an offscreen test: record them and answer "Discard"."""
    from PySide6.QtWidgets import QMessageBox

    shown = []

    def fake(kind, answer):
        def show(parent, title, text, *args, **kwargs):
            shown.append((kind, title, text))
            return answer
        return show

    monkeypatch.setattr(QMessageBox, "question", fake("question", QMessageBox.StandardButton.Discard))
    monkeypatch.setattr(QMessageBox, "warning", fake("warning", QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "about", fake("about", None))
    return shown


@pytest.fixture
def settings(tmp_path):
    """A private settings file, so tests never touch the user's settings."""
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    from catdog_desktop.ui.main_window import MainWindow

    win = MainWindow(settings, default_model=None)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.tf_ready, timeout=120_000)
    yield win
    win.model_unsaved = False  # no "save before quitting?" question in tests
    win.close()
    assert win.pool.threads() == []  # every worker thread ended and was released


def tiny_settings(panel, epochs=2):
    """Fast settings for the generated dataset."""
    panel.epochs.setValue(epochs)
    panel.image_size.setCurrentIndex(panel.image_size.findData(32))
    panel.batch_size.setValue(16)


@pytest.fixture
def window_with_model(qtbot, window, trained):
    _, _, model_path = trained
    window.load_model(str(model_path))
    qtbot.waitUntil(lambda: window.classifier is not None, timeout=60_000)
    return window


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
    qtbot.waitUntil(lambda: window.scan is not None and window.scan.root == str(folder), timeout=30_000)
