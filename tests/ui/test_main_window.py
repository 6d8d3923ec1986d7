"""The app as a user drives it: pick a folder, train, stop, close, drop pictures."""

import multiprocessing
import subprocess
import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from catdog_desktop.core.config import preset
from ui_helpers import choose_folder, drop_files, drop_urls, tiny_settings
from synthetic import synthetic_image


def test_importing_the_app_loads_neither_tensorflow_nor_matplotlib_nor_numpy():
    """The window must be on screen within 0.5 s: NumPy and Pillow (about 0.2 s) load with the
    first model or picture, TensorFlow and matplotlib in the background."""
    code = ("import sys, catdog_desktop.app, catdog_desktop.ui.main_window\n"
            "print([m for m in ('tensorflow', 'keras', 'matplotlib', 'numpy', 'PIL') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_tensorflow_imports_after_a_qapplication_exists():
    code = ("from PySide6.QtWidgets import QApplication\n"
            "app = QApplication([])\n"
            "import tensorflow as tf\n"
            "print(int(tf.reduce_sum(tf.ones(3))))")
    env = {"QT_QPA_PLATFORM": "offscreen", "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "3"


def test_window_shows_panels_and_loads_charts(window):
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["1 · Dataset", "2 · Train", "3 · Classify", "4 · Evaluate", "5 · Inbox"]
    assert window.training_panel.chart is not None
    assert not window.training_panel.train_button.isEnabled()  # no dataset yet
    assert "No model" in window.model_status.text()


def test_picking_a_folder_scans_it_and_shows_the_classes(qtbot, window, monkeypatch, pets_dir, settings):
    choose_folder(qtbot, window, monkeypatch, pets_dir)
    table = window.dataset_panel.table
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == ["cats", "dogs"]
    assert [table.item(r, 1).text() for r in range(2)] == ["40", "40"]
    assert table.cellWidget(0, 4).layout().count() >= 4  # thumbnails (+ stretch)
    assert window.training_panel.train_button.isEnabled()
    assert settings.value("last_dataset") == str(pets_dir)


def test_a_bad_folder_shows_the_problem_and_blocks_training(qtbot, window, monkeypatch, tmp_path):
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "cats").mkdir()
    synthetic_image(0, np.random.default_rng(0)).save(tmp_path / "only" / "cats" / "a.png")
    choose_folder(qtbot, window, monkeypatch, tmp_path / "only")
    assert "Only one class" in window.dataset_panel.problems.text()
    assert not window.training_panel.train_button.isEnabled()


def test_dropping_a_folder_on_the_dataset_panel_scans_it(qtbot, window, pets_dir):
    drop_urls(window.dataset_panel, [pets_dir])
    qtbot.waitUntil(lambda: window.session.scan is not None, timeout=30_000)
    assert window.session.scan.class_names == ["cats", "dogs"]


def start_training(qtbot, window, monkeypatch, folder, epochs):
    """Pick ``folder``, set fast settings, press Train; returns the panel's recorded calls."""
    choose_folder(qtbot, window, monkeypatch, folder)
    panel = window.training_panel
    tiny_settings(panel, epochs=epochs)
    events = record_training(monkeypatch, panel)
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    return events


def record_training(monkeypatch, panel):
    events = []
    for name in ("on_epoch", "show_result", "training_finished"):
        original = getattr(panel, name)

        def wrapper(*args, _name=name, _original=original):
            events.append((_name, args))
            return _original(*args)
        monkeypatch.setattr(panel, name, wrapper)
    return events


def test_training_streams_epochs_to_the_chart_then_finishes(qtbot, window, monkeypatch, pets_dir):
    events = start_training(qtbot, window, monkeypatch, pets_dir, epochs=2)
    panel = window.training_panel
    assert not panel.train_button.isEnabled() and panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not window.is_training(), timeout=120_000)
    names = [name for name, _ in events]
    assert names == ["on_epoch", "on_epoch", "show_result", "training_finished"]
    assert [args[0].epoch for name, args in events if name == "on_epoch"] == [1, 2]
    assert panel.chart.points("loss") == panel.chart.points("val_accuracy") == 2
    assert panel.result_box.isVisible() and "correct" in panel.result_summary.text()
    assert window.session.classifier is not None and window.session.model_unsaved
    assert "unsaved" in window.model_status.text()
    # The Evaluate tab shows the training's own evaluation, with every held-out picture kept.
    result = [args[0] for name, args in events if name == "show_result"][0]
    assert window.evaluation_panel.evaluation is result.evaluation
    assert len(result.evaluation.results) == result.evaluation.count


