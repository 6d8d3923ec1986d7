"""Export: every format loads back in its own runtime and agrees with the app's model; a broken
export is caught by the parity check; the CLI exports and predicts with the exported file."""

import json

import numpy as np
import pytest

from catdog_desktop import cli
from catdog_desktop.core.export import exporter as export
from catdog_desktop.core.errors import CancelledError, ExportError, ModelFileError
from catdog_desktop.core.export.runtimes import load_classifier, open_new_export, sidecar_paths
from catdog_desktop.core.classify.classifier import Classifier


@pytest.fixture(scope="module")
def classifier(trained):
    return Classifier.load(trained[2])


@pytest.fixture(scope="module")
def pictures(classifier, pets_dir):
    return export.pictures_from_folder(pets_dir, classifier)


def test_parity_pictures_are_the_held_out_ones(pictures, pets_dir, trained, classifier):
    scan = trained[0]
    assert len(pictures.pixels) == len(scan.validation) == 20  # the folder it was trained on: its validation share
    assert pictures.labels is not None and set(pictures.labels) == {0, 1}
    assert "validation" in pictures.source and str(pets_dir) in pictures.source
    assert len(pictures.calibration) == len(scan.train) == 80  # training pictures calibrate int8 (at most 100)
    # Without a folder: the one recorded in the model is used.
    assert export.parity_pictures(classifier).source == pictures.source


