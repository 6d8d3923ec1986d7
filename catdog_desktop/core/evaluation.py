"""Evaluation on held-out pictures: accuracy, loss, confusion matrix, per-class scores, mistakes.

Only ever called on the test or validation split; training() never passes training pictures.
The figures are computed with NumPy from the predicted probabilities, so they do not depend on
how the model was compiled (label smoothing, class weights).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class ClassScores:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Mistake:
    path: str
    true_class: str
    predicted_class: str
    probabilities: dict[str, float]


@dataclass
class EvaluationResult:
    """Plain data (safe to send across threads, JSON-friendly through :meth:`to_dict`)."""

    split: str                      # "test" or "validation"
    count: int
    accuracy: float
    loss: float
    class_names: list[str]
    confusion: list[list[int]]      # rows: true class, columns: predicted class
    per_class: list[ClassScores]
    mistakes: list[Mistake] = field(default_factory=list)

    def to_dict(self, include_mistakes: bool = True) -> dict:
        data = asdict(self)
        if not include_mistakes:
            data["mistakes"] = len(self.mistakes)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "EvaluationResult":
        data = dict(data)
        data["per_class"] = [ClassScores(**c) for c in data.get("per_class", [])]
        mistakes = data.get("mistakes", [])
        data["mistakes"] = [Mistake(**m) for m in mistakes] if isinstance(mistakes, list) else []
        return cls(**data)


def probabilities_from_outputs(outputs: np.ndarray) -> np.ndarray:
    """Model outputs as an (n, classes) probability array (a sigmoid column becomes 2 columns)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        p = outputs[:, 0]
        return np.stack([1.0 - p, p], axis=1)
    return outputs


def evaluate_probabilities(
    probabilities: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    paths: list[str] | None = None,
    split: str = "validation",
) -> EvaluationResult:
    """Scores for predicted ``probabilities`` (n, classes) against true integer ``labels``."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    k = len(class_names)
    n = len(labels)
    predicted = probabilities.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    eps = 1e-7
    loss = float(-np.mean(np.log(np.clip(probabilities[np.arange(n), labels], eps, 1.0)))) if n else float("nan")
    accuracy = float(np.mean(predicted == labels)) if n else float("nan")
    per_class = []
    for i, name in enumerate(class_names):
        tp = confusion[i, i]
        predicted_i = confusion[:, i].sum()
        actual_i = confusion[i, :].sum()
        precision = float(tp / predicted_i) if predicted_i else 0.0
        recall = float(tp / actual_i) if actual_i else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(ClassScores(name, precision, recall, float(f1), int(actual_i)))
    mistakes = []
    if paths is not None:
        for i in np.flatnonzero(predicted != labels):
            mistakes.append(Mistake(
                path=paths[i],
                true_class=class_names[labels[i]],
                predicted_class=class_names[predicted[i]],
                probabilities={name: float(p) for name, p in zip(class_names, probabilities[i])},
            ))
        # Most confident mistakes first: those are the ones worth looking at.
        mistakes.sort(key=lambda m: -m.probabilities[m.predicted_class])
    return EvaluationResult(
        split=split, count=n, accuracy=accuracy, loss=loss, class_names=list(class_names),
        confusion=confusion.tolist(), per_class=per_class, mistakes=mistakes,
    )


def predict_probabilities(model, x: np.ndarray, batch_size: int = 64, flip_tta: bool = False) -> np.ndarray:
    """Class probabilities (n, classes) for uint8 pixels ``x``; ``flip_tta`` averages in the mirror image."""
    if len(x) == 0:
        return np.zeros((0, 0))
    probs = probabilities_from_outputs(model.predict(x, batch_size=batch_size, verbose=0))
    if flip_tta:
        probs = (probs + probabilities_from_outputs(model.predict(x[:, :, ::-1], batch_size=batch_size, verbose=0))) / 2
    return probs


def evaluate_model(model, x: np.ndarray, y: np.ndarray, class_names: list[str],
                   paths: list[str] | None = None, split: str = "validation",
                   batch_size: int = 64, flip_tta: bool = False) -> EvaluationResult:
    """Run ``model`` on held-out pixels and score it."""
    probs = predict_probabilities(model, x, batch_size, flip_tta)
    if len(x) == 0:
        probs = np.zeros((0, len(class_names)))
    return evaluate_probabilities(probs, y, class_names, paths, split)
