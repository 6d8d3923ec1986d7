"""make_model(config, num_classes): the CNN, with rescaling and augmentation inside it.

The saved model takes raw RGB pixels (0..255, any dtype) and does its own scaling, so
prediction can never use a different scaling than training did (the original notebook's bug).
Layers are named so that Grad-CAM and the evaluation view can find them:
``augmentation``, ``rescaling``, ``block{i}_conv{j}``, ``block{i}_bn{j}``, ``block{i}_act{j}``
(the last convolution of a block is ``block{i}_conv``/``_bn``/``_act``), ``block{i}_pool``,
``gap``, ``dropout``, ``predictions``.
"""

from __future__ import annotations

import keras
from keras import layers

from .config import TrainingConfig

#: Widest convolution; keeps the last blocks from dominating the cost.
MAX_FILTERS = 256


def make_augmentation(seed: int) -> keras.Sequential:
    """Random flip, small rotation, zoom and contrast; active only while training."""
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.06, fill_mode="reflect", seed=seed + 1),
            layers.RandomZoom((-0.15, 0.1), fill_mode="reflect", seed=seed + 2),
            layers.RandomTranslation(0.08, 0.08, fill_mode="reflect", seed=seed + 3),
            layers.RandomContrast(0.15, seed=seed + 4),
        ],
        name="augmentation",
    )


def make_model(config: TrainingConfig, num_classes: int) -> keras.Model:
    """Build (not compile) the classifier for ``num_classes`` >= 2 classes."""
    if num_classes < 2:
        raise ValueError("A classifier needs at least two classes.")
    size = config.image_size
    inputs = keras.Input(shape=(size, size, 3), name="image")
    x = inputs
    if config.augmentation:
        x = make_augmentation(config.seed)(x)
    x = layers.Rescaling(1.0 / 255, name="rescaling")(x)
    filters = config.base_filters
    for i in range(1, config.blocks + 1):
        for j in range(1, config.convs_per_block + 1):
            suffix = "" if j == config.convs_per_block else str(j)
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{i}_conv{suffix}")(x)
            x = layers.BatchNormalization(name=f"block{i}_bn{suffix}")(x)
            x = layers.Activation("relu", name=f"block{i}_act{suffix}")(x)
        if i < config.blocks:
            x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
        filters = min(filters * 2, MAX_FILTERS)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(config.dropout, name="dropout")(x)
    if num_classes == 2:
        outputs = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    else:
        outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="catdog_cnn")


def last_conv_layer_name(model: keras.Model) -> str:
    """Name of the last convolutional block's activation (the layer Grad-CAM looks at)."""
    names = [layer.name for layer in model.layers if layer.name.startswith("block") and layer.name.endswith("_act")]
    if not names:
        raise ValueError("This model has no named convolutional blocks.")
    return names[-1]


def training_flops_per_image(model: keras.Model) -> float:
    """Approximate FLOPs to train on one image (forward + backward ~ 3x forward convs/dense)."""
    forward = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            kh, kw = layer.kernel_size
            cin = layer.input.shape[-1]
            _, h, w, cout = layer.output.shape
            forward += 2 * kh * kw * cin * cout * h * w
        elif isinstance(layer, layers.Dense):
            forward += 2 * layer.input.shape[-1] * layer.units
    return 3.0 * forward