@pytest.mark.parametrize("fmt", list(export.FORMATS))
def test_every_format_round_trips_and_agrees(fmt, classifier, pictures, tmp_path, pets_dir):
    result = export.export_model(classifier, fmt, tmp_path / "pets", parity=pictures)
    spec = export.FORMATS[fmt]
    assert result.passed and result.pictures == 20
    if not spec.quantised:
        assert result.agreement == 1.0 and result.max_difference < 1e-4
    else:
        assert result.agreement >= 0.9 and result.max_difference < 0.1
    assert result.accuracy is not None and result.app_accuracy >= 0.9
    # Nothing but the export and its three companions; no temporary file left.
    path = export.destination(fmt, tmp_path / "pets")
    side = sidecar_paths(path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted([path.name] if not spec.suffix else [path.name, *(p.name for p in side.values())])
    assert side["labels"].read_text() == "cats\ndogs\n"
    card = side["card"].read_text()
    assert "raw pixel values 0-255" in card and "0: cats, 1: dogs" in card and "validation pictures" in card
    assert json.loads(side["json"].read_text())["parity"]["agreement"] == result.agreement

    # Loaded again from disk alone (its runtime and the files beside it), it classifies files as the app does.
    # A SavedModel is for TF Serving: predict refuses it (loading one runs its graph), so it is opened as
    # the export check opens the folder it has just written.
    if fmt == "savedmodel":
        with pytest.raises(ModelFileError, match="is a TensorFlow SavedModel folder, which this app does not open"):
            load_classifier(path)
        exported = open_new_export(path, path, {"class_names": ["cats", "dogs"], "image_size": classifier.image_size})
    else:
        exported = load_classifier(path)
    files = [str(pets_dir / "cats" / "cats_000.png"), str(pets_dir / "dogs" / "dogs_000.png")]
    ours, theirs = classifier.predict_paths(files), exported.predict_paths(files)
    assert [p.class_name for p in theirs] == [p.class_name for p in ours]
    assert np.allclose([p.probability for p in theirs], [p.probability for p in ours], atol=0.1 if spec.quantised else 1e-4)


def test_broken_export_is_caught(classifier, pictures, tmp_path, monkeypatch):
    """An export that scales the pixels twice (a classic preprocessing bug) fails the check."""
    import keras

    right = export.inference_model

    def scaled_twice(model):
        model = right(model)
        inputs = keras.Input(model.input_shape[1:])
        return keras.Model(inputs, model(keras.layers.Rescaling(1 / 255)(inputs)))

    monkeypatch.setattr(export, "inference_model", scaled_twice)
    result = export.export_model(classifier, "tflite", tmp_path / "broken", parity=pictures)
    assert not result.passed and result.agreement < export.FLOAT_AGREEMENT
    assert result.verdict().startswith("FAILED")
    assert "FAILED" in sidecar_paths(result.path)["card"].read_text()


def test_float_export_with_the_same_answers_but_other_probabilities_fails():
    """A model that gives one class for everything agrees on the top class whatever the export
    does: the probabilities must match too."""
    pictures = export.ParityPictures(np.zeros((2, 8, 8, 3), np.uint8), np.array([0, 0]), "two pictures")
    app = np.array([[0.9, 0.1], [0.8, 0.2]])
    off = np.array([[0.6, 0.4], [0.8, 0.2]])
    failed = export.compare(export.FORMATS["onnx"], "m.onnx", app, off, pictures, "ONNX Runtime")
    assert failed.agreement == 1.0 and not failed.passed and failed.verdict().startswith("FAILED")
    quantised = export.compare(export.FORMATS["tflite-int8"], "m.tflite", app, off, pictures, "TFLite")
    assert quantised.passed and "quantised" in quantised.verdict()  # reported, not judged


def test_existing_files_are_kept_unless_forced_and_cancel_leaves_nothing(classifier, tmp_path):
    tiny = export.generated_pictures(classifier.image_size, count=4)
    target = tmp_path / "mine.onnx"
    target.write_text("the user's own file")
    with pytest.raises(ExportError, match="mine.onnx already exists"):
        export.export_model(classifier, "onnx", target, parity=tiny)
    assert target.read_text() == "the user's own file"
    result = export.export_model(classifier, "onnx", target, parity=tiny, force=True)
    assert result.passed and result.accuracy is None and "generated" in result.parity_source
    assert target.stat().st_size > 1000

    with pytest.raises(CancelledError):
        export.export_model(classifier, "savedmodel", tmp_path / "served", parity=tiny, should_stop=lambda: True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["mine.onnx", *(p.name for p in sidecar_paths(target).values())])


def test_a_savedmodel_never_replaces_a_folder_that_is_not_one_of_our_exports(tmp_path):
    """A SavedModel is a folder, and replacing it removes the old one: a folder of the user's
    (~/Pictures) is refused even with force; an export of ours may be replaced."""
    pictures = tmp_path / "Pictures"
    pictures.mkdir()
    (pictures / "holiday.jpg").write_bytes(b"the user's photo")
    for force in (False, True):
        with pytest.raises(ExportError, match="folder with other files in it: choose a new folder name"):
            export.check_destination("savedmodel", pictures, force=force)
    assert cli.main(["export", "no-model-needed.keras", "--format", "savedmodel", "--out", str(pictures),
                     "--force"]) == cli.EXIT_ERROR
    assert (pictures / "holiday.jpg").read_bytes() == b"the user's photo"
    ours = tmp_path / "served"
    ours.mkdir()
    (ours / "saved_model.pb").write_bytes(b"an earlier export")
    with pytest.raises(ExportError, match="already exist"):
        export.check_destination("savedmodel", ours)
    assert export.check_destination("savedmodel", ours, force=True) == ours
    (tmp_path / "empty").mkdir()
    assert export.check_destination("savedmodel", tmp_path / "empty", force=True) == tmp_path / "empty"


def test_a_failed_float_export_keeps_the_previous_good_one_even_with_force(classifier, tmp_path, monkeypatch):
    """--force replaces a file with a good export, not a broken one: the failed export is put
    beside it as NAME.failed.tflite (with its own files) and the result says so."""
    target = tmp_path / "pets.tflite"
    target.write_bytes(b"the good export")
    for sidecar in sidecar_paths(target).values():
        sidecar.write_text("the good export's")
    two = export.ParityPictures(np.zeros((2, 8, 8, 3), np.uint8), np.array([0, 0]), "two pictures")
    monkeypatch.setattr(export, "inference_model", lambda model: model)
    monkeypatch.setattr(export, "_convert", lambda model, spec, staging, parity: staging.write_bytes(b"broken") and [])
    monkeypatch.setattr(export, "_check_parity", lambda classifier, spec, path, staging, parity, stop: export.compare(
        spec, str(path), np.array([[0.9, 0.1], [0.8, 0.2]]), np.array([[0.2, 0.8], [0.8, 0.2]]), parity, "TFLite"))
    result = export.export_model(classifier, "tflite", target, parity=two, force=True)
    assert not result.passed and result.kept == str(target)
    failed = tmp_path / "pets.failed.tflite"
    assert result.path == str(failed) and failed.read_bytes() == b"broken"
    assert result.files == [str(failed), *(str(p) for p in sidecar_paths(failed).values())]
    assert target.read_bytes() == b"the good export"
    assert all(p.read_text() == "the good export's" for p in sidecar_paths(target).values())
    assert "pets.tflite was left as it was" in result.verdict() and "pets.failed.tflite" in result.verdict()
    again = export.export_model(classifier, "tflite", target, parity=two, force=True)
    assert again.path == str(tmp_path / "pets.failed (2).tflite") and failed.read_bytes() == b"broken"


def test_cli_export_then_predict_with_the_tflite_file(trained, pets_dir, tmp_path, capsys):
    _, _, model = trained
    out = tmp_path / "pets.tflite"
    assert cli.main(["--json", "export", str(model), "--format", "tflite", "--out", str(out),
                     "--data", str(pets_dir)]) == cli.EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] and result["agreement"] == 1.0 and result["pictures"] == 20
    assert result["verdict"].startswith("Passed")

    picture = pets_dir / "dogs" / "dogs_001.png"
    assert cli.main(["--json", "predict", str(out), str(picture)]) == cli.EXIT_OK
    from_tflite = json.loads(capsys.readouterr().out)["predictions"][0]
    assert cli.main(["--json", "predict", str(model), str(picture)]) == cli.EXIT_OK
    from_keras = json.loads(capsys.readouterr().out)["predictions"][0]
    assert from_tflite["class"] == from_keras["class"] == "dogs"
    assert from_tflite["probability"] == pytest.approx(from_keras["probability"], abs=1e-4)

    # Again without --force: refused before any work, with a one-line message.
    assert cli.main(["export", str(model), "--format", "tflite", "--out", str(out)]) == cli.EXIT_ERROR
    assert "already exist" in capsys.readouterr().err


