"""Issue 28: a photo dropped before the model is ready waits for it; a photo dropped on any tab
(the first screen too) is classified; the first screen says a ready model can be tried."""

import threading


from ui_helpers import choose_folder, drop_files, drop_urls


def new_window(qtbot, settings, model_path):
    from catdog_desktop.ui.main_window import MainWindow

    win = MainWindow(settings, default_model=str(model_path))  # stands in for the built-in model
    qtbot.addWidget(win)
    win.show()
    return win


def test_photos_dropped_before_the_model_has_loaded_are_classified_once_it_has(qtbot, settings, trained, monkeypatch):
    from catdog_desktop.core.app import jobs

    scan, _, model_path = trained
    opened = threading.Event()  # the model takes as long to open as the test says
    load_model = jobs.load_model
    monkeypatch.setattr(jobs, "load_model", lambda task, path: opened.wait(120) and load_model(task, path))
    window = new_window(qtbot, settings, model_path)
    panel = window.classify_panel
    assert panel.model_label.text() == "Loading the model…" and window.model_status.text() == "Loading the model…"
    drop_files(panel, scan.validation.paths[:1])  # at once: TensorFlow is not even loaded yet
    assert "Loading the model… 1 picture waiting" in panel.message.text()
    qtbot.waitUntil(lambda: window.jobs.busy("load-model"), timeout=120_000)
    window.tabs.setCurrentWidget(window.training_panel)
    drop_urls(window, scan.validation.paths[1:2])  # a second one, on another tab
    assert window.tabs.currentWidget() is panel and "2 pictures waiting" in panel.message.text()
    assert "no model" not in panel.message.text().lower()
    opened.set()
    qtbot.waitUntil(lambda: len(panel.results()) == 2, timeout=60_000)
    assert all(p.ok for p in panel.results()) and "2 pictures classified" in panel.message.text()
    assert "Model:" in panel.model_label.text()
    window.close()


def test_photos_waiting_for_a_model_that_cannot_be_opened_are_told_so(qtbot, settings, trained, tmp_path):
    scan, _, _ = trained
    broken = tmp_path / "broken.keras"
    broken.write_text("not a model")
    window = new_window(qtbot, settings, broken)
    panel = window.classify_panel
    drop_files(panel, scan.validation.paths[:1])
    qtbot.waitUntil(lambda: "not classified" in panel.message.text(), timeout=120_000)
    assert panel.message.text().count("No model could be loaded, so 1 picture waiting was not classified") == 1
    assert window.model_status.text() == "No model" and "No model yet" in panel.model_label.text()
    window.close()


def test_the_first_screen_offers_the_ready_model_and_classifies_a_photo_dropped_on_it(
        qtbot, settings, trained, monkeypatch, pets_dir):
    scan, _, model_path = trained
    window = new_window(qtbot, settings, model_path)
    qtbot.waitUntil(lambda: window.session.classifier is not None, timeout=120_000)
    dataset = window.dataset_panel
    assert window.tabs.currentWidget() is dataset and dataset.ready_model.isVisibleTo(window)
    assert "cats-vs-dogs model" in dataset.ready_model.text() and "drop a photo anywhere" in dataset.ready_model.text()
    dataset.ready_model.linkActivated.emit("classify")  # "try it"
    assert window.tabs.currentWidget() is window.classify_panel

    choose_folder(qtbot, window, monkeypatch, pets_dir)
    assert window.tabs.currentWidget() is dataset
    drop_urls(dataset, scan.validation.paths[:1])  # a photo on the Dataset tab
    panel = window.classify_panel
    assert window.tabs.currentWidget() is panel
    qtbot.waitUntil(lambda: len(panel.results()) == 1, timeout=60_000)
    assert panel.results()[0].ok and panel.results()[0].class_name in panel.verdict.text()
    assert window.session.scan.root == str(pets_dir) and not dataset.notice.isVisibleTo(dataset)  # the dataset stays
    window.close()


def test_without_a_ready_model_the_first_screen_does_not_offer_one(window):
    assert not window.dataset_panel.ready_model.isVisibleTo(window)
    assert window.classify_panel.model_label.text().startswith("No model yet")
