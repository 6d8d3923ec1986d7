"""Add a class later, remove or merge one (issue 25, item 3): the model in use saved with its
classifier trained again on the cached features of the dataset's class folders as they are now."""

import json
import os
import shutil

import numpy as np
import pytest

from catdog_desktop import cli
from catdog_desktop.core.classify.classifier import Classifier
from catdog_desktop.core.data.dataset import content_hash, in_record, trained_record
from catdog_desktop.core.data.images import load_pixels
from catdog_desktop.core.errors import CatdogError
from catdog_desktop.core.label.inbox import InboxSession
from catdog_desktop.core.model import storage
from helpers import colour_classifier
from synthetic import write_class_folders


def _pictures(folder, limit=None):
    return sorted(str(p) for p in folder.iterdir())[:limit]


def _answers(classifier, paths):
    pixels = np.stack([load_pixels(p, classifier.image_size) for p in paths])
    return [classifier.class_names[i] for i in classifier.probabilities(pixels).argmax(axis=1)]


@pytest.fixture
def three_classes(tmp_path):
    """data/{cats,dogs,birds} (red, blue, green: tests/synthetic.py), 12 pictures each; new/: 5 more of
    each, never labelled; the two-class colour model (cats: redder than blue) saved in tmp_path."""
    data = write_class_folders(tmp_path / "data", ["cats", "dogs", "birds"], 12)
    new = write_class_folders(tmp_path / "new", ["cats", "dogs", "birds"], 5, seed=7)
    return data, new, colour_classifier(tmp_path)


def test_a_new_class_folder_is_learned_from_cached_features_and_the_model_loads_safely(three_classes, tmp_path):
    data, new, model = three_classes
    first = InboxSession(None, data, model.path)
    first.load_labelled()
    assert first.features_computed == 36     # once, by the model's own layers, cached on disk

    session = InboxSession(None, data, model.path)   # another session (the app opened again): from the disk cache
    updated = session.save_model(tmp_path / "birds")

    assert session.features_computed == 0 and (updated.computed, updated.cached) == (0, 36)
    assert updated.path == str(tmp_path / "birds.keras")
    assert updated.class_names == ["birds", "cats", "dogs"] and updated.gained == ["birds"] and updated.lost == []
    assert updated.changes() == ["gained the class 'birds'"] and updated.counts == {"birds": 12, "cats": 12, "dogs": 12}
    assert updated.accuracy == 1.0
    assert updated.summary() == (f"Saved {updated.path}: gained the class 'birds' (colours.keras had 2 classes, "
                                 "this one 3); 100.0% right when cross-checked.")

    grown = Classifier.load(updated.path)    # safe_mode=True, through the checks of every recorded field
    for name in ("birds", "cats", "dogs"):
        assert _answers(grown, _pictures(new / name)) == [name] * 5
    # The very computation of the head: the old model's features, the head's weights in the new last layer.
    pixels = np.stack([load_pixels(p, 32) for p in _pictures(new / "birds", 2) + _pictures(new / "cats", 2)])
    _, features = model.probabilities_and_features(pixels)
    np.testing.assert_allclose(grown.probabilities(pixels), updated.head.probabilities(features), atol=1e-5)

    meta = grown.metadata
    assert meta["updated_from"]["model"] == "colours.keras" and meta["updated_from"]["gained"] == ["birds"]
    assert meta["notes"][0].startswith("Made from colours.keras: gained the class 'birds'. Its classifier was trained "
                                       "again on the features of 36 labelled pictures (birds: 12, cats: 12, dogs: 12)")
    assert meta["evaluation"]["split"] == "cross-validation" and meta["evaluation"]["accuracy"] == 1.0
    record = trained_record(meta["dataset"])      # every labelled picture: none is ever held out to score it
    assert all(in_record(record, content_hash(p)) for p in _pictures(data / "birds") + _pictures(data / "cats"))
    assert not any(in_record(record, content_hash(p)) for p in _pictures(new / "birds"))
    novelty = grown.novelty                           # "none of these" knows the new class's pictures too
    assert novelty is not None and novelty.centres.shape == (3, 3)    # a centre a class (12 pictures each)
    assert novelty.distances(features[:2]).max() < 0.01               # the birds lie close to theirs
    assert novelty.unfamiliar(np.array([[128.0, 128.0, 128.0]]))[0]   # grey is none of these
    assert grown.recorded_threshold is None           # no cross-checked mistakes: nothing to fit, and it says why
    assert "0 of 36 cross-checked pictures were wrong" in meta["calibration"]["confidence_threshold"]["reason"]


