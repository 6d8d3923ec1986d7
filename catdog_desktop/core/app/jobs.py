"""The functions the app runs in worker threads. No Qt here: each takes a ``task`` object
(progress, yielded, should_stop, stopped_again, should_abandon; the UI's is ``ui.workers.Task``) and returns its
result, or raises :class:`~.errors.CancelledError` when stopped before it has one."""

from __future__ import annotations

import importlib
import logging
import os
import time
from pathlib import Path

from .. import fileops
from ..errors import CancelledError
from ..training.events import BatchEvent, EpochEvent, PhaseEvent, Reporter

log = logging.getLogger(__name__)

#: Example pictures per class on the Dataset tab, and their size (pixels per side).
DATASET_THUMBS = 4
DATASET_THUMB_SIZE = 56
#: A single classified picture is shown large; rows of many get small thumbnails.
PREVIEW_SIZE = 640
ROW_THUMB_SIZE = 48
#: Per-batch progress is sent at most this often (seconds): enough for a smooth bar.
BATCH_EVENT_INTERVAL = 0.1
#: Classified rows are sent together at most this often (seconds): 20,000 one-row signals would
#: keep the GUI thread busier than the classifying.
ROWS_EVENT_INTERVAL = 0.1


def warm_up(task) -> dict:
    """Import matplotlib (then say so: charts can be made) and TensorFlow; return versions."""
    # Imported for their own sake (loading them is the work), hence import_module, not unused names.
    for name in ("matplotlib.backends.backend_agg", "matplotlib.figure"):
        importlib.import_module(name)

    task.yielded("charts")
    started = time.perf_counter()
    import keras
    import tensorflow as tf

    for name in ("..classify.classifier", "..training.train"):
        importlib.import_module(name, __package__)
    log.info("TensorFlow %s loaded in %.1f s", tf.__version__, time.perf_counter() - started)
    return {"tensorflow": tf.__version__, "keras": keras.__version__}


def scan_folder(task, folder: str, validation_split: float, seed: int):
    """Scan a dataset folder and make a few thumbnails per class."""
    from ..data.dataset import scan_dataset
    from ..data.images import ImageDecodeError, thumbnail

    scan = scan_dataset(folder, validation_split=validation_split, seed=seed,
                        progress=task.progress, should_stop=task.should_stop)
    thumbs: dict[str, list] = {}
    for label, name in enumerate(scan.class_names):
        examples = [p for p, y in zip(scan.train.paths, scan.train.labels) if y == label][:DATASET_THUMBS]
        thumbs[name] = []
        for path in examples:
            try:
                thumbs[name].append(thumbnail(path, DATASET_THUMB_SIZE))
            except ImageDecodeError:
                continue
    return scan, thumbs


class _ForwardingReporter(Reporter):
    """Hands each training event to the worker as it is (batch events throttled)."""

    def __init__(self, task):
        self.task = task
        self.last_batch = 0.0

    def on_stage(self, event: PhaseEvent) -> None:
        self.task.yielded(event)

    def on_epoch_end(self, event: EpochEvent) -> None:
        self.task.yielded(event)

    def on_batch_end(self, event: BatchEvent) -> None:
        now = time.monotonic()
        if now - self.last_batch >= BATCH_EVENT_INTERVAL or event.batch == event.batches:
            self.last_batch = now
            self.task.yielded(event)

    def should_stop(self) -> bool:
        return self.task.should_stop()

    def should_skip_check(self) -> bool:
        return self.task.stopped_again()

    def should_abandon(self) -> bool:
        return self.task.should_abandon()


def train_model(task, config, scan, start_from: str | None = None):
    """Train on ``scan`` as it is split (see DatasetScan.resplit); returns TrainingResult. With
    ``start_from`` (a saved model's path), train on from that model (core.training.continued).

    The training runs in a child process (core.training.isolated): its memory is all given back when it
    ends, however many times the user trains.
    """
    from ..training import isolated

    return isolated.train_in_subprocess(config, scan, _ForwardingReporter(task), start_from=start_from)


