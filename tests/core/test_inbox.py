"""The inbox (issue 25): which picture to label next and why, labels as undoable moves into the
dataset, the faults a user can cause, the head retrained on cached features, and the CLI."""

import json
import os

import numpy as np
import pytest

from catdog_desktop import cli
from catdog_desktop.core.classify import sorting
from catdog_desktop.core.errors import NothingToUndoError
from catdog_desktop.core.label import moves
from catdog_desktop.core.label.choose import rank
from catdog_desktop.core.label.moves import LabelError, LabelRequest, label_picture, label_pictures, undo_last_label
from helpers import coloured_picture as _picture, colour_inbox_folders


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
                  and not p.name.startswith("."))


# ----------------------------------------------------------------------------- choosing


def test_uncertain_first_and_near_identical_shots_do_not_all_come_up():
    rng = np.random.default_rng(0)
    shot = rng.normal(size=64)
    twins = [shot + rng.normal(0, 0.01, 64) for _ in range(6)]       # six shots of the same thing, torn 50/50
    others = [rng.normal(size=64) for _ in range(4)]                  # four different pictures, 65/35
    sure = [rng.normal(size=64) for _ in range(10)]                   # ten the model is sure of
    features = np.stack(twins + others + sure)
    probabilities = np.array([[0.5, 0.5]] * 6 + [[0.65, 0.35]] * 4 + [[0.99, 0.01]] * 10)
    paths = [f"twin{i}.jpg" for i in range(6)] + [f"other{i}.jpg" for i in range(4)] + [f"sure{i}.jpg" for i in range(10)]

    ranked = rank(paths, features, probabilities, ["cats", "dogs"])

    order = [s.path for s in ranked]
    assert order[0].startswith("twin") and ranked[0].reason == "the model is torn between cats (50 %) and dogs (50 %)"
    assert sum(p.startswith("twin") for p in order[:5]) == 1                 # one of the six, then the others
    assert {p for p in order[1:5]} == {f"other{i}.jpg" for i in range(4)}
    assert all("much like twin" in s.reason for s in ranked if s.path.startswith("twin") and s.rank > 1)
    assert all(p.startswith("twin") for p in order[5:10])     # the other shots next: still unsure
    assert all(p.startswith("sure") for p in order[10:])      # the sure ones last
    assert ranked[0].suggestion in ("cats", "dogs") and ranked[-1].suggestion == "cats"
    assert ranked[-1].reason == "the model is fairly sure: cats (99 %)"
    assert [s.rank for s in ranked] == list(range(1, 21))
    assert [s.path for s in rank(paths, features, probabilities, ["cats", "dogs"], top=3)] == order[:3]


def test_without_a_model_the_first_picks_spread_over_the_pile():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 32)) * 5
    features = np.concatenate([centres[k] + rng.normal(0, 0.1, (8, 32)) for k in range(3)])  # three groups of 8
    paths = [f"group{k}_{i}.jpg" for k in range(3) for i in range(8)]

    ranked = rank(paths, features, top=3)

    assert sorted(s.path[:6] for s in ranked) == ["group0", "group1", "group2"]   # one of each group
    assert all(s.suggestion is None and s.probability is None for s in ranked)
    assert ranked[1].reason == "unlike the pictures above it"

    labelled = centres[:2] + 0.05   # groups 0 and 1 already have labels: group 2 first
    ranked = rank(paths, features, labelled=labelled, top=1)
    assert ranked[0].path.startswith("group2") and ranked[0].reason == "unlike anything labelled so far"


# ----------------------------------------------------------------------------- moves


@pytest.fixture
def folders(tmp_path):
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    for i, colour in enumerate([(200, 40, 40), (40, 40, 200), (200, 40, 40), (40, 40, 200)]):
        _picture(inbox / ("deep/er" if i == 3 else "") / f"p{i}.png", colour, seed=i)
    (data / "cats").mkdir(parents=True)
    (data / "dogs").mkdir()
    return inbox, data


