"""Add a class later, remove or merge one: the model in use with a new classifier on its own features.

A model this app makes is layers up to its features (the vector its last, dense, layer reads:
core.model.calibration.feature_layer) and that dense layer. The inbox (core.label.inbox) has
those features of every labelled picture cached by content, and its head (core.label.head) is
fitted on them for the dataset's class folders as they are now: a new folder is a new class, a
folder removed is a class lost, and two classes merged are one folder holding both. This module
turns that head into a saved model: the old model up to its feature layer (its weights, and the
scaling of the pixels inside it, unchanged) with a new dense softmax layer (a sigmoid for two
classes, as every model of this app) holding the head's weights, the head's standardisation of
the features folded into them. No picture goes through the network again: the features, the
"not sure" and "none of these" calibration and the accuracy come from the cached features.

The head trains on every labelled picture, so there are no validation pictures: its accuracy is
cross-checked (each picture scored by a head fitted without it), which is also what the "not sure"
threshold is fitted on; "none of these" takes the training pictures' own held-out distances.
The model records every labelled picture as trained on (core.data.dataset.TRAINED_PICTURES, with
the old model's record: its layers learned those), so none of them is ever held out to score it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.dataset import (LAYOUT_CLASSES, LAYOUT_SPLIT, SPLIT_METHOD, TRAINED_PICTURES, content_hash,
                            encode_digests, trained_record)
from ..errors import CatdogError, DatasetError
from ..evaluate.evaluation import CROSS_VALIDATION, evaluate_probabilities
from ..evaluate.label_errors import dense_weights, softmax
from ..model import calibration
from ..wording import count
from . import moves
from .head import Head, blas_threads, fit_temperature, out_of_fold

log = logging.getLogger(__name__)

#: The output layer's name in every model this app makes (core.model.network, core.training.starting_point):
#: an updated model can be trained on from like any other.
OUTPUT_LAYER = "predictions"
#: The metadata key that says what changed.
METADATA_KEY = "updated_from"
#: Exported files: a forward pass, no layers to take the features from.
EXPORTED_SUFFIXES = (".onnx", ".tflite")
#: "None of these" is summarised from at most this many pictures a class (a training's takes up to
#: core.model.calibration.MAX_PER_CLASS, 1,500). Its k-means runs six times a class (five folds and
#: the centres) and took 13 of the 32 s of updating a model on 2,000 cached photos with 1,000 a class
#: (2-core AMD EPYC, loaded; benchmarks/grow_bench.py); 1,000 held-out distances still put the
#: threshold's bound next to the plain 95th percentile (core.model.calibration.upper_quantile).
NOVELTY_PER_CLASS = 500


@dataclass
class UpdatedModel:
    """What :func:`save_updated` saved (plain data for the app and the CLI)."""

    path: str
    class_names: list[str]
    source: str                          # the model it was made from (file name)
    gained: list[str]
    lost: list[str]
    counts: dict[str, int]               # labelled pictures per class it learned from
    #: Cross-checked accuracy on the labelled pictures (None when a class has a single picture).
    accuracy: float | None
    #: Pictures whose features were computed now (new to the cache), and read from the cache.
    computed: int = 0
    cached: int = 0
    notes: list[str] = field(default_factory=list)
    #: The head the new output layer holds (not part of :meth:`to_dict`).
    head: Head | None = field(default=None, repr=False, compare=False)

    def changes(self) -> list[str]:
        """What changed, in words: "gained the class 'birds'", "lost 'cats'"."""
        said = []
        if self.gained:
            said.append(f"gained the class{'es' if len(self.gained) > 1 else ''} {_quoted(self.gained)}")
        if self.lost:
            said.append(f"lost {_quoted(self.lost)}")
        return said or ["the same classes, learned again from the labelled pictures"]

    def summary(self) -> str:
        how = f"{self.accuracy:.1%} right when cross-checked" if self.accuracy is not None else (
            "not cross-checked: a class has a single picture")
        return (f"Saved {self.path}: {', '.join(self.changes())} ({self.source} had "
                f"{count(len(self.class_names) - len(self.gained) + len(self.lost), 'class', 'classes')}, "
                f"this one {len(self.class_names)}); {how}.")

    def to_dict(self) -> dict:
        return {"path": self.path, "class_names": list(self.class_names), "source": self.source,
                "gained": list(self.gained), "lost": list(self.lost), "changes": self.changes(),
                "counts": dict(self.counts), "accuracy": self.accuracy, "features_computed": self.computed,
                "features_cached": self.cached, "notes": list(self.notes), "summary": self.summary()}


# ----------------------------------------------------------------------------- checks, before the work


def check_model(classifier) -> str:
    """The name of the feature layer a new classifier can sit on; CatdogError (one sentence) for a
    model without one: an exported file, or a model whose last layer is not a dense layer reading a
    vector of features."""
    name = os.path.basename(classifier.path) if getattr(classifier, "path", None) else "The model"
    model = getattr(classifier, "model", None)
    if model is None or Path(name).suffix.lower() in EXPORTED_SUFFIXES:
        raise _exported(name)
    last = model.outputs[0]._keras_history.operation
    try:
        layer = calibration.feature_layer(model)
        width = calibration.feature_model(model).outputs[1].shape
    except (ValueError, AttributeError, IndexError):
        layer, width = None, ()
    import keras

    if not isinstance(last, keras.layers.Dense) or layer is None or len(width) != 2 or not width[-1]:
        raise CatdogError(f"{name} does not end with a dense layer on a vector of features, so its classes cannot "
                          "be changed: train a new model on the folder instead.")
    return layer


def check_model_file(path: str | os.PathLike) -> None:
    """CatdogError (one sentence) for an exported model's file or no file, before it is read."""
    if Path(path).suffix.lower() in EXPORTED_SUFFIXES:
        raise _exported(Path(path).name)
    if not os.path.exists(os.path.expanduser(path)):
        raise CatdogError(f"The model file {path} does not exist.")


