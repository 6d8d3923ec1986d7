"""Where the model looked: Grad-CAM heatmaps (Selvaraju et al., 2017), after keras.io's example.

The last convolutional block's activations are weighted by how much each channel raises the
class's score (the gradient, averaged over the picture), summed and kept where positive: the
parts of the picture that spoke for the class. The score is the class's logit (the output
layer's input times its weights), not its probability: a confident model's probability is
saturated at 1.0 and its gradient vanishes, which made the map noise.

Two kinds of model are explained (those :func:`.model.make_model` and
:func:`.transfer.make_pretrained_model` build, and other plain ones):

* **flat**: the last layer with spatial output that comes after a convolution is one of the
  model's own layers (from scratch: ``block{n}_act``); one Keras model gives its output and
  the output layer's input.
* **nested**: the convolutions are inside a sub-model (the pretrained backbone, its last one
  ``out_relu``). A model from the outer model's input to an inner layer is "graph disconnected"
  in Keras (tensorflow#44462), so the sub-model is split inside its own graph into (its last
  spatial activations, its output), and the outer layers around it are called one after the
  other. That needs the outer model to be a chain of layers, which is checked once on a probe
  picture: the chain must predict what the model predicts.

Each model's gradient computation is traced once into a ``tf.function`` (README has the time per
picture; ``benchmarks/gradcam_bench.py`` measures it).
"""

from __future__ import annotations

import logging
import threading
import weakref

import numpy as np

from ..errors import CatdogError

log = logging.getLogger(__name__)

#: Matplotlib colour map of the overlay: blue (nothing) to red (where it looked).
COLORMAP = "jet"


class NothingToExplainError(CatdogError):
    """The model has no convolution whose activations a heatmap could show (or none this module
    can reach)."""


#: Said after each reason Grad-CAM cannot be drawn: the other way can (core.heatmaps.occlusion).
OTHER_WAY = "Hiding parts of the picture (occlusion) works with any model."

_CANNOT_FOLLOW = ("This model is built in a way Grad-CAM cannot follow (its layers are not one after the "
                  "other). " + OTHER_WAY)


_explainers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def heatmap(classifier, pixels, class_index: int | None = None) -> np.ndarray:
    """Grad-CAM of one picture: float32 ``(s, s)`` in [0, 1], s = ``classifier.image_size``.

    ``pixels``: uint8 (s, s, 3) as :func:`.images.load_pixels` gives. ``class_index``: the class
    to explain (default: the predicted one). Raises :class:`NothingToExplainError` for a model
    without convolutions.
    """
    return heatmaps(classifier, np.asarray(pixels)[None], None if class_index is None else [class_index])[0]


def heatmaps(classifier, pixels: np.ndarray, class_indices=None) -> np.ndarray:
    """Grad-CAM of a batch: float32 (n, s, s). ``class_indices``: one per picture (default: the
    predicted classes)."""
    pixels = np.asarray(pixels)
    size = classifier.image_size
    if pixels.ndim != 4 or pixels.shape[1:] != (size, size, 3):
        raise ValueError(f"Expected pictures of shape (n, {size}, {size}, 3), got {pixels.shape}.")
    if len(pixels) == 0:
        return np.zeros((0, size, size), np.float32)
    explain = _explainer(classifier)
    if class_indices is None:
        class_indices = np.argmax(classifier.probabilities(pixels), axis=1)
    classes = np.asarray(class_indices, dtype=np.int32).reshape(-1)
    if len(classes) != len(pixels):
        raise ValueError("One class index per picture is needed.")
    count = len(classifier.class_names)
    if classes.min() < 0 or classes.max() >= count:
        raise ValueError(f"Class index out of range: the model has {count} classes.")
    return explain(pixels.astype(np.float32), classes).numpy()


def can_explain(classifier) -> bool:
    """Whether the model has a convolution to explain (builds the explainer; TensorFlow needed)."""
    try:
        _explainer(classifier)
    except NothingToExplainError:
        return False
    return True


def overlay(image, heat: np.ndarray, alpha: float = 0.45):
    """``image`` (PIL image or uint8 array) with ``heat`` ((h, w) in [0, 1], any size: it is
    stretched over the picture) drawn on it in the :data:`COLORMAP` colours, ``alpha`` opaque where
    the heat is highest. Returns an RGB PIL image."""
    import matplotlib
    from PIL import Image

    from ..data.images import to_rgb

    picture = to_rgb(image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8)))
    heat = np.clip(np.nan_to_num(np.asarray(heat, np.float32)), 0.0, 1.0)
    stretched = np.asarray(Image.fromarray(heat, mode="F").resize(picture.size, Image.Resampling.BILINEAR))
    stretched = np.clip(stretched, 0.0, 1.0)
    colours = matplotlib.colormaps[COLORMAP](stretched)[..., :3]
    # Where the heat is low the colour is lighter, so the picture itself stays readable there.
    weight = (alpha * (0.35 + 0.65 * stretched))[..., None]
    blended = (1.0 - weight) * np.asarray(picture, np.float32) + weight * 255.0 * colours
    return Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8))


# ----- building the gradient function ----------------------------------------------------------------
def _explainer(classifier):
    """The compiled (pixels, classes) -> heatmaps function of ``classifier``'s model, made once."""
    with _lock:
        explain = _explainers.get(classifier)
        if explain is None:
            explain = _build(classifier.model, classifier.image_size, len(classifier.class_names))
            _explainers[classifier] = explain
    return explain


