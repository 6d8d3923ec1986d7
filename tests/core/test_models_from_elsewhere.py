"""A .keras file the app did not train: what it gives must be one probability per class, or it is
refused with a sentence (never a "probability" of -35 %, never a TypeError)."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from catdog_desktop.core.errors import ModelFileError
from catdog_desktop.core.classify.classifier import Classifier
from synthetic import write_class_folders


def _save(tmp_path, name, build):
    """A plain Keras model (no catdog metadata) from ``build(pooled features)``, saved as ``name``."""
    inputs = keras.Input((16, 16, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, build(pooled))
    for layer in model.layers:  # large weights: raw scores far outside 0..1
        if isinstance(layer, keras.layers.Dense):
            layer.set_weights([np.linspace(-1, 1, int(np.prod(layer.kernel.shape)), dtype="float32").reshape(layer.kernel.shape),
                               np.zeros(layer.units, "float32")])
    path = tmp_path / name
    model.save(path)
    return path


def _run(*args):
    proc = subprocess.run([sys.executable, "-m", "catdog_desktop.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def picture(tmp_path):
    return write_class_folders(tmp_path / "pics", ["a"], 1)


@pytest.mark.parametrize("units, function", [(3, "softmax"), (1, "sigmoid")])
def test_raw_scores_become_probabilities_and_the_user_is_told(tmp_path, units, function):
    path = _save(tmp_path, "raw.keras", lambda x: keras.layers.Dense(units)(x))
    classifier = Classifier.load(path)
    probs = classifier.probabilities(np.full((2, 16, 16, 3), 250, np.uint8))
    assert probs.min() >= 0 and probs.max() <= 1 and np.allclose(probs.sum(axis=1), 1)
    assert classifier.notes == [f"raw.keras gives raw scores (its last layer has no {function}): "
                                f"catdog-desktop turns them into probabilities with a {function}."]


def test_two_outputs_are_refused_with_a_sentence(tmp_path):
    path = _save(tmp_path, "two.keras", lambda x: [keras.layers.Dense(2, activation="softmax")(x),
                                                    keras.layers.Dense(3, activation="softmax")(x)])
    with pytest.raises(ModelFileError, match="^two.keras has 2 outputs; catdog-desktop needs one output with a "
                                             "score per class.$"):
        Classifier.load(path)


def test_several_sigmoid_outputs_are_refused(tmp_path):
    path = _save(tmp_path, "multi.keras", lambda x: keras.layers.Dense(3, activation="sigmoid")(x))
    with pytest.raises(ModelFileError, match="a separate yes-or-no score for each class"):
        Classifier.load(path)


def test_outputs_that_are_not_probabilities_are_refused_when_they_show(tmp_path):
    # A last layer the app cannot read (not a softmax, not an activation): its values give it away.
    path = _save(tmp_path, "scaled.keras", lambda x: keras.layers.Rescaling(-35.0)(
        keras.layers.Dense(2, activation="softmax")(x)))
    classifier = Classifier.load(path)
    with pytest.raises(ModelFileError, match=r"^scaled.keras does not give probabilities: its outputs run from "
                                             r"-\S+ to \S+, not 0 to 1\."):
        classifier.probabilities(np.full((1, 16, 16, 3), 200, np.uint8))


def test_cli_predict_says_so(tmp_path, picture):
    raw = _save(tmp_path, "raw.keras", lambda x: keras.layers.Dense(2)(x))
    code, stdout, stderr = _run("predict", raw, picture)
    assert code == 0, stderr
    assert "note: raw.keras gives raw scores (its last layer has no softmax)" in stderr
    assert "-" not in stdout.split("\t", 1)[1]  # no negative "probability"

    code, stdout, stderr = _run("--json", "predict", raw, picture)
    assert code == 0 and all(0 <= p <= 1 for p in json.loads(stdout)["predictions"][0]["probabilities"].values())

    two = _save(tmp_path, "two.keras", lambda x: [keras.layers.Dense(2)(x), keras.layers.Dense(2)(x)])
    code, stdout, stderr = _run("predict", two, picture)
    assert code == 2
    assert stderr.strip() == ("error: two.keras has 2 outputs; catdog-desktop needs one output with a score "
                              "per class.")
