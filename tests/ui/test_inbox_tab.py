"""The Inbox tab (issue 25): the picture the model most needs labelled shown first with its
suggestion and why, one key per label (1-9, Enter, S, N, Backspace), moves into the dataset with
undo, "accept all this sure" counted and confirmed first, and the model learning from the labels
in the background while labelling goes on."""

import os

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

from helpers import colour_classifier, colour_inbox_folders, coloured_picture
from catdog_desktop.ui import labelling as labelling_flow


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


@pytest.fixture
def inbox_tab(qtbot, window, tmp_path):
    """The window's Inbox tab open on the colour inbox, suggesting with the colour model in use."""
    inbox, data = colour_inbox_folders(tmp_path)
    window.session.set_model(colour_classifier(tmp_path))
    panel, flow = window.inbox_panel, window.labelling
    window.tabs.setCurrentWidget(panel)
    panel.set_folders(str(inbox), str(data))
    assert panel.use_model_box.isEnabled()
    panel.use_model_box.setChecked(True)
    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: flow.inbox is not None, timeout=60_000)
    return window, panel, flow, inbox, data


def _key(qtbot, panel, key):
    panel.setFocus()
    qtbot.keyClick(panel, key)


def _undo(qtbot, window, panel):
    """Backspace, and wait for the undo's worker (an accept-all's undo checks every picture)."""
    _key(qtbot, panel, Qt.Key.Key_Backspace)
    qtbot.waitUntil(lambda: not window.jobs.busy("inbox-undo"), timeout=30_000)


def test_keys_label_skip_accept_and_undo_the_picture_shown(qtbot, inbox_tab):
    window, panel, flow, inbox, data = inbox_tab
    first = flow.queue[0]
    assert os.path.basename(first.path) in ("purple0.png", "purple1.png", "purple2.png", "olive.png")
    assert panel.reason.text().startswith("Why now: the model is torn between")
    assert [b.text() for b in panel._class_buttons] == ["1 · cats", "2 · dogs"]
    assert "10 pictures to label" in panel.counts.text() and "colours.keras" in panel.counts.text()

    _key(qtbot, panel, Qt.Key.Key_2)                     # "dogs"
    assert os.path.exists(data / "dogs" / os.path.basename(first.path)) and not os.path.exists(first.path)
    assert flow.queue[0].path != first.path and "Labelled 1 picture (dogs: 1)" in panel.message.text()

    _undo(qtbot, window, panel)                          # back into the inbox, and shown first again
    assert os.path.exists(first.path) and _files(data) == []
    assert flow.queue[0].path == first.path and panel.message.text() == "Moved 1 file back where they were."

    _key(qtbot, panel, Qt.Key.Key_S)                     # skipped: stays, comes after the others
    assert os.path.exists(first.path) and flow.queue[-1].path == first.path and len(flow.queue) == 10

    shown = flow.queue[0]
    _key(qtbot, panel, Qt.Key.Key_Return)                # the suggestion
    assert os.path.exists(data / shown.suggestion / os.path.basename(shown.path))
    assert len(flow.queue) == 9 and len(os.listdir(data / "cats")) + len(os.listdir(data / "dogs")) == 1


def test_a_new_class_from_the_n_key_makes_its_folder_and_a_button(qtbot, inbox_tab, monkeypatch):
    window, panel, flow, inbox, data = inbox_tab
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("birds", True))
    shown = flow.queue[0]
    _key(qtbot, panel, Qt.Key.Key_N)
    assert _files(data) == [f"birds/{os.path.basename(shown.path)}"]
    assert [b.text() for b in panel._class_buttons] == ["1 · cats", "2 · dogs", "3 · birds"]   # keys keep their class
    assert "New class: birds." in panel.message.text()
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("a/b", True))
    _key(qtbot, panel, Qt.Key.Key_N)                     # a name no folder can have: said, nothing moved
    assert "a/b" in panel.message.text() and panel.message.styleSheet() and len(_files(data)) == 1


def test_accept_all_says_how_many_first_and_one_undo_takes_them_all_back(qtbot, inbox_tab, monkeypatch):
    window, panel, flow, inbox, data = inbox_tab
    asked = []
    answer = [QMessageBox.StandardButton.Cancel]
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a, **k: asked.append(text) or answer[0])
    panel.accept_above.setValue(99)
    qtbot.mouseClick(panel.accept_all_button, Qt.MouseButton.LeftButton)
    assert asked[0].startswith("Label 4 pictures of 10 with the model's suggestion, each at least 99% sure "
                               "(cats 2, dogs 2)?")
    assert _files(data) == []                           # cancelled: nothing moved

    answer[0] = QMessageBox.StandardButton.Yes
    qtbot.mouseClick(panel.accept_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.jobs.busy("inbox-accept"), timeout=30_000)
    assert _files(data) == ["cats/red0.png", "cats/red1.png", "dogs/blue0.png", "dogs/blue1.png"]
    assert len(flow.queue) == 6 and "Labelled 4 pictures" in panel.message.text()
    assert panel.undo_button.isEnabled() and panel.accept_all_button.isEnabled()   # labelling goes on at once
    qtbot.waitUntil(lambda: not window.jobs.busy("inbox-retrain"), timeout=30_000)

    _undo(qtbot, window, panel)
    assert _files(data) == [] and len(_files(inbox)) == 10 and len(flow.queue) == 10