def save_model(task, classifier, path: str):
    from ..model import storage

    saved = storage.save_bundle(classifier.model, classifier.metadata, path)
    if classifier.digest is None and classifier._engine is None:
        from ..model.engine import file_digest

        classifier.digest = file_digest(path)  # the file holds this very model: its conversion can be cached
    return saved


def load_model(task, path: str):
    from ..classify.classifier import Classifier

    # Here, off the GUI thread: the first picture is then quick; the fast runtime's conversion (a few
    # seconds, once per model: it is cached) goes on in the background.
    return Classifier.load(path).warm_up(background=True)


def classify(task, classifier, paths: list[str], fast: bool = False, other_data: str | None = None) -> int:
    """Classify files and folders; yields ClassifyStarted(n), then ClassifiedRows as results come
    (a few times a second, in order; a single picture's row carries its large preview); returns n.

    Rows of many pictures carry no thumbnails: the table asks for those of the rows on screen
    (:func:`thumbnails`), so 20,000 rows cost neither a second decode of every file nor the memory.

    ``fast``, for a folder: first prepare the model's int8 version (core.export.fast, with progress;
    checked on the folder the model was trained on, else on ``other_data``, the dataset open in the
    app) and yield its FastDecision, then classify with whichever model it chose.
    """
    from ..classify.results import ClassifiedRows, ClassifyStarted
    from ..data.dataset import scan_images
    from ..data.images import ImageDecodeError, thumbnail
    from ..classify.classifier import Prediction

    files, skipped = scan_images(paths, should_stop=task.should_stop)
    total = len(files) + len(skipped)
    task.yielded(ClassifyStarted(total))
    started = time.perf_counter()
    pending: list = []
    sent = [0, 0.0]  # rows sent, when

    def send(final: bool = False) -> None:
        now = time.perf_counter()
        if pending and (final or now - sent[1] >= ROWS_EVENT_INTERVAL or sent[0] == 0):
            thumb = None
            if total == 1 and pending[0].ok:
                try:
                    thumb = thumbnail(pending[0].path, PREVIEW_SIZE)
                except ImageDecodeError:
                    pass
            done = sent[0] + len(pending)
            rate = done / max(now - started, 1e-9)
            task.yielded(ClassifiedRows(sent[0], list(pending), done, total, rate, thumb))
            sent[:] = [done, now]
            pending.clear()

    def on_result(_index, prediction):
        pending.append(prediction)
        send()

    if fast and files and any(os.path.isdir(p) for p in paths):
        from ..export.fast import prepare_fast

        root = (classifier.metadata.get("dataset") or {}).get("root")
        data = None if root and os.path.isdir(root) else other_data
        decision, classifier = prepare_fast(classifier, data, progress=task.progress, should_stop=task.should_stop,
                                            how_to_give="open a folder of them on the Dataset tab")
        task.yielded(decision)
    classifier.predict_paths(files, on_result=on_result, should_stop=task.should_stop)
    # Files that are not pictures get a row of their own with the reason, after the pictures.
    if not task.should_stop():
        pending.extend(Prediction(path=path, error=reason) for path, reason in skipped)
    send(final=True)
    if task.should_stop():
        raise CancelledError("Classifying was stopped.")
    return total


def thumbnails(task, paths: list[str]) -> int:
    """Small thumbnails of ``paths`` (the rows on screen), yielded as Thumbnail(path, thumb or None)."""
    from ..classify.results import Thumbnail
    from ..data.images import ImageDecodeError, thumbnail

    for path in paths:
        if task.should_stop():
            raise CancelledError("Thumbnails are no longer needed.")
        try:
            thumb = thumbnail(path, ROW_THUMB_SIZE)
        except ImageDecodeError:
            thumb = None
        task.yielded(Thumbnail(path, thumb))
    return len(paths)


def export_csv(task, results, path: str, threshold: float | None = None):
    """Write ``results`` (core.classify.results.BatchResults) as CSV to ``path`` (the save dialog has asked
    about replacing it); returns the path."""
    return results.write_csv(path, force=True, threshold=threshold)


