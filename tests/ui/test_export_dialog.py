"""File → Export model…: the dialog exports in the background, shows the parity verdict, asks before
replacing files (and never replaces a folder that is not one of its exports), and Cancel leaves
nothing behind."""

from PySide6.QtCore import Qt


def test_export_dialog_exports_checks_and_cancels(qtbot, window_with_model, tmp_path, dialogs):
    window = window_with_model
    tmp_path = tmp_path / "exports"
    tmp_path.mkdir()
    assert window.export_model_action.isEnabled()
    window.export_model_action.trigger()
    dialog = window.export_dialog
    assert dialog.isVisible() and dialog.format() == "tflite"
    dialog.path_edit.setText(str(tmp_path / "pets"))
    dialog._format_changed()
    assert dialog.path_edit.text() == str(tmp_path / "pets.tflite")

    shown = []  # each status the dialog shows, with its bar: (text, maximum, value)
    set_status = dialog.status.setText
    dialog.status.setText = lambda text: (set_status(text), shown.append(
        (text, dialog.progress.maximum(), dialog.progress.value())))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert not dialog.settings.isEnabled()  # nothing can be changed while it runs
    qtbot.waitUntil(lambda: dialog.result is not None and not dialog.running(), timeout=60_000)
    # The conversion reports no progress of its own: a busy bar and which step it is, not "25 %" for most of the time.
    converting = [s for s in shown if s[0].startswith("Converting to")]
    assert converting and all(maximum == 0 for _, maximum, _ in converting), shown
    assert "step 2 of 4" in converting[0][0]
    text = dialog.result_label.text()
    assert "it agrees with the app" in text and "100.0%" in text and "validation pictures" in text
    assert (tmp_path / "pets.tflite").exists() and (tmp_path / "pets.tflite.MODEL_CARD.md").exists()
    assert dialog.export_button.text() == "Export again" and dialog.cancel_button.text() == "Close"

    # Another format: a SavedModel is a folder, and a folder of the user's is never replaced (the
    # replacing would delete it), not even offered. The TFLite result is not left on screen under it.
    next(b for b in dialog.formats.buttons() if b.property("format") == "savedmodel").setChecked(True)
    assert not dialog.result_label.isVisible() and dialog.export_button.text() == "Export"
    assert dialog.path_edit.text() == str(tmp_path / "pets")
    (tmp_path / "pets").mkdir()
    (tmp_path / "pets" / "mine.txt").write_text("keep me")
    asked = len(dialogs)
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert len(dialogs) == asked and not dialog.running()  # refused without asking "Replace?"
    assert "folder with other files in it: choose a new folder name" in dialog.status.text()
    assert (tmp_path / "pets" / "mine.txt").read_text() == "keep me"

    # Over an earlier export of ours: asked first, then cancelled part-way.
    dialog.path_edit.setText(str(tmp_path / "served"))
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "saved_model.pb").write_bytes(b"an earlier export")
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialogs[-1][1] == "Replace?" and "served" in dialogs[-1][2]
    window.export_model_action.trigger()  # while it runs, the menu brings the same dialog back
    assert window.export_dialog is dialog and dialog.running()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running(), timeout=60_000)
    assert "cancelled" in dialog.status.text()
    assert (tmp_path / "served" / "saved_model.pb").read_bytes() == b"an earlier export"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["pets", "served", "pets.tflite", "pets.tflite.json", "pets.tflite.labels.txt", "pets.tflite.MODEL_CARD.md"])
    dialog.reject()
    assert not dialog.isVisible()
    # The next export starts in the folder of the last one written (remembered for next time too).
    assert window.session.store.get("last_export_dir") == str(tmp_path)
    window.export_model_action.trigger()
    assert window.export_dialog is not dialog and window.export_dialog.path_edit.text().startswith(str(tmp_path))
    window.export_dialog.reject()
