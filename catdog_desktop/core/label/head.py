"""The classifier head retrained on cached features, in a second or so: every few labels.

A pretrained model is a frozen backbone and a classifier (one dense layer) on its features
(core.training.pretrained). The features of every labelled picture are cached by content
(core.model.features), so teaching the classifier more pictures, or a new class, needs no pass
of the backbone over pictures it has seen: only the classifier is fitted again.

The fit is the multinomial logistic regression of the label check (core.evaluate.label_errors:
NumPy, full-batch Adam, a light L2 penalty, classes weighted by their inverse frequency), not a
Keras ``fit``: no model to build and trace each time, a result that depends only on the seed, and
no memory that grows with each of the hundred retrainings of a labelling session (Keras' repeated
``fit()`` does: the project guide's known pitfalls). Times: :data:`STEPS` and :data:`ROW_STEPS`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..errors import CatdogError
from ..evaluate.label_errors import fit_softmax, softmax, stratified_folds
from ..evaluate.label_errors import fold_count as shared_fold_count

#: Folds of the accuracy estimate (fewer when a class has fewer pictures).
FOLDS = 5
#: The estimate scores folds until this many pictures were held out (one fold of 5 from 2,000 on):
#: every fold costs a fit.
ESTIMATE_PICTURES = 400
#: Full-batch steps of the fit, for up to 400 labelled pictures. Measured on MobileNetV2 features of
#: 2,200 photos of the shared cats and dogs (2-core AMD EPYC, loaded): 100 steps reach the held-out
#: accuracy of the label check's 300 (98.0 % on 200 photos, 2,000 labelled; 97.0 % with 200 labelled)
#: in a third of the time; at 200 labelled they beat 30 steps (96.2 against 95.9 % on the 5,000 test
#: photos of benchmarks/labelling_bench.py, median of 3 draws) and cost 0.05 s.
STEPS = 100
#: Above 400 pictures the steps fall so that steps x pictures stays near this, down to MIN_STEPS: a
#: step costs two passes over the features. Measured on labelling_bench.py's split (5,000 test photos,
#: median of 3 draws of the labelled pictures): 20 steps reach the accuracy of 100 from 400 labelled
#: pictures on (96.9 / 96.6 % at 400, 96.9 / 97.0 % at 1,000, 97.0 / 96.9 % at 2,000, 97.2 / 97.1 % at
#: 3,000), so a retrain on 2,000 (its fit and the estimate's fold on 1,600) takes 45 steps, not 200.
ROW_STEPS = 40_000
#: The temperatures :func:`fit_temperature` chooses from (1: the fit's own probabilities).
TEMPERATURES = np.geomspace(1.0, 64.0, 49)
MIN_STEPS = 20
#: BLAS threads of the fit and the estimate (threadpoolctl; NumPy's default is one a core). Their
#: products are skinny (pictures x features by features x classes), so threads mostly wait on each
#: other, and on a busy machine they spin: on the 2-core EPYC with other jobs running (load 3), a
#: retrain on 300-800 labelled pictures took 2.1-5.1 s with both cores and 0.34-0.40 s with one
#: (0.70 against 0.28 s on 2,000), and ranking an inbox of 1,000 against 2,000 labelled pictures
#: 0.44-0.74 s against 0.21-0.34 s (benchmarks/labelling_bench.py has the retrain's figures).
BLAS_THREADS = 1


@dataclass
class Head:
    """A classifier on features: ``probabilities(features)``. Plain arrays (no Keras)."""

    class_names: list[str]
    weights: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    trained_on: int                 # labelled pictures it was fitted on
    seconds: float                  # how long the fit took (the estimate's folds not counted)
    #: Cross-validated accuracy on the labelled pictures (each scored by a head that did not train
    #: on it); None when a class has fewer than 2 pictures.
    accuracy: float | None = None
    #: The logits are divided by this (:func:`fit_temperature`): the probabilities it says are then
    #: about as often right as they claim, which "accept all at least 95 % sure" relies on.
    temperature: float = 1.0

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, np.float32).reshape(len(features), -1)
        return softmax((((x - self.mean) / self.scale) @ self.weights + self.bias) / self.temperature)


def train_head(features: np.ndarray, labels: Sequence[str], class_names: Sequence[str] | None = None,
               seed: int = 0, estimate: bool = True) -> Head:
    """Fit a head on ``features`` (n, d) of pictures labelled ``labels`` (class names). Classes are
    ``class_names`` (default: those in ``labels``, sorted); CatdogError when fewer than two of them
    have a picture. With ``estimate``, also the cross-validated accuracy."""
    names = list(class_names) if class_names is not None else sorted(set(labels))
    index = {name: k for k, name in enumerate(names)}
    y = np.asarray([index[label] for label in labels], np.int64)
    x = np.asarray(features, np.float32).reshape(len(y), -1)
    present = np.bincount(y, minlength=len(names)) if len(y) else np.zeros(len(names), int)
    if (present > 0).sum() < 2:
        raise CatdogError("The model needs labelled pictures of at least two classes to learn from: label a few "
                          "of each class first.")
    with blas_threads():
        started = time.perf_counter()
        weights, bias, mean, scale = fit_softmax(x, y, len(names), seed, steps=steps_for(len(y)))
        seconds = time.perf_counter() - started
        rows, held_out, _folds = out_of_fold(x, y, len(names), seed) if estimate else (np.zeros(0, np.int64), None, 0)
    accuracy = float((held_out.argmax(axis=1) == y[rows]).mean()) if len(rows) else None
    temperature = fit_temperature(held_out, y[rows]) if len(rows) else 1.0
    return Head(names, weights, bias, mean, scale, len(y), seconds, accuracy, temperature)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature (from :data:`TEMPERATURES`) at which the cross-checked ``probabilities`` (each
    from a head that did not learn its picture) are likeliest for the true ``labels``: temperature
    scaling (Guo et al. 2017). A head fitted on a few dozen pictures separates them perfectly and
    says 100 % of nearly every picture; out of fold it is wrong far more often than that."""
    logits = np.log(np.clip(np.asarray(probabilities, np.float64), 1e-12, 1.0))
    losses = [-np.log(np.clip(softmax(logits / t)[np.arange(len(labels)), labels], 1e-12, 1.0)).mean()
              for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


_BLAS_LOCK = threading.RLock()


@contextmanager
def blas_threads():
    """A context in which NumPy's BLAS runs on :data:`BLAS_THREADS` threads (the head's fits and the
    ranking of the inbox, core.label.choose: skinny products, which threads only slow down). The
    limit is the whole process's, so one such context at a time (threadpoolctl is not thread-safe:
    two workers' limits, set and restored out of order, left BLAS on one thread for good)."""
    from threadpoolctl import threadpool_limits

    with _BLAS_LOCK, threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        yield


def steps_for(pictures: int) -> int:
    """Full-batch steps of a fit on ``pictures`` labelled pictures (:data:`STEPS`, fewer for many)."""
    return int(min(STEPS, max(MIN_STEPS, ROW_STEPS // max(pictures, 1))))


def fold_count(y: np.ndarray, num_classes: int) -> int:
    """The folds of the estimate: :data:`FOLDS`, fewer when a class has fewer pictures (under 2: none)."""
    return shared_fold_count(y, num_classes, FOLDS)


def out_of_fold(x: np.ndarray, y: np.ndarray, num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """(rows, their probabilities, folds fitted), each row scored by a head fitted as :func:`train_head` fits it
    without the row's fold (stratified; folds scored until :data:`ESTIMATE_PICTURES` rows); no rows
    when a class that has pictures has only one. Also what an updated model's calibration reads
    (core.label.grow)."""
    folds = fold_count(y, num_classes)
    if folds < 2:
        return np.zeros(0, np.int64), np.zeros((0, num_classes)), 0
    fold_of = stratified_folds(y, folds, seed)
    rows, probabilities = [], []
    for f in range(folds):
        train, held = fold_of != f, np.flatnonzero(fold_of == f)
        w, b, mean, scale = fit_softmax(x[train], y[train], num_classes, seed + f, steps=steps_for(int(train.sum())))
        rows.append(held)
        probabilities.append(softmax(((x[held] - mean) / scale) @ w + b))
        if sum(map(len, rows)) >= ESTIMATE_PICTURES:
            break
    return np.concatenate(rows), np.concatenate(probabilities), len(rows)


def cross_validated_accuracy(x: np.ndarray, y: np.ndarray, num_classes: int, seed: int = 0) -> float | None:
    """Accuracy of heads fitted without each picture's fold (:func:`out_of_fold`); None when a class
    that has pictures has only one."""
    rows, probabilities, _folds = out_of_fold(x, y, num_classes, seed)
    return float((probabilities.argmax(axis=1) == y[rows]).mean()) if len(rows) else None
