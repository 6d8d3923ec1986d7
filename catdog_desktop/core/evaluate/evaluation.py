"""Evaluation on held-out pictures: accuracy, loss, confusion matrix, per-class scores, mistakes.

Only ever called on the test or validation split; training() never passes training pictures.
The figures are computed with NumPy from the predicted probabilities, so they do not depend on
how the model was compiled (label smoothing, class weights).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import CancelledError, DatasetError

#: The ``split`` of an evaluation estimated by cross-validation (EvaluationResult.folds).
CROSS_VALIDATION = "cross-validation"


@dataclass
class ClassScores:
    name: str
    precision: float
    recall: float
    f1: float
    support: int

    def recall_text(self, decimals: int = 1) -> str:
        """The recall as a percentage, or "no pictures" when the class had none to find (not 0 %)."""
        return f"{self.recall:.{decimals}%}" if self.support else "no pictures"


@dataclass
class PictureResult:
    """One held-out picture as the model saw it: its folder's class, the model's answer and the
    probability of every class."""

    path: str
    true_class: str
    predicted_class: str
    probabilities: dict[str, float]

    @property
    def confidence(self) -> float:
        """The probability of the model's answer (for a mistake: how sure the wrong answer was)."""
        return float(self.probabilities.get(self.predicted_class, 0.0))

    @property
    def correct(self) -> bool:
        return self.true_class == self.predicted_class


#: The name older code and saved results use for a wrong answer; the same fields.
Mistake = PictureResult


def most_confident_first(results: list[PictureResult]) -> list[PictureResult]:
    """``results`` sorted by the probability of the model's answer, highest first (ties by path, so
    the order never changes between runs). For mistakes these are the likeliest label errors."""
    return sorted(results, key=lambda r: (-r.confidence, r.path))


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
    #: The wrong answers, most confident first.
    mistakes: list[PictureResult] = field(default_factory=list)
    #: Every picture's result, in the order evaluated (empty in results saved before it existed, and
    #: in a model's metadata, which stays small): what a click on any confusion-matrix cell shows.
    results: list[PictureResult] = field(default_factory=list)
    #: False when the user skipped the check (a second Stop): no figure above means anything.
    checked: bool = True
    #: Not 0: the figures are a cross-validation estimate (split CROSS_VALIDATION) in this many folds:
    #: each picture scored by a classifier that did not train on it, while the model trained on all.
    folds: int = 0

    def where(self) -> str:
        """Which pictures the figures come from, for a sentence: "on 200 test pictures", or
        "estimated by cross-validation on 60 pictures (5 folds)"."""
        pictures = f"{self.count:,} {'picture' if self.count == 1 else 'pictures'}"
        if self.folds:
            return f"estimated by cross-validation on {pictures} ({self.folds} folds)"
        return f"on {self.count:,} {self.split} {'picture' if self.count == 1 else 'pictures'}"

    @classmethod
    def unchecked(cls, split: str, class_names: list[str]) -> "EvaluationResult":
        """The evaluation of a model whose check on its held-out pictures was skipped."""
        k = len(class_names)
        return cls(split=split, count=0, accuracy=0.0, loss=0.0, class_names=list(class_names),
                   confusion=[[0] * k for _ in range(k)], per_class=[], checked=False)

    def to_dict(self, include_mistakes: bool = True, include_results: bool = True) -> dict:
        """JSON-friendly. ``include_mistakes=False`` keeps only counts of the pictures (for a model's
        metadata); ``include_results=False`` leaves out the right answers' list."""
        data = asdict(self)
        if not include_mistakes:
            data["mistakes"] = len(self.mistakes)
            data.pop("results")
        elif not include_results:
            data.pop("results")
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "EvaluationResult":
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["per_class"] = [ClassScores(**c) for c in data.get("per_class", [])]
        for key in ("mistakes", "results"):
            items = data.get(key, [])
            data[key] = [PictureResult(**m) for m in items] if isinstance(items, list) else []
        return cls(**data)

    def cell(self, true_class: str, predicted_class: str) -> list[PictureResult]:
        """The pictures of one confusion-matrix cell (row ``true_class``, column ``predicted_class``),
        most confident first. Results saved without :attr:`results` still give their mistakes."""
        pool = self.results or self.mistakes
        return most_confident_first([r for r in pool if r.true_class == true_class
                                     and r.predicted_class == predicted_class])

    @property
    def has_every_picture(self) -> bool:
        """Whether every picture's result is kept (then every cell, the diagonal too, can be shown)."""
        return len(self.results) == self.count


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
    results = []
    if paths is not None:
        results = [PictureResult(
            path=paths[i],
            true_class=class_names[labels[i]],
            predicted_class=class_names[predicted[i]],
            probabilities={name: float(p) for name, p in zip(class_names, probabilities[i])},
        ) for i in range(n)]
    # Most confident mistakes first: those are the ones worth looking at.
    mistakes = most_confident_first([r for r in results if not r.correct])
    return EvaluationResult(
        split=split, count=n, accuracy=accuracy, loss=loss, class_names=list(class_names),
        confusion=confusion.tolist(), per_class=per_class, mistakes=mistakes, results=results,
    )