def test_removing_a_class_and_merging_two(three_classes, tmp_path):
    data, new, model = three_classes
    three = Classifier.load(InboxSession(None, data, model.path).save_model(tmp_path / "three.keras").path)

    shutil.move(data / "birds", tmp_path / "birds-elsewhere")         # removed
    removed = InboxSession(None, data, three).save_model(tmp_path / "two.keras")
    assert removed.class_names == ["cats", "dogs"] and removed.lost == ["birds"] and removed.gained == []
    assert removed.changes() == ["lost 'birds'"] and removed.computed == 0
    assert Classifier.load(removed.path).class_names == ["cats", "dogs"]

    for picture in (tmp_path / "birds-elsewhere").iterdir():           # merged: the dogs folder holds both
        shutil.move(picture, data / "dogs")
    merged = InboxSession(None, data, three).save_model(tmp_path / "merged.keras")
    assert merged.lost == ["birds"] and merged.counts == {"cats": 12, "dogs": 24} and merged.computed == 0
    loaded = Classifier.load(merged.path)
    assert _answers(loaded, _pictures(new / "birds")) == ["dogs"] * 5
    assert _answers(loaded, _pictures(new / "cats")) == ["cats"] * 5


def test_a_from_scratch_model_gains_a_class_runs_in_onnx_runtime_and_can_be_trained_on(trained, tmp_path):
    from catdog_desktop.core.model.engine import ONNX_RUNTIME
    from catdog_desktop.core.training.starting_point import starting_point

    scan, _result, path = trained
    data = tmp_path / "pets"
    shutil.copytree(scan.root, data)
    shutil.move(write_class_folders(tmp_path / "more", ["cats", "dogs", "birds"], 20, seed=3) / "birds", data)

    updated = InboxSession(None, data, path).save_model(tmp_path / "pets-birds.keras")

    grown = Classifier.load(updated.path)
    assert grown.class_names == ["birds", "cats", "dogs"] and updated.accuracy >= 0.9
    grown.engine.prefer(10 ** 6)                 # a big job: converted for ONNX Runtime and checked against Keras
    assert grown.engine.runtime == ONNX_RUNTIME
    pixels = np.stack([load_pixels(p, 32) for p in _pictures(data / "birds", 3)])
    np.testing.assert_allclose(grown.engine.run(pixels.astype("float32"))[0],
                               grown.engine.run_tensorflow(pixels.astype("float32"))[0], atol=1e-5)
    point = starting_point(storage.load_bundle(updated.path))      # train --from takes it like any model of the app
    assert point.class_names == ["birds", "cats", "dogs"] and point.kernel.shape[1] == 3


