"""Classifying a folder into a CSV, and sorting files into class folders: never a file lost or
overwritten, a crash half-way leaves each file in one place, and undo puts moved files back."""

import json
import os

import pytest

from catdog_desktop import cli
from catdog_desktop.core import fileops
from catdog_desktop.core.classify import sorting
from catdog_desktop.core.classify.results import BatchResults, read_csv
from catdog_desktop.core.errors import CatdogError
from catdog_desktop.core.classify.classifier import Prediction


def run_here(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def prediction(path, cls, p):
    other = "dogs" if cls == "cats" else "cats"
    return Prediction(path=str(path), class_name=cls, probability=p, probabilities={cls: p, other: 1 - p})


def copy_of_validation_pictures(scan, folder, count):
    """``folder`` (made here) holding copies of the first ``count`` validation pictures of ``scan``."""
    folder.mkdir()
    for path in scan.validation.paths[:count]:
        (folder / os.path.basename(path)).write_bytes(open(path, "rb").read())
    return folder


def files_under(folder):
    """{relative path: bytes} of every file below ``folder`` (the sort log left out)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != sorting.JOURNAL_NAME}


@pytest.fixture
def photos(tmp_path):
    """src/ with six files and their predictions: four sure, one unsure, one unreadable."""
    src = tmp_path / "src"
    src.mkdir()
    made = [("a.jpg", "cats", 0.9), ("b.jpg", "cats", 0.8), ("c.jpg", "dogs", 0.95), ("d.jpg", "dogs", 0.7),
            ("e.jpg", "cats", 0.55)]
    predictions = []
    for name, cls, p in made:
        (src / name).write_bytes(f"picture {name}".encode())
        predictions.append(prediction(src / name, cls, p))
    (src / "broken.jpg").write_bytes(b"")
    predictions.append(Prediction(path=str(src / "broken.jpg"), error="the file is empty (0 bytes)"))
    return src, predictions


def test_predict_writes_one_csv_row_per_file_and_never_replaces_a_csv(trained, tmp_path, capsys):
    scan, _, model = trained
    folder = copy_of_validation_pictures(scan, tmp_path / "mixed", 5)
    (folder / "empty.png").write_bytes(b"")
    out = tmp_path / "out.csv"
    code, _, stderr = run_here(capsys, "predict", model, folder, "--csv", out)
    assert code == cli.EXIT_SOME_FAILED and "wrote" in stderr
    rows = read_csv(out)
    assert list(rows[0]) == ["path", "class", "confidence", "not_sure", "unfamiliar", "p_cats", "p_dogs", "error"]
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in folder.iterdir())
    good = [r for r in rows if not r["error"]]
    assert len(good) == 5 and all(r["class"] in ("cats", "dogs") for r in good)
    for r in good:
        probs = float(r["p_cats"]), float(r["p_dogs"])
        assert sum(probs) == pytest.approx(1, abs=1e-5) and float(r["confidence"]) == pytest.approx(max(probs), abs=1e-6)
    bad = [r for r in rows if r["error"]]
    assert [os.path.basename(r["path"]) for r in bad] == ["empty.png"] and "empty" in bad[0]["error"] and not bad[0]["class"]

    before = out.read_bytes()
    code, _, stderr = run_here(capsys, "predict", model, folder, "--csv", out)
    assert code == cli.EXIT_ERROR and "already exists" in stderr and "--force" in stderr
    assert out.read_bytes() == before
    code, _, _ = run_here(capsys, "predict", model, scan.validation.paths[0], "--csv", out, "--force")
    assert code == cli.EXIT_OK and len(read_csv(out)) == 1


def test_copy_sort_puts_each_picture_in_its_class_and_never_overwrites(photos, tmp_path):
    src, predictions = photos
    target = tmp_path / "sorted"
    (target / "cats").mkdir(parents=True)
    (target / "cats" / "a.jpg").write_bytes(b"somebody else's cat")
    originals = files_under(src)
    report = sorting.sort_files(predictions, ["cats", "dogs"], target, threshold=0.6, sources=[src])
    assert files_under(src) == originals  # a copy leaves the source alone
    assert files_under(target) == {
        "cats/a.jpg": b"somebody else's cat", "cats/a (2).jpg": b"picture a.jpg", "cats/b.jpg": b"picture b.jpg",
        "dogs/c.jpg": b"picture c.jpg", "dogs/d.jpg": b"picture d.jpg", "uncertain/e.jpg": b"picture e.jpg"}
    assert report.counts == {"cats": 2, "dogs": 2, "uncertain": 1} and report.renamed == 1
    assert report.unreadable == [(str(src / "broken.jpg"), "the file is empty (0 bytes)")]
    assert "Copied 5 files" in report.summary() and "1 unreadable file was left where it is" in report.summary()
    sorted_rows = [prediction(dst, p.class_name, p.probability) for (src, dst), p in zip(report.placed, predictions)]
    again = sorting.sort_files(sorted_rows, ["cats", "dogs"], target, move=True, threshold=0.6)  # the same files, already in place
    assert len(again.placed) == 5 and files_under(target) == {
        "cats/a.jpg": b"somebody else's cat", "cats/a (2).jpg": b"picture a.jpg", "cats/b.jpg": b"picture b.jpg",
        "dogs/c.jpg": b"picture c.jpg", "dogs/d.jpg": b"picture d.jpg", "uncertain/e.jpg": b"picture e.jpg"}
    assert sorting.undo_last_sort(target).restored == []  # that sort moved nothing: nothing to put back

    undo = sorting.undo_last_sort(target)  # removes our copies only
    assert len(undo.restored) == 5 and files_under(target) == {"cats/a.jpg": b"somebody else's cat"}
    assert files_under(src) == originals and not (target / "dogs").exists()


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_move_that_crashes_half_way_leaves_every_file_in_one_place_and_undo_restores(photos, tmp_path, monkeypatch, when):
    src, predictions = photos
    originals = files_under(src)
    target = tmp_path / "sorted"
    real_move, calls = fileops.move_file, []

    def crashing_move(source, folder, name=None):
        calls.append(source)
        if len(calls) == 3:
            if when == "after":
                real_move(source, folder, name)  # the file moved, the journal not yet told
            raise RuntimeError("simulated crash")
        return real_move(source, folder, name)

    monkeypatch.setattr(fileops, "move_file", crashing_move)
    with pytest.raises(RuntimeError):
        sorting.sort_files(predictions, ["cats", "dogs"], target, move=True)
    monkeypatch.setattr(fileops, "move_file", real_move)
    in_source, in_target = files_under(src), files_under(target)
    everywhere = sorted(list(in_source.values()) + list(in_target.values()))
    assert everywhere == sorted(originals.values())  # each file once, complete
    assert len(in_target) == (3 if when == "after" else 2)

    report = sorting.undo_last_sort(target)
    assert files_under(src) == originals
    assert len(report.restored) == len(in_target) and report.kept == []
    assert not target.exists()  # the folder the sort made, left empty, went too (test_undo_removes_…)
    with pytest.raises(CatdogError, match="does not exist"):
        sorting.undo_last_sort(target)


def test_undo_removes_the_target_it_leaves_empty_and_keeps_the_sort_log_in_the_apps_data_folder(photos, tmp_path):
    src, predictions = photos
    originals = files_under(src)
    target = tmp_path / "sorted"
    sorting.sort_files(predictions, ["cats", "dogs"], target, move=True)
    journal = (target / sorting.JOURNAL_NAME).read_text()
    report = sorting.undo_last_sort(target)
    assert files_under(src) == originals and not target.exists()  # not an empty folder holding a hidden log
    kept = report.log_kept
    assert kept and os.path.dirname(kept) == str(fileops.data_dir() / "sort-logs")
    assert open(kept).read().startswith(journal)  # the whole history, the undo's lines after it
    assert f"{target} was left empty and removed; its sort log is kept in {kept}." in report.summary()

    # A target with anything else in it stays, log and all.
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    sorting.sort_files(predictions[:1], ["cats", "dogs"], target, move=True)
    report = sorting.undo_last_sort(target)
    assert report.log_kept == "" and (target / "mine.txt").read_text() == "keep me"
    assert (target / sorting.JOURNAL_NAME).exists() and "removed" not in report.summary()


def test_undo_never_overwrites_a_file_that_took_a_moved_files_name(photos, tmp_path):
    src, predictions = photos
    target = tmp_path / "sorted"
    report = sorting.sort_files(predictions, ["cats", "dogs"], target, move=True)
    assert len(report.placed) == 5 and sorted(os.listdir(src)) == ["broken.jpg"]  # unreadable: never touched
    (src / "a.jpg").write_bytes(b"a new picture")
    undo = sorting.undo_last_sort(target)
    assert (src / "a.jpg").read_bytes() == b"a new picture" and (src / "a (2).jpg").read_bytes() == b"picture a.jpg"
    assert undo.renamed == 1 and "new name" in undo.summary()


def test_summaries_count_one_file_in_the_singular():
    one = sorting.SortReport(target="t", move=True, failed=[("/in/dog.1002.jpg", "permission denied")])
    assert "1 file could not be moved: dog.1002.jpg (permission denied)." in one.summary()
    two = sorting.SortReport(target="t", move=False, failed=[("/in/a.jpg", "gone"), ("/in/b.jpg", "gone")])
    assert "2 files could not be copied, e.g. a.jpg: gone." in two.summary()
    undo = sorting.UndoReport(target="t", move=True, kept=[("/t/cats/a.jpg", "it was changed")], renamed=1)
    assert undo.summary() == ("Moved 0 files back where they were. 1 got a new name because another file now has "
                              "its name. 1 file was left as it is: a.jpg (it was changed).")
    undo.kept.append(("/t/cats/b.jpg", "gone"))
    assert "2 files were left as they are, e.g. a.jpg: it was changed." in undo.summary()


def test_a_picture_gone_since_classifying_is_skipped_and_the_sort_goes_on(photos, tmp_path):
    """Sorting the same results into the same target twice (the pictures were moved by the first
    sort), or a picture deleted after classifying: listed as skipped, the others are sorted, and
    the journal records a complete sort (it used to stop at the first missing file)."""
    src, predictions = photos
    originals = files_under(src)
    target = tmp_path / "sorted"
    first = sorting.sort_files(predictions, ["cats", "dogs"], target, move=True)
    assert len(first.placed) == 5
    again = sorting.sort_files(predictions, ["cats", "dogs"], target, move=True)
    assert again.placed == [] and len(again.failed) == 5
    assert {reason for _, reason in again.failed} == {sorting.MISSING} and "no longer there" in again.summary()
    assert sorting.read_journal(target)[-1].ended
    assert sorting.undo_last_sort(target).restored == []  # the second sort moved nothing
    assert len(sorting.undo_last_sort(target).restored) == 5 and files_under(src) == originals

    os.unlink(src / "c.jpg")  # deleted after classifying
    copied = sorting.sort_files(predictions, ["cats", "dogs"], tmp_path / "copies")
    assert copied.failed == [(str(src / "c.jpg"), sorting.MISSING)] and len(copied.placed) == 4


def test_the_target_must_not_be_inside_the_source(photos, tmp_path):
    src, predictions = photos
    for target in (src, src / "sorted"):
        with pytest.raises(CatdogError, match="inside"):
            sorting.sort_files(predictions, ["cats", "dogs"], target, sources=[src])
    assert sorted(os.listdir(src)) == ["a.jpg", "b.jpg", "broken.jpg", "c.jpg", "d.jpg", "e.jpg"]


def test_cli_sort_moves_then_undo_sort_puts_back(trained, tmp_path, capsys):
    scan, _, model = trained
    src = copy_of_validation_pictures(scan, tmp_path / "inbox", 6)
    originals = files_under(src)
    code, _, stderr = run_here(capsys, "sort", model, src, "--to", src / "out")
    assert code == cli.EXIT_ERROR and "inside" in stderr
    code, stdout, _ = run_here(capsys, "--json", "sort", model, src, "--to", tmp_path / "out", "--move",
                               "--csv", tmp_path / "p.csv")
    result = json.loads(stdout)
    assert code == cli.EXIT_OK and result["placed"] == 6 and sum(result["counts"].values()) == 6
    assert os.listdir(src) == [] and len(read_csv(tmp_path / "p.csv")) == 6
    for row in read_csv(tmp_path / "p.csv"):
        assert (tmp_path / "out" / row["class"] / os.path.basename(row["path"])).is_file()
    code, stdout, _ = run_here(capsys, "undo-sort", tmp_path / "out")
    assert code == cli.EXIT_OK and "Moved 6 files back" in stdout and files_under(src) == originals


def test_unsure_and_unfamiliar_pictures_are_counted_and_sorted_apart(photos):
    _, predictions = photos
    results = BatchResults(["cats", "dogs"], predictions)
    assert results.counts() == {"cats": 3, "dogs": 2}
    assert results.counts(threshold=0.6) == {"cats": 2, "dogs": 2, "uncertain": 1}
    predictions[0].unfamiliar = True   # as the Classifier flags them
    predictions[3].uncertain = True
    moves, unreadable = sorting.plan(predictions, ["cats", "dogs"])
    assert [folder for _, folder in moves] == ["uncertain", "cats", "dogs", "uncertain", "cats"] and len(unreadable) == 1
    moves, _ = sorting.plan(predictions, ["cats", "dogs"], threshold=0.0)  # an explicit threshold replaces the flag
    assert [folder for _, folder in moves] == ["uncertain", "cats", "dogs", "dogs", "cats"]


def test_two_batches_at_once_give_the_same_answers_in_order_and_stop_between_batches(tmp_path):
    """predict_paths keeps two batches with the model at once (for speed): answers and their
    order are those of one batch at a time, unreadable files keep their place, and a stop ends it."""
    from helpers import colour_classifier
    from synthetic import write_class_folders

    write_class_folders(tmp_path, ["cats", "dogs"], 23, size=40)
    paths = sorted(str(p) for p in tmp_path.rglob("*.png"))
    (tmp_path / "empty.jpg").write_bytes(b"")
    paths.insert(17, str(tmp_path / "empty.jpg"))
    classifier = colour_classifier()
    one = classifier.predict_paths(paths, batch_size=5, streams=1)
    seen = []
    two = classifier.predict_paths(paths, batch_size=5, streams=2, on_result=lambda i, p: seen.append((i, p.path)))
    assert [p.path for p in two] == paths and seen == list(enumerate(paths))
    assert [(p.class_name, p.error) for p in two] == [(p.class_name, p.error) for p in one]
    assert two[17].error and [p.class_name for p in two[:23]].count("cats") == 22  # red first, the empty file among them
    calls = []
    stopped = classifier.predict_paths(paths, batch_size=5, streams=2, should_stop=lambda: len(calls) > 12,
                                       on_result=lambda i, p: calls.append(i))
    assert 12 < len(stopped) < len(paths) and [p.path for p in stopped] == paths[:len(stopped)]


def test_a_picture_of_one_flat_colour_is_sorted_apart_whatever_the_threshold(photos):
    from catdog_desktop.core.data.images import FLAT_PICTURE

    _, predictions = photos
    predictions[2].doubt, predictions[2].uncertain = FLAT_PICTURE, True  # 95 % "dogs" for a blank picture
    for threshold in (None, 0.0, 0.5):
        moves, _ = sorting.plan(predictions, ["cats", "dogs"], threshold=threshold)
        assert moves[2][1] == "uncertain"
    assert BatchResults(["cats", "dogs"], predictions).counts(threshold=0.0) == {"cats": 3, "dogs": 1, "uncertain": 1}