def predict_probabilities(model, x: np.ndarray, batch_size: int = 64, flip_tta: bool = False) -> np.ndarray:
    """Class probabilities (n, classes) for uint8 pixels ``x``; ``flip_tta`` averages in the mirror image."""
    from ..classify.classifier import probabilities_from_outputs

    if len(x) == 0:
        return np.zeros((0, 0))
    from ..model.engine import Engine, run_all

    # The inference engine (core.model.engine): ONNX Runtime when enough pictures pay for converting.
    engine = Engine(lambda t: model(t, training=False), x.shape[1], None, "the trained model")
    engine.prefer(len(x) * (2 if flip_tta else 1))
    probs = probabilities_from_outputs(run_all(engine, x, batch_size)[0])
    if flip_tta:
        probs = (probs + probabilities_from_outputs(run_all(engine, x[:, :, ::-1], batch_size)[0])) / 2
    return probs


def evaluate_model(model, x: np.ndarray, y: np.ndarray, class_names: list[str],
                   paths: list[str] | None = None, split: str = "validation",
                   batch_size: int = 64, flip_tta: bool = False) -> EvaluationResult:
    """Run ``model`` on held-out pixels and score it."""
    probs = predict_probabilities(model, x, batch_size, flip_tta)
    if len(x) == 0:
        probs = np.zeros((0, len(class_names)))
    return evaluate_probabilities(probs, y, class_names, paths, split)


@dataclass
class FolderEvaluation:
    """A model scored on a folder of class sub-folders (:func:`evaluate_folder`)."""

    folder: str
    evaluation: EvaluationResult
    #: Pictures of classes the model does not know, left out: {class: pictures}.
    left_out: dict[str, int] = field(default_factory=dict)
    #: Files that could not be read: (path, reason).
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: The folder's class names (the move-to choices for its pictures).
    folder_classes: list[str] = field(default_factory=list)
    #: Pictures left out because the model trained on them (its record of them; see held_out).
    trained_left_out: int = 0

    def left_out_sentence(self, model_classes: list[str]) -> str:
        """One sentence about the pictures left out ("" when none were), the same in the app and the CLI."""
        said = []
        if self.trained_left_out:
            n = self.trained_left_out
            said.append(f"Left out: {n} {'picture' if n == 1 else 'pictures'} the model trained on.")
        if self.left_out:
            classes = ", ".join(f"{name} ({n})" for name, n in self.left_out.items())
            total = sum(self.left_out.values())
            said.append(f"Left out: {total} {'picture' if total == 1 else 'pictures'} of classes the model does "
                        f"not know: {classes}. The model knows: {', '.join(model_classes)}.")
        return " ".join(said)


#: Progress is reported every FOLDER_BATCH pictures when scoring a folder.
FOLDER_BATCH = 64


class NothingHeldOut(DatasetError):
    """The model trained on every picture of the folder it is to be scored on: none is left to check it on."""


def recorded_estimate(metadata: dict | None) -> EvaluationResult | None:
    """The cross-validation estimate a model recorded (it trained on every picture), or None."""
    data = (metadata or {}).get("cross_validation")
    try:
        estimate = EvaluationResult.from_dict(data) if isinstance(data, dict) else None
        if estimate is not None:
            return estimate if int(estimate.folds) > 0 and int(estimate.count) > 0 else None
    except (TypeError, ValueError, AttributeError):
        pass
    return None


