"""The Train tab's "Train on from the model in use": offered for a saved model of this app, the
training goes on from it (in the child process, as any training) and the two are compared."""

from PySide6.QtCore import Qt

from catdog_desktop.ui.training_panel import NO_MODEL_TO_CONTINUE
from helpers import colour_classifier
from ui_helpers import choose_folder


def test_training_goes_on_from_the_model_in_use_and_compares_the_two(qtbot, window, trained, monkeypatch,
                                                                        pets_dir, tmp_path):
    panel = window.training_panel
    box = panel.continue_box
    assert not box.isEnabled() and box.toolTip() == NO_MODEL_TO_CONTINUE
    window.load_model(colour_classifier(tmp_path).path)  # a model from elsewhere: not offered, and why
    qtbot.waitUntil(lambda: window.session.classifier is not None, timeout=60_000)
    assert not box.isEnabled() and "does not record how it was trained" in box.toolTip()

    _, _, model_path = trained
    window.load_model(str(model_path))
    qtbot.waitUntil(lambda: window.session.model_name() == model_path.name, timeout=60_000)
    assert box.isEnabled() and box.text() == f"Train on from the model in use ({model_path.name})"
    choose_folder(qtbot, window, monkeypatch, pets_dir)
    panel.epochs.setValue(1)
    box.setChecked(True)
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert not box.isEnabled()
    qtbot.waitUntil(lambda: not window.is_training(), timeout=240_000)
    # The same folder: every picture the old model trained on stays a training picture, so both are
    # compared on its 20 validation pictures. It kept its network (from scratch, 32 px), not the form's.
    assert "on the same 20 validation pictures" in panel.result_notes.text()
    assert window.session.trained.image_size == 32
    assert "which it went on from" in panel.choice_text.text()
    assert box.isEnabled() and box.isChecked()
