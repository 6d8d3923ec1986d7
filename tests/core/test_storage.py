import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from catdog_desktop.core.model import storage
from catdog_desktop.core.errors import ModelFileError
from catdog_desktop.core.classify.classifier import Classifier
from helpers import colour_classifier
from hostile import BAD_MODELS, make_bad_model, zip_bomb


def test_bundle_carries_metadata_and_is_small(trained):
    _, result, path = trained
    meta = storage.read_metadata(path)
    assert meta["class_names"] == ["cats", "dogs"] and meta["image_size"] == 32
    assert meta["config"]["epochs"] == result.config.epochs
    assert len(meta["history"]) == len(result.history)
    assert meta["evaluation"]["accuracy"] == pytest.approx(result.evaluation.accuracy)
    assert meta["dataset"]["train_counts"] == [40, 40]
    # Loading checks every recorded value (core.model.recorded) and drops none of what training writes.
    loaded = Classifier.load(path).metadata
    assert json.dumps(loaded, sort_keys=True) == json.dumps(meta, sort_keys=True)
    with zipfile.ZipFile(path) as zf:
        assert "optimizer" not in zf.read("config.json").decode()  # saved without optimizer state


def test_failed_save_leaves_previous_model_intact(trained, tmp_path, monkeypatch):
    _, result, path = trained
    target = tmp_path / "model.keras"
    target.write_bytes(path.read_bytes())
    before = target.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "replace", disk_full)
    with pytest.raises(ModelFileError, match="No space left"):
        storage.save_bundle(result.model, result.metadata(), target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.keras"]  # no temporary file left behind


def test_save_appends_extension_and_overwrites(trained, tmp_path):
    _, result, _ = trained
    first = storage.save_bundle(result.model, {**result.metadata(), "note": 1}, tmp_path / "m")
    assert first.name == "m.keras"
    storage.save_bundle(result.model, {**result.metadata(), "note": 2}, first)
    assert storage.read_metadata(first)["note"] == 2


def test_save_into_missing_folder_is_a_clear_error(trained, tmp_path):
    _, result, _ = trained
    with pytest.raises(ModelFileError, match="does not exist"):
        storage.save_bundle(result.model, result.metadata(), tmp_path / "no" / "m.keras")


@pytest.mark.parametrize("name", list(BAD_MODELS))
def test_bad_model_files_are_refused_saying_what_is_wrong(trained, tmp_path, name):
    path = make_bad_model(tmp_path, name, trained[2])
    with pytest.raises(ModelFileError, match=BAD_MODELS[name][1]):
        Classifier.load(path)


def test_zip_that_is_not_a_model_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "x.keras", "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ModelFileError, match="not a model this app can open"):
        Classifier.load(tmp_path / "x.keras")


def test_lambda_layer_is_refused_by_safe_mode(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ModelFileError, match="Lambda"):
        Classifier.load(tmp_path / "lambda.keras")


def test_plain_keras_model_without_metadata_loads_with_generic_names(tmp_path):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)).save(tmp_path / "plain.keras")
    clf = Classifier.load(tmp_path / "plain.keras")
    assert clf.class_names == ["class 1", "class 2", "class 3"] and clf.image_size == 16


def test_metadata_is_valid_json_without_tensorflow_objects(trained):
    _, result, _ = trained
    json.dumps(result.metadata())


def test_mixed_precision_model_is_saved_computing_in_float32(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, dtype="mixed_bfloat16", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(dtype="mixed_bfloat16")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", dtype="float32")(x))
    path = storage.save_bundle(model, {"class_names": ["a", "b"]}, tmp_path / "bf16.keras")
    loaded = Classifier.load(path).model
    assert loaded.get_layer("conv").compute_dtype == "float32"
    x = np.random.default_rng(0).integers(0, 255, (2, 8, 8, 3)).astype("float32")
    assert np.allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=2e-2)


def test_killing_the_app_while_it_saves_leaves_the_previous_file_whole(trained, tmp_path):
    _, _, model = trained
    target = tmp_path / "model.keras"
    previous = model.read_bytes()
    target.write_bytes(previous)
    # The saver announces the moment the new file is written but not yet renamed, then pauses.
    saver = (
        "import os, time\n"
        "from catdog_desktop.core.model import storage\n"
        "from catdog_desktop.core.classify.classifier import Classifier\n"
        f"clf = Classifier.load({str(model)!r})\n"
        "real_fsync = os.fsync\n"
        "def announced(fd):\n"
        "    real_fsync(fd)\n"
        "    print('written', flush=True)\n"
        "    time.sleep(60)\n"
        "storage.os.fsync = announced\n"
        "clf.metadata['note'] = 'new version'\n"
        f"storage.save_bundle(clf.model, clf.metadata, {str(target)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", saver], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        assert proc.stdout.readline().strip() == "written"
    finally:
        proc.kill()  # killed after writing the new file, before it replaces the old one
        proc.wait()
    assert target.read_bytes() == previous  # the previous file is untouched
    assert Classifier.load(target).class_names == ["cats", "dogs"]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.keras"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.")  # the hidden, unfinished new file


@pytest.mark.parametrize("member", ["catdog_desktop.json", "config.json", "model.weights.h5"])
def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path, monkeypatch, capsys, member):
    """A .keras file of 2 MB whose ``member`` unpacks to 2 GB of zeros (ours and Keras' metadata,
    and the weights, which Keras itself would read into memory): refused from its zip directory
    with a sentence, having unpacked next to nothing (it used to take 25 s and 4-5 GB)."""
    from catdog_desktop import cli

    good = Path(colour_classifier(tmp_path).path)
    bomb = zip_bomb(good, tmp_path / "bomb.keras", member)
    assert bomb.stat().st_size < 3e6
    unpacked = []
    real_read = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, n=-1: unpacked.append(real_read(self, n)) or unpacked[-1])
    for attempt in (storage.read_metadata, Classifier.load):
        with pytest.raises(ModelFileError, match=r"bomb.keras was refused: it would unpack to 2\.1 GB"):
            attempt(bomb)
    assert cli.main(["predict", str(bomb), str(good)]) == 2
    assert "error: bomb.keras was refused: it would unpack to 2.1 GB" in capsys.readouterr().err
    assert sum(len(chunk) for chunk in unpacked) < 1e6
