"""The report's first half: what it shows, collected (it may take a while: run it in a worker).

What the model's file records (core.model.storage: dataset summary, settings, history, timings,
evaluation, versions) and, when pictures are given, what checking it on them shows (confusion
matrix, per-class scores, the most confident mistakes with where the model looked, likely label
errors), as :class:`ReportData`, plain data that ``report.html.render`` turns into the page.
"""


from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


from ..data.dataset import TRAINED_PICTURES
from ..errors import CancelledError, CatdogError
from .values import _listed, _mapping, _recorded_evaluation, _whole

log = logging.getLogger(__name__)

#: Mistakes shown with thumbnails and heatmaps (the most confident first).
TOP_MISTAKES = 12
#: Likely label errors listed; the first :data:`LABEL_THUMBS` with thumbnails.
TOP_LABEL_ERRORS = 30
LABEL_THUMBS = 12
#: Side of the thumbnails in the file (pixels): small enough that a report stays a few MB.
THUMB_SIZE = 160
#: Skipped files listed by name (the rest counted).
SKIPPED_LISTED = 20

ProgressFn = Callable[[int, int, str], None]


@dataclass
class ShownMistake:
    """A wrong answer as the report shows it: the picture, and where the model looked (PNG bytes)."""

    path: str
    true_class: str
    predicted_class: str
    probability: float
    picture_png: bytes | None = None
    heat_png: bytes | None = None
    error: str = ""   # why the picture or its heatmap could not be shown


@dataclass
class ReportData:
    """Everything a report shows; plain data (made in a worker, rendered anywhere)."""

    model_name: str
    class_names: list[str]
    image_size: int
    metadata: dict
    created: str
    #: The dataset summary: from the pictures given, else the one recorded when the model was trained.
    dataset: dict | None = None
    dataset_source: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: core.evaluate.evaluation.EvaluationResult: checked now on the pictures given, else the recorded one.
    evaluation: object | None = None
    evaluation_source: str = ""
    left_out: dict[str, int] = field(default_factory=dict)
    trained_left_out: int = 0  # pictures of the folder left out because the model trained on them
    mistakes: list[ShownMistake] = field(default_factory=list)
    mistakes_note: str = ""
    #: core.evaluate.label_errors.LabelCheck when the check ran, else None (and the note says why).
    label_check: object | None = None
    label_note: str = ""
    label_thumbs: dict[str, bytes] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    #: The model exists only in memory (trained just now): it was made with this report's libraries.
    unsaved: bool = False
    #: Shown under the title: which pictures the figures come from, and whether the model trained on them.
    pictures_note: str = ""


# ----- collecting ---------------------------------------------------------------------------------
def collect(classifier, scan=None, *, check_labels: bool = True, top_mistakes: int = TOP_MISTAKES,
            progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None,
            name: str | None = None) -> ReportData:
    """Gather what the report of ``classifier`` (core.classify.classifier.Classifier) shows.

    ``scan`` (core.data.dataset.DatasetScan, optional): pictures to check the model on now, which gives
    the mistakes and the label check. Without it the evaluation recorded in the model is shown.
    ``name``: how to call the model (the app's name for it, e.g. the built-in one); by default its
    file name. Raises CancelledError when ``should_stop()`` turns true.
    """
    from ..versions import library_versions

    stop = should_stop or (lambda: False)
    report = progress or (lambda done, total, message: None)
    meta = dict(_mapping(classifier.metadata))
    if classifier.path and "keras_version" not in meta:
        meta["keras_version"] = _keras_version_in(classifier.path)
    data = ReportData(
        model_name=name or (os.path.basename(classifier.path) if classifier.path else "the model trained just now"),
        class_names=list(classifier.class_names), image_size=classifier.image_size, metadata=meta,
        created=time.strftime("%Y-%m-%d %H:%M"), versions=library_versions(), unsaved=not classifier.path,
    )
    recorded = meta.get("evaluation")
    if scan is None:
        data.dataset = _mapping(meta.get("dataset"))
        data.dataset_source = "recorded when the model was trained"
        data.evaluation = _recorded_evaluation(recorded)
        if data.evaluation is not None:
            data.evaluation_source = _recorded_source(data.evaluation, recorded)
        data.mistakes_note = ("The pictures were not given, so the mistakes cannot be shown. Export the report "
                              "with the dataset folder open (or give it to the command: report MODEL DATA_DIR).")
        data.label_note = "Not run: the pictures were not given."
        data.pictures_note = ("No pictures were checked for this report: the figures are the ones recorded "
                              "when the model was trained.")
        return data

    from ..data.holdout import as_split_for

    data.dataset = as_split_for(scan, meta).summary()  # split as the model was: what is scored below
    data.dataset_source = f"the folder {scan.root}, as found now"
    data.pictures_note = _pictures_note(meta.get("dataset"), scan)
    data.skipped = list(scan.skipped)
    from ..evaluate.evaluation import NothingHeldOut

    try:
        scored = _evaluate(classifier, scan, report, stop)
    except NothingHeldOut as exc:  # it trained on every picture here: what it recorded is all there is
        data.evaluation = _recorded_evaluation(recorded)
        if data.evaluation is not None:
            data.evaluation_source = _recorded_source(data.evaluation, recorded)
        data.mistakes_note = data.pictures_note = str(exc)
        data.label_note = "Not run: the model trained on every picture of this folder."
        return data
    evaluation, data.left_out = scored.evaluation, scored.left_out
    data.trained_left_out = scored.trained_left_out
    data.skipped += [s for s in scored.skipped if s not in data.skipped]
    data.evaluation = evaluation
    data.evaluation_source = f"checked now on {_pictures(evaluation.count, evaluation.split)} of {scan.root}"
    data.mistakes = _show_mistakes(classifier, evaluation.mistakes[:top_mistakes], report, stop)
    if not evaluation.mistakes:
        data.mistakes_note = "No mistakes on these pictures."
    if check_labels:
        data.label_check, data.label_note = _check_labels(scan, meta, report, stop)
        if data.label_check is not None:
            data.label_thumbs = _thumbnails([i.path for i in data.label_check.issues[:LABEL_THUMBS]])
    else:
        data.label_note = "Not run (left out when the report was made)."
    return data