def test_stop_ends_a_long_run_early_and_keeps_a_model(qtbot, window, monkeypatch, pets_dir):
    events = start_training(qtbot, window, monkeypatch, pets_dir, epochs=200)
    panel = window.training_panel
    qtbot.waitUntil(lambda: any(n == "on_epoch" for n, _ in events), timeout=120_000)
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert panel.progress.format() == "Stopping…" and panel.stop_button.isEnabled()
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)  # again: skip checking the kept model
    assert panel.progress.format() == "Skipping the check…" and not panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not window.is_training(), timeout=60_000)
    result = [args[0] for n, args in events if n == "show_result"][0]
    assert result.stopped_by_user and len(result.history) < 200 and not result.evaluation.checked
    assert "you stopped it" in panel.status.text() and "Unchecked" in panel.result_summary.text()
    assert "not checked on the validation pictures" in panel.result_notes.text()
    assert "not checked" in window.statusBar().currentMessage()
    assert panel.train_button.isEnabled() and window.session.classifier is not None  # the model is kept


def test_a_time_limited_training_says_so_while_running_and_at_the_end(qtbot, window, trained):
    import dataclasses

    from catdog_desktop.core.training.events import BatchEvent, EpochEvent

    _, result, _ = trained
    panel = window.training_panel
    panel.time_limit.setValue(15)
    assert panel.config().time_limit_minutes == 15
    panel.time_limit.setValue(0)
    assert panel.time_limit.text() == "No limit" and panel.config().time_limit_minutes == 0
    panel.time_limit.setValue(15)
    panel.training_started(panel.config())
    panel.on_batch(BatchEvent(epoch=1, epochs=500, batch=1, batches=175, loss=0.7, accuracy=0.5,
                             images_per_second=100, elapsed=5, epoch_eta=40))
    assert panel.progress.format() == "Epoch 1 of at most 500 · %p%"   # not yet timed
    panel.on_epoch(EpochEvent(epoch=1, epochs=27, loss=0.6, accuracy=0.6, val_loss=0.6, val_accuracy=0.6,
                             images_per_second=200, elapsed=33, epoch_seconds=30, learning_rate=1e-3, is_best=True))
    panel.on_batch(BatchEvent(epoch=2, epochs=27, batch=10, batches=175, loss=0.5, accuracy=0.7,
                             images_per_second=200, elapsed=35, epoch_eta=28))
    assert "Epoch 2 of about 27" in panel.status.text()
    assert "about 12 min 58 s left in all" in panel.status.text()   # 28 s + 25 more epochs of 30 s
    panel.on_batch(BatchEvent(epoch=2, epochs=27, batch=10, batches=175, loss=0.5, accuracy=0.7,
                             images_per_second=200, elapsed=600, epoch_eta=28))
    assert "about 5 min 00 s left in all" in panel.status.text()    # never past the 15-minute limit
    panel.show_result(dataclasses.replace(result, stopped_by_time_limit=True, best_epoch=len(result.history)))
    assert "(the time limit was reached)" in panel.status.text()
    assert "a longer time limit would help" in panel.result_notes.text()
    panel.show_result(dataclasses.replace(result, stopped_by_time_limit=True, best_epoch=1))
    assert "longer time limit" not in panel.result_notes.text()     # it had stopped improving
    panel.training_finished()


