"""The Train tab: the model choice, the stages of a pretrained training in words, the result."""

import json

from PySide6.QtCore import Qt

from catdog_desktop.core.config import preset
from catdog_desktop.core.training.events import BatchEvent, EpochEvent, PhaseEvent
from ui_helpers import choose_folder


def test_the_pretrained_default_trains_through_the_window_and_tells_its_stages(qtbot, window, monkeypatch,
                                                                               pets_dir):
    panel = window.training_panel
    assert panel.config().backbone == "mobilenet_v2" and not panel.fine_tune.isHidden()
    choose_folder(qtbot, window, monkeypatch, pets_dir)
    panel.image_size.setCurrentIndex(panel.image_size.findData(32))
    shown = []
    real_show = panel._show_progress
    monkeypatch.setattr(panel, "_show_progress", lambda view: shown.append(view) or real_show(view))
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert panel.hint.isHidden()  # no "Press Train." while it trains
    qtbot.waitUntil(lambda: not window.is_training(), timeout=240_000)
    bars = [view.bar for view in shown if view is not None]
    assert any(b.startswith("Computing features ") and " / 100" in b for b in bars)
    # 50 pictures a class: every one trains the classifier, and its accuracy is cross-validated
    assert "Training the classifier on every picture, then cross-validating it: 6 / 6" in bars
    assert not any(b.startswith("Checking the model on") for b in bars)
    assert "estimated by cross-validation on 100 pictures (5 folds)" in panel.result_summary.text()
    # No epoch was picked and no picture held out: the panel does not speak of either.
    assert panel.result_box.title().startswith("Accuracy estimated by cross-validation")
    assert panel.status.text().endswith("the classifier learned from every picture, and cross-validation "
                                        "estimated how often it is right.")
    assert panel.chart.is_empty() and panel.chart.empty_text.get_text().startswith("The classifier learned from "
                                                                                   "every picture at once")
    # The stages after the training are told too (the bar sat still through them before).
    assert any(b.startswith("Preparing “not sure” and “none of these”") for b in bars)
    assert bars[-1] == "Handing the trained model to the app…"
    notes = panel.result_notes.text()
    assert "Fine-tuning was skipped" in notes          # 100 training pictures: too few to fine-tune
    assert "Time: features" in notes and "classifier" in notes
    assert panel.result_box.isVisible() and not panel.hint.isHidden()


def test_fine_tuning_epochs_are_marked_on_the_one_epoch_axis(window):
    panel = window.training_panel
    assert panel.chart.is_empty() and panel.chart.empty_text.get_visible()  # a sentence, not empty axes
    for number, phase in ((1, "classifier"), (2, "classifier"), (3, "fine-tuning"), (4, "fine-tuning")):
        panel.on_epoch(EpochEvent(epoch=number, epochs=4, loss=0.5, accuracy=0.8, val_loss=0.5, val_accuracy=0.8,
                                  images_per_second=100, elapsed=1, epoch_seconds=1, learning_rate=1e-3,
                                  is_best=False, phase=phase))
    chart = panel.chart
    assert chart.points("loss") == 4 and not chart.empty_text.get_visible()
    assert chart.fine_tune_start == 2.5
    assert all(span.get_visible() and span.get_x() == 2.5 for span in chart.fine_tune_spans)
    assert chart.fine_tune_labels[0].get_text().strip() == "fine-tuning"