def _exported(name: str) -> CatdogError:
    return CatdogError(f"{name} is an exported model: it cannot learn new classes. Use the .keras model it was "
                       "exported from.")


def check_destination(path: str | os.PathLike, classifier, force: bool = False) -> Path:
    """The normalised path to save to (``.keras`` appended), checked now, before the work: a folder
    that exists and can be written, not the model in use, and no file there unless ``force``."""
    from ..model import storage

    out = storage.check_save_path(path)
    source = getattr(classifier, "path", None)
    if source and out.exists() and os.path.exists(source) and out.samefile(source):
        raise CatdogError(f"{out.name} is the model in use: save the updated model under another name, so that "
                          "this one stays as it is.")
    if out.exists() and not force:
        raise CatdogError(f"{out} already exists: choose another name, or replace it (--force).")
    return out


def check_dataset(dataset: str | os.PathLike) -> None:
    """DatasetError when the dataset folder is gone (moved, renamed, a drive no longer there)."""
    folder = Path(dataset).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"The dataset folder {folder} is not there (moved, renamed, or on a drive that is "
                           "not connected): nothing was saved.")


def check_classes(dataset: str | os.PathLike, counts: dict[str, int]) -> list[str]:
    """The classes to learn (every class folder of ``dataset``, sorted), given the labelled
    pictures ``counts`` per class; DatasetError (one sentence) for a class folder without a usable
    picture, or fewer than two classes."""
    check_dataset(dataset)
    folders = moves.class_folders(dataset)
    empty = [name for name in folders if not counts.get(name)]
    where = moves.labels_folder(dataset)
    if len(empty) == 1:
        raise DatasetError(f"The class folder '{empty[0]}' in {where} has no usable pictures: put a few pictures of "
                           "that class in it, or remove the folder.")
    if empty:
        raise DatasetError(f"{len(empty)} class folders in {where} have no usable pictures ({_quoted(empty)}): put a "
                           "few pictures of each class in them, or remove those folders.")
    if len(folders) < 2:
        which = f"only one class ('{folders[0]}')" if folders else "no class folders"
        raise DatasetError(f"{where} has {which}: a model needs at least two classes, each a sub-folder with a few "
                           "pictures.")
    return folders


# ----------------------------------------------------------------------------- the new model


def updated_network(model, head: Head):
    """The Keras model: ``model`` up to its feature layer (the same layers, shared) and a new output
    layer computing ``head.probabilities`` of those features."""
    import keras

    features = calibration.feature_model(model).outputs[1]
    k = len(head.class_names)
    t = head.temperature
    kernel, bias = dense_weights(np.asarray(head.weights) / t, np.asarray(head.bias) / t, head.mean, head.scale,
                                 sigmoid=k == 2)
    dense = keras.layers.Dense(kernel.shape[1], activation="sigmoid" if k == 2 else "softmax", name=OUTPUT_LAYER,
                               dtype="float32")
    network = keras.Model(model.input, dense(features), name=model.name)
    dense.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return network


