"""Where a training that goes on from a saved model starts (core.training.continued): the old
model's weights as plain arrays, the checks that the new network is the old one's, and the
weights put into the new network.

* **From scratch**: every layer of the network, by name (the architecture comes from the old
  model's recorded settings; a setting that would change it is refused).
* **Pretrained**: the classifier, and the backbone's last blocks as fine-tuning left them. The
  blocks before them never change in training, so they must be the shipped ones.
* **Classes**: the classifier keeps the old model's output for every class the folder still has
  (the same answer on the same picture, before any training); a class the folder adds starts
  fresh (a new row of the classifier, as in any new training); a class the folder no longer has
  is dropped. Two classes and a sigmoid, or more and a softmax, are converted into each other
  exactly (a sigmoid is a softmax over the logits 0 and z).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

import numpy as np

from ..config import TrainingConfig
from ..errors import CatdogError, ModelFileError

log = logging.getLogger(__name__)

#: Settings that shape a from-scratch network: continuing needs the old model's.
SCRATCH_ARCHITECTURE = ("image_size", "blocks", "base_filters", "convs_per_block", "stem_stride")
#: The name of the output layer in every model this app makes.
OUTPUT_LAYER = "predictions"
#: The name of the pretrained network inside a pretrained model (core.model.backbone.make_backbone).
BACKBONE_LAYER = "backbone"


@dataclass
class StartingPoint:
    """What a new training takes from a saved model, as plain arrays (read once; they survive
    ``keras.backend.clear_session()``)."""

    name: str                       # the file's name, for messages
    class_names: list[str]
    config: TrainingConfig          # the settings it was trained with
    metadata: dict
    #: Weights of every layer by name: the whole network from scratch, the backbone's layers pretrained.
    layers: dict[str, list[np.ndarray]]
    #: The classifier as one logit per class: kernel (features, classes), bias (classes).
    kernel: np.ndarray
    bias: np.ndarray


def starting_point(bundle) -> StartingPoint:
    """What a loaded model (core.model.storage.ModelBundle) gives a new training. Raises
    :class:`ModelFileError` with one sentence for a model this app did not make."""
    name = os.path.basename(bundle.path or "the model")
    config = recorded_config(bundle.metadata)
    if config is None:
        raise ModelFileError(f"{name} does not record how it was trained (a model from elsewhere, or from a much "
                             "older version): it cannot be trained on. Train a new model on the folder instead.")
    model = bundle.model
    try:
        source = model.get_layer(BACKBONE_LAYER) if config.backbone != "none" else model
        kernel, bias = (np.asarray(w, np.float32) for w in model.get_layer(OUTPUT_LAYER).get_weights())
    except ValueError:  # no such layer, or not a kernel and a bias
        raise ModelFileError(f"{name} is not built like the models this app trains: it cannot be trained on. "
                             "Train a new model on the folder instead.") from None
    if kernel.shape[-1] == 1:  # a sigmoid is a softmax over the logits 0 and z
        kernel = np.concatenate([np.zeros_like(kernel), kernel], axis=1)
        bias = np.concatenate([np.zeros_like(bias), bias])
    layers = {layer.name: [np.asarray(w) for w in layer.get_weights()]
              for layer in source.layers if layer.weights and layer.name != OUTPUT_LAYER}
    return StartingPoint(name, bundle.class_names, config, bundle.metadata, layers, kernel, bias)


def check_config(config: TrainingConfig, point: StartingPoint) -> None:
    """Raise :class:`CatdogError` (one sentence) when ``config`` would build another network than the
    one ``point`` comes from."""
    old = point.config
    if config.backbone != old.backbone:
        raise CatdogError(f"{point.name} is {_kind(old.backbone)}; training on from it cannot make "
                          f"{_kind(config.backbone)}. Keep its model type.")
    if config.image_size != old.image_size:
        raise CatdogError(f"{point.name} takes {old.image_size}-pixel pictures; training on from it cannot use "
                          f"{config.image_size} pixels. Keep its image size.")
    if config.backbone == "none":
        for key in SCRATCH_ARCHITECTURE:
            if getattr(config, key) != getattr(old, key):
                raise CatdogError(f"{point.name} was built with {key.replace('_', ' ')} {getattr(old, key)}; "
                                  f"training on from it cannot use {getattr(config, key)}. Keep its network settings.")


def _kind(backbone: str) -> str:
    return "a from-scratch model" if backbone == "none" else f"a pretrained model ({backbone})"


def config_for(point: StartingPoint, overrides: dict) -> TrainingConfig:
    """The settings to train on from ``point``: the old model's, with ``overrides`` (what the user
    chose); refused (CatdogError) when they would change the network."""
    config = TrainingConfig.from_dict({**point.config.to_dict(), **overrides})
    config.validate()
    check_config(config, point)
    return config


def head_weights(point: StartingPoint, class_names: list[str], fresh: list[np.ndarray]) -> list[np.ndarray]:
    """The new output layer's [kernel, bias] for ``class_names``: the old model's logit for each class
    it knows, the ``fresh`` (initial) weights' for a new class; one sigmoid output for two classes."""
    fresh_kernel, fresh_bias = (np.asarray(w, np.float32) for w in fresh)
    if fresh_kernel.shape[0] != point.kernel.shape[0]:
        raise CatdogError(f"{point.name}'s classifier does not fit this network: it cannot be trained on.")
    if fresh_kernel.shape[-1] == 1:  # the fresh logits of a sigmoid: 0 and z
        fresh_kernel = np.concatenate([np.zeros_like(fresh_kernel), fresh_kernel], axis=1)
        fresh_bias = np.concatenate([np.zeros_like(fresh_bias), fresh_bias])
    kernel, bias = fresh_kernel.copy(), fresh_bias.copy()
    for i, name in enumerate(class_names):
        if name in point.class_names:
            j = point.class_names.index(name)
            kernel[:, i], bias[i] = point.kernel[:, j], point.bias[j]
    if len(class_names) == 2:  # softmax over two logits == sigmoid of their difference
        return [kernel[:, 1:] - kernel[:, :1], bias[1:] - bias[:1]]
    return [kernel, bias]