def test_faults_each_get_a_sentence_and_nothing_is_overwritten(three_classes, tmp_path, monkeypatch):
    import keras

    data, _new, model = three_classes
    session = InboxSession(None, data, model.path)
    (tmp_path / "kept.keras").write_bytes(b"the user's file")
    with pytest.raises(CatdogError, match=r"kept.keras already exists: choose another name, or replace it"):
        session.save_model(tmp_path / "kept.keras")
    with pytest.raises(CatdogError, match="colours.keras is the model in use: save the updated model under another "
                                          "name, so that this one stays as it is."):
        session.save_model(model.path, force=True)

    (data / "fish").mkdir()
    with pytest.raises(CatdogError, match=r"The class folder 'fish' in .*data has no usable pictures: put a few "
                                          "pictures of that class in it, or remove the folder."):
        session.save_model(tmp_path / "new.keras")
    (data / "fish").rmdir()

    for name in ("dogs", "birds"):
        shutil.move(data / name, tmp_path / name)
    with pytest.raises(CatdogError, match=r"data has only one class \('cats'\): a model needs at least two classes"):
        session.save_model(tmp_path / "new.keras")

    data.rename(tmp_path / "moved")
    with pytest.raises(CatdogError, match="The dataset folder .*data is not there"):
        session.save_model(tmp_path / "new.keras")
    (tmp_path / "moved").rename(data)
    for name in ("dogs", "birds"):
        shutil.move(tmp_path / name, data / name)

    mkstemp = storage.tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):   # root may write anywhere: the answer a read-only folder gives
        if dir is not None and os.path.samefile(dir, tmp_path):
            raise PermissionError(13, "Permission denied", str(dir))
        return mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(storage.tempfile, "mkstemp", read_only)
    with pytest.raises(CatdogError, match="Cannot save to .*: permission denied. Choose another folder."):
        session.save_model(tmp_path / "kept.keras", force=True)
    monkeypatch.undo()
    assert (tmp_path / "kept.keras").read_bytes() == b"the user's file"
    assert not (tmp_path / "new.keras").exists()

    # A model whose last layer is not a dense layer on features (here: a softmax on raw scores).
    inputs = keras.Input((32, 32, 3))
    scores = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(inputs))
    odd = Classifier(keras.Model(inputs, keras.layers.Softmax()(scores)), ["cats", "dogs"], 32)
    with pytest.raises(CatdogError, match="does not end with a dense layer on a vector of features, so its classes "
                                          "cannot be changed"):
        InboxSession(None, data, odd).save_model(tmp_path / "odd.keras")
    with pytest.raises(CatdogError, match="There is no model to update"):
        InboxSession(None, data).save_model(tmp_path / "none.keras")


