"""When to say "not sure" and "none of these": calibrated on a model's validation pictures.

A classifier always answers one of its classes: a cats-vs-dogs model calls a car a cat or a dog.
Two checks, both measured on pictures the model did not train on, say when not to trust it:

* **"Not sure"**: a confidence threshold. Whether an answer is right is modelled as a function of
  the model's confidence on the validation pictures (a one-variable logistic fit of right/wrong
  against the logit of the confidence, which is smooth where a histogram of a few mistakes is
  not); the threshold is the confidence at which that estimated accuracy falls under
  :data:`ACCURACY_TARGET`. With fewer than :data:`MIN_MISTAKES` validation mistakes there is
  nothing to fit, and no threshold is recorded (the model behaves as before; the user can set one).
* **"None of these"**: novelty. The features the model's last layer reads (the pooled backbone
  output of a pretrained model, the global-average-pooled activations of a from-scratch one)
  of the training pictures are summarised by a few k-means centres per class (float16, kept in
  the model's metadata: a few hundred KB at most). A picture's distance is the cosine distance of
  its features to the nearest centre (features of out-of-distribution pictures lie far from every
  training picture: the deep nearest-neighbour detector of Sun et al., 2022, with centres instead
  of every picture to stay small). The threshold is set on held-out distances: the validation
  pictures', and the training pictures' own, each measured to centres made without it (5 folds:
  a training picture's distance to centres it helped make is too small). Of those it takes not
  the plain 95th percentile but the one that, with 90 % confidence, lets fewer than 5 % of new
  ordinary pictures past (an order-statistic bound): with 100 pictures a class, 20 validation
  pictures' 95th percentile flagged 6 % of new pictures on average and up to 13 %; with
  thousands the two are the same (``benchmarks/novelty_bench.py`` measures both rates).

Everything is plain JSON: numbers, and the centres as base64 of little-endian float16 with their
shape. Loading checks all of it; anything damaged is ignored with a log line (the model then
behaves as without it), never trusted.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

#: The metadata key that holds this module's results.
METADATA_KEY = "calibration"
#: The ``source`` of a threshold set on cross-validated answers (a model that trained on every picture,
#: core.training.few): each picture's answer from a classifier fitted without it, as a validation one.
CROSS_VALIDATED = "cross-validation"
#: "Not sure" below the confidence at which the estimated accuracy falls under this.
ACCURACY_TARGET = 0.90
#: Fewer validation mistakes than this: no confidence threshold (nothing to fit).
MIN_MISTAKES = 3
#: The share of ordinary (validation) pictures that "none of these" may flag falsely.
FALSE_ALARM = 0.05
#: At most this many k-means centres in all (1,280 float16 numbers each: 128 make 328 KB).
MAX_CENTRES = 128
#: Centres per class (fewer when the classes are many, so that the total stays within MAX_CENTRES).
CENTRES_PER_CLASS = 32
#: A class gets at most one centre per this many of its training pictures.
PICTURES_PER_CENTRE = 10
#: Training pictures summarised per class at most (k-means time grows with them; more add little).
MAX_PER_CLASS = 1500
#: The training pictures' held-out distances come from this many folds (centres made without the fold).
FOLDS = 5
#: How sure the threshold is to flag at most FALSE_ALARM of ordinary pictures (see upper_quantile).
BOUND_CONFIDENCE = 0.9


# ----------------------------------------------------------------------------- confidence


def fit_confidence_threshold(confidence: np.ndarray, correct: np.ndarray, num_classes: int,
                             target: float = ACCURACY_TARGET, source: str = "validation") -> dict:
    """The "not sure" threshold from held-out predictions: their top ``confidence`` (n,) and
    whether each was ``correct`` (n,). Returns a metadata dict whose ``value`` is None when
    there were too few mistakes to tell (``reason`` says why)."""
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, bool)
    n, mistakes = len(confidence), int((~correct).sum())
    record = {"target_accuracy": target, "pictures": n, "mistakes": mistakes, "source": source}
    what = "validation pictures" if source == "validation" else "pictures scored by cross-validation"
    if mistakes < MIN_MISTAKES:
        return {**record, "value": None,
                "reason": f"only {mistakes} of {n} {what} were wrong: too few to tell "
                          f"below which confidence its answers are right less than {target:.0%} of the time"}
    chance = 1.0 / num_classes
    x = _logit(np.clip(confidence, chance + 1e-6, 1 - 1e-6))
    a, b = _fit_logistic(x, correct.astype(np.float64))
    if b <= 0:  # surer answers were not more often right: the fit says nothing useful
        return {**record, "value": None, "reason": "the confidence did not tell right answers from wrong ones"}
    crossing = float(1.0 / (1.0 + math.exp(-(_logit(np.array(target))[()] - a) / b)))
    value = float(np.clip(crossing, chance, 0.999))
    flagged = float(np.mean(confidence < value))
    return {**record, "value": round(value, 4), "share_flagged": round(flagged, 4),
            "accuracy_below": _rounded(np.mean(correct[confidence < value])) if flagged else None,
            "accuracy_above": _rounded(np.mean(correct[confidence >= value])) if flagged < 1 else None}


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 50) -> tuple[float, float]:
    """P(y=1) = sigmoid(a + b x) by Newton's method, a light L2 penalty keeping it finite
    when the classes separate."""
    xs = (x - x.mean()) / (x.std() or 1.0)
    X = np.stack([np.ones_like(xs), xs], axis=1)
    w = np.zeros(2)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(X @ w)))
        grad = X.T @ (p - y) + l2 * len(y) * np.array([0.0, w[1]])
        hess = (X * (p * (1 - p))[:, None]).T @ X + l2 * len(y) * np.diag([1e-6, 1.0])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    scale = x.std() or 1.0
    b = w[1] / scale
    return float(w[0] - b * x.mean()), float(b)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _rounded(value) -> float:
    return round(float(value), 4)


# ----------------------------------------------------------------------------- novelty


def normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32), so that distances are cosine distances."""
    features = np.asarray(features, np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def kmeans(x: np.ndarray, k: int, seed: int = 0, iterations: int = 25) -> np.ndarray:
    """``k`` centres of the unit rows ``x`` (spherical k-means, k-means++ start), unit length."""
    rng = np.random.default_rng(seed)
    n = len(x)
    if n <= k:
        return x.copy()
    centres = [x[rng.integers(n)]]
    closest = 1.0 - x @ centres[0]
    for _ in range(1, k):
        weights = np.maximum(closest, 0) ** 2
        total = weights.sum()
        pick = rng.choice(n, p=weights / total) if total > 0 else rng.integers(n)
        centres.append(x[pick])
        closest = np.minimum(closest, 1.0 - x @ x[pick])
    c = np.stack(centres)
    for _ in range(iterations):
        assign = np.argmax(x @ c.T, axis=1)
        moved = c.copy()
        for j in range(k):
            members = x[assign == j]
            if len(members):
                moved[j] = members.mean(axis=0)
        moved = normalise(moved)
        if np.allclose(moved, c, atol=1e-5):
            c = moved
            break
        c = moved
    return c


def distances(features: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Cosine distance (0 same direction .. 2 opposite) of each row of ``features`` to the nearest centre."""
    if len(features) == 0:
        return np.zeros(0)
    return 1.0 - (normalise(features) @ normalise(centres).T).max(axis=1)


def _centres(train: np.ndarray, labels: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    """A few k-means centres per class of the unit rows ``train`` (float32)."""
    per_class = max(2, min(CENTRES_PER_CLASS, MAX_CENTRES // max(num_classes, 1)))
    centres = []
    for j in range(num_classes):
        rows = np.flatnonzero(labels == j)
        if len(rows):  # a centre for every PICTURES_PER_CENTRE pictures at least: no centre is one picture
            centres.append(kmeans(train[rows], max(1, min(per_class, len(rows) // PICTURES_PER_CENTRE)), seed=seed + j))
    return np.concatenate(centres)


def held_out_training_distances(train: np.ndarray, labels: np.ndarray, num_classes: int, seed: int = 0,
                                folds: int = FOLDS) -> np.ndarray:
    """Each training picture's distance to centres made without it (``folds`` folds, each class
    spread over all of them); pictures of a class too small to be in every fold's rest are left out."""
    fold = np.zeros(len(labels), np.int64)
    for j in range(num_classes):
        rows = np.flatnonzero(labels == j)
        fold[rows] = np.random.default_rng(seed + j).permutation(len(rows)) % folds
    found = []
    for f in range(folds):
        rest = fold != f
        known = np.isin(labels, np.unique(labels[rest]))
        inside = np.flatnonzero((fold == f) & known)
        if len(inside) and rest.any():
            found.append(distances(train[inside], _centres(train[rest], labels[rest], num_classes, seed)))
    return np.concatenate(found) if found else np.zeros(0)


def upper_quantile(values: np.ndarray, share: float, confidence: float = BOUND_CONFIDENCE) -> float:
    """The smallest of ``values`` that, with ``confidence``, at most ``share`` of new values from the
    same distribution exceed (the k-th smallest of n covers Beta(k, n+1-k) of the distribution);
    the largest value when there are too few for that."""
    ordered = np.sort(np.asarray(values, np.float64))
    n = len(ordered)
    if n == 0:
        return float("nan")
    p = 1.0 - share
    k = np.arange(n + 1)  # P(Binomial(n, p) = k), computed in logs
    log_pmf = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in k])
    log_pmf += k * math.log(p) + (n - k) * math.log1p(-p)
    cdf = np.cumsum(np.exp(log_pmf))
    enough = np.flatnonzero(cdf[:n] >= confidence)  # cdf[k-1] = P(the k-th smallest covers >= p)
    return float(ordered[enough[0]] if len(enough) else ordered[-1])