def load_layers(model, point: StartingPoint, skip: tuple[str, ...] = (OUTPUT_LAYER,)) -> None:
    """Set every layer of ``model`` with weights (but ``skip``) from ``point``; CatdogError when one is
    missing or shaped otherwise (another network)."""
    for layer in model.layers:
        if not layer.weights or layer.name in skip or layer.name == "augmentation":
            continue
        old = point.layers.get(layer.name)
        if old is None or [w.shape for w in old] != [tuple(w.shape) for w in layer.get_weights()]:
            raise CatdogError(f"{point.name} is not built like the network it would continue "
                              f"(layer {layer.name} differs): it cannot be trained on.")
        layer.set_weights(old)


def load_backbone(backbone, point: StartingPoint, fine_tune_from: str) -> str | None:
    """Give ``backbone`` (the shipped pretrained network) the old model's weights. The blocks before
    ``fine_tune_from`` must be the shipped ones (training never changes them, and their cached
    output is reused); returns a short digest of the last blocks when fine-tuning changed them
    (features computed through them are cached under it), else None."""
    names = [layer.name for layer in backbone.layers]
    first = names.index(fine_tune_from)
    digest = hashlib.blake2b(digest_size=8)
    changed = False
    for i, layer in enumerate(backbone.layers):
        if not layer.weights:
            continue
        old = point.layers.get(layer.name)
        current = layer.get_weights()
        if old is None or [w.shape for w in old] != [w.shape for w in current]:
            raise CatdogError(f"{point.name}'s pretrained network is not this app's (layer {layer.name} differs): "
                              "it cannot be trained on.")
        same = all(np.array_equal(a, b) for a, b in zip(old, current))
        if i < first and not same:
            raise CatdogError(f"{point.name}'s pretrained network differs from the one this app ships: it "
                              "cannot be trained on. Train a new model on the folder instead.")
        if i >= first:
            changed = changed or not same
            for w in old:
                digest.update(np.ascontiguousarray(w).tobytes())
            layer.set_weights(old)
    return digest.hexdigest() if changed else None


def class_notes(point: StartingPoint, class_names: list[str]) -> list[str]:
    """Sentences on the classes the folder adds to the old model's or lacks."""
    added = [n for n in class_names if n not in point.class_names]
    dropped = [n for n in point.class_names if n not in class_names]
    notes = []
    if added:
        notes.append(f"New {'class' if len(added) == 1 else 'classes'} {', '.join(added)}: learned from the "
                     f"start, the other classes go on from what {point.name} learned.")
    if dropped:
        notes.append(f"{', '.join(dropped)} {'is' if len(dropped) == 1 else 'are'} no longer a folder: the new "
                     f"model does not know {'it' if len(dropped) == 1 else 'them'}.")
    return notes


def start_network(model, point: StartingPoint, class_names: list[str]) -> None:
    """Give a freshly built from-scratch ``model`` the old model's weights (:func:`load_layers`) and
    its classifier for ``class_names`` (:func:`head_weights`)."""
    load_layers(model, point)
    start_classifier(model.get_layer(OUTPUT_LAYER), point, class_names)


def start_classifier(dense, point: StartingPoint, class_names: list[str]) -> None:
    """Give a built output layer the old model's classifier for ``class_names`` (:func:`head_weights`)."""
    dense.set_weights(head_weights(point, class_names, dense.get_weights()))


def recorded_config(metadata: dict | None) -> TrainingConfig | None:
    """The settings a model made by this app recorded (None: a model from elsewhere, or settings this
    version cannot use): whether it can be trained on from."""
    recorded = (metadata or {}).get("config")
    if not isinstance(recorded, dict) or "backbone" not in recorded:
        return None
    try:
        config = TrainingConfig.from_dict(recorded)
        config.validate()
    except (TypeError, ValueError):
        return None
    return config


def continuing_config(config: TrainingConfig, metadata: dict) -> TrainingConfig:
    """``config`` (the settings on the app's form) with what training on from the model of
    ``metadata`` keeps as it was: its network (model type, image size; from scratch its blocks,
    filters, convolutions and stride) and its split (share and seed: its validation pictures stay
    validation pictures)."""
    import dataclasses

    old = recorded_config(metadata)
    if old is None:
        return config
    kept = ("backbone", "image_size", "validation_split", "seed") + (
        SCRATCH_ARCHITECTURE if old.backbone == "none" else ())
    return dataclasses.replace(config, **{key: getattr(old, key) for key in kept})
