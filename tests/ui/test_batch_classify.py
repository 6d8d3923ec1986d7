"""Classifying a whole folder in the app: the table sorts and filters, thumbnails come for the
rows on screen, double-click opens a picture, CSV export, sort into folders and its undo, Cancel."""

import os
import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog

from catdog_desktop.core.classify.results import read_csv
from catdog_desktop.ui.classifying import Classifying
from catdog_desktop.ui.sort_dialog import SortChoice, SortDialog
from synthetic import write_class_folders
from ui_helpers import drop_files


def finished(panel, rows):
    return len(panel.results()) == rows and not panel.progress.isVisible()


def test_a_dropped_folder_fills_a_table_to_sort_filter_export_and_sort_into_folders(
        qtbot, window_with_model, tmp_path, monkeypatch):
    window, panel = window_with_model, window_with_model.classify_panel
    inbox = write_class_folders(tmp_path / "inbox", ["cats", "dogs"], 12, seed=3)
    (inbox / "broken.png").write_bytes(b"")
    drop_files(panel, [inbox])
    qtbot.waitUntil(lambda: finished(panel, 25), timeout=60_000)
    assert panel.row_count() == 25 and panel.stack.currentIndex() == 2 and "24 pictures classified" in panel.message.text()

    # Numbers sort as numbers; the unreadable file sorts last.
    panel.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    shown = [panel.cell_text(r, 3) for r in range(panel.row_count())]
    values = [float(v.rstrip("%")) for v in shown if v]
    assert values == sorted(values, reverse=True) and shown[-1] == "" and panel.cell_text(24, 2).startswith("✖")
    # Thumbnails are made for the rows on screen.
    qtbot.waitUntil(lambda: panel.proxy.data(panel.proxy.index(0, 0), Qt.ItemDataRole.DecorationRole) is not None,
                    timeout=20_000)
    # Filter by class.
    panel.class_filter.setCurrentIndex(panel.class_filter.findData("dogs"))
    dogs = sum(p.ok and p.class_name == "dogs" and not (p.uncertain or p.unfamiliar) for p in panel.results())
    assert panel.row_count() == dogs and {panel.cell_text(r, 2) for r in range(dogs)} <= {"dogs"}
    # Double-click opens the picture.
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    panel.table.activated.emit(panel.proxy.index(0, 1))
    assert opened and os.path.dirname(os.path.dirname(opened[0])) == str(inbox)
    panel.class_filter.setCurrentIndex(0)

    # Export CSV: one row per file.
    out = tmp_path / "predictions.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Saved 25 rows" in panel.message.text(), timeout=10_000)
    assert len(read_csv(out)) == 25

    # Sort into folders (moving), then undo.
    before = sorted(str(p.relative_to(inbox)) for p in inbox.rglob("*") if p.is_file())
    target = tmp_path / "sorted"
    monkeypatch.setattr(Classifying, "ask_sort_choice", lambda self, *a: SortChoice(str(target), True, 0.0))
    qtbot.mouseClick(panel.sort_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Moved 24 files" in panel.message.text(), timeout=20_000)
    assert [p.name for p in inbox.rglob("*") if p.is_file()] == ["broken.png"]  # unreadable: left in place
    assert sum(1 for p in target.rglob("*.png")) == 24 and panel.undo_sort_button.isEnabled()
    assert all(p.path.startswith(str(target)) for p in panel.results() if p.ok)  # rows follow the files
    qtbot.mouseClick(panel.undo_sort_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "back where they were" in panel.message.text(), timeout=20_000)
    assert sorted(str(p.relative_to(inbox)) for p in inbox.rglob("*") if p.is_file()) == before
    assert not panel.undo_sort_button.isEnabled() and window.session.last_sort_target == ""
    assert not target.exists() and "removed; its sort log is kept in" in panel.message.text()


def test_cancel_keeps_the_rows_so_far(qtbot, window_with_model, tmp_path, monkeypatch):
    from catdog_desktop.core.classify import classifier as inference

    real = inference.load_pixels

    def slow(*args, **kwargs):
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "load_pixels", slow)
    panel = window_with_model.classify_panel
    drop_files(panel, [write_class_folders(tmp_path / "many", ["x"], 200, size=24)])
    qtbot.waitUntil(lambda: len(panel.results()) >= 64 and panel.cancel_button.isVisible(), timeout=30_000)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.progress.isVisible(), timeout=10_000)
    assert 64 <= len(panel.results()) < 200 and "Stopped after" in panel.message.text()
    assert panel.export_button.isEnabled() and panel.sort_button.isEnabled()


