"""Issue 17: what tripped up a first-time user, each as the behaviour now expected."""

import dataclasses
import shutil

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from catdog_desktop.core.training.events import BatchEvent, PhaseEvent
from synthetic import write_class_folders
from ui_helpers import choose_folder, drop_files, tiny_settings


def new_window(qtbot, settings, **kwargs):
    from catdog_desktop.ui.main_window import MainWindow

    win = MainWindow(settings, **{"default_model": None, **kwargs})
    qtbot.addWidget(win)
    win.show()
    return win


# 1. Results belong to the model that produced them.
def test_pictures_on_screen_are_classified_again_when_the_model_changes(qtbot, window_with_model, trained, tmp_path):
    scan, _, model_path = trained
    window = window_with_model
    panel = window.classify_panel
    drop_files(panel, scan.validation.paths[:3])
    qtbot.waitUntil(lambda: "3 pictures classified" in panel.message.text(), timeout=30_000)
    other = tmp_path / "other.keras"
    shutil.copy(model_path, other)
    window.load_model(str(other))
    qtbot.waitUntil(lambda: "Classified again with other.keras." in panel.message.text(), timeout=60_000)
    assert len(panel.results()) == 3 and "other.keras" in panel.model_label.text()


# 2. A training never silently replaces the model in use; the built-in model is always a click away.
def test_a_trained_model_is_offered_beside_the_one_in_use_and_the_built_in_one_comes_back(
        qtbot, settings, trained):
    _, result, model_path = trained
    window = new_window(qtbot, settings, default_model=str(model_path))  # stands in for the built-in model
    qtbot.waitUntil(lambda: window.session.classifier is not None, timeout=120_000)
    panel = window.training_panel
    window.training.on_done(result)  # a training just ended (on the same pictures as the built-in one)
    assert "built-in" in window.model_status.text() and "built-in" in window.classify_panel.model_label.text()
    assert not panel.choice_box.isHidden() and not panel.use_button.isHidden()
    assert "on the same pictures" in panel.choice_text.text()  # both scores, side by side
    panel.use_button.click()
    assert window.model_status.text() == "Model: trained just now (unsaved)"
    assert "trained just now" in window.classify_panel.model_label.text() and panel.use_button.isHidden()
    first_recent = window.recent_menu.actions()[0]
    assert first_recent.text().startswith("Built-in")
    window.builtin_action.trigger()  # File → Use built-in model
    qtbot.waitUntil(lambda: "built-in" in window.model_status.text(), timeout=60_000)
    assert not panel.use_button.isHidden()  # the trained one is still a click away
    window.session.discard_unsaved()
    window.close()


# 3. "Discard" sticks; quitting asks first when a training is running.
def test_a_discarded_model_is_not_asked_about_again_and_quitting_mid_training_asks_first(
        qtbot, settings, monkeypatch, trained, pets_dir, tmp_path, dialogs):
    _, result, _ = trained
    window = new_window(qtbot, settings)
    qtbot.waitUntil(lambda: window.tf_ready, timeout=120_000)
    window.session.set_trained_model(result)
    window.session.mark_saved(window.session.classifier, tmp_path / "in-use.keras")
    window.session.set_trained_model(dataclasses.replace(result))  # a second training, not saved, not in use
    choose_folder(qtbot, window, monkeypatch, pets_dir)
    tiny_settings(window.training_panel, epochs=200)
    qtbot.mouseClick(window.training_panel.train_button, Qt.MouseButton.LeftButton)
    assert [text for kind, _, text in dialogs] == [
        "The model you trained has not been saved. Save it before training a new one?"]  # answered Discard
    qtbot.waitUntil(lambda: window.training_panel.progress.format().startswith("Epoch"), timeout=120_000)

    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda parent, title, text, *a: asked.append(text) or QMessageBox.StandardButton.Cancel)
    window.close()
    assert asked == ["A training is running. Stop it and quit?"]
    assert window.isVisible() and window.is_training()  # Cancel: nothing stopped
    monkeypatch.setattr(QMessageBox, "question",
                        lambda parent, title, text, *a: asked.append(text) or QMessageBox.StandardButton.Yes)
    window.close()
    assert asked[1:] == ["A training is running. Stop it and quit?"]  # not asked about the discarded model again
    assert not window.isVisible() and window.workers.threads() == []


