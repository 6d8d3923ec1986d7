"""Evaluation keeps every picture's result (what the Evaluate tab's gallery shows), a model scored on
a folder leaves out the classes it does not know, and the CLI lists the mistakes with their paths.
No training: a tiny Keras model that tells red from blue pictures is built here."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from catdog_desktop import cli
from catdog_desktop.core.errors import CancelledError, DatasetError
from catdog_desktop.core.evaluate.evaluation import EvaluationResult, evaluate_folder, evaluate_probabilities
from helpers import COLOUR_CLASSES as CLASSES, colour_classifier
from synthetic import write_class_folders


def synthetic_result():
    """Six pictures, three classes, with known answers and confidences."""
    probs = np.array([
        [0.90, 0.05, 0.05],   # a, right
        [0.20, 0.70, 0.10],   # a -> b, 70 %
        [0.05, 0.93, 0.02],   # a -> b, 93 %
        [0.10, 0.80, 0.10],   # b, right
        [0.60, 0.30, 0.10],   # b -> a, 60 %
        [0.10, 0.10, 0.80],   # c, right
    ])
    labels = [0, 0, 0, 1, 1, 2]
    paths = [f"/d/{i}.png" for i in range(6)]
    return evaluate_probabilities(probs, np.array(labels), ["a", "b", "c"], paths, "test")


def test_every_cell_gives_exactly_its_pictures_most_confident_first():
    ev = synthetic_result()
    assert len(ev.results) == ev.count == 6 and ev.has_every_picture
    for i, true in enumerate(ev.class_names):
        for j, predicted in enumerate(ev.class_names):
            cell = ev.cell(true, predicted)
            assert len(cell) == ev.confusion[i][j]
            assert all(r.true_class == true and r.predicted_class == predicted for r in cell)
    assert [r.path for r in ev.cell("a", "b")] == ["/d/2.png", "/d/1.png"]        # 93 % before 70 %
    assert [r.path for r in ev.cell("a", "a")] == ["/d/0.png"]                    # the diagonal too
    assert [(r.path, round(r.confidence, 2)) for r in ev.mistakes] == [("/d/2.png", 0.93), ("/d/1.png", 0.7),
                                                                       ("/d/4.png", 0.6)]


def test_results_survive_json_and_old_saved_results_still_load():
    ev = synthetic_result()
    again = EvaluationResult.from_dict(json.loads(json.dumps(ev.to_dict())))
    assert again == ev
    # A model's metadata keeps counts only, as before; and older results had no "results" at all.
    small = ev.to_dict(include_mistakes=False)
    assert small["mistakes"] == 3 and "results" not in small
    assert EvaluationResult.from_dict(small).results == []
    old = ev.to_dict(include_results=False)
    loaded = EvaluationResult.from_dict(old)
    assert not loaded.has_every_picture
    assert [r.path for r in loaded.cell("a", "b")] == ["/d/2.png", "/d/1.png"]  # mistakes still reachable
    assert loaded.cell("a", "a") == []


def test_evaluate_folder_leaves_out_unknown_classes_reports_progress_and_stops(tmp_path):
    zoo = write_class_folders(tmp_path / "zoo", ["cats", "dogs", "birds"], 5, seed=3)  # birds: green
    classifier = colour_classifier()
    progress = []
    scored = evaluate_folder(classifier, str(zoo), progress=lambda *p: progress.append(p))
    ev = scored.evaluation
    assert scored.left_out == {"birds": 5} and "birds (5)" in scored.left_out_sentence(CLASSES)
    assert ev.class_names == CLASSES and ev.count == 10 and ev.split == "all" and ev.accuracy == 1.0
    assert sorted(scored.folder_classes) == ["birds", "cats", "dogs"]
    assert progress[-1][:2] == (10, 10)
    with pytest.raises(DatasetError, match="birds"):
        evaluate_folder(classifier, str(zoo), strict=True)
    with pytest.raises(DatasetError, match="does not know"):
        evaluate_folder(classifier, str(write_class_folders(tmp_path / "birds_only", ["birds", "fish"], 2)))
    with pytest.raises(CancelledError):
        evaluate_folder(classifier, str(zoo), should_stop=lambda: True)


def test_cli_evaluate_lists_the_most_confident_mistakes_with_paths(tmp_path, capsys):
    classifier = colour_classifier(tmp_path)
    data = write_class_folders(tmp_path / "pets", CLASSES, 6, seed=4)
    flipped = sorted((data / "cats").iterdir())[:3]   # red pictures put in the dogs folder: label errors
    for path in flipped:
        shutil.move(path, data / "dogs" / path.name)
    moved = {str((data / "dogs" / p.name).resolve()) for p in flipped}

    assert cli.main(["evaluate", classifier.path, str(data), "--mistakes", "2"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    listed = [line.split("\t") for line in out.splitlines() if line.count("\t") == 3]
    assert len(listed) == 2 and "2 of 3 mistakes" in out
    assert all(true == "dogs" and predicted == "cats" and path in moved for true, predicted, _, path in listed)
    confidences = [float(p.rstrip("%")) for _, _, p, _ in listed]
    assert confidences == sorted(confidences, reverse=True)

    assert cli.main(["--json", "evaluate", classifier.path, str(data), "--mistakes", "5"]) == cli.EXIT_OK
    data_out = json.loads(capsys.readouterr().out)
    assert {m["path"] for m in data_out["mistakes"]} == moved and "results" not in data_out
    assert [m["confidence"] for m in data_out["mistakes"]] == sorted((m["confidence"] for m in data_out["mistakes"]),
                                                                    reverse=True)


def test_a_model_is_checked_on_its_own_validation_pictures_split_the_way_it_was_split(tmp_path):
    """For the folder a model was trained on, only the pictures it never trained on: split by the
    method it recorded; a model saved before methods were recorded was split by the seeded shuffle."""
    from catdog_desktop.core.data.dataset import scan_dataset

    pets = write_class_folders(tmp_path / "pets", ["cats", "dogs"], 20)
    classifier = colour_classifier()
    for recorded, method in (({}, "shuffled"), ({"split_method": "hashed"}, "hashed")):
        classifier.metadata = {"dataset": {"root": str(pets.resolve()), "seed": 5, "validation_split": 0.25, **recorded}}
        ev = evaluate_folder(classifier, str(pets)).evaluation
        expected = scan_dataset(pets, validation_split=0.25, seed=5, split_method=method).validation.paths
        assert ev.split == "validation" and sorted(r.path for r in ev.results) == sorted(expected), method
    assert set(expected) != set(scan_dataset(pets, validation_split=0.25, seed=5, split_method="shuffled").validation.paths)


def test_a_model_is_checked_on_exactly_the_pictures_it_never_trained_on_after_the_data_is_fixed(tmp_path, trained):
    """The tester's case: mistakes are validation pictures; moving one to its right class and
    excluding another used to pull training pictures into "validation" (the share held out is a
    count). A model records what it trained on (content hashes), so whatever is moved, excluded or
    added, it is scored on exactly the pictures it never trained on."""
    import shutil

    from catdog_desktop.core.data.dataset import TRAINED_PICTURES, decode_digests, scan_dataset

    fixture_scan, result, _ = trained  # a real training records its training pictures, and only those
    record = decode_digests(result.metadata()["dataset"][TRAINED_PICTURES])
    digests = fixture_scan.content_digests
    assert record == {digests[p][:8] for p in fixture_scan.train.paths}
    assert not record & {digests[p][:8] for p in fixture_scan.validation.paths}

    pets = write_class_folders(tmp_path / "pets", ["cats", "dogs"], 30)
    scan = scan_dataset(pets)
    classifier = colour_classifier()
    classifier.metadata = {"dataset": scan.summary(trained_record=True)}
    cats_val = [p for p, y in zip(scan.validation.paths, scan.validation.labels) if y == 0]
    cats_train = [p for p, y in zip(scan.train.paths, scan.train.labels) if y == 0]
    moved_val = shutil.move(cats_val[0], pets / "dogs")                   # a mistake: really a dog
    (pets / "_excluded" / "cats").mkdir(parents=True)
    shutil.move(cats_val[1], pets / "_excluded" / "cats")                # a mistake: no pet at all
    moved_train = shutil.move(cats_train[0], pets / "dogs" / "renamed.png")  # trained on, moved and renamed
    new = pets / "cats" / "new.png"
    write_class_folders(tmp_path / "more", ["cats"], 1, seed=9)
    shutil.copy(next((tmp_path / "more" / "cats").iterdir()), new)        # added since
    ev = evaluate_folder(classifier, str(pets)).evaluation
    scored = {r.path for r in ev.results}
    expected = (set(scan.validation.paths) - set(cats_val[:2])) | {str(moved_val), str(new)}
    assert ev.split == "validation" and scored == expected
    assert not scored & set(scan.train.paths) and str(moved_train) not in scored


def test_pictures_a_model_trained_on_are_left_out_of_any_folder_and_counted(tmp_path):
    """A copy of its training folder (another root) or a test folder holding some of its training
    pictures: those are left out and said; a damaged record is as if there were none."""
    import shutil

    from catdog_desktop.core.data.dataset import scan_dataset

    pets = write_class_folders(tmp_path / "pets", ["cats", "dogs"], 10)
    scan = scan_dataset(pets)
    classifier = colour_classifier()
    classifier.metadata = {"dataset": scan.summary(trained_record=True)}
    copy = shutil.copytree(pets, tmp_path / "copy")
    scored = evaluate_folder(classifier, str(copy))
    assert scored.evaluation.split == "all" and scored.trained_left_out == len(scan.train) == 16
    assert scored.evaluation.count == len(scan.validation) == 4
    assert "Left out: 16 pictures the model trained on." in scored.left_out_sentence(CLASSES)

    elsewhere = tmp_path / "elsewhere"
    write_class_folders(elsewhere / "train", ["cats", "dogs"], 5, seed=4)
    for path in scan.train.paths[:3]:  # three of its training pictures among another folder's test pictures
        target = elsewhere / "test" / Path(path).parent.name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / f"again-{Path(path).name}")
    write_class_folders(elsewhere / "test", ["cats", "dogs"], 2, seed=5)
    scored = evaluate_folder(classifier, str(elsewhere))
    assert scored.evaluation.split == "test" and scored.trained_left_out == 3 and scored.evaluation.count == 4

    classifier.metadata["dataset"]["trained_pictures"] = "not base64 at all!"
    scored = evaluate_folder(classifier, str(pets))  # falls back to its recorded share
    assert scored.evaluation.split == "validation" and sorted(r.path for r in scored.evaluation.results) == \
        sorted(scan.validation.paths)


def test_one_class_is_enough_to_know_which_pictures_a_model_trained_on(tmp_path):
    from catdog_desktop.core.data.dataset import scan_dataset

    scan = scan_dataset(write_class_folders(tmp_path / "cats_only", ["cats"], 3))
    assert not scan.ok and len(scan.content_digests) == 3 and all(scan.content_digests.values())