def test_closing_mid_training_stops_the_worker_cleanly(qtbot, settings, monkeypatch, pets_dir):
    from catdog_desktop.core.model import storage
    from catdog_desktop.ui.main_window import MainWindow

    models_loaded = []
    real_load = storage.load_bundle
    monkeypatch.setattr(storage, "load_bundle", lambda path: models_loaded.append(path) or real_load(path))

    win = MainWindow(settings, default_model=None)
    qtbot.addWidget(win)
    win.show()
    choose_folder(qtbot, win, monkeypatch, pets_dir)
    tiny_settings(win.training_panel, epochs=200)
    qtbot.mouseClick(win.training_panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.training_panel.progress.format().startswith("Epoch"), timeout=120_000)
    threads = win.workers.threads()
    assert threads and all(t.isRunning() for t in threads)
    started = time.monotonic()
    win.close()
    assert time.monotonic() - started < 5
    assert models_loaded == []  # abandoned: not evaluated, saved and handed back first
    assert win.workers.threads() == [] and not any(t.isRunning() for t in threads)
    assert not [p for p in multiprocessing.active_children() if p.name == "catdog-training"]


# ----- classifying -------------------------------------------------------------------------------

def test_dropping_an_image_shows_a_prediction(qtbot, window_with_model, trained):
    scan, _, _ = trained
    panel = window_with_model.classify_panel
    drop_files(panel, [scan.validation.paths[0]])
    qtbot.waitUntil(lambda: len(panel.results()) == 1, timeout=30_000)
    prediction = panel.results()[0]
    assert prediction.ok and prediction.class_name in ("cats", "dogs")
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    assert prediction.class_name in panel.verdict.text()
    assert panel.stack.currentIndex() == 1 and not panel.preview.pixmap().isNull()
    assert panel.bars_box.count() == 2
    assert window_with_model.classify_panel.first_result_seconds is not None


def test_dropping_a_text_file_gives_a_message_not_a_crash(qtbot, window_with_model, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    panel = window_with_model.classify_panel
    drop_files(panel, [tmp_path / "notes.txt"])
    qtbot.waitUntil(lambda: "notes.txt" in panel.message.text(), timeout=30_000)
    assert "not an image" in panel.message.text()
    assert [p.ok for p in panel.results()] == [False] and "Cannot classify" in panel.verdict.text()
    assert window_with_model.session.classifier is not None  # still usable


def test_dropping_several_files_and_a_folder_fills_the_list(qtbot, window_with_model, trained, tmp_path):
    scan, _, _ = trained
    panel = window_with_model.classify_panel
    (tmp_path / "bad.jpg").write_bytes(b"")
    drop_files(panel, scan.validation.paths[:3] + [str(tmp_path / "bad.jpg")])
    qtbot.waitUntil(lambda: len(panel.results()) == 4, timeout=30_000)
    assert panel.row_count() == 4 and panel.stack.currentIndex() == 2
    assert panel.cell_text(3, 2).startswith("✖") and "empty" in panel.cell_text(3, panel.model.reason_column())
    qtbot.waitUntil(lambda: "3 pictures classified" in panel.message.text(), timeout=10_000)


def test_drop_without_a_model_explains_what_to_do(qtbot, window, trained):
    scan, _, _ = trained
    drop_files(window.classify_panel, [scan.validation.paths[0]])
    assert "no model yet" in window.classify_panel.message.text().lower()


def test_a_file_that_is_not_a_model_is_refused_in_the_panel(qtbot, window, tmp_path):
    (tmp_path / "fake.keras").write_text("nope")
    window.load_model(str(tmp_path / "fake.keras"))
    qtbot.waitUntil(lambda: "not a Keras model" in window.classify_panel.message.text(), timeout=30_000)
    assert window.session.classifier is None


def test_a_first_pass_stopped_by_the_time_limit_is_explained(window, trained):
    import dataclasses

    _, result, _ = trained
    note = ("One pass over 20,000 pictures takes about 3 minutes, longer than your 1-minute limit: "
            "the model was stopped part-way through its first pass.")
    panel = window.training_panel
    panel.show_result(dataclasses.replace(result, history=[], best_epoch=0, stopped_by_time_limit=True, notes=[note]))
    assert "part-way through the first pass, is kept" in panel.status.text()
    assert "longer time limit would probably" not in panel.status.text()
    assert note in panel.result_notes.text()


def test_saving_records_the_model_in_recent_models(qtbot, window_with_model, tmp_path, settings):
    window_with_model.save_model(str(tmp_path / "copy"))
    qtbot.waitUntil(lambda: settings.value("last_model") == str(tmp_path / "copy.keras"), timeout=30_000)
    assert (tmp_path / "copy.keras").exists()
    assert window_with_model.recent_menu.actions()[0].data() == str(tmp_path / "copy.keras")


# ----- first run and remembered session ----------------------------------------------------------

def test_built_in_model_is_active_at_start_and_sample_dataset_is_one_click(qtbot, settings, trained):
    from catdog_desktop.paths import sample_dataset_dir
    from catdog_desktop.ui.main_window import MainWindow

    _, _, model_path = trained
    win = MainWindow(settings, default_model=str(model_path))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.session.classifier is not None, timeout=120_000)
    assert "built-in" in win.model_status.text() and "built-in" in win.classify_panel.model_label.text()
    assert settings.value("recent_models") in (None, [], "")  # the built-in model is not a "recent" file
    assert win.dataset_panel.sample_button.isVisible()
    qtbot.mouseClick(win.dataset_panel.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.session.scan is not None, timeout=30_000)
    assert win.session.scan.root == str(sample_dataset_dir()) and win.training_panel.train_button.isEnabled()
    win.close()


