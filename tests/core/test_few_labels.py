"""Few labels, used well (issue 25, item 6): below a size, every picture trains the pretrained
classifier and its accuracy is estimated by cross-validation; a test folder is still held out."""

import shutil

import pytest

from catdog_desktop import cli
from catdog_desktop.core.classify.classifier import Classifier
from catdog_desktop.core.config import TrainingConfig
from catdog_desktop.core.data.dataset import scan_dataset, trained_record
from catdog_desktop.core.errors import DatasetError
from catdog_desktop.core.evaluate.evaluation import evaluate_folder
from catdog_desktop.core.export.exporter import parity_pictures
from catdog_desktop.core.model import features
from catdog_desktop.core.model.storage import save_bundle
from catdog_desktop.core.report.collect import collect
from catdog_desktop.core.report.html import render
from catdog_desktop.core.training import pretrained as transfer
from catdog_desktop.core.training import train as training
from synthetic import write_class_folders

#: The pretrained network at its smallest input: seconds a training.
SMALL = dict(image_size=32, time_limit_minutes=0)
PER_CLASS = 12
ESTIMATE = f"estimated by cross-validation on {2 * PER_CLASS} pictures (5 folds)"


@pytest.fixture(scope="module")
def every(tmp_path_factory):
    """One default pretrained training on a folder of 12 pictures a class (no validation folder)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(features.CACHE_ENV, str(tmp_path_factory.mktemp("feature-cache")))
        folder = write_class_folders(tmp_path_factory.mktemp("few") / "pets", ["cats", "dogs"], PER_CLASS)
        scan = scan_dataset(folder)
        result = training.train(TrainingConfig(**SMALL), scan)
    path = save_bundle(result.model, result.metadata(), tmp_path_factory.mktemp("models") / "few.keras")
    return folder, scan, result, path


def test_a_small_folder_trains_on_every_picture_and_its_accuracy_is_cross_validated(every):
    folder, scan, result, path = every
    summary = result.dataset_summary
    assert summary["train_counts"] == [PER_CLASS, PER_CLASS] and summary["validation_counts"] == [0, 0]
    assert len(trained_record(summary)) == 2 * PER_CLASS  # the model records that it trained on all of them
    ev = result.evaluation
    assert (ev.split, ev.folds, ev.count) == ("cross-validation", 5, 2 * PER_CLASS)
    assert ev.where() == ESTIMATE and ev is result.cross_validation
    assert sorted(r.path for r in ev.results) == sorted(scan.train.paths + scan.validation.paths)
    assert ev.accuracy >= 0.8
    assert any(ESTIMATE in note for note in result.notes)
    meta = result.metadata()
    assert meta["evaluation"]["folds"] == 5 and meta["cross_validation"]["count"] == 2 * PER_CLASS
    # "not sure" set on the cross-validated answers (there are no validation pictures), "none of these" too
    assert meta["calibration"]["confidence_threshold"]["source"] == "cross-validation"
    assert meta["calibration"]["novelty"]["held_out_pictures"] == 2 * PER_CLASS

    classifier = Classifier.load(path)
    dog = classifier.predict_paths([str(folder / "dogs" / "dogs_000.png")])[0]
    assert dog.ok and dog.class_name == "dogs"


def test_a_model_that_trained_on_every_picture_is_never_scored_on_one_of_them(every, tmp_path):
    folder, _, _, path = every
    copy = shutil.copytree(folder, tmp_path / "pets")
    classifier = Classifier.load(path)
    with pytest.raises(DatasetError) as caught:
        evaluate_folder(classifier, str(copy))
    assert str(caught.value).startswith("The model trained on every picture of this folder, so none is left to "
                                        f"check it on: when it was trained, its accuracy was {ESTIMATE}: ")
    # the report says the same and shows the estimate it recorded instead of failing
    page = render(collect(classifier, scan_dataset(copy), check_labels=False))
    assert "Accuracy <b>" in page and ESTIMATE in page
    # the export's check still has pictures: they test agreement only, never accuracy
    parity = parity_pictures(classifier, str(copy))
    assert not parity.real and "all of which the model trained on" in parity.source
    # a picture added since is one it never trained on: the only one scored
    write_class_folders(tmp_path / "new", ["cats"], 1, seed=99)
    shutil.copy(tmp_path / "new" / "cats" / "cats_000.png", copy / "cats" / "new_cat.png")
    scored = evaluate_folder(classifier, str(copy)).evaluation
    assert scored.count == 1 and scored.results[0].path.endswith("new_cat.png")


def test_a_test_folder_is_still_scored_on_held_out_pictures(tmp_path, monkeypatch):
    monkeypatch.setenv(features.CACHE_ENV, str(tmp_path / "cache"))
    root = tmp_path / "data"
    write_class_folders(root / "train", ["cats", "dogs"], PER_CLASS)
    write_class_folders(root / "test", ["cats", "dogs"], 4, seed=7)
    result = training.train(TrainingConfig(**SMALL), scan_dataset(root))
    assert (result.evaluation.split, result.evaluation.count, result.evaluation.folds) == ("test", 8, 0)
    assert all("/test/" in r.path for r in result.evaluation.results)
    assert result.cross_validation.where() == ESTIMATE
    assert result.dataset_summary["validation_counts"] == [0, 0]


def test_from_the_threshold_on_a_validation_share_is_held_out_as_before(tmp_path, monkeypatch):
    monkeypatch.setenv(features.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(transfer, "MIN_HEAD_STEPS", 0)  # the two epochs asked for, not 400 steps: seconds
    folder = write_class_folders(tmp_path / "pets", ["cats", "dogs"], PER_CLASS)
    result = training.train(TrainingConfig(**SMALL, head_epochs=2, cross_validate_below=PER_CLASS),
                            scan_dataset(folder))
    assert result.dataset_summary["validation_counts"] == [2, 2]
    assert (result.evaluation.split, result.evaluation.folds, result.cross_validation) == ("validation", 0, None)


def test_the_cli_says_the_accuracy_is_a_cross_validation_estimate(tmp_path, capsys, monkeypatch, every):
    monkeypatch.setenv(features.CACHE_ENV, str(tmp_path / "cache"))
    folder = every[0]
    out = tmp_path / "few.keras"
    code = cli.main(["train", str(folder), "--out", str(out), "--image-size", "32", "--time-limit-minutes", "0"])
    stdout, stderr = capsys.readouterr()
    assert code == cli.EXIT_OK, stderr
    assert f"% {ESTIMATE} (trained on every picture" in stdout
    code = cli.main(["evaluate", str(out), str(folder)])
    stdout, stderr = capsys.readouterr()
    assert code == cli.EXIT_ERROR
    assert stderr.strip().splitlines()[-1].startswith("error: The model trained on every picture of this folder")
