"""A 1024×600 screen (a netbook, a small laptop at 150 %): the window fits the screen, and after a
training every tab's buttons can be seen, at once or by scrolling its tab; dialogs fit too."""

from types import SimpleNamespace

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QScrollArea

from catdog_desktop.core.classify.results import ClassifiedRows
from catdog_desktop.core.export.exporter import ExportResult
from catdog_desktop.core.classify.prediction import Prediction
from catdog_desktop.core.app.session import WINDOW_GEOMETRY

SMALL = (1024, 600)


def reachable(window, widget) -> bool:
    """``widget`` can be seen in the window: at once, or once the scroll area it is in scrolls to it."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    if parent is not None:
        parent.ensureWidgetVisible(widget)
    top_left = widget.mapTo(window, widget.rect().topLeft())
    inside = window.rect().contains(QRect(top_left, widget.size()))
    return widget.isVisible() and not widget.visibleRegion().isEmpty() and inside


def test_the_window_opens_no_larger_than_the_screen_even_with_a_size_kept_from_a_larger_one(qtbot, settings):
    from catdog_desktop.ui.main_window import MainWindow

    def opened():
        made = MainWindow(settings, default_model=None, sample_dataset=None)
        qtbot.addWidget(made)
        return made, made.screen().availableGeometry()

    window, free = opened()  # the offscreen screen is smaller than the app's 1120×780 default
    assert window.width() <= free.width() and window.height() <= free.height() - 32  # and a title bar
    window.resize(free.width() + 400, free.height() + 300)  # as if kept from a larger screen
    window.store.set(WINDOW_GEOMETRY, window.saveGeometry())
    window, free = opened()
    assert window.width() <= free.width() and window.height() <= free.height() - 32
    window.close()


@pytest.fixture
def small_window(qtbot, window, trained):
    """The window at 1024×600 after a training: its result, its choice, its mistakes."""
    import dataclasses

    _, result, _ = trained
    # As much as a real training says: a note, a picture it could not read, the two models compared.
    result = dataclasses.replace(result, notes=["The model stopped improving after epoch 5."],
                                 skipped=[("/data/pets/cats/scan.jpg", "the file is empty")])
    window.resize(*SMALL)
    window.training_panel.show_result(result)
    window.training_panel.show_choice(
        "This model: 100.0% correct on 40 validation pictures. The model in use (built-in cats-vs-dogs model) was "
        "checked on other pictures, so the two scores do not compare.", in_use=False)
    window.training_panel.training_finished()
    window.evaluating.show_training(result)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == SMALL)
    return window


def test_after_a_training_every_tab_s_buttons_can_be_reached_at_1024_by_600(qtbot, small_window, tmp_path):
    window = small_window
    train, evaluate, classify = window.training_panel, window.evaluation_panel, window.classify_panel
    rows = [Prediction(str(tmp_path / f"{i}.jpg"), "cats", 0.9, {"cats": 0.9, "dogs": 0.1}) for i in range(60)]
    classify.begin(len(rows), ["cats", "dogs"])
    classify.set_total(len(rows))
    classify.add_rows(ClassifiedRows(0, rows, len(rows), len(rows)))
    classify.finish()
    tabs = {
        window.dataset_panel: [window.dataset_panel.choose_button],
        train: [train.train_button, train.stop_button, train.use_button, train.save_button, train.mistakes_button],
        classify: [classify.open_button, classify.folder_button, classify.export_button, classify.sort_button,
                   classify.undo_sort_button, classify.sort_by_button],
        evaluate: [evaluate.evaluate_button, evaluate.check_button, evaluate.all_mistakes_button,
                   evaluate.gallery.move_button, evaluate.gallery.exclude_button, evaluate.gallery.undo_button,
                   evaluate.gallery.locate_button],
    }
    for panel, buttons in tabs.items():
        window.tabs.setCurrentWidget(panel)
        assert window.tabs.currentWidget() is panel
        qtbot.waitUntil(panel.isVisible)
        # Never squeezed below the room it needs (its parts would overlap or be cut): it scrolls instead.
        assert panel.height() >= panel.minimumSizeHint().height() and panel.width() >= panel.minimumSizeHint().width()
        for button in buttons:
            assert reachable(window, button), (button.text(), panel)


def test_dialogs_fit_a_600_pixel_high_screen(qtbot, window, tmp_path):
    from catdog_desktop.ui.export_dialog import ExportDialog

    dialog = ExportDialog(window, SimpleNamespace(path=str(tmp_path / "pets.keras")), window.jobs, str(tmp_path))
    qtbot.addWidget(dialog)
    files = [str(tmp_path / f"pets.tflite{end}") for end in ("", ".json", ".labels.txt", ".MODEL_CARD.md")]
    dialog._on_done(ExportResult(
        format="tflite", path=files[0], files=files, size_bytes=9_100_000,
        parity_source="20 validation pictures of the folder it was trained on", pictures=20, agreement=0.95,
        max_difference=0.2, accuracy=0.9, app_accuracy=0.95, required_agreement=0.99, passed=False,
        runtime="TensorFlow Lite interpreter (XNNPACK)", seconds=4.0, kept=str(tmp_path / "pets-old.tflite")))
    dialog.show()
    qtbot.waitUntil(lambda: not dialog.result_label.visibleRegion().isEmpty())  # the verdict scrolled into view
    dialog.adjustSize()
    assert dialog.sizeHint().height() <= SMALL[1] - 40 and dialog.height() <= SMALL[1] - 40  # and its title bar
    for button in (dialog.export_button, dialog.cancel_button):
        assert reachable(dialog, button)

    from catdog_desktop.ui.gallery import GalleryItem, PictureDialog

    large = PictureDialog(GalleryItem(str(tmp_path / "cat.jpg"), "cats → dogs 97%", f"{tmp_path / 'cat.jpg'}\nIn the "
                                      "folder of: cats\nThe model says: dogs (dogs 97.0%, cats 3.0%)", 0.97, "cats",
                                      "dogs", "moved to dogs"), window.jobs)
    qtbot.addWidget(large)
    assert large.sizeHint().height() <= SMALL[1] - 40
    large.reject()
