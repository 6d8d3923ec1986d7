"""Classes that are odd in number or in name: a test folder's class training lacks, a class with no
test pictures, a class named like sort's uncertain/ folder, a folder named "...", hundreds of
classes. Each says what happens, in one sentence, rather than doing something silently."""


from catdog_desktop import cli
from catdog_desktop.core.classify import sorting
from catdog_desktop.core.evaluate.evaluation import evaluate_folder
from catdog_desktop.core.classify.prediction import Prediction
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
    from catdog_desktop.core.data.dataset import scan_dataset

    data = write_class_folders(tmp_path / "pets", [*CLASSES, "..."], 3)
    scan = scan_dataset(data)
    assert scan.class_names == CLASSES
    assert ("The folder '...' in 'pets' is left out: a name made only of dots is hidden on Linux and macOS and "
            "cannot be kept on Windows. Rename it to use its pictures.") in [p.message for p in scan.warnings]


def test_two_hundred_classes_give_one_warning_and_a_report_without_an_unreadable_figure(tmp_path, monkeypatch):
    import numpy as np

    from catdog_desktop.core.report import html as report
    from catdog_desktop.core.report.collect import ReportData
    from catdog_desktop.core.data.dataset import scan_dataset
    from catdog_desktop.core.evaluate.evaluation import evaluate_probabilities

    from PIL import Image

    names = [f"c{i:03d}" for i in range(200)]
    rng = np.random.default_rng(0)
    for name in names:
        (tmp_path / "many" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).save(tmp_path / "many" / name / f"{i}.png")
    scan = scan_dataset(tmp_path / "many")
    few = [p.message for p in scan.warnings if "training pictures" in p.message]
    assert few == ["200 classes have fewer than 20 training pictures ('c000': 2, 'c001': 2, 'c002': 2, "
                   "'c003': 2, 'c004': 2 and 195 more); expect poor accuracy (aim for 100 or more)."]

    def no_figure(*_args):
        raise AssertionError("a 200-class confusion figure was drawn")

    monkeypatch.setattr(report, "confusion_png", no_figure)
    evaluation = evaluate_probabilities(np.eye(200), np.arange(200), names, split="test")
    text = report.render(ReportData(model_name="many.keras", class_names=names, image_size=32, metadata={},
                                           created="today", evaluation=evaluation, evaluation_source="checked now"))
    assert "With 200 classes the confusion matrix is too large to draw: it is shown as a table only" in text


def test_cli_predict_prints_the_top_classes_of_a_thousand(tmp_path, capsys):
    import keras

    from catdog_desktop.core.model import storage

    names = [f"class number {i}" for i in range(1000)]
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Dense(1000, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    path = storage.save_bundle(keras.Model(inputs, outputs), {"class_names": names, "image_size": 16},
                               tmp_path / "thousand.keras")
    pictures = write_class_folders(tmp_path / "pics", ["cats"], 1)
    assert cli.main(["predict", str(path), str(pictures)]) == cli.EXIT_OK
    line = capsys.readouterr().out.strip()
    assert line.endswith("(top 3 of 1000 classes)") and line.count("%") == 3 and len(line) < 300
