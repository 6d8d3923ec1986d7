"""Likely label errors: pictures whose folder the model confidently disagrees with.

This is *confident learning* (Northcutt et al., 2021; the method behind cleanlab):

1. **Out-of-fold probabilities.** Every picture is scored by a classifier that never trained on
   it: the pictures are split into ``folds`` stratified parts, and a small classifier trained on
   the other parts predicts each one. The classifier works on backbone features (the bundled
   MobileNetV2, or ``--model``'s own penultimate features), which are cached on disk by
   :mod:`.features`: the backbone runs once per picture, and a training after the check (or a
   second check) finds them there.
2. **Per-class thresholds.** A class's threshold is the mean probability the classifier gives
   that class on the pictures labelled with it (its average self-confidence).
3. **The confident joint.** A picture labelled *i* counts as "confidently *j*" when its
   probability of *j* reaches *j*'s threshold (the likeliest such class if several do). Pictures
   on the off-diagonal (confidently another class than their folder says) are issues, and so are
   pictures the classifier simply puts in another class (cleanlab's ``predicted_neq_given``):
   on the generated set of ``tests/core/test_label_errors.py`` (9 of 180 labels flipped) at
   96 px, the off-diagonal alone found 5 of the 9, both rules together 8: the classifier called
   the others' true class, only less surely than that class's average.
4. **Ranking** by self-confidence, the probability of the picture's own label (cleanlab's
   default ranking for ``find_label_issues`` and ``get_label_quality_scores``): the less the
   classifier believes the folder, the higher on the list. ``score`` is 1 minus it.

The classifier on the features is a multinomial logistic regression written in NumPy (on the
features' first principal components; full-batch Adam with a light L2 penalty):
five fits on a few thousand pictures take a second or two, with no Keras model to build and
trace per fold, and the result is deterministic for a seed.

These are **suggestions**: a picture on the list may be correctly labelled but unusual (or the
classifier may be wrong). Nothing is moved; the user looks and decides.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import CancelledError, DatasetError
from ..wording import count

log = logging.getLogger(__name__)

#: Principal components the per-fold classifier works on (fewer when there are fewer pictures).
COMPONENTS = 256
#: Full-batch optimisation steps of each fold's classifier, its step size and L2 penalty.
STEPS = 300
STEP_SIZE = 0.05
L2 = 1e-2

ProgressFn = Callable[[int, int, str], None]

SUGGESTION = ("These are suggestions: each picture's label is doubted by a classifier that did not "
              "train on it. Look at each one before moving it; an unusual picture can be labelled right.")


@dataclass
class LabelIssue:
    path: str
    label: str          # the class its folder says
    suggested: str      # the class the classifier is confident it is
    score: float        # in [0, 1], higher = likelier mislabelled (1 - probability of its own label)


@dataclass
class LabelCheck:
    issues: list[LabelIssue]     # ranked, likeliest first
    checked: int                 # pictures scored
    class_names: list[str]
    method: str                  # one sentence for the UI/CLI
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)
    #: Sentences the user should read with the list (that these are suggestions; test pictures checked).
    notes: list[str] = field(default_factory=list)

    def to_list(self) -> list[dict]:
        """The issues as plain dicts ``{path, label, suggested, score}`` (the CLI's ``--json``)."""
        return [asdict(issue) for issue in self.issues]


def check_labels(scan, model_path: str | os.PathLike | None = None, *, folds: int = 5, seed: int = 0,
                 progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None,
                 image_size: int | None = None) -> LabelCheck:
    """Likely label errors among the training, validation and test pictures of ``scan``
    (a :class:`~.dataset.DatasetScan`).

    Features come from the bundled MobileNetV2 at ``image_size`` (the training default, so the
    feature cache is shared with training), or, with ``model_path``, from that model's own
    penultimate layer at its input size. ``progress(done, total, message)`` reports; Raises
    :class:`~.errors.DatasetError` when there is too little to check, :class:`~.errors.ModelFileError`
    for a model that cannot be opened, :class:`~.errors.CancelledError` when ``should_stop()``.
    """
    stop = should_stop or (lambda: False)
    class_names = list(scan.class_names)
    if len(class_names) < 2:
        raise DatasetError("Checking labels needs at least two classes.")
    paths, labels = list(scan.train.paths) + list(scan.validation.paths), list(scan.train.labels) + list(scan.validation.labels)
    test_count = len(scan.test) if scan.test is not None else 0
    if test_count:
        paths += scan.test.paths
        labels += scan.test.labels
    if not paths:
        raise DatasetError("There are no pictures to check.")
    # In the order of their paths: the folds (and so the result) do not depend on how the folder
    # happens to be split into training and validation.
    order = sorted(range(len(paths)), key=paths.__getitem__)
    paths, labels = [paths[i] for i in order], [labels[i] for i in order]

    from ..model.features import compute_features

    extractor, cache, size, source = feature_source(model_path, image_size)

    def on_features(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total, "Computing features")

    feats = compute_features(extractor, paths, labels, size, [cache], mirror=False,
                             progress=on_features, should_stop=stop)
    x = feats.features[:, 0].astype(np.float32)
    y = feats.labels.astype(np.int64)
    counts = np.bincount(y, minlength=len(class_names))
    present = counts[counts > 0]
    if len(present) < 2:
        raise DatasetError("Checking labels needs readable pictures of at least two classes.")
    folds = int(min(folds, present.min()))
    if folds < 2:
        small = [n for n, c in zip(class_names, counts) if 0 < c < 2]
        raise DatasetError("Too few pictures to check: " + (f"{small[0]} has only one." if len(small) == 1 else
                           f"{', '.join(small[:-1])} and {small[-1]} have only one each."))

    if progress is not None:
        progress(0, folds, "Checking labels")
    probs = out_of_fold_probabilities(x, y, len(class_names), folds, seed, stop,
                                      lambda done: progress(done, folds, "Checking labels") if progress else None)
    ranked, suggested = find_label_issues(probs, y)
    issues = [LabelIssue(path=feats.paths[i], label=class_names[y[i]], suggested=class_names[suggested[i]],
                         score=round(float(1.0 - probs[i, y[i]]), 6)) for i in ranked]
    method = (f"{folds}-fold classifier on {source} of {count(len(y), 'picture')}, "
              "confident learning, ranked by how little the classifier believes each label")
    notes = [SUGGESTION]
    if test_count:
        notes.append(f"The {count(test_count, 'test picture')} {'was' if test_count == 1 else 'were'} checked too: "
                     "test pictures can be mislabelled as well, and a wrong test label makes the model "
                     "look worse than it is.")
    if model_path is not None:
        notes.append("The features come from a model that may have trained on these very pictures, labels and "
                     "all, so it can have learned some wrong labels by heart; the pretrained network (without "
                     "--model) has seen none of them.")
    skipped = list(scan.skipped) + [s for s in feats.skipped if s not in scan.skipped]
    log.info("label check: %d pictures, %d likely label errors (%s)", len(y), len(issues), method)
    return LabelCheck(issues=issues, checked=len(y), class_names=class_names, method=method,
                      skipped=skipped, notes=notes)


def find_label_issues(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confident learning on out-of-fold ``probs`` (n, k) for given ``labels`` (n,): (indices of
    the likely label errors, likeliest first; the class each picture confidently is, per picture)."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels, np.int64)
    n, k = probs.shape
    thresholds = np.array([probs[labels == j, j].mean() if np.any(labels == j) else 1.0 for j in range(k)])
    above = probs >= thresholds[None, :] - 1e-12
    confident = np.where(above, probs, -1.0).argmax(axis=1)
    counted = above.any(axis=1)
    predicted = probs.argmax(axis=1)
    # The confident joint's off-diagonal, and the pictures the classifier puts in another class
    # outright (cleanlab's predicted-not-given rule): a flipped picture the classifier rightly
    # calls another class, but less surely than that class's average, is still worth a look.
    flagged = np.flatnonzero((counted & (confident != labels)) | (predicted != labels))
    suggested = np.where(counted & (confident != labels), confident, predicted)
    self_confidence = probs[np.arange(n), labels]
    ranked = flagged[np.argsort(self_confidence[flagged], kind="stable")]
    return ranked, suggested


def out_of_fold_probabilities(x: np.ndarray, y: np.ndarray, num_classes: int, folds: int, seed: int = 0,
                              should_stop: Callable[[], bool] | None = None,
                              on_fold: Callable[[int], None] | None = None) -> np.ndarray:
    """Probabilities (n, num_classes) for each row of ``x``, each from a classifier trained on the
    other folds (stratified: every fold has its share of each class)."""
    n = len(y)
    fold_of = stratified_folds(y, folds, seed)
    x = _principal_components(x, min(COMPONENTS, n - 1, x.shape[1]))
    probs = np.zeros((n, num_classes))
    for f in range(folds):
        if should_stop is not None and should_stop():
            raise CancelledError("Checking labels was stopped.")
        train, held = fold_of != f, fold_of == f
        weights, bias, mean, scale = fit_softmax(x[train], y[train], num_classes, seed + f)
        probs[held] = softmax(((x[held] - mean) / scale) @ weights + bias)
        if on_fold is not None:
            on_fold(f + 1)
    return probs


def stratified_folds(y: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Each row's fold (0 .. folds-1), every class dealt round the folds in a random order (by
    ``seed``): each fold has its share of each class. One deal for every cross-check of the app
    (the label check, the inbox's estimate, training on every picture, updating a model's classes)."""
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), np.int64)
    for j in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == j))
        fold_of[rows] = np.arange(len(rows)) % folds
    return fold_of


def fold_count(y: np.ndarray, num_classes: int, folds: int = 5) -> int:
    """Folds of a stratified cross-check: ``folds``, fewer when a class that has pictures has fewer
    (under 2: none possible)."""
    counts = np.bincount(y, minlength=num_classes)
    present = counts[counts > 0]
    return int(min(folds, present.min())) if len(present) else 0


def dense_weights(weights: np.ndarray, bias: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                  sigmoid: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A :func:`fit_softmax` result as one dense layer's (kernel, bias), float64: ``x @ kernel + bias``
    are the logits of ``((x - mean) / scale) @ weights + bias``. ``sigmoid``: for two classes, the one
    unit of a sigmoid layer (a softmax of two logits is the sigmoid of their difference)."""
    scale = np.asarray(scale, np.float64).reshape(-1)
    kernel = np.asarray(weights, np.float64) / scale[:, None]
    offset = np.asarray(bias, np.float64) - np.asarray(mean, np.float64).reshape(-1) @ kernel
    if sigmoid:
        kernel, offset = kernel[:, 1:] - kernel[:, :1], offset[1:] - offset[:1]
    return kernel, offset


def _principal_components(x: np.ndarray, components: int) -> np.ndarray:
    """``x`` projected on its first principal components (no labels used: no leak across folds)."""
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:components].T


def fit_softmax(x: np.ndarray, y: np.ndarray, num_classes: int, seed: int = 0,
                steps: int = STEPS, step_size: float = STEP_SIZE, l2: float = L2):
    """Multinomial logistic regression: (weights, bias, mean, scale) such that
    ``softmax(((x - mean) / scale) @ weights + bias)`` are the probabilities. Classes are
    weighted by their inverse frequency, so a small class is not simply outvoted."""
    mean = x.mean(axis=0)
    # One scale for all dimensions, not one each: standardising every principal component
    # (whitening) blows up the faint ones to the size of the strong ones, and with fewer pictures
    # than dimensions the classifier then fits noise and does worse than chance out of fold.
    scale = np.full(x.shape[1], x.std() + 1e-6, np.float32)
    xs = ((x - mean) / scale).astype(np.float32)
    n, d = xs.shape
    onehot = np.eye(num_classes, dtype=np.float32)[y]
    counts = np.bincount(y, minlength=num_classes).astype(np.float32)
    sample_weight = (n / (num_classes * np.maximum(counts, 1)))[y][:, None] / n
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.01, (d, num_classes)).astype(np.float32)
    b = np.zeros(num_classes, np.float32)
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    beta1, beta2 = 0.9, 0.999
    for t in range(1, steps + 1):
        p = softmax(xs @ w + b)
        err = (p - onehot) * sample_weight
        grads = [xs.T @ err + l2 * w, err.sum(axis=0)]
        for i, (param, g) in enumerate(zip((w, b), grads)):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            param -= step_size * (m[i] / (1 - beta1 ** t)) / (np.sqrt(v[i] / (1 - beta2 ** t)) + 1e-8)
    return w, b, mean, scale


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def feature_source(model_path, image_size):
    """(extractor, cache, input size, what the features are, in words)."""
    from ..model.engine import Engine
    from ..model.features import (FEATURE_VERSION, FeatureCache, backbone_identity, backbone_namespace,
                                  default_cache_dir)

    folder = default_cache_dir()
    if model_path is None:
        from ..model import backbone as backbones
        from ..config import TrainingConfig

        name = TrainingConfig.backbone
        spec = backbones.spec(name)
        size = int(image_size or TrainingConfig.image_size)
        network = backbones.make_backbone(name, size)
        scale = backbones.preprocessing_layer()
        # The namespace of core/training/pretrained.py's features: a check and a training share the cache.
        cache = FeatureCache(folder, backbone_namespace(name, size), (spec.feature_dim,))
        extract = Engine(lambda x: (network(scale(x), training=False),), size, backbone_identity(name),
                         f"the {spec.label} backbone", probabilities_first=False)
        return extract, cache, size, f"{spec.label.split(' ')[0]} features"

    from ..classify.classifier import Classifier

    classifier = Classifier.load(model_path)
    size = classifier.image_size
    from ..model.calibration import feature_model

    both = feature_model(classifier.model)
    dim = int(both.outputs[1].shape[-1])
    digest = classifier.digest  # hashed as it was loaded (core.classify.classifier)
    if digest is None:  # it changed while being read: what is there now
        with open(model_path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
    digest = digest[:16]
    cache = FeatureCache(folder, f"model-{digest}-{size}px-v{FEATURE_VERSION}", (dim,))
    extract = Engine(lambda x: (both(x, training=False)[1],), size, f"features|{digest}",
                     f"{os.path.basename(model_path)}'s features", probabilities_first=False)
    return extract, cache, size, f"the features of {os.path.basename(model_path)}"
