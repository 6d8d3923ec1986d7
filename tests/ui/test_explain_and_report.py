"""Where the model looked, in the Classify tab, and File → Export report…, as a user does them."""

import os

from PySide6.QtWidgets import QFileDialog

from ui_helpers import drop_files


def test_show_where_it_looked_colours_the_picture_and_goes_back(qtbot, window_with_model, trained):
    scan, _, _ = trained
    panel = window_with_model.classify_panel
    drop_files(panel, [scan.validation.paths[0]])
    qtbot.waitUntil(lambda: len(panel.results()) == 1, timeout=30_000)
    plain = panel.preview.pixmap().toImage()
    panel.explain_box.setChecked(True)  # computed in a worker; the window stays responsive
    qtbot.waitUntil(lambda: panel.explain_note.text().startswith("In red"), timeout=30_000)
    assert panel.preview.pixmap().toImage() != plain
    panel.explain_box.setChecked(False)
    assert panel.preview.pixmap().toImage() == plain and panel.explain_note.text() == ""
    # Checked, it stays on: the next picture dropped is explained too.
    panel.explain_box.setChecked(True)
    qtbot.waitUntil(lambda: panel.explain_note.text().startswith("In red"), timeout=30_000)
    drop_files(panel, [scan.validation.paths[-1]])
    qtbot.waitUntil(lambda: bool(panel.results()) and panel.results()[0].path == scan.validation.paths[-1],
                    timeout=30_000)
    qtbot.waitUntil(lambda: panel.explain_note.text().startswith("In red") and not window_with_model.jobs.busy("explain"),
                    timeout=30_000)
    assert panel.preview.pixmap().toImage() != plain
    grad_cam = panel.preview.pixmap().toImage()

    # The other way, hiding parts: worked out again at once, and remembered for next time.
    assert panel.chosen_explain_method() == "gradcam" == window_with_model.session.explain_method
    panel.explain_method.setCurrentIndex(panel.explain_method.findData("occlusion"))
    assert panel.explain_note.text() == "Working out where it looked…"
    qtbot.waitUntil(lambda: panel.explain_note.text().startswith("In red, the parts whose hiding")
                    and not window_with_model.jobs.busy("explain"), timeout=30_000)
    assert panel.preview.pixmap().toImage() not in (plain, grad_cam)
    assert window_with_model.session.explain_method == "occlusion"
    assert window_with_model.session.store.get("explain_method") == "occlusion"


def test_export_report_writes_the_file_the_user_chose(qtbot, window_with_model, monkeypatch, tmp_path, dialogs):
    window = window_with_model
    target = tmp_path / "my report"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "Web pages (*.html)"))
    assert window.report_action.isEnabled()
    window.report_action.trigger()
    written = tmp_path / "my report.html"
    qtbot.waitUntil(lambda: written.exists() and not window.jobs.busy("report"), timeout=60_000)
    text = written.read_text(encoding="utf-8")
    assert "<h1>Report on pets.keras</h1>" in text and 'id="confusion"' in text
    assert "Report written to" in window.statusBar().currentMessage()

    # A folder that cannot be written: a readable message, nothing lost.
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / "missing" / "r.html"), "Web pages (*.html)"))
    window.report_action.trigger()
    qtbot.waitUntil(lambda: any(kind == "warning" for kind, *_ in dialogs), timeout=60_000)
    kind, title, text = dialogs[-1]
    assert title == "Report not written" and "does not exist" in text
    assert not os.path.exists(tmp_path / "missing")



def test_the_report_covers_the_model_the_evaluate_tab_shows(qtbot, window, trained, tmp_path, monkeypatch, pets_dir):
    """Right after a training, while the Evaluate tab shows the new model, the report is on that
    model (not on the one in use) and says so; once the tab shows the model in use, that one."""
    from helpers import colour_classifier

    scan, result, _ = trained
    in_use = colour_classifier(tmp_path)
    window.session.set_model(in_use)
    window.session.set_dataset(scan)
    window.training.on_done(result)  # a training ended: the Evaluate tab shows its model; the model in use stays
    assert window.session.classifier is in_use and window.evaluating.shown_model is window.session.trained
    assert "The model in use is unchanged" in window.statusBar().currentMessage()
    assert window.reports.model() is window.session.trained
    target = tmp_path / "after-training.html"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "Web pages (*.html)"))
    window.report_action.trigger()
    qtbot.waitUntil(lambda: target.exists() and not window.jobs.busy("report"), timeout=60_000)
    first_lines = target.read_text(encoding="utf-8").split("<nav>")[0]
    assert "<h1>Report on the model trained just now (not saved)</h1>" in first_lines
    assert "the folder it was trained on" in first_lines

    window.evaluating.evaluate_folder(str(pets_dir))  # "Evaluate on a folder…" scores the model in use
    qtbot.waitUntil(lambda: window.evaluating.shown_model is in_use and not window.jobs.busy("evaluate"),
                    timeout=30_000)
    assert window.reports.model() is in_use
    window.use_trained_model()  # "Use this model": the status bar no longer says the old one is in use
    assert window.session.classifier is window.session.trained
    assert "The model trained just now is the model in use" in window.statusBar().currentMessage()


