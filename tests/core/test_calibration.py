""""Not sure" and "none of these": recorded at training, applied by the Classifier, kept safely
in the model file, shown by the CLI."""

import base64
import json
import logging
import zipfile

import numpy as np
import pytest

from catdog_desktop import cli
from catdog_desktop.core.model import calibration
from catdog_desktop.core.model import storage
from catdog_desktop.core.classify.classifier import Classifier


def test_threshold_is_where_accuracy_falls_under_90_percent():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 4000)
    # Right with probability rising with confidence: 90 % at a confidence of 0.75.
    p_right = 1 / (1 + np.exp(-(np.log(9) + 12 * (confidence - 0.75))))
    correct = rng.uniform(size=4000) < p_right
    fitted = calibration.fit_confidence_threshold(confidence, correct, num_classes=2)
    assert fitted["value"] == pytest.approx(0.75, abs=0.03)
    assert fitted["accuracy_below"] < 0.9 < fitted["accuracy_above"]
    # Too few mistakes to tell: no threshold, and a reason in words.
    none = calibration.fit_confidence_threshold(np.full(50, 0.9), np.ones(50, bool), num_classes=2)
    assert none["value"] is None and "too few" in none["reason"]


def test_training_records_both_and_predictions_are_marked(trained):
    scan, result, path = trained
    recorded = storage.read_metadata(path)["calibration"]
    assert set(recorded) >= {"confidence_threshold", "novelty"}
    assert recorded["confidence_threshold"]["pictures"] == len(scan.validation)
    novelty = recorded["novelty"]
    assert novelty["layer"] == "dropout" and novelty["validation_pictures"] == len(scan.validation)
    assert len(json.dumps(recorded)) < 400_000  # small: a few hundred KB at most

    classifier = Classifier.load(path)
    paths = scan.validation.paths
    plain = Classifier(classifier.model, classifier.class_names, classifier.image_size)  # no calibration
    marked = classifier.predict_paths(paths)
    for a, b in zip(plain.predict_paths(paths), marked):  # the second output changes no probability
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
        assert not a.uncertain and not a.unfamiliar
    # About 5 % of ordinary held-out pictures are called unfamiliar, by construction; not most.
    assert sum(p.unfamiliar for p in marked) <= len(marked) // 4

    classifier.threshold_override = 1.0  # the user asks for certainty: every answer is "not sure"
    assert all(p.uncertain for p in classifier.predict_paths(paths[:4]))
    classifier.threshold_override = 0.0
    assert not any(p.uncertain for p in classifier.predict_paths(paths[:4]))
    classifier.threshold_override = None
    metadata = dict(classifier.metadata)
    metadata["calibration"] = {**recorded, "confidence_threshold": {"value": 0.999}}
    strict = Classifier(classifier.model, classifier.class_names, classifier.image_size, metadata)
    assert strict.confidence_threshold == 0.999
    assert all(p.uncertain == (p.probability < 0.999) for p in strict.predict_paths(paths[:6]))


def test_a_picture_unlike_the_training_ones_is_unfamiliar(trained):
    _, _, path = trained
    classifier = Classifier.load(path)
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (4, classifier.image_size, classifier.image_size, 3), dtype=np.uint8)
    stripes = np.zeros((1, classifier.image_size, classifier.image_size, 3), np.uint8)
    stripes[:, ::4] = 255
    predictions = classifier.predict_array(np.concatenate([noise, stripes]))
    assert all(p.unfamiliar for p in predictions)
    assert all(p.class_name in classifier.class_names for p in predictions)  # the answer is still there


def _features(n, label, rng, dim=64):
    """Features of one known class: a Gaussian cloud around its own direction."""
    centre = np.zeros(dim)
    centre[label] = 4.0
    return rng.normal(0, 1, (n, dim)) + centre


def test_with_few_pictures_ordinary_ones_are_rarely_called_unfamiliar():
    """100 pictures a class, 20 of them for validation (the sample dataset's size): the plain 95th
    percentile of 40 validation distances flagged 6 % of new ordinary pictures on average and up to
    13 %. Over a dozen such trainings, few ordinary pictures are flagged, and most unlike ones still are."""
    ordinary, unlike = [], []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        train = np.concatenate([_features(80, 0, rng), _features(80, 1, rng)])
        val = np.concatenate([_features(20, 0, rng), _features(20, 1, rng)])
        summary = calibration.summarise_novelty(train, np.repeat([0, 1], 80), val, 2, "features", seed)
        novelty = calibration.load_novelty({"calibration": {"novelty": summary}})
        ordinary.append(novelty.unfamiliar(np.concatenate([_features(1000, 0, rng), _features(1000, 1, rng)])).mean())
        unlike.append(novelty.unfamiliar(_features(200, 5, rng)).mean())  # a third kind of thing
    assert np.mean(ordinary) <= 0.05 and max(ordinary) <= 0.08
    assert np.mean(unlike) >= 0.75


