""""Fast (int8) for large folders" on the Classify tab: remembered, and a folder classified with it
says which model ran and why."""

from catdog_desktop.core.app.session import Session
from catdog_desktop.ui.settings_store import QSettingsStore
from helpers import colour_classifier
from synthetic import write_class_folders
from ui_helpers import choose_folder, drop_files


def test_fast_is_remembered_and_a_folder_says_which_model_classified_it(qtbot, window, settings, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("CATDOG_DESKTOP_CACHE_DIR", str(tmp_path / "cache" / "features"))
    data = tmp_path / "colours"
    write_class_folders(data / "train", ["cats", "dogs"], 60, seed=1, size=32)
    write_class_folders(data / "test", ["cats", "dogs"], 60, seed=2, size=32)
    panel = window.classify_panel
    window.load_model(colour_classifier(tmp_path).path)  # it records no training folder:
    qtbot.waitUntil(lambda: window.session.classifier is not None, timeout=60_000)
    choose_folder(qtbot, window, monkeypatch, data)  # the dataset open in the app is used to check it

    panel.fast_box.setChecked(True)
    assert Session(QSettingsStore(settings)).fast_classify
    drop_files(panel, [data / "test"])
    qtbot.waitUntil(lambda: len(panel.results()) == 120 and not panel.progress.isVisible(), timeout=120_000)
    assert "120 pictures classified (cats: 60, dogs: 60). Fast int8 model in use: agrees with the full model " \
           "on 100.0 % of 120 held-out pictures." in panel.message.text()

    panel.fast_box.setChecked(False)
    assert not Session(QSettingsStore(settings)).fast_classify
    drop_files(panel, [data / "test" / "cats"])
    qtbot.waitUntil(lambda: len(panel.results()) == 60 and not panel.progress.isVisible(), timeout=60_000)
    assert "model in use" not in panel.message.text()
