"""Where the model looked, both ways (core.heatmaps.gradcam: Grad-CAM; core.heatmaps.occlusion: hiding parts):
heatmaps of tiny models trained here in seconds on generated pictures whose answer lies in a
bright square, of the pretrained network, and of models with nothing to explain by Grad-CAM."""

import numpy as np
import pytest

from catdog_desktop.core.heatmaps import gradcam
from catdog_desktop.core.app import jobs
from catdog_desktop.core.heatmaps import occlusion
from catdog_desktop.core.errors import CancelledError
from catdog_desktop.core.config import TrainingConfig
from catdog_desktop.core.classify.classifier import Classifier
from helpers import TINY
from synthetic import decoy_square_arrays, square_presence_arrays, square_side_arrays


def train_tiny(x, y, class_names, seed=0):
    """The from-scratch CNN (make_model, TINY) fitted on arrays. No augmentation: its mirror flip
    would swap left and right."""
    import keras

    from catdog_desktop.core.model.network import make_model

    keras.utils.set_random_seed(seed)
    model = make_model(TrainingConfig(**{**TINY, "augmentation": False}), len(class_names))
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
    model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    return Classifier(model, class_names, x.shape[1])


def untrained_tiny(class_names, seed=0):
    import keras

    from catdog_desktop.core.model.network import make_model

    keras.utils.set_random_seed(seed)
    return Classifier(make_model(TrainingConfig(**{**TINY, "augmentation": False}), len(class_names)),
                      class_names, 32)


@pytest.fixture(scope="module")
def side_model():
    """A tiny CNN that tells a bright square on the left from one on the right, and 100 new test pictures."""
    x, y, _ = square_side_arrays(240, seed=1)
    classifier = train_tiny(x, y, ["left", "right"])
    xt, yt, boxes = square_side_arrays(100, seed=2)
    assert (classifier.probabilities(xt).argmax(axis=1) == yt).mean() >= 0.95
    return classifier, xt, yt, boxes


def peaks(heat):
    return [np.unravel_index(np.argmax(h), h.shape) for h in heat]


def distance_to(box, peak):
    """Pixels from ``peak`` (row, column) to the box (0: on it), the larger of the two directions."""
    (top, left, bottom, right), (row, column) = box, peak
    return max(top - row, 0, row - (bottom - 1), left - column, 0, column - (right - 1))


def test_heatmap_peak_lies_on_the_square_that_decides():
    """Class "square" (a bright square anywhere) against "none": the peak lies on the square."""
    x, y, _ = square_presence_arrays(240, seed=1)
    classifier = train_tiny(x, y, ["none", "square"])
    xt, yt, boxes = square_presence_arrays(100, seed=2)
    assert (classifier.probabilities(xt).argmax(axis=1) == yt).mean() >= 0.95
    with_square = yt == 1
    heat = gradcam.heatmaps(classifier, xt[with_square])  # the predicted class: "square"
    assert heat.shape == (50, 32, 32) and heat.dtype == np.float32
    assert heat.min() >= 0.0 and np.allclose(heat.max(axis=(1, 2)), 1.0)
    distances = np.array([distance_to(b, p) for b, p in zip(np.array(boxes)[with_square], peaks(heat))])
    on_square, within_a_cell = (distances == 0).mean(), (distances <= 4).mean()  # a cell of the 8x8 map: 4 px
    hidden = np.array([distance_to(b, p) for b, p in zip(np.array(boxes)[with_square],
                                                          peaks(occlusion.heatmaps(classifier, xt[with_square])))])
    print(f"presence: Grad-CAM's peak on the 8-px square in {on_square:.0%}, within 4 px in {within_a_cell:.0%}; "
          f"hiding parts: on the square in {(hidden == 0).mean():.0%}")
    assert on_square >= 0.6 and within_a_cell >= 0.9  # measured: 54-100 %, 100 %
    assert (hidden == 0).mean() >= 0.9  # measured: 100 % (3 seeds)