def test_labels_move_into_the_dataset_and_undo_label_by_label_then_a_bulk_in_one_step(folders):
    inbox, data = folders
    before = _files(inbox)

    label_picture(str(inbox / "p0.png"), "cats", data)
    label_picture(str(inbox / "p1.png"), "dogs", data)
    assert _files(data) == ["cats/p0.png", "dogs/p1.png"] and _files(inbox) == ["deep/er/p3.png", "p2.png"]

    assert undo_last_label(data).restored == [(str(data / "dogs" / "p1.png"), str(inbox / "p1.png"))]  # last first
    assert _files(data) == ["cats/p0.png"] and (inbox / "p1.png").is_file()
    undo_last_label(data)
    assert _files(inbox) == before and _files(data) == []

    report = label_pictures([LabelRequest(str(inbox / "p0.png"), "cats"), LabelRequest(str(inbox / "p2.png"), "cats"),
                             LabelRequest(str(inbox / "deep/er/p3.png"), "birds")], data, new_class=True)
    assert report.counts == {"cats": 2, "birds": 1} and report.new_classes == ["birds"]
    assert report.summary().startswith("Labelled 3 pictures (cats: 2, birds: 1): moved into")
    assert _files(inbox) == ["p1.png"]
    undo = undo_last_label(data)                       # the whole bulk in one step
    assert len(undo.restored) == 3 and _files(inbox) == before and _files(data) == []
    assert not (data / "birds").exists()               # the folder the bulk made goes with its last picture
    assert (data / "cats").is_dir() and (data / "dogs").is_dir()   # the dataset's own class folders stay
    with pytest.raises(NothingToUndoError, match="There is no label to undo in"):
        undo_last_label(data)


def test_a_new_class_needs_saying_so_and_a_bad_name_is_refused(folders):
    inbox, data = folders
    with pytest.raises(LabelError, match=r"There is no class 'Cats' in .* \(did you mean 'cats'\?\)"):
        label_picture(str(inbox / "p0.png"), "Cats", data)
    with pytest.raises(LabelError, match="'a/b' cannot be a class name"):
        label_picture(str(inbox / "p0.png"), "a/b", data, new_class=True)
    assert _files(data) == []
    label_picture(str(inbox / "p0.png"), "birds", data, new_class=True)
    assert _files(data) == ["birds/p0.png"]


def test_a_picture_that_vanished_or_changed_since_it_was_shown_is_not_moved(folders):
    inbox, data = folders
    shown = {name: os.stat(inbox / name) for name in ("p0.png", "p1.png")}
    (inbox / "p0.png").unlink()
    _picture(inbox / "p1.png", (90, 90, 90), seed=9)   # replaced by another picture of the same name
    os.utime(inbox / "p1.png", ns=(shown["p1.png"].st_atime_ns, shown["p1.png"].st_mtime_ns + 10**9))

    report = label_pictures([LabelRequest(str(inbox / n), "cats", shown[n].st_size, shown[n].st_mtime_ns)
                             for n in ("p0.png", "p1.png")], data)

    assert report.placed == [] and [os.path.basename(p) for p, _ in report.refused] == ["p0.png", "p1.png"]
    assert report.refused[0][1] == ("p0.png is no longer in the inbox (labelled already, moved or deleted since it "
                                    "was shown): nothing was moved.")
    assert report.refused[1][1] == ("p1.png changed since it was shown (edited or replaced): look at it again before "
                                    "labelling it; it was not moved.")
    assert _files(data) == [] and (inbox / "p1.png").is_file()
    # Two labels of one picture in a quick row: the second finds it gone.
    label_picture(str(inbox / "p2.png"), "cats", data)
    with pytest.raises(LabelError, match="p2.png is no longer in the inbox"):
        label_picture(str(inbox / "p2.png"), "dogs", data)
    assert _files(data) == ["cats/p2.png"]