def test_a_small_models_new_ordinary_pictures_are_rarely_unfamiliar(trained, tmp_path):
    """The tiny model (50 pictures a class) on pictures of its classes that it never saw."""
    from synthetic import write_class_folders

    folder = write_class_folders(tmp_path / "new", ["cats", "dogs"], 100, seed=99)
    predictions = Classifier.load(trained[2]).predict_paths(sorted(str(p) for p in folder.rglob("*.png")))
    assert sum(p.unfamiliar for p in predictions) <= 0.05 * len(predictions)


def test_novelty_round_trips_and_damage_is_ignored(trained, tmp_path, caplog):
    _, _, path = trained
    copy = tmp_path / "copy.keras"
    copy.write_bytes(path.read_bytes())
    metadata = storage.read_metadata(copy)
    centres = calibration.load_novelty(metadata).centres

    loaded = Classifier.load(copy)
    assert np.allclose(loaded.novelty.centres, centres)

    damaged = json.loads(json.dumps(metadata))
    damaged["calibration"]["novelty"]["centres"] = base64.b64encode(b"\x00" * 10).decode()
    damaged["calibration"]["confidence_threshold"] = {"value": "high"}
    before = {i.filename: zipfile.ZipFile(copy).read(i.filename) for i in zipfile.ZipFile(copy).infolist()}
    storage.update_metadata(copy, damaged)
    after = zipfile.ZipFile(copy)
    assert {n: after.read(n) for n in before if n != storage.METADATA_ENTRY} == \
           {n: b for n, b in before.items() if n != storage.METADATA_ENTRY}  # the model itself untouched
    with caplog.at_level(logging.WARNING):
        classifier = Classifier.load(copy)
        assert classifier.novelty is None and classifier.confidence_threshold is None
        prediction = classifier.predict_array(np.zeros((1, 32, 32, 3), np.uint8))[0]
    assert prediction.ok and not prediction.unfamiliar
    assert "damaged" in caplog.text and "not a probability" in caplog.text

    # Centres for another layer's width are not used either.
    other = json.loads(json.dumps(metadata))
    other["calibration"]["novelty"].update(dim=8, count=2,
                                           centres=base64.b64encode(np.ones(16, "<f2").tobytes()).decode())
    wrong = Classifier(loaded.model, loaded.class_names, loaded.image_size, other)
    assert wrong.novelty is None


def test_cli_predict_marks_not_sure_and_none_of_these(trained, tmp_path, capsys):
    scan, _, path = trained
    from PIL import Image

    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(noise)
    # An ordinary picture (about 1 in 20 validation pictures is flagged unfamiliar by construction).
    picture = next(p.path for p in Classifier.load(path).predict_paths(scan.validation.paths) if not p.unfamiliar)
    assert cli.main(["predict", str(path), picture, str(noise), "--threshold", "0.9999"]) == 0
    lines = dict(line.split("\t")[:2] for line in capsys.readouterr().out.splitlines())
    assert lines[picture].startswith("not sure (maybe ")
    assert lines[str(noise)].startswith("none of these: looks like none of cats, dogs")

    assert cli.main(["--json", "predict", str(path), picture, str(noise)]) == 0
    out = json.loads(capsys.readouterr().out)
    by_path = {p["path"]: p for p in out["predictions"]}
    assert by_path[str(noise)]["none_of_these"] is True and by_path[picture]["none_of_these"] is False
    assert "not_sure" in by_path[picture]

    assert cli.main(["predict", str(path), picture, "--threshold", "1.5"]) == cli.EXIT_ERROR
    assert "is not a probability" in capsys.readouterr().err


def test_the_session_keeps_the_users_threshold_per_model_file():
    from catdog_desktop.core.app.session import CONFIDENCE_THRESHOLDS, DictStore, Session

    class Model:
        def __init__(self, path):
            self.path, self.threshold_override, self.class_names, self.metadata = path, None, ["a", "b"], {}

    store = DictStore()
    session = Session(store)
    session.set_confidence_override("/models/m.keras", 0.7)
    opened = Model("/models/m.keras")
    session.set_model(opened)
    assert opened.threshold_override == 0.7
    other = Model("/models/other.keras")
    session.set_model(other)
    assert other.threshold_override is None
    session.set_confidence_override("/models/m.keras", None)
    assert session.confidence_override("/models/m.keras") is None
    store.set(CONFIDENCE_THRESHOLDS, "{not json")  # a damaged setting is ignored, never a crash
    assert session.confidence_override("/models/m.keras") is None


def test_calibrating_a_model_leaves_out_an_unreadable_picture(trained, tmp_path):
    """One unreadable file among the pictures (not the last of its chunk): the others are still
    paired with their own labels, so the result is the same as without that file."""
    scan, _, path = trained
    classifier = Classifier.load(path)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    train_paths, train_labels = list(scan.train.paths[:24]), list(scan.train.labels[:24])
    val_paths, val_labels = list(scan.validation.paths[:12]), list(scan.validation.labels[:12])

    clean = calibration.calibrate_classifier(classifier, train_paths, train_labels, val_paths, val_labels)
    with_broken = calibration.calibrate_classifier(
        classifier, [train_paths[0], str(broken), *train_paths[1:]], [train_labels[0], 1, *train_labels[1:]],
        [str(broken), *val_paths], [0, *val_labels])
    assert with_broken == clean
    assert with_broken["novelty"]["validation_pictures"] == len(val_paths)