def sort_files(task, results, target: str, move: bool, threshold: float | None, sources: list[str]):
    """Copy or move the pictures of ``results`` into a folder per class (core.classify.sorting); returns the
    SortReport (also when stopped part-way: what was done is reported)."""
    from ..classify import sorting

    return sorting.sort_files(results.predictions, results.class_names, target, move=move, threshold=threshold,
                              sources=sources, progress=task.progress, should_stop=task.should_stop)


def undo_sort(task, target: str):
    """Undo the last sort into ``target``; returns (the UndoReport, whether an older sort is left
    there), or (None, False) when there was no sort to undo there. Other errors are raised (they
    may pass: the sort stays on offer to undo)."""
    from ..classify import sorting
    from ..errors import NothingToUndoError

    folder = os.path.abspath(os.path.expanduser(target))
    if not os.path.lexists(folder) and os.path.isdir(os.path.dirname(folder)):
        # Gone from a folder that is there: an undo elsewhere removed it once it had emptied it (a
        # missing parent is a drive not mounted: an error that may pass, so the undo stays on offer).
        return None, False
    try:
        report = sorting.undo_last_sort(target, progress=task.progress)
    except NothingToUndoError:
        return None, False
    return report, sorting.last_sort(target) is not None


def classify_image(task, classifier, image) -> int:
    """Classify a pasted picture given as (width, height, RGB bytes)."""
    from PIL import Image

    from ..classify.results import ClassifiedRows, ClassifyStarted

    width, height, data = image
    picture = Image.frombytes("RGB", (width, height), data)
    task.yielded(ClassifyStarted(1))
    prediction = classifier.predict_image(picture, path=None)
    preview = picture.copy()
    preview.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
    task.yielded(ClassifiedRows(0, [prediction], 1, 1, 0.0, (preview.width, preview.height, preview.tobytes())))
    return 1


#: The ways of showing where the model looked: "gradcam" (core.heatmaps.gradcam: the places of the last
#: convolutional block the answer was added up from; fast) and "occlusion" (core.heatmaps.occlusion: the parts
#: whose hiding changes the answer; one model call per place, and any model).
EXPLAIN_METHODS = ("gradcam", "occlusion")


def explain(task, classifier, path, class_index=None, method: str = "gradcam") -> dict:
    """Where the model looked in one picture, by ``method`` (one of EXPLAIN_METHODS). ``path``: a
    file, or a pasted picture as (width, height, RGB bytes). ``class_index``: the class to explain
    (default: the predicted one). Returns plain data (it crosses to the GUI thread through a signal):
    "overlay_rgb" (the picture at preview size with the heat drawn on it, as (width, height, RGB
    bytes)), "class_name", "class_index", "probability", "path", "method", and "found" (False when
    no part of the picture spoke for the class: the heat is zero everywhere). The heat itself is
    core.heatmaps.gradcam.heatmap's or core.heatmaps.occlusion.heatmap's.

    Raises gradcam.NothingToExplainError when Grad-CAM meets a model without convolutions,
    CatdogError for a file that cannot be read."""
    from PIL import Image

    from ..heatmaps import gradcam
    from ..heatmaps import occlusion
    from ..errors import CatdogError
    from ..data.images import ImageDecodeError, open_rgb, pixels_from_image

    if isinstance(path, tuple):
        width, height, data = path
        picture, name = Image.frombytes("RGB", (width, height), data), None
    else:
        name = str(path)
        try:
            picture = open_rgb(path, draft_size=PREVIEW_SIZE)
        except ImageDecodeError as exc:
            raise CatdogError(f"{Path(name).name}: {exc}.") from None
    pixels = pixels_from_image(picture, classifier.image_size)
    probabilities = classifier.probabilities(pixels)[0]
    index = int(probabilities.argmax()) if class_index is None else int(class_index)
    if method == "occlusion":
        heat = occlusion.heatmap(classifier, pixels, index, None if task is None else task.should_stop)
    elif method == "gradcam":
        heat = gradcam.heatmap(classifier, pixels, index)
    else:
        raise ValueError(f"Unknown way to show where the model looked: {method!r}.")
    if task is not None and task.should_stop():
        raise CancelledError("Stopped.")
    preview = picture.copy()
    preview.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
    shown = gradcam.overlay(preview, heat)
    return {
        "path": name, "overlay_rgb": (shown.width, shown.height, shown.tobytes()),
        "class_index": index, "class_name": classifier.class_names[index],
        "probability": float(probabilities[index]), "method": method,
        "found": bool(heat.max() > 0),  # False: no part of the picture spoke for the class
    }


