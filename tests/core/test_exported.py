"""Opening exported models from elsewhere: a SavedModel folder is never opened for classifying and
a .tflite with TensorFlow ("Flex") operators is refused, so a shared model cannot run TensorFlow code
(here: write a file) on the user's computer. Through the core and through ``predict``."""

import shutil

import pytest
from PIL import Image

from catdog_desktop import cli
from catdog_desktop.core.export import runtimes as exported
from catdog_desktop.core.errors import ModelFileError
from hostile import make_flex_tflite_that_writes, make_saved_model_that_writes

SAVEDMODEL_REFUSED = ("is a TensorFlow SavedModel folder, which this app does not open (loading one runs the "
                      "TensorFlow code in it; SavedModels are for TF Serving): use the .keras model, or a .tflite "
                      "or .onnx export.")


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(path)
    return path


def refused_by_predict(model, picture, capsys) -> str:
    """``predict MODEL PICTURE`` fails with one error line: that line."""
    capsys.readouterr()
    assert cli.main(["predict", str(model), str(picture)]) == cli.EXIT_ERROR
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err
    assert captured.out == ""
    return lines[0]


def test_a_shared_savedmodel_is_refused_and_its_graph_never_runs(tmp_path, picture, capsys):
    written = tmp_path / "written-by-the-model.txt"
    shared = make_saved_model_that_writes(tmp_path / "shared-model", written)  # with our catdog_desktop.json
    bare = tmp_path / "bare-model"
    shutil.copytree(shared, bare)
    (bare / exported.SIDECAR_JSON_IN_FOLDER).unlink()

    for folder in (shared, bare):
        with pytest.raises(ModelFileError) as refused:
            exported.load_classifier(folder)
        assert str(refused.value) == f"{folder.name} {SAVEDMODEL_REFUSED}"
        assert refused_by_predict(folder, picture, capsys) == f"error: {folder.name} {SAVEDMODEL_REFUSED}"
    assert not written.exists()

    # The folder really is hostile: loaded by TensorFlow, its graph writes the file.
    import tensorflow as tf

    tf.saved_model.load(str(shared)).signatures["serving_default"](inputs=tf.zeros((1, 32, 32, 3)))
    assert written.exists()


def test_a_tflite_with_tensorflow_operators_is_refused_with_a_sentence(tmp_path, picture, capsys):
    written = tmp_path / "written-by-the-model.txt"
    flex = make_flex_tflite_that_writes(tmp_path / "shared.tflite", written)
    message = ("shared.tflite contains TensorFlow operators (FlexAsString, FlexWriteFile) that this app does not run "
               "(they can do anything TensorFlow can, such as reading and writing files): use a .tflite converted "
               "with TFLite's built-in operators only, as this app's exports are.")
    with pytest.raises(ModelFileError) as refused:
        exported.load_classifier(flex)
    assert str(refused.value) == message
    assert refused_by_predict(flex, picture, capsys) == f"error: {message}"
    assert not written.exists()