def nothing_held_out_sentence(metadata: dict | None) -> str:
    """Why a model cannot be scored on the very folder it trained on, when it trained on all of it."""
    estimate = recorded_estimate(metadata)
    said = (f": when it was trained, its accuracy was {estimate.where()}: {float(estimate.accuracy):.1%}"
            if estimate is not None else "")
    return (f"The model trained on every picture of this folder, so none is left to check it on{said}. "
            "Add pictures it has not seen (or a test folder) to check it.")


def evaluate_folder(classifier, folder: str, strict: bool = False, progress=None, should_stop=None) -> FolderEvaluation:
    """Score ``classifier`` (core.classify.classifier.Classifier) on ``folder`` (one sub-folder per class, or
    train/test folders), keeping every picture's result.

    Pictures of classes the model does not know are left out and counted in ``left_out`` (with
    ``strict``, or when the model knows none of the classes, that is an error). Pictures are read a
    batch at a time, so memory stays small however large the folder. ``progress(done, total, text)``;
    ``should_stop()`` cancels with :class:`~.errors.CancelledError`. Raises
    :class:`~.errors.DatasetError` with a sentence for the user when the folder cannot be used.
    """
    from ..data.holdout import scan_as_recorded

    scan = scan_as_recorded(folder, (classifier.metadata or {}).get("dataset"), progress=progress,
                            should_stop=should_stop)
    return evaluate_scan(classifier, scan, strict, progress, should_stop)


def evaluate_scan(classifier, scan, strict: bool = False, progress=None, should_stop=None) -> FolderEvaluation:
    """:func:`evaluate_folder` on a folder already scanned (core.data.dataset.DatasetScan). For the folder
    the model was trained on, its validation pictures are those of the model's own share and seed,
    whatever the scan's."""
    from ..data.holdout import as_split_for, held_out, known_classes_only, with_test_only

    model_classes = list(classifier.class_names)
    folder = scan.root
    if not scan.class_names:
        reasons = " ".join(p.message for p in scan.errors)
        raise DatasetError(reasons or f"{folder} has no class sub-folders with pictures.")
    scan = as_split_for(scan, classifier.metadata)
    chosen = held_out(scan, classifier.metadata)
    split, name = chosen.split, chosen.name
    if not len(split) and (name == "validation" or chosen.trained_left_out):
        raise NothingHeldOut(nothing_held_out_sentence(classifier.metadata))
    folder_classes = list(scan.class_names)
    if name == "test" and scan.test_only:  # the test folder's classes that training lacks count too
        split, folder_classes, trained = with_test_only(split, scan, classifier.metadata)
        chosen.trained_left_out += trained
    unknown = sorted(set(folder_classes) - set(model_classes))
    if unknown and (strict or len(unknown) == len(folder_classes)):
        raise DatasetError(f"The folder has classes the model does not know: {', '.join(unknown)}. "
                           f"The model knows: {', '.join(model_classes)}.")
    split, left_out = known_classes_only(split, folder_classes, model_classes)
    total = len(split)
    message = f"Checking the model on {total} {'picture' if total == 1 else 'pictures'}"

    def on_result(index: int, _prediction) -> None:
        if progress is not None and ((index + 1) % FOLDER_BATCH == 0 or index + 1 == total):
            progress(index + 1, total, message)

    predictions = classifier.predict_paths(split.paths, on_result=on_result, should_stop=should_stop)
    if should_stop is not None and should_stop():
        raise CancelledError("The evaluation was stopped.")
    good = [i for i, p in enumerate(predictions) if p.ok]
    skipped = list(scan.skipped) + [(p.path, p.error) for p in predictions if not p.ok]
    if not good:
        raise DatasetError("None of the pictures could be read." if total else
                           "There are no pictures of the classes the model knows in this folder.")
    probabilities = np.array([[predictions[i].probabilities[c] for c in model_classes] for i in good])
    labels = np.array([model_classes.index(folder_classes[split.labels[i]]) for i in good])
    evaluation = evaluate_probabilities(probabilities, labels, model_classes, [split.paths[i] for i in good], name)
    return FolderEvaluation(folder=scan.root, evaluation=evaluation, left_out=left_out, skipped=skipped,
                            folder_classes=folder_classes, trained_left_out=chosen.trained_left_out)