def test_a_name_clash_gets_a_new_name_and_overwrites_nothing(folders):
    inbox, data = folders
    _picture(data / "cats" / "p0.png", (10, 10, 10), seed=5)
    kept = (data / "cats" / "p0.png").read_bytes()
    incoming = (inbox / "p0.png").read_bytes()

    report = label_picture(str(inbox / "p0.png"), "cats", data)

    assert (data / "cats" / "p0.png").read_bytes() == kept and (data / "cats" / "p0 (2).png").read_bytes() == incoming
    assert "p0.png is now p0 (2).png: the name was taken in cats, and nothing is overwritten." in report.summary()
    undo_last_label(data)
    assert (inbox / "p0.png").read_bytes() == incoming and _files(data) == ["cats/p0.png"]


def test_an_unwritable_class_folder_leaves_the_picture_in_the_inbox(folders, monkeypatch):
    inbox, data = folders
    real_move = sorting.fileops.move_file

    def move_file(src, dst_dir, name=None):
        if os.path.basename(dst_dir) == "dogs":
            raise PermissionError(13, "Permission denied", str(dst_dir))
        return real_move(src, dst_dir, name)

    monkeypatch.setattr(sorting.fileops, "move_file", move_file)
    report = label_pictures([LabelRequest(str(inbox / "p0.png"), "cats"), LabelRequest(str(inbox / "p1.png"), "dogs")],
                            data)
    assert _files(data) == ["cats/p0.png"] and (inbox / "p1.png").is_file()
    assert report.refused == [(str(inbox / "p1.png"), f"Cannot put p1.png in dogs: the folder {data / 'dogs'} is not "
                                                      "writable (permission denied); it stays in the inbox.")]
    with pytest.raises(LabelError, match="not writable"):
        label_picture(str(inbox / "deep/er/p3.png"), "dogs", data)


def test_a_crash_between_the_move_and_the_log_leaves_one_file_that_undo_puts_back(folders, monkeypatch):
    inbox, data = folders
    write = sorting._Journal.write

    def crash_before_placed(self, entry, sync=False):
        if entry["op"] == "placed":
            raise OSError(5, "Input/output error")
        return write(self, entry, sync)

    monkeypatch.setattr(sorting._Journal, "write", crash_before_placed)
    with pytest.raises(LabelError, match="stopped after 0 of 1 file: Input/output error.*undoing the labels"):
        label_picture(str(inbox / "p0.png"), "cats", data)
    monkeypatch.setattr(sorting._Journal, "write", write)
    assert _files(data) == ["cats/p0.png"] and not (inbox / "p0.png").exists()   # in one place: the move happened

    undo = undo_last_label(data)
    assert undo.restored == [(str(data / "cats" / "p0.png"), str(inbox / "p0.png"))]
    assert (inbox / "p0.png").is_file() and _files(data) == []


def test_in_a_train_test_layout_labels_go_to_the_training_folder(folders):
    inbox, data = folders
    (data / "cats").rename(data / "train")
    (data / "train" / "cats").mkdir()
    (data / "dogs").rename(data / "test")
    label_picture(str(inbox / "p0.png"), "cats", data)
    assert _files(data) == ["train/cats/p0.png"] and moves.class_folders(data) == ["cats"]
    undo_last_label(data)
    assert (inbox / "p0.png").is_file() and (data / "train" / "cats").is_dir()


def test_inbox_and_dataset_must_not_be_inside_each_other(tmp_path):
    (tmp_path / "inbox" / "data").mkdir(parents=True)
    with pytest.raises(LabelError, match="is inside the inbox"):
        moves.check_folders(tmp_path / "inbox", tmp_path / "inbox" / "data")
    with pytest.raises(LabelError, match="is inside the dataset folder"):
        moves.check_folders(tmp_path / "inbox" / "data", tmp_path / "inbox")


# ----------------------------------------------------------------------------- session, head, CLI


@pytest.fixture
def colour_inbox(tmp_path):
    return colour_inbox_folders(tmp_path)