def test_the_model_choice_resets_the_fields_and_round_trips_through_the_settings(qtbot, settings):
    from catdog_desktop.ui.main_window import MainWindow

    first = MainWindow(settings, default_model=None)
    qtbot.addWidget(first)
    panel = first.training_panel
    panel.backbone_box.setCurrentIndex(panel.backbone_box.findData("none"))
    assert panel.config() == preset("default", backbone="none")       # every field from that preset
    assert panel.fine_tune.isHidden() and not panel.form.size_hint.isHidden()
    panel.preset_box.setCurrentIndex(panel.preset_box.findData("quick"))
    assert panel.config() == preset("quick", backbone="none")         # the goal keeps the model type
    panel.epochs.setValue(7)
    first.close()

    second = MainWindow(settings, default_model=None)
    qtbot.addWidget(second)
    config = second.training_panel.config()
    assert (config.backbone, config.epochs, second.training_panel.preset_name()) == ("none", 7, "quick")
    second.training_panel.backbone_box.setCurrentIndex(0)
    assert second.training_panel.config() == preset("quick")          # back to pretrained, its preset
    second.close()

    # Settings stored before the model choice existed restore to the pretrained model, by design.
    settings.setValue("training", json.dumps({"preset": "default", "overrides": {"epochs": 7}}))
    third = MainWindow(settings, default_model=None)
    qtbot.addWidget(third)
    assert third.training_panel.config().backbone == "mobilenet_v2"
    assert not third.training_panel.fine_tune.isHidden()
    third.close()


def test_the_advanced_section_starts_collapsed_and_is_remembered(qtbot, settings):
    from catdog_desktop.ui.main_window import MainWindow

    first = MainWindow(settings, default_model=None)
    qtbot.addWidget(first)
    form = first.training_panel.form
    assert form.advanced.isHidden() and not form.time_limit.isHidden()
    form.advanced_button.click()
    assert not form.advanced.isHidden()
    first.close()
    second = MainWindow(settings, default_model=None)
    qtbot.addWidget(second)
    assert not second.training_panel.form.advanced.isHidden()
    for widget in second.training_panel.form.findChildren(type(form.epochs)):
        assert widget.toolTip()  # every control says what it is for
    second.close()


def test_after_stop_the_check_of_the_kept_model_is_said_and_a_second_stop_skips_it(qtbot, window, trained):
    """Issue 28: 37 s of "Stopping after this batch…" while the kept model was checked on 2,000 test
    pictures. (The whole path, through the child process, is test_main_window's stop test.)"""
    import dataclasses

    from catdog_desktop.core.evaluate.evaluation import EvaluationResult
    from catdog_desktop.core.training.train import unchecked_note

    panel = window.training_panel
    panel.set_dataset_ready(True, "Dataset: pets — 2 classes. Press Train.")
    panel.training_started(panel.config())
    panel.on_batch(BatchEvent(epoch=31, epochs=36, batch=5, batches=10, loss=0.5, accuracy=0.8,
                              images_per_second=50, elapsed=20, epoch_eta=5, phase="fine-tuning"))
    with qtbot.waitSignal(panel.stop_requested):
        panel.stop_button.click()
    assert panel.progress.format() == "Stopping…" and panel.stop_button.isEnabled()
    assert "Stop again to skip" in panel.stop_button.toolTip()
    panel.on_stage(PhaseEvent(128, 2000, "Checking the kept model on 2,000 test pictures…", "evaluation"))
    assert panel.progress.format().startswith("Checking the kept model on 2,000 test pictures… 128 / 2,000")
    assert (panel.progress.value(), panel.progress.maximum()) == (128, 2000)  # its own progress
    assert "Press Stop again to skip the check" in panel.status.text()
    with qtbot.waitSignal(panel.stop_requested):
        panel.stop_button.click()
    assert panel.progress.format() == "Skipping the check…" and not panel.stop_button.isEnabled()
    _, result, _ = trained
    unchecked = dataclasses.replace(result, stopped_by_user=True, notes=[unchecked_note("test")],
                                    evaluation=EvaluationResult.unchecked("test", result.class_names))
    panel.show_result(unchecked)
    panel.training_finished()
    assert "Unchecked" in panel.result_summary.text() and "correct" not in panel.result_summary.text()
    assert "not checked on the test pictures" in panel.result_notes.text()
    assert panel.class_table.isHidden() and panel.mistakes_button.isHidden()
