"""The inference engine (core/model/engine.py): a forward pass runs in ONNX Runtime when the model
converts and agrees with TensorFlow, and on TensorFlow (with a log line, no error) when not."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest

from catdog_desktop.core.model import engine as engines
from catdog_desktop.core.model.engine import ONNX_RUNTIME, TENSORFLOW, TOLERANCE, Engine
from catdog_desktop.core.model.features import CACHE_ENV
from helpers import TINY


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of this test's own: engines_dir() is beside the feature cache."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "features"))
    return tmp_path / "features" / "engines"


def tiny_cnn():
    from catdog_desktop.core.config import TrainingConfig
    from catdog_desktop.core.model.network import make_model

    keras.utils.set_random_seed(1)
    return make_model(TrainingConfig(**TINY), 2)  # with its augmentation layers, idle at inference


def pictures(count: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3)).astype(np.float32)


def engine_of(model, identity="test|tiny-cnn", size=32) -> Engine:
    return Engine(lambda x: model(x, training=False), size, identity, "the test model")


def test_a_big_job_converts_checks_and_caches_and_the_next_engine_loads_the_cache(cache, monkeypatch):
    model = tiny_cnn()
    engine = engine_of(model)
    engine.prefer(10)  # a small job: not worth converting
    assert engine.runtime == TENSORFLOW and not list(cache.glob("*.onnx"))
    engine.prefer(engines.CONVERT_FROM)
    assert engine.runtime == ONNX_RUNTIME
    assert engine.parity_difference <= 1.0
    x = pictures(16)
    np.testing.assert_allclose(engine.run(x)[0], engine.run_tensorflow(x)[0], atol=TOLERANCE)
    assert len(list(cache.glob("*.onnx"))) == 1

    monkeypatch.setattr(Engine, "_to_onnx", lambda self: pytest.fail("converted a second time"))
    again = engine_of(model)
    again.prefer(1)  # whatever the size: a cached conversion is loaded
    assert again.fast
    np.testing.assert_array_equal(again.run(x)[0], engine.run(x)[0])
    # Another model (another identity) does not pick up that file.
    other = engine_of(model, identity="test|another")
    other.prefer(1)
    assert not other.fast


def test_a_model_onnx_cannot_run_stays_on_tensorflow_with_a_log_line(cache, caplog):
    """Lanczos resizing is a TensorFlow op with no ONNX operator: a real model from elsewhere
    could hold it. It must still classify, on TensorFlow."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Resizing(16, 16, interpolation="lanczos3")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    engine = engine_of(model, identity="test|lanczos")
    with caplog.at_level(logging.WARNING, logger=engines.__name__):
        assert engine.convert() is False
    assert engine.runtime == TENSORFLOW
    assert "conversion to ONNX failed" in engine.fallback_reason
    assert any("runs on TensorFlow" in r.getMessage() for r in caplog.records)
    x = pictures(4)
    np.testing.assert_allclose(engine.run(x)[0], model(x, training=False).numpy(), atol=1e-6)
    assert not list(cache.glob("*.onnx"))
    engine.prefer(10 ** 6)  # tried once: a big job does not convert again
    assert engine.runtime == TENSORFLOW


def test_answers_that_differ_from_tensorflow_are_never_used(cache, monkeypatch):
    real_session = engines._session

    class Off:
        """ONNX Runtime's session with every answer moved by 1e-3."""

        def __init__(self, content):
            self.session = real_session(content)

        def get_inputs(self):
            return self.session.get_inputs()

        def run(self, names, feeds):
            return [out + 1e-3 for out in self.session.run(names, feeds)]

    monkeypatch.setattr(engines, "_session", Off)
    engine = engine_of(tiny_cnn())
    assert engine.convert() is False
    assert engine.runtime == TENSORFLOW and "differ from TensorFlow's" in engine.fallback_reason
    assert engine.parity_difference > 1.0
    assert not list(cache.glob("*.onnx"))


def test_a_damaged_cached_conversion_is_converted_again(cache, caplog):
    model = tiny_cnn()
    assert engine_of(model).convert()
    (onnx_file,) = cache.glob("*.onnx")
    onnx_file.write_bytes(onnx_file.read_bytes()[:1000])  # cut short, as by a full disk
    engine = engine_of(model)
    with caplog.at_level(logging.WARNING, logger=engines.__name__):
        engine.prefer(engines.CONVERT_FROM)
    assert any("ignored the cached conversion" in r.getMessage() for r in caplog.records)
    assert engine.fast
    x = pictures(4)
    np.testing.assert_allclose(engine.run(x)[0], engine.run_tensorflow(x)[0], atol=TOLERANCE)


def test_tensorflow_everywhere_when_the_user_asks(cache, monkeypatch):
    monkeypatch.setenv(engines.ENGINE_ENV, "tensorflow")
    engine = engine_of(tiny_cnn())
    engine.prefer(10 ** 6)
    assert engine.convert_in_background() is None
    assert engine.runtime == TENSORFLOW and not list(cache.glob("*.onnx"))