def _build(model, size: int, num_classes: int):
    import tensorflow as tf

    try:
        features = _features_function(model)
    except NothingToExplainError:
        raise
    except (AttributeError, ValueError, TypeError, KeyError) as exc:  # a graph Keras cannot cut (a model from elsewhere)
        log.info("no Grad-CAM for %s", model.name, exc_info=True)
        raise NothingToExplainError(_CANNOT_FOLLOW) from exc
    final = model.layers[-1]
    dense = final if _is_dense_with_probabilities(final) else None
    binary = int(model.output_shape[-1]) == 1

    def scores(head_input, outputs, classes):
        """The explained class's score of each picture: its logit when the output layer is a Dense
        with sigmoid/softmax, else its probability."""
        if dense is not None:
            logits = tf.matmul(tf.cast(head_input, tf.float32), tf.cast(dense.kernel, tf.float32))
            if dense.use_bias:
                logits = logits + tf.cast(dense.bias, tf.float32)
        else:
            logits = tf.cast(outputs, tf.float32)
        if binary:  # one sigmoid output p: class 1 is p (logit z), class 0 is 1 - p (logit -z)
            z = logits[:, 0]
            return tf.where(classes == 1, z, 1.0 - z if dense is None else -z)
        return tf.gather(logits, classes, axis=1, batch_dims=1)

    spec = [tf.TensorSpec((None, size, size, 3), tf.float32), tf.TensorSpec((None,), tf.int32)]

    @tf.function(input_signature=spec, reduce_retracing=True)
    def explain(pixels, classes):
        with tf.GradientTape() as tape:
            conv, head_input, outputs = features(pixels)
            tape.watch(conv)
            score = scores(head_input, outputs, classes)
        grads = tape.gradient(score, conv)
        conv = tf.cast(conv, tf.float32)
        grads = tf.cast(grads, tf.float32)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(conv * weights, axis=-1, keepdims=True))
        cam = tf.image.resize(cam, (size, size), method="bilinear")[..., 0]
        peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
        return tf.where(peak > 0, cam / tf.maximum(peak, 1e-12), tf.zeros_like(cam))

    # Trace now (a second or so), and check a nested model's chain against the model itself.
    probe = np.random.default_rng(0).integers(0, 256, (1, size, size, 3)).astype(np.float32)
    explain(probe, np.zeros(1, np.int32))
    return explain


def _features_function(model):
    """A function pixels -> (the last spatial activations after a convolution, the output layer's
    input, the model's output), made of the model's own layers (inference mode)."""
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        if isinstance(layer, keras.Model):
            # A sub-model's ``output`` is a tensor of its own graph, not of this one: go inside it.
            inner_target = _inner_target(layer)
            if inner_target is not None:
                log.info("Grad-CAM of %s on %s/%s", model.name, layer.name, inner_target.name)
                return _chain_function(model, layers, index, inner_target)
        elif _is_spatial(layer) and _has_convolution(layers[:index + 1]):
            grad_model = keras.Model(model.inputs, [layer.output, layers[-1].input, *model.outputs])
            log.info("Grad-CAM of %s on its layer %s", model.name, layer.name)
            return lambda pixels: grad_model(pixels, training=False)
    raise NothingToExplainError(
        "This model has no convolutional layers, so Grad-CAM has nothing to show: it sees the picture as a "
        "list of numbers, not as a picture. " + OTHER_WAY)


def _chain_function(model, layers, index, inner_target):
    import keras

    nested = layers[index]
    split = keras.Model(nested.inputs, [inner_target.output, nested.output], name=f"{nested.name}_gradcam")

    def run(pixels):
        x, conv, head_input = pixels, None, None
        for i, layer in enumerate(layers):
            if i == len(layers) - 1:
                head_input = x
            if i == index:
                conv, x = split(x, training=False)
            else:
                x = layer(x, training=False)
        return conv, head_input, x

    size = model.input_shape[1]
    probe = np.random.default_rng(1).integers(0, 256, (2, size, size, 3)).astype(np.float32)
    expected = np.asarray(model(probe, training=False), np.float32)
    got = np.asarray(run(probe)[2], np.float32)
    if expected.shape != got.shape or not np.allclose(expected, got, atol=1e-3):
        raise NothingToExplainError(_CANNOT_FOLLOW)
    return run


def _is_spatial(layer) -> bool:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):  # a layer used several times has no single output
        return False
    return len(shape) == 4


def _has_convolution(layers) -> bool:
    import keras

    conv_types = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    for layer in layers:
        if isinstance(layer, conv_types):
            return True
        inner = getattr(layer, "layers", None)
        if inner and _has_convolution(inner):
            return True
    return False


def _inner_target(layer):
    """In a nested functional model, its last layer with spatial output after a convolution."""
    import keras

    inner = getattr(layer, "layers", None)
    if not inner:
        return None
    inner = [sub for sub in inner if not isinstance(sub, keras.layers.InputLayer)]
    for index in range(len(inner) - 1, -1, -1):
        if _is_spatial(inner[index]) and _has_convolution(inner[:index + 1]):
            return inner[index]
    return None


def _is_dense_with_probabilities(layer) -> bool:
    import keras

    if not isinstance(layer, keras.layers.Dense):
        return False
    name = getattr(layer.activation, "__name__", "")
    return name in ("sigmoid", "softmax")