def test_the_sort_dialog_says_what_goes_where_and_refuses_a_target_inside_the_source(qtbot, tmp_path):
    from catdog_desktop.core.classify.results import BatchResults
    from catdog_desktop.core.classify.classifier import Prediction

    src = tmp_path / "inbox"
    src.mkdir()
    results = BatchResults(["cats", "dogs"], [
        Prediction(str(src / "a.jpg"), "cats", 0.9, {"cats": 0.9, "dogs": 0.1}),
        Prediction(str(src / "b.jpg"), "dogs", 0.55, {"cats": 0.45, "dogs": 0.55}),
        Prediction(str(src / "c.jpg"), error="the file is empty (0 bytes)")])
    dialog = SortDialog(results, [str(src)], str(tmp_path), threshold=None)
    qtbot.addWidget(dialog)
    assert dialog.folder.text() == str(src) + "-sorted" and dialog.copy.isChecked()
    assert "Copies 2 pictures into cats/ 1, dogs/ 1. 1 unreadable file stays" in dialog.preview.text()
    dialog.use_threshold.setChecked(True)
    dialog.threshold.setValue(60)
    assert "cats/ 1, uncertain/ 1" in dialog.preview.text()
    dialog.folder.setText(str(src / "sorted"))
    dialog.sort_button.click()
    assert "inside" in dialog.error.text() and dialog.result() != SortDialog.DialogCode.Accepted
    assert dialog.choice() == SortChoice(str(src / "sorted"), False, 0.6)

    # Pictures like none of the classes are among those counted for uncertain/, not on top of them.
    odd = BatchResults(["cats", "dogs"], [
        Prediction(str(src / "car.jpg"), "cats", 0.99, {"cats": 0.99, "dogs": 0.01}, unfamiliar=True),
        Prediction(str(src / "b.jpg"), "dogs", 0.55, {"cats": 0.45, "dogs": 0.55}, uncertain=True)])
    dialog = SortDialog(odd, [str(src)], str(tmp_path), threshold=0.6)
    qtbot.addWidget(dialog)
    assert dialog.preview.text() == ("Copies 2 pictures into uncertain/ 2. "
                                     "1 of the 2 in uncertain/ looks like none of the classes.")


def test_a_sort_that_fails_part_way_stays_on_offer_to_undo_until_nothing_is_left(qtbot, tmp_path, monkeypatch):
    """A move-sort that fails (or is cut short) after moving some files can be undone; an undo that
    fails for a passing reason is offered again; only "nothing to undo" takes the offer away."""
    from catdog_desktop.core.app import jobs
    from catdog_desktop.core.classify import sorting
    from catdog_desktop.core.errors import CatdogError
    from catdog_desktop.core.classify.classifier import Prediction
    from catdog_desktop.core.app.session import Session
    from catdog_desktop.ui.classify_panel import ClassifyPanel
    from catdog_desktop.ui.workers import JobRunner, WorkerThreads

    panel = ClassifyPanel()
    qtbot.addWidget(panel)
    threads = WorkerThreads()
    runner, session = JobRunner(threads), Session()
    classifying = Classifying(panel, session, runner, lambda: None)
    inbox, target = tmp_path / "inbox", tmp_path / "sorted"
    inbox.mkdir()
    predictions = []
    for name in "abc":
        (inbox / f"{name}.jpg").write_bytes(name.encode())
        predictions.append(Prediction(path=str(inbox / f"{name}.jpg"), class_name="cats", probability=0.9,
                                      probabilities={"cats": 0.9, "dogs": 0.1}))
    real_undo = jobs.undo_sort

    def run(start, kind="sort"):
        start()
        qtbot.waitUntil(lambda: not runner.busy(kind), timeout=10_000)

    def fails_part_way(task, results, where, move, threshold, sources):
        sorting.sort_files(predictions[:2], ["cats", "dogs"], where, move=True)
        raise CatdogError("The drive was disconnected.")

    def drive_away(task, where):
        raise CatdogError("The drive is not there.")

    monkeypatch.setattr(jobs, "sort_files", fails_part_way)
    monkeypatch.setattr(Classifying, "ask_sort_choice", lambda self, *a: SortChoice(str(target), True, 0.0))
    run(classifying.sort_into_folders)
    assert "Not sorted" in panel.message.text() and sorted(os.listdir(inbox)) == ["c.jpg"]
    assert session.last_sort_target == str(target) and panel.undo_sort_button.isEnabled()

    monkeypatch.setattr(jobs, "undo_sort", drive_away)
    run(classifying.undo_last_sort)
    assert "Not undone" in panel.message.text()
    assert session.last_sort_target == str(target) and panel.undo_sort_button.isEnabled()

    monkeypatch.setattr(jobs, "undo_sort", real_undo)
    run(classifying.undo_last_sort)
    assert sorted(os.listdir(inbox)) == ["a.jpg", "b.jpg", "c.jpg"] and "back where they were" in panel.message.text()
    assert session.last_sort_target == "" and not panel.undo_sort_button.isEnabled()

    session.set_last_sort_target(str(target))  # e.g. undone with the command line meanwhile
    panel.set_undo_available(str(target))
    run(classifying.undo_last_sort)
    assert session.last_sort_target == "" and not panel.undo_sort_button.isEnabled()
    assert "no sort left to undo" in panel.message.text()
    assert threads.shutdown(10)