def test_the_model_learns_every_few_labels_while_labelling_goes_on(qtbot, inbox_tab, monkeypatch):
    window, panel, flow, inbox, data = inbox_tab
    for seed, name in enumerate(("red2", "red3")):
        coloured_picture(data / "cats" / f"{name}.png", (220, 40, 30), seed=60 + seed)
    coloured_picture(data / "dogs" / "blue9.png", (30, 40, 220), seed=9)
    started = []
    real_start = window.jobs.start
    monkeypatch.setattr(window.jobs, "start", lambda kind, *a, **k: started.append(kind) or real_start(kind, *a, **k))
    for _ in range(labelling_flow.RETRAIN_EVERY - 1):
        shown = flow.queue[0]
        flow.label("cats" if "red" in shown.path or "pink" in shown.path or "purple" in shown.path else "dogs")
    assert "inbox-retrain" not in started and flow.inbox.head is None
    flow.label("dogs")
    assert "inbox-retrain" in started
    flow.label("dogs")                                   # labelling goes on while it learns
    # ... and learns once more when it is done, from all of them (and the 3 pictures put in the folders by hand)
    qtbot.waitUntil(lambda: flow.inbox.head is not None and flow.inbox.head.trained_on == 9
                    and not window.jobs.busy("inbox-retrain"), timeout=60_000)
    assert flow.inbox.head.class_names == ["cats", "dogs"]
    assert all(s.path in flow.inbox.pictures for s in flow.queue) and len(flow.queue) == 4
    assert "a classifier trained just now on" in panel.counts.text()
    qtbot.waitUntil(lambda: panel.chart is not None and bool(panel.chart.points), timeout=10_000)
    assert panel.chart.points[-1][0] == flow.inbox.head.trained_on


def test_a_picture_gone_since_it_was_shown_is_said_and_left_out(qtbot, inbox_tab):
    window, panel, flow, inbox, data = inbox_tab
    shown = flow.queue[0]
    os.remove(shown.path)
    _key(qtbot, panel, Qt.Key.Key_1)
    assert panel.message.styleSheet() and os.path.basename(shown.path) in panel.message.text()
    assert flow.queue[0].path != shown.path and _files(data) == []
    assert shown.path not in flow.inbox.pictures          # not offered again after the next retrain


def test_opening_without_folders_or_with_the_inbox_inside_the_dataset_says_why(qtbot, window, tmp_path):
    panel, flow = window.inbox_panel, window.labelling
    panel.set_folders("", "")
    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    assert panel.message.text().startswith("Choose the folder of unlabelled pictures")
    (tmp_path / "data" / "new").mkdir(parents=True)
    panel.set_folders(str(tmp_path / "data" / "new"), str(tmp_path / "data"))
    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.jobs.busy("inbox-open"), timeout=30_000)
    assert panel.message.styleSheet() and "inside" in panel.message.text() and flow.inbox is None
    assert not panel.accept_button.isEnabled() and panel.open_button.isEnabled()


def test_the_labels_chart_adds_the_test_line_only_when_the_dataset_has_test_pictures(qtbot):
    from catdog_desktop.ui.chart import LabelsChart

    chart = LabelsChart()
    qtbot.addWidget(chart)
    assert chart.empty_text.get_visible() and not chart.ax.get_visible()
    chart.add_point(10, 0.8)
    chart.add_point(15, None)                               # not estimated: no point
    assert chart.points == [(10, 0.8)] and not chart.legend.get_visible() and not chart.empty_text.get_visible()
    chart.add_point(20, 0.9, 0.95)
    chart.add_point(20, 0.92, 0.96)                         # the same count again: replaced
    assert chart.points == [(10, 0.8), (20, 0.92)] and chart.test_points == [(20, 0.96)]
    assert chart.legend.get_visible() and list(chart.test_line.get_ydata()) == [0.96]