def test_grad_cam_follows_a_square_left_or_right_from_beside_it(side_model):
    """Class "left"/"right": the side of a bright square. A CNN that pools over the whole picture
    cannot know where a pixel is, only what surrounds it, so it decides from the columns between
    the square and the middle, which see the square on one side and open background on the other:
    Grad-CAM's peak lies on the square's rows, beside the square towards the middle (README)."""
    classifier, xt, yt, boxes = side_model
    heat = gradcam.heatmaps(classifier, xt, yt)
    found = peaks(heat)
    on_rows = np.mean([top <= row < bottom for (top, _, bottom, _), (row, _) in zip(boxes, found)])
    on_square = np.mean([distance_to(b, p) == 0 for b, p in zip(boxes, found)])
    within_two_cells = np.mean([distance_to(b, p) <= 8 for b, p in zip(boxes, found)])
    rows_share = np.mean([h[top:bottom].sum() / h.sum() for h, (top, _, bottom, _) in zip(heat, boxes)])
    print(f"left/right: peak on the square's rows in {on_rows:.0%}, on the square {on_square:.0%}, within "
          f"8 px {within_two_cells:.0%}; the square's rows hold {rows_share:.0%} of the heat")
    assert on_rows >= 0.9 and within_two_cells >= 0.9  # measured: 100 %, 100 % (on the square: 0 %)
    assert rows_share >= 0.5  # the square's rows are a third of the picture at most


def test_hiding_parts_lands_on_the_square_left_or_right(side_model):
    """The same model, explained by hiding parts (core.heatmaps.occlusion): hiding the square takes away
    what the answer rests on, hiding the background beside it does not, so the peak lies on the
    square itself."""
    classifier, xt, yt, boxes = side_model
    heat = occlusion.heatmaps(classifier, xt, yt)
    assert heat.shape == (100, 32, 32) and heat.dtype == np.float32
    assert heat.min() >= 0.0 and np.allclose(heat.max(axis=(1, 2)), 1.0)
    distances = np.array([distance_to(b, p) for b, p in zip(boxes, peaks(heat))])
    on_square, within_a_cell = (distances == 0).mean(), (distances <= 4).mean()
    print(f"left/right, hiding parts: peak on the square in {on_square:.0%}, within 4 px in {within_a_cell:.0%}")
    assert on_square >= 0.8 and within_a_cell >= 0.95  # measured: 88-100 %, 100 % (3 seeds)


def test_hiding_parts_follows_the_square_that_decides_not_an_equally_bright_one():
    """A reddish square's side decides; a bluish one as bright lies on a random side. The heat of
    the trained model lands on the red square and never on the blue one; an untrained model of
    the same build has no reason to prefer the red one (a map that favoured bright pixels would)."""
    x, y, _, _ = decoy_square_arrays(240, seed=1)
    classifier = train_tiny(x, y, ["left", "right"])
    xt, yt, reds, blues = decoy_square_arrays(100, seed=2)
    assert (classifier.probabilities(xt).argmax(axis=1) == yt).mean() >= 0.95

    def on(heat, boxes):
        return np.mean([distance_to(b, p) == 0 for b, p in zip(boxes, peaks(heat))])

    heat = occlusion.heatmaps(classifier, xt, yt)
    blind = occlusion.heatmaps(untrained_tiny(["left", "right"]), xt, yt)
    grad_cam = gradcam.heatmaps(classifier, xt, yt)
    print(f"decoy, hiding parts: on the red square {on(heat, reds):.0%}, on the blue one {on(heat, blues):.0%}; "
          f"untrained: red {on(blind, reds):.0%}, blue {on(blind, blues):.0%}; "
          f"Grad-CAM: red {on(grad_cam, reds):.0%}, blue {on(grad_cam, blues):.0%}")
    assert on(heat, reds) >= 0.8 and on(heat, blues) <= 0.1  # measured: 97-100 %, 0 % (3 seeds)
    assert on(blind, reds) <= 0.7  # measured: 35-48 %