def test_cli_inbox_json_then_accept_above_and_undo(colour_inbox, tmp_path, capsys):
    from helpers import colour_classifier

    inbox, data = colour_inbox
    model = colour_classifier(tmp_path).path

    assert cli.main(["inbox", str(inbox), "--data", str(data), "--model", model, "--json",
                     "--csv", str(tmp_path / "order.csv")]) == 0
    out = json.loads(capsys.readouterr().out)
    order = [os.path.basename(s["path"]) for s in out["suggestions"]]
    assert out["source"] == "colours.keras" and out["classes"] == ["cats", "dogs"] and len(order) == 10
    assert order[0] in ("purple0.png", "purple1.png", "purple2.png", "olive.png")
    assert sum(name.startswith("purple") for name in order[:3]) == 1 and "olive.png" in order[:3]
    first = out["suggestions"][0]
    assert first["reason"].startswith("the model is torn between") and first["suggestion"] in ("cats", "dogs")
    assert set(first) >= {"path", "rank", "suggestion", "probability", "probabilities", "reason"}
    assert {name for name in order[-4:]} == {"red0.png", "red1.png", "blue0.png", "blue1.png"}
    assert (tmp_path / "order.csv").read_text(encoding="utf-8-sig").splitlines()[0] == \
        "rank,path,suggestion,probability,reason"

    assert cli.main(["label", "--accept-above", "0.99", "--inbox", str(inbox), "--data", str(data),
                     "--model", model, "--dry-run"]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == \
        "4 of 10 pictures are suggested at least 99% sure (nothing moved: --dry-run)."
    assert _files(data) == []
    assert cli.main(["label", "--accept-above", "0.99", "--inbox", str(inbox), "--data", str(data),
                     "--model", model, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {"cats": 2, "dogs": 2}
    assert _files(data) == ["cats/red0.png", "cats/red1.png", "dogs/blue0.png", "dogs/blue1.png"]
    assert cli.main(["label", "--undo", "--data", str(data)]) == 0
    assert capsys.readouterr().out.strip() == "Moved 4 files back where they were."
    assert _files(data) == [] and len(_files(inbox)) == 10

    assert cli.main(["label", str(inbox / "olive.png"), "cat", "--data", str(data)]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: There is no class 'cat' in") and len(err.strip().splitlines()) == 1
    assert cli.main(["label", str(inbox / "olive.png"), "dogs", "--data", str(data)]) == 0
    assert _files(data) == ["dogs/olive.png"]


def test_session_without_a_model_learns_from_labels_and_moves_features_along(colour_inbox):
    from catdog_desktop.core.label.inbox import InboxSession

    inbox, data = colour_inbox
    for i in range(3):
        _picture(data / "cats" / f"c{i}.png", (220, 40 + 10 * i, 30), seed=30 + i)
        _picture(data / "dogs" / f"d{i}.png", (30, 40 + 10 * i, 220), seed=40 + i)
    session = InboxSession(inbox, data, image_size=32)   # the pretrained backbone at 32 px: quick
    session.prepare()
    spread = session.suggestions()
    assert len(spread) == 10 and all(s.suggestion is None for s in spread)
    assert session.labelled_counts == {"cats": 3, "dogs": 3}

    head = session.retrain()
    assert head.trained_on == 6 and head.class_names == ["cats", "dogs"]
    by_name = {os.path.basename(s.path): s for s in session.suggestions()}
    assert by_name["red0.png"].suggestion == "cats" and by_name["blue0.png"].suggestion == "dogs"

    shown = by_name["red0.png"]
    session.label(shown.path, "cats", shown)
    assert shown.path not in session.pictures and session.labelled_counts == {"cats": 4, "dogs": 3}
    assert session.retrain().trained_on == 7   # the new label's features came along: nothing recomputed
    plan = session.accept_plan(0.0)
    assert len(plan) == 9
    report = session.accept(plan[:2])
    assert len(report.placed) == 2 and len(session.pictures) == 7
    session.undo()
    assert len(session.pictures) == 9 and session.labelled_counts == {"cats": 4, "dogs": 3}

    # What the app's Inbox tab runs in its worker (core.app.jobs): the head comes with the session.
    from catdog_desktop.core.app import jobs

    class Task:
        progress = staticmethod(lambda done, total, message="": None)
        should_stop = staticmethod(lambda: False)

    opened, first = jobs.open_inbox(Task(), str(inbox), str(data), None, top=3)
    assert opened.head is not None and opened.head.trained_on == 7 and len(first) == 3
    assert all(s.suggestion in ("cats", "dogs") for s in first)


def test_retraining_catches_up_with_class_folders_changed_by_hand_reading_only_new_pictures(colour_inbox):
    from catdog_desktop.core.label.inbox import InboxSession

    inbox, data = colour_inbox
    for i in range(3):
        _picture(data / "cats" / f"c{i}.png", (220, 40 + 10 * i, 30), seed=30 + i)
        _picture(data / "dogs" / f"d{i}.png", (30, 40 + 10 * i, 220), seed=40 + i)
    session = InboxSession(inbox, data, image_size=32)
    session.prepare()
    assert session.retrain().class_names == ["cats", "dogs"]
    read, passes = [], []
    real = session._compute
    session._compute = lambda paths, *a: read.append(sorted(os.path.basename(p) for p in paths)) or real(paths, *a)
    extractor, caches, size = session._feature_source()
    session._extractor = (lambda x: passes.append(len(x)) or extractor(x), caches, size)

    for i in range(2):                                   # a class folder made by hand
        _picture(data / "birds" / f"b{i}.png", (30, 220, 40), seed=50 + i)
    os.rename(data / "cats" / "c2.png", data / "dogs" / "c2.png")   # a picture moved by hand
    os.remove(data / "dogs" / "d0.png")                              # and one removed
    head = session.retrain()

    assert read == [["b0.png", "b1.png", "c2.png"]]     # only pictures at new places were looked at ...
    assert sum(passes) == 2                              # ... and only the new ones computed (c2 from the cache)
    assert head.class_names == ["birds", "cats", "dogs"] and head.trained_on == 7
    assert session.labelled_counts == {"birds": 2, "cats": 2, "dogs": 3}
    by_name = {os.path.basename(s.path): s for s in session.suggestions()}
    assert by_name["teal.png"].suggestion == "birds" and by_name["red0.png"].suggestion == "cats"


def test_in_a_train_test_layout_the_head_is_scored_on_the_test_pictures_no_label_goes_to(tmp_path):
    from catdog_desktop.core.label.inbox import InboxSession

    inbox, data = tmp_path / "inbox", tmp_path / "data"
    _picture(inbox / "red.png", (230, 30, 20), seed=1)
    for i in range(3):
        _picture(data / "train" / "cats" / f"c{i}.png", (220, 40 + 10 * i, 30), seed=30 + i)
        _picture(data / "train" / "dogs" / f"d{i}.png", (30, 40 + 10 * i, 220), seed=40 + i)
        _picture(data / "test" / "cats" / f"tc{i}.png", (225, 50 + 10 * i, 35), seed=50 + i)
        _picture(data / "test" / "dogs" / f"td{i}.png", (35, 50 + 10 * i, 225), seed=60 + i)
    _picture(data / "test" / "birds" / "tb.png", (30, 220, 40), seed=70)   # a class the head does not know
    session = InboxSession(inbox, data, image_size=32)
    session.prepare()
    assert session.held_out is None
    session.retrain()
    assert session.held_out == (1.0, 6, "test") and session.head.trained_on == 6
    session.label(str(inbox / "red.png"), "cats")
    assert (data / "train" / "cats" / "red.png").exists()
    session.retrain()
    assert session.head.trained_on == 7 and session.held_out[1:] == (6, "test")


def test_undoing_the_only_label_keeps_the_users_dataset_folder(tmp_path):
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    picture = _picture(inbox / "a.png", (200, 30, 30))
    data.mkdir()                                         # the user's dataset folder, empty so far
    label_pictures([LabelRequest(str(picture), "cats")], data, new_class=True)
    assert _files(data) == ["cats/a.png"]
    undo_last_label(data)
    assert picture.exists() and data.is_dir() and not (data / "cats").exists()