def summarise_novelty(train_features: np.ndarray, train_labels: np.ndarray, val_features: np.ndarray,
                      num_classes: int, layer: str, seed: int = 0,
                      false_alarm: float = FALSE_ALARM) -> dict:
    """Centres of the training pictures' features and the distance threshold that, by the held-out
    distances (see the module docstring), flags at most ``false_alarm`` of ordinary pictures; a
    metadata dict."""
    train = normalise(train_features)
    labels = np.asarray(train_labels)
    rng = np.random.default_rng(seed)
    keep = []
    for j in range(num_classes):
        rows = np.flatnonzero(labels == j)
        keep.append(rng.choice(rows, MAX_PER_CLASS, replace=False) if len(rows) > MAX_PER_CLASS else rows)
    keep = np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)
    train, labels = train[keep], labels[keep]
    c = _centres(train, labels, num_classes, seed).astype(np.float16)
    # No validation pictures (every picture trained the model): the training pictures' own held-out
    # distances are the honest ones left.
    d = distances(val_features, c.astype(np.float32)) if val_features is not None else np.zeros(0)
    held_out = np.concatenate([d, held_out_training_distances(train, labels, num_classes, seed)])
    if not len(held_out):
        raise ValueError("no held-out features to calibrate on")
    threshold = upper_quantile(held_out, false_alarm)
    return {
        "layer": layer, "dim": int(c.shape[1]), "count": int(c.shape[0]),
        "centres": base64.b64encode(c.astype("<f2").tobytes()).decode("ascii"),
        "threshold": round(threshold, 6), "false_alarm": false_alarm, "validation_pictures": int(len(d)),
        "held_out_pictures": int(len(held_out)), "confidence": BOUND_CONFIDENCE,
        "distance": "cosine distance of the features to the nearest centre",
    }


