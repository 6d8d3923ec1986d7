"""The Evaluate tab as a user drives it: click a confusion-matrix cell to see its pictures, sort the
mistakes, move / exclude / undo pictures on disk, check labels, evaluate a model on a folder.
The panel runs on its own (no main window, no training): evaluations are made up from numbers."""

import os
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog, QVBoxLayout, QWidget

from catdog_desktop.core.app import jobs
from catdog_desktop.core.data.dataset import scan_dataset
from catdog_desktop.core.evaluate.evaluation import evaluate_probabilities
from catdog_desktop.core.app.session import Session
from catdog_desktop.ui.evaluating import Evaluating
from catdog_desktop.ui.evaluation_panel import EvaluationPanel
from catdog_desktop.ui.workers import JobRunner, WorkerThreads
from helpers import colour_classifier
from synthetic import write_class_folders


@pytest.fixture
def tab(qtbot):
    """The Evaluate panel and its controller, with their own worker threads."""
    host = QWidget()
    qtbot.addWidget(host)
    threads = WorkerThreads()
    runner = JobRunner(threads)
    panel = EvaluationPanel(runner)
    QVBoxLayout(host).addWidget(panel)
    panel.install_charts()
    rescans = []
    session = Session()
    controller = Evaluating(panel, session, runner, host, rescan=rescans.append, status=lambda *a: None)
    host.resize(1100, 700)
    host.show()
    yield SimpleNamespace(panel=panel, controller=controller, session=session, rescans=rescans, jobs=runner)
    threads.shutdown()
    assert threads.threads() == []


def made_up_evaluation(folder, seed=0):
    """The dataset in ``folder`` as if a model had scored it: known labels, random confident answers."""
    scan = scan_dataset(folder)
    paths = scan.train.paths + scan.validation.paths
    labels = np.array(scan.train.labels + scan.validation.labels)
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (len(paths), len(scan.class_names)))
    logits[np.arange(len(paths)), labels] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return scan, evaluate_probabilities(probs, labels, scan.class_names, paths, "validation")


def shown_paths(panel):
    model = panel.gallery.model
    return [model.item(row).path for row in range(model.rowCount())]


def click_cell(qtbot, panel, i, j):
    chart = panel.confusion_chart
    chart.draw()
    x, y = chart.cell_centre(i, j)
    qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, pos=QPoint(round(x), round(y)))