def test_cli_update_classes_and_its_errors(three_classes, tmp_path, capsys):
    data, _new, model = three_classes
    out = tmp_path / "new.keras"

    assert cli.main(["update-classes", model.path, "--data", str(data), "--out", str(out)]) == cli.EXIT_OK
    stdout = capsys.readouterr().out.splitlines()
    assert stdout == ["classes: birds, cats, dogs (gained the class 'birds')", "  birds: 12 labelled pictures",
                      "  cats: 12 labelled pictures", "  dogs: 12 labelled pictures",
                      "cross-checked accuracy: 100.0% (each picture scored by a classifier that did not train on it)",
                      f"saved {out}"]
    made = out.stat().st_mtime_ns

    def error(*args):
        code = cli.main([*(() if args[0] == "evaluate" else ("update-classes",)), *map(str, args)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == cli.EXIT_ERROR and err[-1].startswith("error: ")
        return err[-1]

    assert error(model.path, "--data", data, "--out", out) == \
        f"error: {out} already exists: choose another name, or replace it (--force)."
    assert out.stat().st_mtime_ns == made
    assert error(tmp_path / "colours.onnx", "--data", data, "--out", tmp_path / "x.keras") == \
        "error: colours.onnx is an exported model: it cannot learn new classes. Use the .keras model it was exported from."
    assert error(tmp_path / "missing.keras", "--data", data, "--out", tmp_path / "x.keras") == \
        f"error: The model file {tmp_path / 'missing.keras'} does not exist."
    assert error(model.path, "--data", tmp_path / "nowhere", "--out", tmp_path / "x.keras").startswith(
        f"error: The dataset folder {tmp_path / 'nowhere'} is not there")
    assert error(model.path, "--data", data, "--out", tmp_path / "no" / "x.keras") == \
        f"error: Cannot save: the folder {tmp_path / 'no'} does not exist."

    # It learned every labelled picture: none of them can score it, and evaluate says so.
    said = error("evaluate", out, data)
    assert said.startswith("error: The model trained on every picture of this folder, so none is left to check it "
                           "on: when it was trained, its accuracy was estimated by cross-validation on ")
    assert said.endswith("Add pictures it has not seen (or a test folder) to check it.")

    shutil.rmtree(data / "birds")
    assert cli.main(["--json", "update-classes", model.path, "--data", str(data), "--out", str(out), "--force"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["class_names"] == ["cats", "dogs"] and result["changes"] == [
        "the same classes, learned again from the labelled pictures"]
    assert result["features_computed"] == 0 and result["features_cached"] == 24 and result["path"] == str(out)


def test_the_apps_job_returns_plain_data(three_classes, tmp_path):
    from catdog_desktop.core.app import jobs

    class Task:
        progress = staticmethod(lambda done, total, message="": None)
        should_stop = staticmethod(lambda: False)

    data, _new, model = three_classes
    inbox = tmp_path / "inbox"
    shutil.move(data / "birds", inbox)           # the inbox holds the birds; labelled as a new class, then saved
    session, _suggestions = jobs.open_inbox(Task(), str(inbox), str(data), model.path)
    for picture in session.pictures[:6]:
        session.label(picture, "birds", new_class=True)
    jobs.retrain_inbox(Task(), session)          # as the tab does every few labels
    saved = jobs.save_inbox_model(Task(), session, str(tmp_path / "with-birds.keras"))
    assert saved["path"] == str(tmp_path / "with-birds.keras") and saved["gained"] == ["birds"]
    assert saved["counts"] == {"birds": 6, "cats": 12, "dogs": 12} and saved["features_computed"] == 0
    assert saved["accuracy"] == 1.0 and saved["changes"] == ["gained the class 'birds'"]
    json.dumps(saved)  # crosses to the GUI thread as plain data

    # The inbox opened with the new model: its features were cached with it, so nothing is computed again.
    again, suggestions = jobs.open_inbox(Task(), str(inbox), str(data), saved["path"])
    jobs.retrain_inbox(Task(), again)
    assert again.features_computed == 0 and len(suggestions) == 6
    assert {s.suggestion for s in suggestions} == {"birds"}


def test_in_a_train_test_layout_the_training_folder_is_learned_and_the_test_folder_scores_it(tmp_path):
    from catdog_desktop.core.evaluate.evaluation import evaluate_folder

    data = tmp_path / "data"
    write_class_folders(data / "train", ["cats", "dogs", "birds"], 10)
    write_class_folders(data / "test", ["cats", "dogs", "birds"], 4, seed=5)
    model = colour_classifier(tmp_path)

    updated = InboxSession(None, data, model.path).save_model(tmp_path / "new.keras")

    assert updated.counts == {"birds": 10, "cats": 10, "dogs": 10}     # the test pictures are not learned
    scored = evaluate_folder(Classifier.load(updated.path), str(data))
    assert scored.evaluation.split == "test" and scored.evaluation.count == 12 and scored.evaluation.accuracy == 1.0


def test_a_class_of_one_picture_is_learned_and_the_cross_check_says_why_it_is_missing(three_classes, tmp_path, capsys):
    data, new, model = three_classes
    for picture in _pictures(data / "birds")[1:]:
        os.unlink(picture)

    assert cli.main(["update-classes", model.path, "--data", str(data), "--out", str(tmp_path / "one.keras")]) == 0
    out = capsys.readouterr().out
    assert "  birds: 1 labelled picture\n" in out and "cross-checked accuracy: not measured (a class has a single " \
                                                      "picture)" in out
    grown = Classifier.load(str(tmp_path / "one.keras"))
    assert "evaluation" not in grown.metadata and grown.recorded_threshold is None
    assert _answers(grown, _pictures(new / "birds")) == ["birds"] * 5