def test_an_export_carries_the_recorded_threshold_and_predict_says_not_sure(classifier, pets_dir, tmp_path, capsys):
    """The "not sure" threshold travels in the JSON beside the export (the novelty summary does not:
    an export outputs no features), so `predict` on the .tflite says "not sure" as the app does."""
    calibrated = Classifier(classifier.model, classifier.class_names, classifier.image_size,
                            {**classifier.metadata, "calibration": {
                                "confidence_threshold": {"value": 1.0, "source": "validation"},
                                "novelty": {"layer": "x", "centres": "AAA=", "count": 1, "dim": 1}}},
                            classifier.path)
    out = tmp_path / "sure.tflite"
    export.export_model(calibrated, "tflite", out, parity=export.generated_pictures(classifier.image_size, count=4))
    sidecar = json.loads(sidecar_paths(out)["json"].read_text())
    assert sidecar["calibration"] == {"confidence_threshold": {"value": 1.0, "source": "validation"}}
    assert 'under a top probability of 100.0%' in sidecar_paths(out)["card"].read_text()
    assert load_classifier(out).confidence_threshold == 1.0

    assert cli.main(["predict", str(out), str(pets_dir / "dogs" / "dogs_001.png")]) == cli.EXIT_OK
    assert "not sure (maybe " in capsys.readouterr().out
