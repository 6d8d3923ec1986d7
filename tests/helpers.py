"""Settings and data shared by the tests. No Qt: core tests import this too."""

from __future__ import annotations

#: Small, fast settings that still separate the synthetic classes.
#: float32 so that a saved model (always float32) predicts exactly what the trained one did.
TINY = dict(backbone="none", image_size=32, stem_stride=1, blocks=3, base_filters=16, convs_per_block=1, epochs=4, batch_size=16,
            patience=10, learning_rate=3e-3, precision="float32")

#: The classes :func:`colour_classifier` knows.
COLOUR_CLASSES = ["cats", "dogs"]


def colour_classifier(folder=None):
    """A tiny Keras model, no training: a picture is "cats" when it is redder than blue, else "dogs"
    (tests/synthetic.py draws cats red, dogs blue, a third class green). Saved in ``folder`` if given."""
    return _mean_colour_classifier(COLOUR_CLASSES, [[0.05, -0.05], [0, 0], [-0.05, 0.05]], [0, 0], folder, "colours")


def brightness_classifier(folder=None):
    """Like :func:`colour_classifier`, by brightness: "bright" when the mean pixel is above mid-grey
    (128), else "dark" (over 99 % sure at 0 or 255)."""
    w = 0.01
    return _mean_colour_classifier(["dark", "bright"], [[-w, w]] * 3, [1.28 * 3, -1.28 * 3], folder, "brightness")


def _mean_colour_classifier(classes, weights, bias, folder, name):
    """A softmax over a weighted sum of the picture's mean red, green and blue (32 px pictures)."""
    import keras
    import numpy as np

    from catdog_desktop.core.model import storage
    from catdog_desktop.core.classify.classifier import Classifier

    inputs = keras.Input((32, 32, 3))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(len(classes), activation="softmax")(mean)
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([np.array(weights, "float32"), np.array(bias, "float32")])
    classifier = Classifier(model, classes, 32)
    if folder is not None:
        classifier.path = str(storage.save_bundle(model, {"class_names": classes, "image_size": 32},
                                                  folder / f"{name}.keras"))
    return classifier


def coloured_picture(path, colour, seed=0, size=32):
    """A picture of one colour with a little noise (each seed its own noise)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour, float) + rng.normal(0, 2, (size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def colour_inbox_folders(tmp_path):
    """An inbox for tests/helpers.colour_classifier (cats: redder than blue): three near-identical
    purple shots and an olive one (red = blue: the model is torn), two pictures it leans on, four it is sure of."""
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    for i in range(3):
        coloured_picture(inbox / f"purple{i}.png", (150, 60, 150), seed=i)
    coloured_picture(inbox / "olive.png", (120, 200, 120), seed=3)
    coloured_picture(inbox / "sub" / "pinkish.png", (170, 120, 150), seed=4)
    coloured_picture(inbox / "sub" / "teal.png", (40, 160, 70), seed=5)
    for i in range(2):
        coloured_picture(inbox / f"red{i}.png", (230, 30, 20), seed=10 + i)
        coloured_picture(inbox / f"blue{i}.png", (20, 30, 230), seed=20 + i)
    (data / "cats").mkdir(parents=True)
    (data / "dogs").mkdir()
    return inbox, data
