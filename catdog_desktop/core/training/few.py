"""Few labels, used well: below a size, every picture trains and the accuracy is cross-validated.

At a few dozen pictures a class, holding out a fifth to pick the best epoch wastes labels (12 of
60 at 30 a class) and picks by noise (one validation picture is 8 points of accuracy). Below
``config.cross_validate_below`` pictures in the smallest class, with no validation folder, the
pretrained training (core.training.pretrained) therefore

1. trains the classifier on **every** picture and its mirror image with a schedule that needs no
   validation pick: the label check's multinomial logistic regression (core.evaluate.label_errors
   .fit_softmax: full-batch Adam, a fixed number of steps, a light L2 penalty, classes weighted by
   their inverse frequency), folded into the Keras output layer, so the saved model is the same
   end-to-end model as always;
2. **estimates** its accuracy by stratified k-fold cross-validation on the same cached features:
   each picture is scored by a classifier fitted the same way without it (nor its mirror image).
   Those out-of-fold answers are the training's evaluation (split "cross-validation", ``folds``)
   unless the dataset has a test folder, which is still scored as held-out pictures; they also
   set the "not sure" threshold (core.model.calibration), as validation answers would.

Measured (benchmarks/few_labels_bench.py, docs/benchmarks.md): more accurate than the held-out
path at every size measured up to 300 pictures a class, by most at 5-30; the two tie from 200 on.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..data.dataset import Split
from ..evaluate.evaluation import CROSS_VALIDATION, EvaluationResult, evaluate_probabilities
from ..evaluate.label_errors import STEP_SIZE, dense_weights, fit_softmax, fold_count, softmax, stratified_folds

__all__ = ["STEP_SIZE"]

#: Folds of the estimate (fewer when a class has fewer pictures).
FOLDS = 5


def uses_every_picture(config, data, start_from=None) -> bool:
    """Whether a training of ``config`` on ``data`` (a DatasetScan) trains on every picture: a
    pretrained network, no validation folder, the smallest class under ``config.cross_validate_below``,
    and not going on from a saved model (that one is compared with the new model on held-out pictures)."""
    if config.backbone == "none" or start_from is not None or data.validation_from_folder:
        return False
    counts = [t + v for t, v in zip(data.train.counts(len(data.class_names)),
                                    data.validation.counts(len(data.class_names)))]
    return bool(counts) and min(counts) < config.cross_validate_below


def every_picture(data, config):
    """``data`` with its validation pictures moved to training (none held out), as recorded with the model."""
    train = Split(data.train.paths + data.validation.paths, data.train.labels + data.validation.labels)
    order = sorted(range(len(train)), key=lambda i: (train.labels[i], train.paths[i]))
    train = Split([train.paths[i] for i in order], [train.labels[i] for i in order])
    source = (f"none: every picture trains (fewer than {config.cross_validate_below} in a class); "
              f"accuracy estimated by cross-validation")
    return dataclasses.replace(data, train=train, validation=Split(), validation_source=source)


def fit(features: np.ndarray, labels: np.ndarray, num_classes: int, seed: int):
    """(weights, bias, mean, scale) of the classifier fitted on ``features`` (n, views, dim): every view a row."""
    views = features.shape[1]
    x = features.reshape(-1, features.shape[-1]).astype(np.float32)
    return fit_softmax(x, np.repeat(np.asarray(labels, np.int64), views), num_classes, seed)


def probabilities(fitted, features: np.ndarray) -> np.ndarray:
    """Class probabilities (n, classes) of a :func:`fit` result for features (n, dim)."""
    weights, bias, mean, scale = fitted
    return softmax(((np.asarray(features, np.float32) - mean) / scale) @ weights + bias)


def set_dense(dense, fitted) -> None:
    """Put a :func:`fit` result into the Keras output layer ``dense`` (softmax over the classes, or
    one sigmoid unit for two): the same probabilities from the features, as one matrix product."""
    kernel, offset = dense_weights(*fitted, sigmoid=dense.units == 1)
    dense.set_weights([kernel.astype(np.float32), offset.astype(np.float32)])


def folds_for(labels: np.ndarray, num_classes: int) -> int:
    """How many folds the estimate uses: FOLDS, fewer when a class has fewer pictures (at least 2)."""
    return max(2, fold_count(labels, num_classes, FOLDS))


def cross_validate(features: np.ndarray, labels: np.ndarray, paths: list[str], class_names: list[str],
                   seed: int, should_stop=None, on_fold=None) -> EvaluationResult:
    """Each picture scored by a classifier fitted as :func:`fit` on the other folds (stratified, a
    picture's mirror image always in its own fold): an EvaluationResult of split CROSS_VALIDATION
    with ``folds`` set, every picture's answer kept (the same figures and lists as a held-out check);
    unchecked when ``should_stop()`` turns True. ``on_fold(folds done)`` after each fold."""
    labels = np.asarray(labels, np.int64)
    k = len(class_names)
    folds = folds_for(labels, k)
    fold_of = stratified_folds(labels, folds, seed)
    probs = np.zeros((len(labels), k))
    for f in range(folds):
        if should_stop is not None and should_stop():
            break
        held = fold_of == f
        fitted = fit(features[~held], labels[~held], k, seed + 1 + f)
        probs[held] = probabilities(fitted, features[held, 0])
        if on_fold is not None:
            on_fold(f + 1)
    else:
        result = evaluate_probabilities(probs, labels, class_names, list(paths), CROSS_VALIDATION)
        result.folds = folds
        return result
    return EvaluationResult.unchecked(CROSS_VALIDATION, class_names)


def sentence(evaluation: EvaluationResult, model_pictures: int) -> str:
    """What the user reads about how the figures were made when the model trained on every picture."""
    if evaluation.folds:
        return (f"Every one of the {model_pictures:,} pictures trained the model; its accuracy, "
                f"{evaluation.accuracy:.1%}, is {evaluation.where()}: each picture was scored by a classifier "
                f"trained without it.")
    return (f"Every one of the {model_pictures:,} pictures trained the model, and the cross-validation "
            "estimate of its accuracy was skipped.")