def _recorded_source(evaluation, recorded: dict) -> str:
    """Where a recorded evaluation's figures come from, in words."""
    if _whole(getattr(evaluation, "folds", 0)) and _whole(evaluation.count):
        return f"recorded when the model was trained: {evaluation.where()}"
    return f"recorded when the model was trained: {recorded.get('split', 'held-out')} pictures"


def _pictures_note(trained_on, scan) -> str:
    """Whether ``scan`` holds the pictures the model was trained on (its recorded dataset summary
    ``trained_on``), said so that nobody takes one dataset's scores for the other's training."""
    here = f"The scores and mistakes below come from checking the model now on the pictures in {scan.root}"
    trained_on = _mapping(trained_on)
    root = trained_on.get("root")
    if not root or not isinstance(root, str):
        return (f"{here}. Which pictures the model was trained on is not recorded, so these may or may not "
                "be its training pictures.")
    if _same_folder(root, scan.root) and _listed(trained_on.get("class_names")) == list(scan.class_names):
        if trained_on.get(TRAINED_PICTURES):
            return (f"{here}, the folder it was trained on (scored on every picture it never trained on: it "
                    "recorded which pictures it trained on).")
        return (f"{here}, the folder it was trained on (scored on the pictures held out from its training, "
                "as far as the folder has not changed).")
    total = sum(_whole(c) or 0 for key in ("train_counts", "validation_counts", "test_counts")
                for c in _listed(trained_on.get(key)))
    size = f" ({total:,} pictures)" if total else ""
    return (f"{here}. These are not the pictures it was trained on: it was trained on {root}{size}. "
            "“How it was trained” and “Learning curves” describe that training.")


def _same_folder(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError, ValueError):
        return a == b


def _pictures(count: int, split: str) -> str:
    """For example "20 validation pictures" or "all 200 pictures"."""
    return f"all {count:,} pictures" if split == "all" else f"{count:,} {split} pictures"


def _keras_version_in(path: str) -> str | None:
    """The Keras version a .keras file says it was saved with (its own metadata.json), or None."""
    import json
    import zipfile

    from ..model.storage import read_member

    try:  # read as little as the model's own description is allowed to be (no zip bomb)
        return json.loads(read_member(path, "metadata.json") or "{}").get("keras_version")
    except (OSError, KeyError, ValueError, AttributeError, zipfile.BadZipFile, CatdogError):
        return None


def _evaluate(classifier, scan, report, stop):
    """The model scored now on ``scan``'s held-out pictures, as the Evaluate tab scores a folder."""
    from ..evaluate.evaluation import evaluate_scan

    try:
        return evaluate_scan(classifier, scan, progress=report, should_stop=stop)
    except CancelledError:
        raise CancelledError("The report was not made.") from None


def _show_mistakes(classifier, mistakes, report, stop) -> list[ShownMistake]:
    """Thumbnails of ``mistakes`` with the heatmap of the (wrong) class the model chose."""
    from ..heatmaps import gradcam
    from ..data.images import ImageDecodeError, load_pixels, open_rgb

    shown = [ShownMistake(m.path, m.true_class, m.predicted_class, float(m.probabilities[m.predicted_class]))
             for m in mistakes]
    explainable = True
    for done, item in enumerate(shown):
        if stop():
            raise CancelledError("The report was not made.")
        report(done, len(shown), "Showing where the model looked")
        try:
            picture = open_rgb(item.path, draft_size=THUMB_SIZE)
            pixels = load_pixels(item.path, classifier.image_size)
        except ImageDecodeError as exc:
            item.error = str(exc)
            continue
        picture.thumbnail((THUMB_SIZE, THUMB_SIZE))
        item.picture_png = _png(picture)
        if not explainable:
            continue
        try:
            heat = gradcam.heatmap(classifier, pixels, classifier.class_names.index(item.predicted_class))
        except gradcam.NothingToExplainError as exc:
            explainable = False
            item.error = str(exc)
            continue
        item.heat_png = _png(gradcam.overlay(picture, heat))
    if shown:
        report(len(shown), len(shown), "Showing where the model looked")
    return shown


def _check_labels(scan, meta: dict, report, stop):
    """(LabelCheck, "") or (None, why it did not run)."""
    from ..evaluate import label_errors

    config = _mapping(meta.get("config"))
    size = _whole(config.get("image_size")) if config.get("backbone", "none") != "none" else None
    try:
        check = label_errors.check_labels(scan, progress=report, should_stop=stop,
                                          **({"image_size": size} if size else {}))
    except CancelledError:
        raise
    except CatdogError as exc:
        return None, f"Not run: {exc}"
    return check, ""


def _thumbnails(paths: list[str]) -> dict[str, bytes]:
    from ..data.images import ImageDecodeError, open_rgb

    thumbs = {}
    for path in paths:
        try:
            picture = open_rgb(path, draft_size=THUMB_SIZE)
        except ImageDecodeError:
            continue
        picture.thumbnail((THUMB_SIZE, THUMB_SIZE))
        thumbs[path] = _png(picture)
    return thumbs


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