def save_updated(classifier, head: Head, features: np.ndarray, classes: list[str], paths: list[str],
                 dataset: str | os.PathLike, out: str | os.PathLike, computed: int = 0) -> UpdatedModel:
    """Save the model ``classifier`` with ``head`` (fitted on ``features`` of the labelled pictures
    ``paths`` of ``dataset``, whose classes are ``classes``; core.label.head.train_head, which need
    not estimate its accuracy: the cross-check here sets ``head.accuracy``) as its classifier to
    ``out`` (checked with :func:`check_destination` first), atomically, with its metadata.
    ``computed``: how many of the features were computed for this (the rest came from the cache).
    Raises ModelFileError when the file cannot be written (the previous file at ``out``, if any,
    untouched)."""
    from ..model import storage

    layer = check_model(classifier)
    names = list(head.class_names)
    x = np.asarray(features, np.float32).reshape(len(classes), -1)
    y = np.asarray([names.index(c) for c in classes], np.int64)
    with blas_threads():
        rows, probabilities, folds = out_of_fold(x, y, len(names))   # the head's own estimate's folds and fits
    head.accuracy = float((probabilities.argmax(axis=1) == y[rows]).mean()) if len(rows) else None
    if len(rows):   # as train_head does: the saved model's probabilities are about as often right as they say
        head.temperature = fit_temperature(probabilities, y[rows])
        probabilities = softmax(np.log(np.clip(probabilities, 1e-12, 1.0)) / head.temperature)
    network = updated_network(classifier.model, head)
    source = os.path.basename(classifier.path) if classifier.path else "the model"
    gained = [n for n in names if n not in classifier.class_names]
    lost = [n for n in classifier.class_names if n not in names]
    counts = {n: int((y == j).sum()) for j, n in enumerate(names)}
    updated = UpdatedModel(str(out), names, source, gained, lost, counts, head.accuracy, computed,
                           len(classes) - computed, head=head)
    updated.notes.append(f"Made from {source}: {', '.join(updated.changes())}. Its classifier was trained again on "
                         f"the features of {count(len(y), 'labelled picture')} ({_counted(counts)}); the rest of "
                         f"{source} is unchanged.")
    metadata = _metadata(classifier, head, x, y, (rows, probabilities, folds), layer, paths, dataset, updated)
    updated.path = str(storage.save_bundle(network, metadata, out))
    log.info("updated model %s: %s (%s)", updated.path, updated.changes(), counts)
    return updated


def _metadata(classifier, head: Head, x: np.ndarray, y: np.ndarray, cross_checked, layer: str, paths: list[str],
              dataset, updated: UpdatedModel) -> dict:
    """The saved model's description: the old model's settings (it can be trained on from), the
    dataset record, the ``cross_checked`` (rows, probabilities, folds fitted) evaluation and calibration, what changed."""
    old = classifier.metadata or {}
    names, k = list(head.class_names), len(head.class_names)
    rows, probabilities, folds = cross_checked
    recorded = {"class_names": names, "image_size": classifier.image_size,
                **{key: old[key] for key in ("config", "backbone") if key in old},
                "train_seconds": round(head.seconds, 2), "notes": list(updated.notes),
                METADATA_KEY: {"model": updated.source, "gained": updated.gained, "lost": updated.lost,
                               "counts": dict(updated.counts), "cross_checked_accuracy": head.accuracy}}
    if len(rows):
        estimate = evaluate_probabilities(probabilities, y[rows], names, split=CROSS_VALIDATION)
        estimate.folds = folds   # fitted: above 400 pictures, fewer than there are
        # Where a training on every picture keeps its estimate (core.training.few): evaluate and the
        # report say it when no picture is left to score the model on.
        recorded["evaluation"] = recorded["cross_validation"] = estimate.to_dict(include_mistakes=False)
    recorded["dataset"] = _dataset_record(old.get("dataset") or {}, names, updated.counts, paths, dataset)
    recorded[calibration.METADATA_KEY] = _calibration(x, y, rows, probabilities, k, layer)
    return recorded


def _dataset_record(old: dict, names: list[str], counts: dict[str, int], paths: list[str], dataset) -> dict:
    """What the model trained on: every labelled picture (and what the old model trained on)."""
    root = Path(dataset).expanduser().resolve()
    earlier = trained_record(old) or set()
    return {
        "root": str(root), "layout": LAYOUT_SPLIT if moves.labels_folder(root) != root else LAYOUT_CLASSES,
        "class_names": names, "train_counts": [counts[n] for n in names], "validation_counts": [0] * len(names),
        "validation_source": "none: every labelled picture trained the classifier (its accuracy is cross-checked)",
        # A training that goes on from this model splits as the old one did (core.data.holdout).
        **{key: old[key] for key in ("validation_split", "seed") if key in old},
        "split_method": old.get("split_method", SPLIT_METHOD),
        TRAINED_PICTURES: encode_digests([*earlier, *(content_hash(p) for p in paths)]),
    }


def _calibration(x: np.ndarray, y: np.ndarray, rows: np.ndarray, probabilities: np.ndarray, k: int,
                 layer: str) -> dict:
    """"Not sure" from the cross-checked answers, "none of these" from every labelled picture's features."""
    if len(rows):
        threshold = calibration.fit_confidence_threshold(probabilities.max(axis=1),
                                                         probabilities.argmax(axis=1) == y[rows], k)
    else:
        threshold = {"value": None, "reason": "a class has a single picture: nothing to cross-check"}
    if threshold.get("reason"):  # each picture was scored by a head that did not train on it, not validated
        threshold["reason"] = threshold["reason"].replace("validation pictures", "cross-checked pictures")
    result = {"confidence_threshold": {**threshold, "source": calibration.CROSS_VALIDATED}}
    try:
        keep = calibration.subsample(y, NOVELTY_PER_CLASS)
        result["novelty"] = calibration.summarise_novelty(x[keep], y[keep], np.zeros((0, x.shape[1]), np.float32),
                                                          k, layer)
    except ValueError as exc:
        log.warning("no novelty summary: %s", exc)
    return result


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{n}: {c}" for n, c in counts.items())