# 6. The progress bar covers the whole run, tells the time left from the first epoch, and "Stopping…".
def test_progress_covers_the_whole_run_and_says_stopping(qtbot, window):
    panel = window.training_panel
    tiny_settings(panel, epochs=10)
    panel.time_limit.setValue(0)  # no limit: the epoch count is exact
    panel.set_dataset_ready(True, "Dataset: pets — 2 classes. Press Train.")
    panel.training_started(panel.config())
    assert panel.hint.isHidden()
    panel.on_batch(BatchEvent(epoch=2, epochs=10, batch=4, batches=10, loss=0.5, accuracy=0.8,
                              images_per_second=50, elapsed=19, epoch_eta=6))
    panel.on_batch(BatchEvent(epoch=2, epochs=10, batch=5, batches=10, loss=0.5, accuracy=0.8,
                              images_per_second=50, elapsed=20, epoch_eta=5))  # a pace measured: the time left
    assert (panel.progress.value(), panel.progress.maximum()) == (15, 100)
    assert panel.progress.format().startswith("Epoch 2 of 10") and "left in all" in panel.status.text()
    panel.request_stop()
    assert panel.progress.format() == "Stopping…"
    panel.on_batch(BatchEvent(epoch=2, epochs=10, batch=6, batches=10, loss=0.5, accuracy=0.8,
                              images_per_second=50, elapsed=21, epoch_eta=4))
    assert panel.progress.format() == "Stopping…"
    panel.training_finished()
    assert not panel.hint.isHidden()
    # A pretrained training's stages share one bar: the classifier starts where the features ended.
    panel.training_started(panel.config())
    panel.on_stage(PhaseEvent(200, 200, "Computing features", "features"))
    features_end = panel.progress.value()
    panel.on_batch(BatchEvent(epoch=1, epochs=30, batch=1, batches=10, loss=0.5, accuracy=0.8,
                              images_per_second=500, elapsed=20, epoch_eta=1, phase="classifier"))
    assert panel.progress.maximum() == 1000 and panel.progress.value() >= features_end > 500
    assert panel.progress.format().startswith("Training the classifier: epoch 1 of 30")


# 7. The last dataset and pictures folder come back; pictures given at start wait for the model.
def test_the_last_dataset_reopens_and_pictures_wait_for_the_model(qtbot, settings, trained, tmp_path, monkeypatch):
    scan, _, model_path = trained
    picture = scan.validation.paths[0]
    settings.setValue("last_dataset", scan.root)
    settings.setValue("last_pictures_dir", str(tmp_path))
    window = new_window(qtbot, settings, default_model=str(model_path))
    window.open_paths([picture])
    assert window.model_status.text() == "Loading the model…"
    assert "Loading the model… 1 picture waiting" in window.classify_panel.message.text()
    qtbot.waitUntil(lambda: len(window.classify_panel.results()) == 1, timeout=120_000)
    qtbot.waitUntil(lambda: window.session.scan is not None and window.session.scan.root == scan.root,
                    timeout=30_000)
    started_in = []
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda parent, title, folder, *a: started_in.append(folder)
                        or ([], ""))
    window.classify_panel.open_button.click()
    assert started_in == [str(tmp_path)]
    window.close()


# 9. Plain grammar, and every picture counted.
def test_counts_are_grammatical_and_the_test_folder_is_counted(qtbot, window, monkeypatch, tmp_path):
    write_class_folders(tmp_path / "ds" / "train", ["cats", "dogs"], 10)
    write_class_folders(tmp_path / "ds" / "test", ["cats", "dogs"], 5)
    choose_folder(qtbot, window, monkeypatch, tmp_path / "ds")
    qtbot.waitUntil(lambda: "Dataset ready" in window.statusBar().currentMessage(), timeout=30_000)
    assert window.statusBar().currentMessage() == "Dataset ready: 30 pictures in 2 classes."
    labels = [w.text() for w in window.training_panel.form.findChildren(type(window.training_panel.hint))]
    assert "Settings" not in labels  # the box is titled "Settings"; no row repeats it
    panel = window.classify_panel
    panel.begin(None)
    panel.set_total(2)
    from catdog_desktop.core.classify.results import ClassifiedRows
    from catdog_desktop.core.classify.prediction import Prediction

    rows = [Prediction(path=f"{name}.png", class_name=name, probability=0.9, probabilities={name: 0.9})
            for name in ("cats", "dogs")]
    panel.add_rows(ClassifiedRows(0, rows, 2, 2))
    panel.finish()
    assert "2 pictures classified (cats: 1, dogs: 1)." in panel.message.text()
