"""Qt fixtures. GUI tests run offscreen: set before a QApplication exists."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

import catdog_desktop.ui  # noqa: E402,F401  - its PySide6 6.12 guard must be in place for every Qt test


@pytest.fixture(autouse=True)
def dialogs(monkeypatch):
    """Modal message boxes would hang an offscreen test: record them and answer "Discard" (or
    "Yes" where Discard is not offered: "A training is running. Stop it and quit?")."""
    from PySide6.QtWidgets import QMessageBox

    shown = []
    Button = QMessageBox.StandardButton

    def fake(kind, answer):
        def show(parent, title, text, buttons=None, *args, **kwargs):
            shown.append((kind, title, text))
            if answer == Button.Discard and buttons is not None and not (buttons & Button.Discard):
                return Button.Yes
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
    win.session.discard_unsaved()  # no "save before quitting?" question in tests
    win.close()
    assert win.workers.threads() == []  # every worker thread ended and was released


@pytest.fixture
def window_with_model(qtbot, window, trained):
    _, _, model_path = trained
    window.load_model(str(model_path))
    qtbot.waitUntil(lambda: window.session.classifier is not None, timeout=60_000)
    return window