def test_a_background_conversion_switches_the_runtime_when_ready(cache):
    engine = engine_of(tiny_cnn())
    x = pictures(3)
    before = engine.run(x)[0]  # answered at once, on TensorFlow
    thread = engine.convert_in_background()
    assert thread is not None
    assert engine.wait(timeout=120)
    assert engine.runtime == ONNX_RUNTIME
    np.testing.assert_allclose(engine.run(x)[0], before, atol=TOLERANCE)


@pytest.fixture(scope="module")
def pretrained_model(pets_dir, tmp_path_factory):
    """A pretrained model (MobileNetV2 at 32 px) trained on the tiny dataset and saved."""
    from catdog_desktop.core.config import TrainingConfig
    from catdog_desktop.core.data.dataset import scan_dataset
    from catdog_desktop.core.model import storage
    from catdog_desktop.core.training import train as training
    from test_pretrained import PRETRAINED

    result = training.train(TrainingConfig(**{**PRETRAINED, "epochs": 1}), scan_dataset(pets_dir))
    path = storage.save_bundle(result.model, result.metadata(), tmp_path_factory.mktemp("engine") / "pets.keras")
    return path, result


def test_evaluation_classification_and_export_give_the_same_answers(pretrained_model, pets_dir, tmp_path):
    """On a trained model: the folder classification (ONNX Runtime), the folder evaluation, the
    from-scratch-style evaluation of the Keras model, TensorFlow itself and the ONNX export agree."""
    from catdog_desktop.core.classify.classifier import Classifier
    from catdog_desktop.core.data.images import load_pixels
    from catdog_desktop.core.evaluate.evaluation import evaluate_folder, predict_probabilities
    from catdog_desktop.core.export.exporter import export_model
    from catdog_desktop.core.export.runtimes import load_exported

    path, _ = pretrained_model
    classifier = Classifier.load(path)
    assert classifier.digest is not None
    assert classifier.engine.convert(), classifier.engine.fallback_reason
    evaluation = evaluate_folder(classifier, str(pets_dir))  # the held-out share of the training folder
    evaluated = {r.path: [r.probabilities[c] for c in classifier.class_names]
                 for r in evaluation.evaluation.results}
    paths = sorted(evaluated)
    assert len(paths) >= 10
    classified = np.array([[p.probabilities[c] for c in classifier.class_names]
                           for p in classifier.predict_paths(paths)])
    np.testing.assert_allclose([evaluated[p] for p in paths], classified, atol=1e-12)

    pixels = np.stack([load_pixels(p, classifier.image_size) for p in paths])
    tensorflow = classifier.engine.run_tensorflow(pixels.astype(np.float32))[0]
    tensorflow = np.concatenate([1 - tensorflow, tensorflow], axis=1) if tensorflow.shape[1] == 1 else tensorflow
    np.testing.assert_allclose(classified, tensorflow, atol=TOLERANCE)
    np.testing.assert_allclose(predict_probabilities(classifier.model, pixels), tensorflow, atol=TOLERANCE)

    result = export_model(classifier, "onnx", tmp_path / "pets.onnx")
    assert result.passed
    exported = load_exported(tmp_path / "pets.onnx").probabilities(pixels)
    np.testing.assert_allclose(exported, classified, atol=TOLERANCE)


def test_a_model_file_from_elsewhere_that_cannot_convert_still_classifies(cache, tmp_path):
    """Opened as the app opens a model (warm-up, then the background conversion): it falls back."""
    from catdog_desktop.core.classify.classifier import Classifier

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Resizing(16, 16, interpolation="lanczos3")(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.save(tmp_path / "elsewhere.keras")
    classifier = Classifier.load(tmp_path / "elsewhere.keras").warm_up(background=True)
    assert classifier.engine.wait(timeout=120) is False
    assert classifier.engine.runtime == TENSORFLOW and classifier.engine.fallback_reason
    x = pictures(5).astype(np.uint8)
    predictions = classifier.predict_array(x)
    assert [p.error for p in predictions] == [None] * 5
    np.testing.assert_allclose([[p.probabilities[c] for c in classifier.class_names] for p in predictions],
                               model(x.astype(np.float32)).numpy(), atol=1e-6)


def test_only_the_most_recently_used_conversions_are_kept(cache, monkeypatch):
    monkeypatch.setattr(engines, "KEEP_CONVERSIONS", 2)
    model = tiny_cnn()
    for name in ("first", "second", "third"):
        assert engine_of(model, identity=f"test|{name}").convert()
    assert len(list(cache.glob("*.onnx"))) == 2 and len(list(cache.glob("*.json"))) == 2
    assert not engine_of(model, identity="test|first")._load_cached()
    assert engine_of(model, identity="test|third")._load_cached()