def test_closing_the_window_while_a_sort_moves_files_asks_first(qtbot, settings, tmp_path, monkeypatch):
    """Quitting part-way through a move-sort leaves files in two places (undo puts them back), so
    closing asks first; Cancel keeps the window and the sort going. A copy-sort just stops."""
    from PySide6.QtWidgets import QMessageBox

    from catdog_desktop.core.app import jobs
    from catdog_desktop.ui.main_window import MainWindow

    def sorting_until_stopped(task, *args):
        while not task.should_stop():
            time.sleep(0.01)

    asked, answer = [], [QMessageBox.StandardButton.Cancel]
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a, **k: asked.append(text) or answer[0])
    monkeypatch.setattr(jobs, "sort_files", sorting_until_stopped)
    target = tmp_path / "sorted"
    for move in (True, False):
        monkeypatch.setattr(Classifying, "ask_sort_choice", lambda self, *a, move=move: SortChoice(str(target), move, 0.0))
        win = MainWindow(settings, default_model=None, sample_dataset=None)
        qtbot.addWidget(win)
        win.classifying.sort_into_folders()
        assert win.jobs.busy("sort")
        asked.clear()
        answer[0] = QMessageBox.StandardButton.Cancel
        win.close()
        if move:
            assert asked == [f"Files are being moved into {target}. Stop after the current file and quit?\n\n"
                             "What was moved already stays there; Undo last sort puts it back."]
            assert win.jobs.busy("sort") and win.workers.threads()  # still open, still sorting
            answer[0] = QMessageBox.StandardButton.Yes
            win.close()
        else:
            assert asked == []  # copying: the originals stay where they are
        assert win.workers.threads() == []  # closed: the sort stopped


def test_undo_of_a_sort_whose_log_was_edited_says_what_it_refused_and_touches_nothing(qtbot, tmp_path):
    """Undo last sort on a shared folder whose sort log someone edited (tests/hostile.py): the files
    it names outside the folder stay byte for byte, and the message says which lines were refused."""
    from hostile import make_lying_sort_log

    from catdog_desktop.core.app.session import Session
    from catdog_desktop.ui.classify_panel import ClassifyPanel
    from catdog_desktop.ui.workers import JobRunner, WorkerThreads

    panel = ClassifyPanel()
    qtbot.addWidget(panel)
    threads = WorkerThreads()
    runner, session = JobRunner(threads), Session()
    classifying = Classifying(panel, session, runner, lambda: None)
    lie = make_lying_sort_log(tmp_path)
    session.set_last_sort_target(str(lie.target))
    panel.set_undo_available(str(lie.target))
    classifying.undo_last_sort()
    qtbot.waitUntil(lambda: not runner.busy("sort"), timeout=10_000)
    assert "5 lines of the sort log were refused (nothing was done for them)" in panel.message.text()
    assert "#c62828" in panel.message.text() and panel.message.toolTip().count("refused (sort log line") == 5
    assert all(path.read_bytes() == content for path, content in lie.untouchable.items())
    assert not any(os.path.lexists(p) for p in lie.made_up)
    assert panel.undo_sort_button.isEnabled()  # the older sort in that log is still on offer
    assert threads.shutdown(10)

def test_the_exported_csv_has_no_formulas_and_names_that_are_not_utf8(qtbot, window, tmp_path, monkeypatch):
    """The app's CSV export, with class names a spreadsheet would run and file names that are not
    UTF-8 (the CLI's CSVs: tests/core/test_hostile_names.py)."""
    import csv

    from catdog_desktop.core.model import storage
    from helpers import colour_classifier
    from hostile import FORMULA_CLASSES, rename_to_undecodable

    model = storage.save_bundle(colour_classifier().model, {"class_names": FORMULA_CLASSES, "image_size": 32},
                                tmp_path / "formulas.keras")
    window.load_model(str(model))
    qtbot.waitUntil(lambda: window.session.classifier is not None, timeout=60_000)
    inbox = write_class_folders(tmp_path / "inbox", ["red"], 2) / "red"
    rename_to_undecodable(inbox)
    (inbox / "=1+2.png").write_bytes(b"")  # unreadable: a row too
    panel = window.classify_panel
    drop_files(panel, [inbox])
    qtbot.waitUntil(lambda: finished(panel, 3), timeout=60_000)
    out = tmp_path / "predictions.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Saved 3 rows" in panel.message.text(), timeout=10_000)
    with open(out, newline="", encoding="utf-8-sig") as fh:  # valid UTF-8, or this raises
        rows = list(csv.DictReader(fh))
    assert sorted(os.path.basename(r["path"]) for r in rows) == ["=1+2.png", "\\xffred_000.png", "\\xffred_001.png"]
    assert [r["class"] for r in rows if r["class"]] == ["'" + FORMULA_CLASSES[0]] * 2
    assert not [c for r in rows for c in r.values() if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