def export_report(task, classifier, out_path: str, scan=None, overwrite: bool = True, name: str | None = None) -> str:
    """Write the HTML report (core.report) of ``classifier`` (called ``name`` in it), checked on
    ``scan``'s held-out pictures when given, with progress (done, total, message). Returns the path written."""
    from ..report.collect import collect
    from ..report.html import render, with_extension, write_report

    fileops.check_writable(with_extension(out_path), overwrite, "the report")  # before the long part
    data = collect(classifier, scan, progress=task.progress, should_stop=task.should_stop, name=name)
    if task.should_stop():
        raise CancelledError("The report was not written.")
    return str(write_report(render(data), out_path, overwrite=overwrite))


#: Gallery thumbnails: pixels per side, and how many are made (in parallel) before they are sent.
GALLERY_THUMB_SIZE = 112
GALLERY_THUMB_BATCH = 8


def make_thumbnails(task, requests, size: int = GALLERY_THUMB_SIZE) -> int:
    """Make the thumbnails a gallery asks for (core.app.thumbnails.ThumbnailRequests), newest request
    first, until stopped; yields a list of (path, (width, height, RGB bytes) or None) per batch.
    Returns how many were made. Runs for as long as the gallery may ask (it waits idle)."""
    from concurrent.futures import ThreadPoolExecutor

    from ..data.images import ImageDecodeError, thumbnail
    from ..data.pipeline import decode_workers

    def make(path: str):
        try:
            return path, thumbnail(path, size)
        except (ImageDecodeError, OSError):
            return path, None  # shown as "cannot be read"; the file may have been moved meanwhile

    made = 0
    with ThreadPoolExecutor(max_workers=min(4, decode_workers())) as pool:
        while not task.should_stop():
            paths = requests.take(GALLERY_THUMB_BATCH, timeout=0.1)
            if paths:
                task.yielded(list(pool.map(make, paths)))
                made += len(paths)
    return made


def evaluate_folder(task, classifier, folder: str):
    """Score ``classifier`` on ``folder`` (core.evaluate.evaluation.evaluate_folder): a FolderEvaluation."""
    from ..evaluate.evaluation import evaluate_folder as score

    return score(classifier, folder, progress=task.progress, should_stop=task.should_stop)


def picture_preview(task, path: str, size: int = PREVIEW_SIZE):
    """One picture for the large view: (width, height, RGB bytes), or None if it cannot be read."""
    from ..data.images import ImageDecodeError, thumbnail

    try:
        return thumbnail(path, size)
    except (ImageDecodeError, OSError):
        return None


def edit_pictures(task, editor, action: str, paths: list[str], class_name: str = "", undo_count: int = 1):
    """Change the dataset on disk with ``editor`` (core.data.edits.DatasetEditor): ``action`` "move" (to
    ``class_name``), "exclude" or "undo" (the last ``undo_count`` changes). Returns (done, failed):
    done is a list of (path as given, Edit) — for "undo", (the picture's path before, Edit) — and
    failed a list of (path, reason). One picture that cannot be moved does not stop the others;
    an undo stops at the first change that cannot be undone (undo goes newest first: the older
    changes wait until that one is undone; the editor's history says how many were consumed)."""
    from ..errors import CatdogError

    done, failed = [], []
    if action == "undo":
        for _ in range(undo_count):
            try:
                edit = editor.undo()
            except CatdogError as exc:
                failed.append(("", str(exc)))
                break
            if edit is None:
                break
            done.append((edit.source, edit))
        return done, failed
    for path in paths:
        try:
            edit = editor.move_to_class(path, class_name) if action == "move" else editor.exclude(path)
        except CatdogError as exc:
            failed.append((path, str(exc)))
        else:
            done.append((path, edit))
    return done, failed


