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
    import keras
    import numpy as np

    from catdog_desktop.core import storage
    from catdog_desktop.core.inference import Classifier

    inputs = keras.Input((32, 32, 3))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(mean)
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([np.array([[0.05, -0.05], [0, 0], [-0.05, 0.05]], "float32"), np.zeros(2, "float32")])
    classifier = Classifier(model, COLOUR_CLASSES, 32)
    if folder is not None:
        classifier.path = str(storage.save_bundle(model, {"class_names": COLOUR_CLASSES, "image_size": 32},
                                                  folder / "colours.keras"))
    return classifier