def test_settings_and_last_model_are_restored_at_next_launch(qtbot, settings, trained, tmp_path):
    from catdog_desktop.ui.main_window import MainWindow

    _, _, model_path = trained
    first = MainWindow(settings, default_model=None)
    qtbot.addWidget(first)
    first.show()
    first.training_panel.epochs.setValue(7)
    first.training_panel.time_limit.setValue(20)
    first.training_panel.augmentation.setChecked(False)
    # Not the default size, within the offscreen screen (800x600, which restoreGeometry clamps to)
    # and above the window's minimum (the Classify tab's threshold row makes it 586 high).
    size = (770, 592)
    first.resize(*size)
    first.load_model(str(model_path))
    qtbot.waitUntil(lambda: first.session.classifier is not None, timeout=120_000)
    first.close()

    second = MainWindow(settings, default_model=None)
    qtbot.addWidget(second)
    second.show()
    assert second.training_panel.epochs.value() == 7 and not second.training_panel.augmentation.isChecked()
    assert second.training_panel.config().time_limit_minutes == 20
    assert (second.size().width(), second.size().height()) == size
    qtbot.waitUntil(lambda: second.session.classifier is not None, timeout=120_000)  # the last model reopens
    assert second.session.classifier.path == str(model_path)
    assert second.recent_menu.actions()[0].data() == str(model_path)
    second.close()


@pytest.mark.parametrize("saved_preset, saved_size, has_stem, restored_size", [
    # Restored to the pretrained model, by design: a 64 px meant for another network gives way to its preset.
    ("default", 64, False, preset("default").image_size),
    ("quick", 64, False, preset("quick").image_size),
    ("default", 128, True, 128),  # a size chosen for the strided network: restored as it was
])
def test_a_size_saved_by_an_older_version_gives_way_to_the_presets(qtbot, settings, saved_preset, saved_size,
                                                                    has_stem, restored_size):
    """Older versions saved 64 px with no strided first convolution: restoring that size would run
    today's default network on 32 px. Everything else is restored."""
    import json

    from catdog_desktop.core.config import TrainingConfig
    from catdog_desktop.ui.main_window import MainWindow

    data = TrainingConfig(image_size=saved_size, epochs=9).to_dict()
    if not has_stem:
        del data["stem_stride"]
    settings.setValue("training_config", json.dumps(data))
    settings.setValue("preset", saved_preset)
    win = MainWindow(settings, default_model=None)
    qtbot.addWidget(win)
    assert win.training_panel.preset_box.currentData() == saved_preset
    config = win.training_panel.config()
    assert (config.image_size, config.epochs) == (restored_size, 9)
    win.close()
