"""make_model(config, num_classes): the CNN, with rescaling and augmentation inside it.

The saved model takes raw RGB pixels (0..255, any dtype) and does its own scaling, so
prediction can never use a different scaling than training did (the original notebook's bug).
The first convolution strides by ``config.stem_stride`` (2 by default), so the blocks work at
``image_size / stem_stride`` pixels. Layers are named so that tools can find them:
``augmentation``, ``rescaling``, ``block{i}_conv{j}``, ``block{i}_bn{j}``, ``block{i}_act{j}``
(the last convolution of a block is ``block{i}_conv``/``_bn``/``_act``), ``block{i}_pool``,
``gap``, ``dropout``, ``predictions``.
"""

from __future__ import annotations

import keras
from keras import layers

from ..config import TrainingConfig

#: Widest convolution; keeps the last blocks from dominating the cost.
MAX_FILTERS = 256
#: Batch-norm moving averages follow the batches with this momentum. Keras' 0.99 needs several
#: hundred steps to settle, so a small dataset (a few hundred pictures: 10-20 steps an epoch)
#: evaluated at chance level with statistics still far from the data's; 0.9 settles in ~30 steps.
BN_MOMENTUM = 0.9


def make_augmentation(seed: int, strength: float = 1.0) -> keras.Sequential:
    """Random flip, small rotation, zoom, shift and contrast; active only while training.

    ``strength`` scales every range (1.0: rotation 0.06 turn, zoom -15..+10 %, shift 8 %,
    contrast 15 %); 0 leaves only the flip.
    """
    s = float(strength)
    augment = [layers.RandomFlip("horizontal", seed=seed)]
    if s > 0:
        augment += [
            layers.RandomRotation(0.06 * s, fill_mode="reflect", seed=seed + 1),
            layers.RandomZoom((-min(0.15 * s, 0.6), 0.1 * s), fill_mode="reflect", seed=seed + 2),
            layers.RandomTranslation(0.08 * s, 0.08 * s, fill_mode="reflect", seed=seed + 3),
            layers.RandomContrast(min(0.15 * s, 0.9), seed=seed + 4),
        ]
    return keras.Sequential(augment, name="augmentation")


def cpu_has_bfloat16() -> bool:
    """True when the CPU computes bfloat16 natively (AVX512_BF16 or AMX-BF16; Linux only)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def compute_dtype_policy(config: TrainingConfig) -> str:
    """The Keras dtype policy the convolutional layers use for ``config.precision``.

    "auto" picks "mixed_bfloat16" (weights stay float32, about 1.15-1.4x faster training on
    CPUs with AMX/AVX512-BF16) only when the CPU has bfloat16 hardware and no GPU is in use.
    """
    precision = getattr(config, "precision", "float32")
    if precision == "auto":
        if not cpu_has_bfloat16():
            return "float32"
        try:
            import tensorflow as tf

            if tf.config.list_logical_devices("GPU"):
                return "float32"
        except Exception:  # pragma: no cover - another backend
            pass
        return "mixed_bfloat16"
    return precision


def make_model(config: TrainingConfig, num_classes: int) -> keras.Model:
    """Build (not compile) the classifier for ``num_classes`` >= 2 classes."""
    if num_classes < 2:
        raise ValueError("A classifier needs at least two classes.")
    size = config.image_size
    # Augmentation runs in float32; the network after it in ``policy`` (weights always float32);
    # the output layer computes in float32 so probabilities and the loss keep full precision.
    policy = compute_dtype_policy(config)
    inputs = keras.Input(shape=(size, size, 3), name="image")
    x = inputs
    if config.augmentation:
        x = make_augmentation(config.seed, getattr(config, "augmentation_strength", 1.0))(x)
    x = layers.Rescaling(1.0 / 255, name="rescaling", dtype=policy)(x)
    filters = config.base_filters
    for i in range(1, config.blocks + 1):
        for j in range(1, config.convs_per_block + 1):
            suffix = "" if j == config.convs_per_block else str(j)
            stride = config.stem_stride if (i, j) == (1, 1) else 1
            x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                              name=f"block{i}_conv{suffix}", dtype=policy)(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{i}_bn{suffix}", dtype=policy)(x)
            x = layers.Activation("relu", name=f"block{i}_act{suffix}", dtype=policy)(x)
        if i < config.blocks:
            x = layers.MaxPooling2D(2, name=f"block{i}_pool", dtype=policy)(x)
        filters = min(filters * 2, MAX_FILTERS)
    x = layers.GlobalAveragePooling2D(name="gap", dtype=policy)(x)
    x = layers.Dropout(config.dropout, name="dropout", dtype=policy)(x)
    if num_classes == 2:
        outputs = layers.Dense(1, activation="sigmoid", name="predictions", dtype="float32")(x)
    else:
        outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="catdog_cnn")


def last_conv_layer_name(model: keras.Model) -> str:
    """Name of the last convolutional block's activation (the layer a class-activation map would use)."""
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