@dataclass
class Novelty:
    """A loaded novelty summary: the centres, the threshold and the layer whose output they describe."""

    centres: np.ndarray        # (count, dim) float32, unit rows
    threshold: float
    layer: str

    def distances(self, features: np.ndarray) -> np.ndarray:
        return 1.0 - (normalise(features) @ self.centres.T).max(axis=1)

    def unfamiliar(self, features: np.ndarray) -> np.ndarray:
        return self.distances(features) > self.threshold


def load_novelty(metadata: dict | None) -> Novelty | None:
    """The model's novelty summary, or None when it has none or it is damaged (logged)."""
    data = ((metadata or {}).get(METADATA_KEY) or {}).get("novelty")
    if not data:
        return None
    try:
        count, dim = int(data["count"]), int(data["dim"])
        raw = base64.b64decode(data["centres"], validate=True)
        if count <= 0 or dim <= 0 or len(raw) != count * dim * 2:
            raise ValueError(f"{len(raw)} bytes for {count} centres of {dim} numbers")
        centres = np.frombuffer(raw, "<f2").reshape(count, dim).astype(np.float32)
        threshold = float(data["threshold"])
        layer = str(data["layer"])
        if not np.isfinite(centres).all() or not math.isfinite(threshold) or not 0 <= threshold <= 2:
            raise ValueError("numbers out of range")
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        log.warning("the model's novelty data is damaged and ignored (%s)", exc)
        return None
    return Novelty(normalise(centres), threshold, layer)


def recorded_threshold(metadata: dict | None) -> float | None:
    """The model's recorded "not sure" threshold, or None (none recorded, or damaged: logged)."""
    data = ((metadata or {}).get(METADATA_KEY) or {}).get("confidence_threshold")
    if not data or data.get("value") is None:
        return None
    try:
        value = float(data["value"])
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # also catches NaN
        log.warning("the model's confidence threshold %r is not a probability and is ignored", data.get("value"))
        return None
    return value


def feature_layer(model) -> str:
    """The name of the layer whose output the model's last layer reads: the features "none of
    these" compares (the dropout before the output dense is the identity when predicting)."""
    return _feature_tensor(model)._keras_history.operation.name


def _feature_tensor(model, layer: str | None = None):
    """The tensor of this model's graph that its output layer reads (or, with ``layer``, that
    layer's output on the way there). Walked back from the model's output, not taken from
    ``get_layer(...).output``: a layer shared by several models (the pretrained training's
    classifier, fine-tuning and end-to-end models) has an output in each of their graphs."""
    tensor = model.outputs[0]
    while True:
        history = tensor._keras_history
        node = history.operation._inbound_nodes[history.node_index]
        if not node.input_tensors:
            raise ValueError(f"the model has no layer {layer!r} before its output")
        tensor = node.input_tensors[0]
        if layer is None or tensor._keras_history.operation.name == layer:
            return tensor