def export_model(task, classifier, fmt: str, out: str, data_dir: str | None, force: bool):
    """Read the pictures for the parity check (``data_dir``, else the model's training folder, else
    generated ones), then export and check; returns the core.export.exporter.ExportResult."""
    from ..export import exporter as export

    task.progress(0, 1, "Reading pictures for the check")
    pictures = export.parity_pictures(classifier, data_dir, progress=task.progress, should_stop=task.should_stop)

    def step(done: int, total: int, message: str = "") -> None:
        # No step of the export reports progress of its own, and converting takes most of the time:
        # a bar at "1 of 4" sat at 25 % for it. Say the step, with a total of 0: busy, no share.
        if done < total:
            task.progress(done, 0, f"{message} (step {done + 1} of {total})")

    return export.export_model(classifier, fmt, out, parity=pictures, force=force,
                               progress=step, should_stop=task.should_stop)


def check_labels(task, folder: str, model_path: str | None = None):
    """Scan ``folder`` and list its likely label errors (core.evaluate.label_errors.LabelCheck); progress
    names each stage (reading the folder, computing features, checking labels)."""
    from ..data.dataset import scan_dataset
    from ..evaluate.label_errors import check_labels as check

    scan = scan_dataset(folder, progress=task.progress, should_stop=task.should_stop)
    scan.raise_for_errors()
    return check(scan, model_path, progress=task.progress, should_stop=task.should_stop)


# ----- the inbox (core.label): the app's Inbox tab runs these; the session is the tab's state
def open_inbox(task, inbox: str, dataset: str, model=None, top: int | None = None):
    """An InboxSession (core.label.inbox) of ``inbox`` and ``dataset`` with ``model`` (a Classifier, a
    .keras path, or None), prepared (features computed or read from the cache); without a model, its head
    is trained on the labelled pictures when two classes have some. Returns (the session, its first
    ``top`` suggestions)."""
    from ..label.inbox import InboxSession

    session = InboxSession(inbox, dataset, model)
    # The labelled pictures' features too: the counts, "unlike anything labelled", the first retraining.
    session.prepare(progress=task.progress, should_stop=task.should_stop, labelled=True)
    if session.classifier is None and len(session.labelled_counts) >= 2:
        session.retrain()
    return session, session.suggestions(top)


def retrain_inbox(task, session, top: int | None = None):
    """Retrain the session's classifier head on every labelled picture (seconds: cached features);
    returns (the Head, with its cross-checked accuracy for the chart, the new suggestions)."""
    head = session.retrain(progress=task.progress, should_stop=task.should_stop)
    return head, session.suggestions(top)


def undo_inbox(task, session):
    """Undo the session's newest labelling (one picture, or one accept-all: every picture checked and
    moved back); returns the UndoReport, or None when there is nothing to undo."""
    from ..errors import NothingToUndoError

    try:
        return session.undo()
    except NothingToUndoError:
        return None


def accept_inbox(task, session, plan):
    """Label every suggestion of ``plan`` (session.accept_plan: counted and confirmed first) with its
    class, as one step that one undo takes back; returns the LabelReport."""
    return session.accept(plan, progress=task.progress, should_stop=task.should_stop)


def save_inbox_model(task, session, path: str, force: bool = True) -> dict:
    """Save the model in use with the session's classifier trained again for the dataset's class
    folders as they are now (a class gained, lost or merged: core.label.grow), to ``path`` (the
    save dialog has asked about replacing it; never over the model in use). Returns plain data:
    path, class_names, source, gained, lost, changes (sentences), counts (labelled pictures per
    class), accuracy (cross-checked, or None), features_computed, features_cached, notes."""
    return session.save_model(path, force=force, progress=task.progress, should_stop=task.should_stop).to_dict()