def test_hiding_parts_explains_a_model_without_convolutions_and_can_be_stopped():
    """Hiding parts needs only the model's answers: the colour model (redder than blue: "cats",
    no convolution) is explained, its heat on the red patch, which Grad-CAM cannot do."""
    from helpers import colour_classifier

    classifier = colour_classifier()
    picture = np.full((32, 32, 3), 120, np.uint8)
    picture[20:28, 2:10] = (240, 40, 40)
    heat = occlusion.heatmap(classifier, picture, 0)  # "cats"
    row, column = np.unravel_index(np.argmax(heat), heat.shape)
    assert distance_to((20, 2, 28, 10), (row, column)) == 0 and heat.max() == 1.0
    # The model sees only the average colour, which mirroring keeps: the mirrored picture gets the
    # mirrored heat (the patches of the right half mirror those of the left).
    assert np.allclose(occlusion.heatmap(classifier, picture[:, ::-1], 0)[:, ::-1], heat, atol=1e-4)
    assert occlusion.heatmap(classifier, np.full((32, 32, 3), 120, np.uint8), 0).max() == 0.0  # nothing to hide
    with pytest.raises(gradcam.NothingToExplainError):
        gradcam.heatmap(classifier, picture, 0)
    asked = []
    with pytest.raises(CancelledError):
        occlusion.heatmap(classifier, picture, 0, should_stop=lambda: asked.append(1) or len(asked) > 1)
    assert len(asked) == 2  # asked before each model call: stopped before the second
    with pytest.raises(ValueError, match="out of range"):
        occlusion.heatmap(classifier, picture, 2)


def test_the_pretrained_network_is_explained_through_its_nested_backbone(tmp_path):
    from catdog_desktop.core.model import storage
    from catdog_desktop.core.training.pretrained import make_pretrained_model

    # As the app meets it: saved, then opened (safe mode) from the file.
    model = make_pretrained_model(TrainingConfig(image_size=96), 3)
    path = storage.save_bundle(model, {"class_names": ["a", "b", "c"], "image_size": 96}, tmp_path / "p.keras")
    classifier = Classifier.load(path)
    pixels = np.random.default_rng(0).integers(0, 256, (2, 96, 96, 3)).astype(np.uint8)
    heat = gradcam.heatmaps(classifier, pixels, [0, 2])
    assert heat.shape == (2, 96, 96) and heat.dtype == np.float32
    assert np.isfinite(heat).all() and heat.min() >= 0.0 and heat.max() <= 1.0
    assert heat.max() == 1.0  # normalised, not blank
    hidden = occlusion.heatmaps(classifier, pixels, [0, 2])
    assert hidden.shape == (2, 96, 96) and np.isfinite(hidden).all() and 0.0 <= hidden.min() <= hidden.max() <= 1.0


def test_a_model_without_convolutions_says_so():
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Flatten()(x)
    classifier = Classifier(keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x)), ["a", "b"], 32)
    with pytest.raises(gradcam.NothingToExplainError, match="no convolutional layers"):
        gradcam.heatmap(classifier, np.zeros((32, 32, 3), np.uint8))
    assert not gradcam.can_explain(classifier)


def test_explain_job_gives_plain_data_and_an_overlay(trained, tmp_path):
    from PIL import Image

    scan, _, model_path = trained
    classifier = Classifier.load(model_path)
    result = jobs.explain(None, classifier, scan.validation.paths[0])
    # Plain data only: it crosses to the GUI thread through a signal (no numpy, no PIL image).
    assert set(result) == {"path", "overlay_rgb", "class_index", "class_name", "probability", "found", "method"}
    assert result["class_name"] in ("cats", "dogs") and type(result["class_index"]) is int
    assert type(result["probability"]) is float and 0.0 <= result["probability"] <= 1.0
    assert type(result["found"]) is bool
    width, height, data = result["overlay_rgb"]
    assert type(width) is int and type(height) is int and type(data) is bytes and len(data) == width * height * 3
    assert Image.frombytes("RGB", (width, height), data).size == Image.open(scan.validation.paths[0]).size
    assert result["method"] == "gradcam"
    other = jobs.explain(None, classifier, scan.validation.paths[0], 1 - result["class_index"], "occlusion")
    assert other["class_index"] == 1 - result["class_index"] and other["method"] == "occlusion"
    assert other["overlay_rgb"][:2] == result["overlay_rgb"][:2] and other["overlay_rgb"] != result["overlay_rgb"]
    with pytest.raises(ValueError, match="Unknown way"):
        jobs.explain(None, classifier, scan.validation.paths[0], None, "magic")
    # The overlay is the picture tinted: where the heat is high, red dominates.
    red = gradcam.overlay(np.full((20, 20, 3), 128, np.uint8), np.ones((4, 4), np.float32))
    r, g, b = np.asarray(red)[10, 10]
    assert r > b + 40
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    from catdog_desktop.core.errors import CatdogError

    with pytest.raises(CatdogError, match="broken.png"):
        jobs.explain(None, classifier, str(tmp_path / "broken.png"))