def feature_model(model, layer: str | None = None):
    """A model with the same input and two outputs, (the model's output, ``layer``'s output),
    sharing the model's layers: the probabilities are the very same computation."""
    import keras

    return keras.Model(model.input, [model.output, _feature_tensor(model, layer)], name=f"{model.name}_with_features")


def calibrate(train_features, train_labels, val_features, val_probabilities, val_labels, num_classes: int,
              layer: str, seed: int = 0, source: str = "validation") -> dict:
    """Both summaries from a model's own outputs: its features of (some of) the training pictures,
    and its features and probabilities of the validation pictures. The metadata's ``calibration``.
    ``source`` CROSS_VALIDATED: the probabilities are cross-validated answers on the training pictures
    (there are no validation pictures, ``val_features`` may be empty)."""
    val_probabilities = np.asarray(val_probabilities)
    val_labels = np.asarray(val_labels)
    result = {"confidence_threshold": fit_confidence_threshold(
        val_probabilities.max(axis=1), val_probabilities.argmax(axis=1) == val_labels, num_classes,
        source=source)}
    try:
        result["novelty"] = summarise_novelty(train_features, train_labels, val_features, num_classes, layer, seed)
    except ValueError as exc:
        log.warning("no novelty summary: %s", exc)
    return result


def subsample(labels, per_class: int = MAX_PER_CLASS, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``per_class`` items of each label (seeded)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep = []
    for j in np.unique(labels):
        rows = np.flatnonzero(labels == j)
        keep.append(rng.choice(rows, per_class, replace=False) if len(rows) > per_class else rows)
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)


def calibrate_with(outputs, train_x, train_y, val_x, val_y, num_classes: int, layer: str, seed: int = 0,
                   chunk: int = 256) -> dict:
    """:func:`calibrate` for pixels: ``outputs(pixels)`` gives (probabilities, features); at most
    :data:`MAX_PER_CLASS` training pictures a class are run through it, ``chunk`` at a time."""
    keep = subsample(train_y, seed=seed)

    def run(x, rows):
        probs, feats = [], []
        for start in range(0, len(rows), chunk):
            p, f = outputs(x[rows[start:start + chunk]])
            probs.append(np.asarray(p, np.float32))
            feats.append(np.asarray(f, np.float32))
        return np.concatenate(probs), np.concatenate(feats)

    _, train_features = run(train_x, keep)
    val_probs, val_features = run(val_x, np.arange(len(val_x)))
    return calibrate(train_features, np.asarray(train_y)[keep], val_features, val_probs, val_y, num_classes,
                     layer, seed)


def calibrate_classifier(classifier, train_paths, train_labels, val_paths, val_labels, seed: int = 0,
                         progress=None, chunk: int = 128) -> dict:
    """:func:`calibrate` for a loaded model (core.classify.classifier.Classifier) on picture files: its
    features of at most :data:`MAX_PER_CLASS` training pictures a class and its outputs on every
    validation picture, decoded ``chunk`` at a time (unreadable files are left out).
    ``progress(done, total)`` counts pictures."""
    from ..data.pipeline import decode_paths

    keep = subsample(train_labels, seed=seed)
    jobs = [("train", [train_paths[i] for i in keep], np.asarray(train_labels)[keep]),
            ("validation", list(val_paths), np.asarray(val_labels))]
    total = sum(len(paths) for _, paths, _ in jobs)
    done = 0
    outputs = {}
    for name, paths, labels in jobs:
        probs, feats, kept_labels = [], [], []
        for start in range(0, len(paths), chunk):
            # decode_paths returns the readable pictures already compacted: ``kept`` only
            # selects the matching labels.
            pixels, kept, _bad = decode_paths(paths[start:start + chunk], classifier.image_size)
            if kept:
                p, f = classifier.probabilities_and_features(pixels)
                probs.append(p)
                feats.append(np.asarray(f, np.float32))
                kept_labels.append(labels[start:start + chunk][kept])
            done += len(paths[start:start + chunk])
            if progress is not None:
                progress(done, total)
        if not probs:
            raise ValueError(f"none of the {name} pictures could be read")
        outputs[name] = (np.concatenate(probs), np.concatenate(feats), np.concatenate(kept_labels))
    _, train_feats, train_y = outputs["train"]
    val_probs, val_feats, val_y = outputs["validation"]
    return calibrate(train_feats, train_y, val_feats, val_probs, val_y, len(classifier.class_names),
                     feature_layer(classifier.model), seed)