def test_a_model_without_convolutions_says_it_has_nothing_to_show(qtbot, window, trained):
    import keras

    from catdog_desktop.core.classify.classifier import Classifier

    scan, _, _ = trained
    inputs = keras.Input((32, 32, 3))
    flat = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    window.session.set_model(Classifier(keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(flat)),
                                        ["cats", "dogs"], 32))
    panel = window.classify_panel
    drop_files(panel, [scan.validation.paths[0]])
    qtbot.waitUntil(lambda: len(panel.results()) == 1, timeout=30_000)
    panel.explain_box.setChecked(True)
    qtbot.waitUntil(lambda: "no convolutional layers" in panel.explain_note.text(), timeout=30_000)
    assert not panel.preview.pixmap().isNull()  # the picture itself stays
    assert "Hiding parts of the picture (occlusion) works with any model." in panel.explain_note.text()
    plain = panel.preview.pixmap().toImage()
    panel.explain_method.setCurrentIndex(panel.explain_method.findData("occlusion"))  # which it does
    qtbot.waitUntil(lambda: panel.explain_note.text().startswith("In red, the parts whose hiding"), timeout=30_000)
    assert panel.preview.pixmap().toImage() != plain


def test_the_evaluate_tabs_large_view_shows_the_real_heatmap(qtbot, trained):
    """The gallery's large picture (Evaluate tab) with core.app.jobs.explain itself, not a stand-in."""
    from catdog_desktop.core.classify.classifier import Classifier
    from catdog_desktop.ui.gallery import GalleryItem, PictureDialog
    from catdog_desktop.ui.workers import JobRunner, WorkerThreads

    scan, _, model_path = trained
    path = scan.validation.paths[0]
    threads = WorkerThreads()
    dialog = PictureDialog(GalleryItem(path, "cats → dogs", path, 0.9, "cats", "dogs"), JobRunner(threads),
                           Classifier.load(model_path))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog._plain is not None, timeout=10_000)
    dialog.heatmap_box.setChecked(True)
    assert dialog.heat_note.text() == "Working out where it looked…"
    qtbot.waitUntil(lambda: "gradcam" in dialog._heat, timeout=30_000)
    assert dialog.picture.pixmap().toImage() != dialog._plain.scaled(dialog.picture.pixmap().size()).toImage()
    # What the red means, for the class the model chose (the wrong one, for a mistake).
    assert dialog.heat_note.text().startswith("In red, the parts of the picture that made the model say “dogs”")
    grad_cam = dialog.picture.pixmap().toImage()
    dialog.explain_method.setCurrentIndex(dialog.explain_method.findData("occlusion"))
    qtbot.waitUntil(lambda: "occlusion" in dialog._heat, timeout=30_000)
    assert dialog.picture.pixmap().toImage() != grad_cam
    assert dialog.heat_note.text().startswith("In red, the parts whose hiding makes the model least sure of “dogs”")
    dialog.explain_method.setCurrentIndex(dialog.explain_method.findData("gradcam"))  # kept: shown at once
    assert dialog.picture.pixmap().toImage() == grad_cam and "made the model say" in dialog.heat_note.text()
    dialog.close()
    threads.shutdown()
    assert threads.threads() == []


def test_the_way_chosen_in_the_evaluate_tabs_large_view_is_the_classify_tabs_too(qtbot, window_with_model, trained,
                                                                                   monkeypatch):
    """One choice for the whole app: chosen in a gallery picture's large view, the Classify tab
    shows it too; unticking or closing the view stops its heatmap job."""
    from catdog_desktop.ui.gallery import GalleryItem

    scan, _, _ = trained
    window = window_with_model
    path = scan.validation.paths[0]
    window.evaluating.open_picture(GalleryItem(path, "cats → dogs", path, 0.9, "cats", "dogs"))
    dialog = window.evaluating.dialogs[-1]
    qtbot.waitUntil(lambda: dialog._plain is not None, timeout=10_000)
    assert dialog.explain_method.currentData() == "gradcam" == window.classify_panel.chosen_explain_method()
    dialog.heatmap_box.setChecked(True)
    dialog.explain_method.setCurrentIndex(dialog.explain_method.findData("occlusion"))
    assert window.session.explain_method == "occlusion" == window.classify_panel.chosen_explain_method()
    qtbot.waitUntil(lambda: "occlusion" in dialog._heat, timeout=30_000)
    stopped = []
    real_stop = window.jobs.stop
    monkeypatch.setattr(window.jobs, "stop", lambda kind: stopped.append(kind) or real_stop(kind))
    dialog.heatmap_box.setChecked(False)
    assert stopped == [dialog._heatmap_kind]
    dialog.close()
    assert stopped == [dialog._heatmap_kind] * 2
