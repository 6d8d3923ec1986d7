"""Classes that are odd in number or in name: a test folder's class training lacks, a class with no
test pictures, a class named like sort's uncertain/ folder, a folder named "...", hundreds of
classes. Each says what happens, in one sentence, rather than doing something silently."""

from pathlib import Path

from catdog_desktop import cli
from catdog_desktop.core import sorting
from catdog_desktop.core.evaluation import evaluate_folder
from catdog_desktop.core.prediction import Prediction
from helpers import COLOUR_CLASSES as CLASSES, colour_classifier
from synthetic import write_class_folders


def test_a_test_folder_class_the_model_does_not_know_is_said_to_be_left_out(tmp_path, capsys):
    data = tmp_path / "split"
    write_class_folders(data / "train", CLASSES, 4, seed=1)
    write_class_folders(data / "test", ["birds", *CLASSES], 3, seed=2)  # birds: only in the test folder
    classifier = colour_classifier(tmp_path)
    scored = evaluate_folder(classifier, str(data))
    assert scored.evaluation.split == "test" and scored.evaluation.count == 6
    assert scored.left_out == {"birds": 3}
    sentence = ("Left out: 3 pictures of classes the model does not know: birds (3). "
                "The model knows: cats, dogs.")
    assert scored.left_out_sentence(CLASSES) == sentence
    assert cli.main(["evaluate", classifier.path, str(data)]) == cli.EXIT_OK
    assert sentence in capsys.readouterr().out


def test_a_class_without_test_pictures_has_no_recall_rather_than_zero(tmp_path, capsys):
    data = tmp_path / "split"
    write_class_folders(data / "train", CLASSES, 4, seed=1)
    write_class_folders(data / "test", ["cats"], 3, seed=2)  # no dogs to test on
    classifier = colour_classifier(tmp_path)
    scored = evaluate_folder(classifier, str(data))
    dogs = scored.evaluation.per_class[1]
    assert dogs.support == 0 and dogs.recall_text() == "no pictures"
    assert cli.main(["evaluate", classifier.path, str(data)]) == cli.EXIT_OK
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("dogs:"))
    assert "recall no pictures" in line and "0.00%" not in line.split("recall")[1]


def test_a_class_named_uncertain_keeps_its_folder_and_not_sure_pictures_go_elsewhere_saying_so(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (source / name).write_bytes(name.encode())
    classes = ["cats", "Uncertain"]
    predictions = [Prediction(str(source / "a.jpg"), "Uncertain", 0.99, {"cats": 0.01, "Uncertain": 0.99}),
                   Prediction(str(source / "b.jpg"), "cats", 0.55, {"cats": 0.55, "Uncertain": 0.45}, uncertain=True)]
    report = sorting.sort_files(predictions, classes, tmp_path / "out", sources=[source])
    assert (tmp_path / "out" / "Uncertain" / "a.jpg").read_bytes() == b"a.jpg"
    assert (tmp_path / "out" / "not sure" / "b.jpg").read_bytes() == b"b.jpg"
    assert ("The class 'Uncertain' has the folder Uncertain/, so the pictures the model was not sure of went "
            "to not sure/.") in report.summary()


def test_a_class_folder_named_dots_is_said_to_be_left_out(tmp_path):
    from catdog_desktop.core.dataset import scan_dataset

    data = write_class_folders(tmp_path / "pets", [*CLASSES, "..."], 3)
    scan = scan_dataset(data)
    assert scan.class_names == CLASSES
    assert ("The folder '...' in 'pets' is left out: a name made only of dots is hidden on Linux and macOS and "
            "cannot be kept on Windows. Rename it to use its pictures.") in [p.message for p in scan.warnings]