def test_clicking_a_cell_shows_exactly_its_pictures_most_confident_first(qtbot, tab, tmp_path):
    folder = write_class_folders(tmp_path / "pets", ["birds", "cats", "dogs"], 8)
    _, ev = made_up_evaluation(folder)
    tab.panel.show_evaluation(ev, "made up", ev.class_names)
    gallery = tab.panel.gallery
    assert shown_paths(tab.panel) == [m.path for m in ev.mistakes]   # all mistakes first, surest first
    scores = [gallery.model.item(r).score for r in range(gallery.model.rowCount())]
    assert scores == sorted(scores, reverse=True) and len(scores) == len(ev.mistakes) > 3

    for i, j in [(0, 2), (1, 1)]:  # a mistake cell and a diagonal one
        click_cell(qtbot, tab.panel, i, j)
        true, predicted = ev.class_names[i], ev.class_names[j]
        expected = {r.path for r in ev.results if r.true_class == true and r.predicted_class == predicted}
        assert set(shown_paths(tab.panel)) == expected and len(expected) == ev.confusion[i][j]
        assert tab.panel.cell == (i, j)
        cell_scores = [gallery.model.item(r).score for r in range(gallery.model.rowCount())]
        assert cell_scores == sorted(cell_scores, reverse=True)

    gallery.sort_box.setCurrentText("Least confident first")
    cell_scores = [gallery.model.item(r).score for r in range(gallery.model.rowCount())]
    assert cell_scores == sorted(cell_scores)
    caption = gallery.model.data(gallery.model.index(0))
    assert caption.startswith(f"{ev.class_names[1]} ✓ ") and caption.endswith("%")

    # The thumbnails on screen are made in the background, then shown.
    qtbot.waitUntil(lambda: gallery.model.has_thumbnail(gallery.model.item(0).path), timeout=10_000)
    from catdog_desktop.ui.gallery import THUMB

    icon = gallery.model.data(gallery.model.index(0), Qt.ItemDataRole.DecorationRole)  # a 48-px picture,
    assert (icon.width(), icon.height()) == (THUMB, THUMB)  # on a square as all are: the captions line up
    # A double-click opens the picture large (read in the background too).
    rect = gallery.view.visualRect(gallery.model.index(0))
    qtbot.mouseClick(gallery.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a real one presses first
    qtbot.mouseDClick(gallery.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    [dialog] = tab.controller.dialogs
    qtbot.waitUntil(lambda: dialog.picture.pixmap() is not None and not dialog.picture.pixmap().isNull(), timeout=10_000)
    assert gallery.model.item(0).path in dialog.caption.text()
    dialog.close()
    qtbot.mouseClick(tab.panel.all_mistakes_button, Qt.MouseButton.LeftButton)
    assert set(shown_paths(tab.panel)) == {m.path for m in ev.mistakes} and tab.panel.cell is None


def test_move_exclude_and_undo_from_the_gallery_move_the_files(qtbot, tab, tmp_path, dialogs):
    folder = write_class_folders(tmp_path / "pets", ["cats", "dogs"], 6)
    scan, ev = made_up_evaluation(folder, seed=1)
    tab.session.set_dataset(scan)
    tab.controller.show_training(SimpleNamespace(evaluation=ev))
    gallery = tab.panel.gallery
    click_cell(qtbot, tab.panel, 0, 0)  # right answers too can be moved: the cats pictures
    first, second = gallery.model.item(0).path, gallery.model.item(1).path
    contents = {first: open(first, "rb").read(), second: open(second, "rb").read()}
    clash = folder / "dogs" / first.rsplit("/", 1)[1]
    clash.write_bytes(b"a different picture with the same name")

    gallery.select_rows([0])
    assert [a.text() for a in gallery.move_menu.actions()] == ["dogs"]    # not its own class
    [to_dogs] = gallery.move_menu.actions()
    to_dogs.trigger()
    qtbot.waitUntil(lambda: not tab.jobs.busy("edit"), timeout=10_000)
    gallery.move_menu.aboutToShow.emit()                                   # opened again after the move
    assert [a.text() for a in gallery.move_menu.actions()] == ["cats"]
    assert dialogs[-1][0] == "question" and "dogs" in dialogs[-1][2]       # the user was asked
    moved = gallery.model.item(0).path
    assert moved != str(clash) and moved.startswith(str(folder / "dogs"))  # a clash gets a new name
    assert open(moved, "rb").read() == contents[first] and not (folder / "cats" / clash.name).exists()
    assert clash.read_bytes() == b"a different picture with the same name"
    assert "moved to dogs" in gallery.model.data(gallery.model.index(0))

    gallery.select_rows([1])
    qtbot.mouseClick(gallery.exclude_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.jobs.busy("edit"), timeout=10_000)
    excluded = gallery.model.item(1).path
    assert excluded.startswith(str(folder / "_excluded" / "cats")) and open(excluded, "rb").read() == contents[second]
    # These are pictures the model was scored on, not trained on: the words say what exclusion does.
    assert dialogs[-1][1] == "Exclude pictures?" and "out of the dataset" in dialogs[-1][2]
    assert "training" not in dialogs[-1][2].split("\n")[0]
    assert "excluded from the dataset" in gallery.model.data(gallery.model.index(1))
    qtbot.waitUntil(lambda: tab.rescans == [scan.root], timeout=5_000)   # read again once, after the pause
    assert tab.panel.train_again_button.isVisibleTo(tab.panel)
    assert "The dataset changed since" in tab.panel.source.text()
    assert "Train again to see the effect" not in tab.panel.source.text()
    assert "Train again for figures on the dataset as it is now" in tab.panel.source.text()

    for _ in range(2):
        assert gallery.undo_button.isEnabled()
        qtbot.mouseClick(gallery.undo_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not tab.jobs.busy("edit"), timeout=10_000)
    assert not gallery.undo_button.isEnabled()
    for path, data in contents.items():
        assert open(path, "rb").read() == data                            # back where it was, byte for byte
    assert [gallery.model.item(r).path for r in (0, 1)] == [first, second]
    assert not (folder / "_excluded").exists()  # the undo left no empty _excluded/ folders behind
    # Everything is back: the figures are up to date again (the banner and Train again go).
    assert "changed since" not in tab.panel.source.text()
    assert not tab.panel.train_again_button.isVisibleTo(tab.panel)


def test_an_undo_that_stops_part_way_keeps_the_rest_of_its_group_for_the_next_undo(qtbot, tab, tmp_path,
                                                                                   monkeypatch):
    """Undo puts back a whole move of several pictures; when one cannot go back, Undo stays on that
    move (its remaining pictures) instead of going on to the move before it."""
    from catdog_desktop.core.data import edits

    folder = write_class_folders(tmp_path / "pets", ["cats", "dogs"], 10)
    scan, ev = made_up_evaluation(folder, seed=1)
    tab.session.set_dataset(scan)
    tab.controller.show_training(SimpleNamespace(evaluation=ev))
    gallery = tab.panel.gallery
    click_cell(qtbot, tab.panel, 0, 0)
    assert gallery.model.rowCount() >= 3
    first, second, third = (gallery.model.item(r).path for r in range(3))

    def edit(trigger):
        trigger()
        qtbot.waitUntil(lambda: not tab.jobs.busy("edit"), timeout=10_000)

    gallery.select_rows([0])
    edit(next(a for a in gallery.move_menu.actions() if a.text() == "dogs").trigger)  # one move: first
    gallery.select_rows([1, 2])
    edit(gallery.exclude_button.click)                                                # then two together
    real_move = edits.move_file

    def stuck(source, folder_, name=None):
        if name == os.path.basename(second):
            raise PermissionError(13, "Permission denied", str(source))
        return real_move(source, folder_, name)

    monkeypatch.setattr(edits, "move_file", stuck)
    edit(gallery.undo_button.click)            # third comes back, second cannot
    assert os.path.exists(third) and not os.path.exists(second) and not os.path.exists(first)
    assert "Permission denied" in tab.panel.message.text() and gallery.undo_button.isEnabled()
    monkeypatch.setattr(edits, "move_file", real_move)
    edit(gallery.undo_button.click)            # the rest of that group: second, and only it
    assert os.path.exists(second) and not os.path.exists(first)
    assert gallery.undo_button.isEnabled()     # the move of first is still to undo
    edit(gallery.undo_button.click)
    assert os.path.exists(first) and not gallery.undo_button.isEnabled()


def test_no_picture_moves_while_a_training_runs(qtbot, tab, tmp_path):
    folder = write_class_folders(tmp_path / "pets", ["cats", "dogs"], 4)
    scan, ev = made_up_evaluation(folder)
    tab.session.set_dataset(scan)
    tab.controller.show_training(SimpleNamespace(evaluation=ev))
    tab.controller.set_training(True)
    click_cell(qtbot, tab.panel, 1, 1)
    tab.panel.gallery.select_rows([0])
    assert not tab.panel.gallery.exclude_button.isEnabled() and not tab.panel.gallery.move_button.isEnabled()
    tab.controller.exclude([tab.panel.gallery.model.item(0).path])
    assert "Wait for the training" in tab.panel.message.text()
    assert len(list((folder / "dogs").iterdir())) == 4


def test_check_labels_shows_ranked_suggestions(qtbot, tab, tmp_path, monkeypatch):
    folder = write_class_folders(tmp_path / "pets", ["cats", "dogs"], 4)
    scan = scan_dataset(folder)
    tab.session.set_dataset(scan)
    cats = [p for p, y in zip(scan.train.paths, scan.train.labels) if y == 0]
    issue = lambda path, score: SimpleNamespace(path=path, label="cats", suggested="dogs", score=score)  # noqa: E731
    asked = []

    def check_labels(task, folder_, model_path=None):
        asked.append(folder_)
        task.progress(1, 2, "Checking")
        return SimpleNamespace(issues=[issue(cats[0], 0.61), issue(cats[1], 0.93)], checked=8,
                               class_names=["cats", "dogs"], method="cross-validated", skipped=[])

    monkeypatch.setattr(jobs, "check_labels", check_labels)
    qtbot.mouseClick(tab.panel.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.panel.gallery.model.rowCount() == 2, timeout=10_000)
    assert asked == [scan.root]
    assert shown_paths(tab.panel) == [cats[1], cats[0]]                  # the likeliest first
    assert tab.panel.gallery.model.data(tab.panel.gallery.model.index(0)) == "labelled cats — looks like dogs, score 0.93"
    assert "suggestions" in tab.panel.gallery.title.text()
    assert tab.panel.gallery.class_names == ["cats", "dogs"]             # and they can be moved from here


def test_evaluate_on_a_folder_reports_classes_the_model_does_not_know(qtbot, tab, tmp_path, monkeypatch):
    zoo = write_class_folders(tmp_path / "zoo", ["cats", "dogs", "birds"], 4, seed=2)  # red, blue, green
    tab.session.set_model(colour_classifier())
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(zoo))
    qtbot.mouseClick(tab.panel.evaluate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.panel.evaluation is not None, timeout=60_000)
    ev = tab.panel.evaluation
    assert ev.class_names == ["cats", "dogs"] and ev.count == 8
    assert "birds (4)" in tab.panel.summary.text() and "100.0%" in tab.panel.summary.text()
    assert "correct</span> on all 8 pictures" in tab.panel.summary.text()
    assert "zoo" in tab.panel.source.text() and tab.panel.evaluate_button.isEnabled()
    assert tab.panel.gallery.class_names == ["birds", "cats", "dogs"]    # any of the folder's classes


def test_after_a_move_train_again_trains_on_the_folder_as_it_is_now(qtbot, window, monkeypatch, tmp_path):
    from ui_helpers import choose_folder

    folder = write_class_folders(tmp_path / "pets", ["cats", "dogs"], 6)
    choose_folder(qtbot, window, monkeypatch, folder)
    _, ev = made_up_evaluation(folder)
    window.evaluating.show_training(SimpleNamespace(evaluation=ev))
    window.tabs.setCurrentWidget(window.evaluation_panel)
    gallery, panel = window.evaluation_panel.gallery, window.evaluation_panel
    gallery.select_rows([0])
    excluded = gallery.model.item(0).path
    qtbot.mouseClick(gallery.exclude_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.train_again_button.isVisible(), timeout=10_000)
    trainings = []
    monkeypatch.setattr(window.training_panel, "request_training", lambda: trainings.append(window.session.scan))
    qtbot.mouseClick(panel.train_again_button, Qt.MouseButton.LeftButton)  # at once: before the re-scan's pause
    qtbot.waitUntil(lambda: len(trainings) == 1, timeout=30_000)
    scan = trainings[0]
    every = scan.train.paths + scan.validation.paths
    assert excluded not in every and len(every) == 11                  # read again, without the excluded one
    assert window.tabs.currentWidget() is window.training_panel


def test_two_large_views_open_at_once_each_show_their_picture(qtbot, tab, tmp_path):
    """Each large view loads its picture in a job of its own: a second one does not leave the first
    on "Loading…"."""
    from catdog_desktop.ui.gallery import GalleryItem, PictureDialog

    folder = write_class_folders(tmp_path / "pets", ["cats", "dogs"], 1)
    paths = [str(next((folder / name).iterdir())) for name in ("cats", "dogs")]
    dialogs = [PictureDialog(GalleryItem(path, "cats → dogs 90%", path, 0.9, "cats", "dogs"), tab.jobs)
               for path in paths]
    for dialog in dialogs:
        qtbot.addWidget(dialog)
        dialog.show()
    qtbot.waitUntil(lambda: all(d._plain is not None for d in dialogs), timeout=10_000)
    assert all(not d.picture.pixmap().isNull() for d in dialogs)
    assert not dialogs[0].heatmap_box.isEnabled()  # no model: no heatmap to offer


def test_a_model_without_mistakes_says_so_instead_of_listing_none(qtbot, tab, tmp_path):
    folder = write_class_folders(tmp_path / "pets", ["cats", "dogs"], 4)
    scan = scan_dataset(folder)
    labels = np.array(scan.train.labels + scan.validation.labels)
    probs = np.eye(2)[labels] * 0.9 + 0.05  # every answer right
    ev = evaluate_probabilities(probs, labels, scan.class_names, scan.train.paths + scan.validation.paths, "validation")
    tab.panel.show_evaluation(ev, "made up", ev.class_names)
    assert "No mistakes" in tab.panel.gallery.title.text() and tab.panel.gallery.model.rowCount() == 0
    assert "0 mistakes" not in tab.panel.gallery.title.text()