def test_save_as_a_model_learns_a_class_made_by_hand_and_can_become_the_model_in_use(qtbot, inbox_tab, monkeypatch,
                                                                                     tmp_path, dialogs):
    window, panel, flow, inbox, data = inbox_tab
    panel.accept_above.setValue(99)
    qtbot.mouseClick(panel.accept_all_button, Qt.MouseButton.LeftButton)    # 2 cats, 2 dogs (asked: yes)
    qtbot.waitUntil(lambda: not window.jobs.busy("inbox-accept"), timeout=30_000)
    for i in range(2):
        coloured_picture(data / "birds" / f"b{i}.png", (30, 220, 40), seed=80 + i)
    monkeypatch.setattr(window.models, "ask_save_path", lambda classifier: str(tmp_path / "updated.keras"))
    qtbot.mouseClick(panel.save_model_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.jobs.busy("inbox-save"), timeout=120_000)
    assert panel.message.text().startswith(f"Saved {tmp_path / 'updated.keras'}: gained the class 'birds'")
    assert dialogs[-1][1] == "Use the saved model?"                       # answered yes: it is opened
    qtbot.waitUntil(lambda: window.session.classifier is not None
                    and window.session.classifier.class_names == ["birds", "cats", "dogs"], timeout=60_000)
    assert (tmp_path / "colours.keras").exists()                          # the old model is untouched


def test_save_as_a_model_without_a_model_says_what_to_do(qtbot, window, tmp_path):
    inbox, data = colour_inbox_folders(tmp_path)
    for i in range(2):
        coloured_picture(data / "cats" / f"c{i}.png", (220, 40, 30), seed=i)
        coloured_picture(data / "dogs" / f"d{i}.png", (30, 40, 220), seed=10 + i)
    panel, flow = window.inbox_panel, window.labelling
    panel.set_folders(str(inbox), str(data))
    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: flow.inbox is not None, timeout=120_000)
    qtbot.mouseClick(panel.save_model_button, Qt.MouseButton.LeftButton)
    assert panel.message.text().startswith("Saving a model needs a model to start from")
    assert not window.jobs.busy("inbox-save")


def test_class_keys_keep_their_class_when_the_first_label_makes_its_folder(qtbot, inbox_tab):
    window, panel, flow, inbox, data = inbox_tab
    assert [b.text() for b in panel._class_buttons] == ["1 · cats", "2 · dogs"]
    (data / "cats").rmdir()
    (data / "dogs").rmdir()                              # the model's classes, no folders yet
    first, second = flow.queue[0], flow.queue[1]
    _key(qtbot, panel, Qt.Key.Key_2)                     # "dogs": its folder is made, no "new class" asked
    assert _files(data) == [f"dogs/{os.path.basename(first.path)}"]
    assert [b.text() for b in panel._class_buttons] == ["1 · cats", "2 · dogs"]   # 1 is still cats
    _key(qtbot, panel, Qt.Key.Key_1)
    assert f"cats/{os.path.basename(second.path)}" in _files(data)


def test_enter_in_the_percentage_box_labels_nothing_and_on_next_up_brings_that_picture_forward(qtbot, inbox_tab):
    window, panel, flow, inbox, data = inbox_tab
    panel.accept_above.setFocus()
    qtbot.waitUntil(lambda: panel.accept_above.hasFocus() or panel.accept_above.lineEdit().hasFocus())
    qtbot.keyClick(panel.accept_above, Qt.Key.Key_Return)
    assert _files(data) == [] and len(flow.queue) == 10
    third = flow.queue[2]
    panel.next_up.setFocus()
    panel.next_up.setCurrentRow(1)                       # the third picture (the list starts after the one shown)
    qtbot.keyClick(panel.next_up, Qt.Key.Key_Return)
    assert flow.queue[0].path == third.path and _files(data) == []


def test_an_undo_while_the_model_learns_keeps_the_picture_in_the_queue(qtbot, inbox_tab):
    window, panel, flow, inbox, data = inbox_tab
    for _ in range(labelling_flow.RETRAIN_EVERY):
        shown = flow.queue[0]
        flow.label("cats" if "red" in shown.path or "purple" in shown.path else "dogs")
    last = shown.path
    assert window.jobs.busy("inbox-retrain")
    _undo(qtbot, window, panel)                          # the retrain's suggestions were made before it
    qtbot.waitUntil(lambda: not window.jobs.busy("inbox-retrain"), timeout=60_000)
    assert os.path.exists(last) and last in [s.path for s in flow.queue] and len(flow.queue) == 6


def test_reopening_while_the_model_learns_drops_the_old_inboxs_answer(qtbot, inbox_tab):
    window, panel, flow, inbox, data = inbox_tab
    flow.label("dogs")
    flow.retrain()
    old = flow.inbox
    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: flow.inbox is not None and flow.inbox is not old, timeout=60_000)
    qtbot.waitUntil(lambda: not window.jobs.busy("inbox-retrain"), timeout=60_000)
    assert len(flow.queue) == 9 and all(s.path in flow.inbox.pictures for s in flow.queue)
