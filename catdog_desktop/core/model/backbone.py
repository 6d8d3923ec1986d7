"""Pretrained backbones: ImageNet networks shipped with the app, loaded by path, never downloaded.

A backbone turns a picture into a short vector of features (1,280 numbers for MobileNetV2) that
already separates most everyday things; a small classifier on top of them learns a new task
from a few dozen pictures a class. The weights file ships inside the package (see NOTICE), so
pretrained training works offline from the first launch. ``keras.applications`` builds the
network; nothing here re-implements it.

Preprocessing is a ``Rescaling`` layer (0..255 -> -1..1, MobileNetV2's ``preprocess_input``),
so every model we save takes raw RGB pixels, like the from-scratch models.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ...paths import RESOURCES

#: ``TrainingConfig.backbone`` value for the from-scratch CNN of :mod:`.model`.
NO_BACKBONE = "none"


@dataclass(frozen=True)
class BackboneSpec:
    name: str               # TrainingConfig.backbone
    label: str              # what the user reads
    weights_file: str       # in catdog_desktop/resources
    weights_sha256: str
    feature_dim: int
    #: Layers from this one on are trained when fine-tuning (the last blocks: the most
    #: task-specific features; the early ones are generic edges and textures).
    fine_tune_from: str


BACKBONES: dict[str, BackboneSpec] = {
    "mobilenet_v2": BackboneSpec(
        name="mobilenet_v2",
        label="MobileNetV2 (ImageNet)",
        weights_file="mobilenet_v2_1.0_224_no_top.h5",
        weights_sha256="71e4c4ec4aa24c9c951b9265d6de42e1336dcf614c2214fa6a989208615e232c",
        feature_dim=1280,
        fine_tune_from="block_13_expand",
    ),
}


def spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"Unknown model type '{name}'. Choose one of: "
                         f"{', '.join([*BACKBONES, NO_BACKBONE])}.") from None


def weights_path(name: str) -> Path:
    return RESOURCES / spec(name).weights_file


@functools.lru_cache(maxsize=None)
def weights_sha256(name: str) -> str:
    """The shipped weights file's sha256 (recorded in every model trained on it)."""
    path = weights_path(name)
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def check_weights(name: str) -> None:
    """Raise a readable error when the shipped weights file is missing or not the expected one."""
    from ..errors import CatdogError

    path = weights_path(name)
    if not path.is_file():
        raise CatdogError(f"The pretrained weights ({path.name}) are missing from this installation: "
                          "reinstall catdog-desktop, or train a model from scratch.")
    if weights_sha256(name) != spec(name).weights_sha256:
        raise CatdogError(f"The pretrained weights file {path} is damaged (its checksum differs): "
                          "reinstall catdog-desktop, or train a model from scratch.")


def make_backbone(name: str, image_size: int):
    """The frozen ImageNet network for ``image_size`` px inputs scaled to -1..1, with global
    average pooling: (n, size, size, 3) -> (n, feature_dim). Named ``backbone``."""
    import keras

    check_weights(name)
    if name != "mobilenet_v2":  # pragma: no cover - one backbone today
        raise ValueError(name)
    model = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3), alpha=1.0, include_top=False,
        weights=str(weights_path(name)), pooling="avg", name="backbone",
    )
    model.trainable = False
    return model


def preprocessing_layer():
    """0..255 -> -1..1, as ``keras.applications.mobilenet_v2.preprocess_input`` (no Lambda)."""
    from keras import layers

    return layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")


def split(backbone, name: str):
    """(bottom, top): the backbone cut where fine-tuning begins. ``bottom`` maps scaled pixels to
    (the cut's activations, the pooled features); ``top`` maps the cut's activations to the pooled
    features with the backbone's own layers, so training ``top`` fine-tunes ``backbone``.

    The bottom never changes, so its output is computed once per picture like the features, and
    fine-tuning runs only the top: a fraction of the network's cost per step."""
    import keras

    cut = backbone.get_layer(spec(name).fine_tune_from).input
    bottom = keras.Model(backbone.input, [cut, backbone.output], name="backbone_bottom")
    top = keras.Model(cut, backbone.output, name="backbone_top")
    return bottom, top


def set_fine_tuning(backbone, name: str, enabled: bool) -> int:
    """Make the backbone's last blocks trainable (batch norms stay frozen); returns how many
    layers with weights now train. Batch norm statistics stay those of ImageNet: with small
    batches of a new task they would drift and the accuracy fall (Keras' transfer-learning guide)."""
    from keras import layers

    backbone.trainable = enabled
    if not enabled:
        return 0
    names = [layer.name for layer in backbone.layers]
    first = names.index(spec(name).fine_tune_from)
    count = 0
    for i, layer in enumerate(backbone.layers):
        train = i >= first and not isinstance(layer, layers.BatchNormalization)
        layer.trainable = train
        count += bool(train and layer.weights)
    return count
