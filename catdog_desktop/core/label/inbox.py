"""The inbox: a folder of unlabelled pictures beside a dataset folder, labelled with a model's help.

:class:`InboxSession` is what the app's worker and the CLI hold: plain data in and out, no Qt.

* :meth:`InboxSession.prepare` (slow: a worker thread) finds the inbox's pictures (any depth) and
  computes their features, and the model's probabilities, once; both are cached on disk by file
  content (core.model.features), so opening the same inbox again is quick.
* :meth:`~InboxSession.suggestions` ranks them (core.label.choose), in a fraction of a second.
* :meth:`~InboxSession.label`, :meth:`~InboxSession.accept`, :meth:`~InboxSession.undo` move
  pictures into the dataset and back (core.label.moves: journaled, never overwriting, one undo per
  call); the session moves each picture's features along, so nothing is computed again.
* :meth:`~InboxSession.retrain` fits the classifier head on the labelled pictures' features
  (core.label.head: a second or so) and the suggestions come from it from then on.
* :meth:`~InboxSession.save_model` saves the model in use with that head as its classifier, for
  the dataset's class folders as they are now (core.label.grow: a class added, removed or merged).

Features live in one space per session: the model's feature layer (the layer its last layer
reads) when a model is given, else the bundled pretrained backbone's (the training's own cache).
Without a model and with fewer than two labelled classes, the suggestions spread over the pile
with no class suggested.

Threads: the app runs ``prepare`` first, in a worker, and waits for it; afterwards ``retrain``
(and its ``suggestions``) run in a worker while the window goes on labelling (``label``, ``undo``):
a lock keeps each of them seeing the labelled set whole, before or after a label, never half-moved.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..classify.classifier import Classifier, probabilities_from_outputs
from ..classify.sorting import UndoReport
from ..data.dataset import scan_images
from ..errors import CatdogError, DatasetError
from ..evaluate.label_errors import feature_source
from ..model import calibration
from ..model.engine import Engine, file_digest
from ..model.features import FEATURE_VERSION, FeatureCache, compute_features, content_key, default_cache_dir
from ..wording import count
from . import grow, moves
from .choose import Suggestion, rank
from .head import Head, train_head

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]
StopFn = Callable[[], bool]


@dataclass
class _Picture:
    features: np.ndarray             # (d,) float16
    outputs: np.ndarray | None       # the model's probabilities (k,), None without a model


class InboxSession:
    """One inbox folder and one dataset folder; ``model``: a Classifier, a .keras path, or None.
    ``inbox`` None: the dataset alone (to retrain and save the model, :meth:`save_model`)."""

    def __init__(self, inbox: str | os.PathLike | None, dataset: str | os.PathLike,
                 model: Classifier | str | os.PathLike | None = None, image_size: int | None = None):
        moves.check_folders(inbox, dataset)
        self.inbox = str(inbox) if inbox is not None else None
        self.dataset = str(dataset)
        if model is not None and not isinstance(model, Classifier):
            model = Classifier.load(model)
        self.classifier: Classifier | None = model
        self.image_size = image_size
        #: The head retrained on the labelled pictures (None until :meth:`retrain`): suggestions come from it.
        self.head: Head | None = None
        self.skipped: list[tuple[str, str]] = []          # inbox files that are not usable pictures
        self._inbox: dict[str, _Picture] = {}
        self._labelled: dict[str, tuple[str, np.ndarray]] | None = None   # path -> (class, features)
        self._moved_back: dict[str, _Picture] = {}       # labelled this session: dataset path -> as in the inbox
        self._held_out: tuple[list[str], np.ndarray] | None = None   # test pictures: (classes, features)
        #: How often the head is right on the dataset's test (or validation) folder, which no label goes
        #: to: (accuracy, pictures, folder name); None for a plain class-folder dataset.
        self.held_out: tuple[float, int, str] | None = None
        self._extractor = None
        self._lock = threading.RLock()
        #: Pictures whose features were computed (not found in the cache) by this session.
        self.features_computed = 0

    # -- the slow part ------------------------------------------------------------------------
    def prepare(self, progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                labelled: bool | None = None) -> None:
        """Find the inbox's pictures and compute their features (and probabilities); with
        ``labelled`` (default: without a model only) the dataset's too, which :meth:`retrain` and
        "unlike anything labelled so far" need. CancelledError on ``should_stop``."""
        paths, self.skipped = scan_images([self.inbox] if self.inbox else [], should_stop=should_stop)
        found = self._compute(paths, progress, should_stop, "Reading the inbox")
        self.skipped += found[1]
        self._inbox = found[0]
        if labelled if labelled is not None else self.classifier is None:
            self.load_labelled(progress, should_stop)
        log.info("inbox %s: %d pictures, %d skipped", self.inbox, len(self._inbox), len(self.skipped))

    def load_labelled(self, progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> None:
        """The features of every picture in the dataset's class folders (cached: quick after a training).
        Called again, it catches up with the folders as they are now: pictures added, moved between class
        folders or removed by hand, and class folders made or removed by hand; only the pictures it has
        not seen yet are read (their features come from the cache when a training has computed them)."""
        root = moves.labels_folder(self.dataset)
        found_classes: dict[str, str] = {}
        for name in moves.class_folders(self.dataset):
            found, _skipped = scan_images([root / name], should_stop=should_stop)
            found_classes.update((path, name) for path in found)
        with self._lock:
            known = dict(self._labelled or {})
        new = [p for p in found_classes if p not in known]
        computed, _skipped = self._compute(new, progress, should_stop, "Reading the labelled pictures")
        with self._lock:
            current = self._labelled or {}
            labelled = {}
            for p, name in found_classes.items():
                if p in computed and os.path.exists(p):   # not undone while it was read
                    labelled[p] = (name, computed[p].features)
                elif p in current or (p in known and os.path.exists(p)):   # not undone meanwhile
                    labelled[p] = (name, (current.get(p) or known[p])[1])
            # Labelled by the window while this ran: in their folders now, after the scan.
            labelled.update((p, entry) for p, entry in current.items() if p not in labelled and os.path.exists(p))
            self._labelled = labelled

    def _compute(self, paths, progress, should_stop, message) -> tuple[dict[str, _Picture], list[tuple[str, str]]]:
        extractor, caches, size = self._feature_source()

        def on_progress(done: int, total: int) -> None:
            if progress is not None:
                progress(done, total, message)

        found = compute_features(extractor, paths, [0] * len(paths), size, caches, mirror=False,
                                 progress=on_progress, should_stop=should_stop)
        self.features_computed += found.computed
        if self.classifier is None:
            pictures = {p: _Picture(found.features[i, 0], None) for i, p in enumerate(found.paths)}
        else:  # (outputs, features): see _feature_source
            probabilities = probabilities_from_outputs(found.features[:, 0].astype(np.float32))
            pictures = {p: _Picture(found.mid[i, 0], probabilities[i]) for i, p in enumerate(found.paths)}
        return pictures, found.skipped

    def _feature_source(self):
        """(extractor, caches, input size): the backbone's features, or the model's outputs and features."""
        if self._extractor is not None:
            return self._extractor
        if self.classifier is None:
            extractor, cache, size, _words = feature_source(None, self.image_size)
            self._extractor = (extractor, [cache], size)
            return self._extractor
        classifier = self.classifier
        if classifier.model is None:
            raise CatdogError("The inbox needs a .keras model (an exported .tflite or .onnx file has no features to "
                              "compare pictures by).")
        both = calibration.feature_model(classifier.model)
        dim, outputs = int(both.outputs[1].shape[-1]), int(both.outputs[0].shape[-1])
        size = classifier.image_size
        digest = classifier.digest[:16] if classifier.digest else None
        caches = _model_caches(digest, size, outputs, dim)
        extractor = Engine(lambda x: both(x, training=False), size, f"outputs+features|{digest}" if digest else None,
                           f"{os.path.basename(classifier.path or 'the model')}'s outputs and features")
        self._extractor = (extractor, caches, size)
        return self._extractor

    # -- what the user sees -------------------------------------------------------------------
    @property
    def pictures(self) -> list[str]:
        """The inbox pictures not labelled yet."""
        return list(self._inbox)

    @property
    def class_names(self) -> list[str]:
        """The classes a picture can be given: the dataset's class folders, then the model's others."""
        names = moves.class_folders(self.dataset)
        if self.head is not None:
            names += [n for n in self.head.class_names if n not in names]
        elif self.classifier is not None:
            names += [n for n in self.classifier.class_names if n not in names]
        return names

    @property
    def labelled_counts(self) -> dict[str, int]:
        """Labelled pictures per class (empty until the labelled pictures' features are loaded)."""
        counts: dict[str, int] = {}
        with self._lock:
            entries = list((self._labelled or {}).values())
        for name, _features in entries:
            counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def source(self) -> str:
        """Where the suggestions come from, in words."""
        if self.head is not None:
            how = f", {self.head.accuracy:.0%} right when cross-checked" if self.head.accuracy is not None else ""
            return f"a classifier trained just now on {count(self.head.trained_on, 'labelled picture')}{how}"
        if self.classifier is not None:
            return os.path.basename(self.classifier.path) if self.classifier.path else "the model"
        return "no model: pictures spread across the inbox, no class suggested"

    def suggestions(self, top: int | None = None) -> list[Suggestion]:
        """The inbox pictures in the order to label them (the first ``top``), each with its reason."""
        with self._lock:
            pictures = dict(self._inbox)
            head = self.head
            labelled = (np.stack([f for _c, f in self._labelled.values()]).astype(np.float32)
                        if self._labelled else None)
        paths = list(pictures)
        if not paths:
            return []
        features = np.stack([pictures[p].features for p in paths]).astype(np.float32)
        probabilities = unfamiliar = None
        names = None
        if head is not None:
            probabilities, names = head.probabilities(features), head.class_names
        elif self.classifier is not None:
            probabilities = np.stack([pictures[p].outputs for p in paths])
            names = self.classifier.class_names
            novelty = self.classifier.novelty
            if novelty is not None and novelty.layer == calibration.feature_layer(self.classifier.model):
                unfamiliar = novelty.unfamiliar(features)
        return rank(paths, features, probabilities, names, unfamiliar, labelled, top)

    # -- labelling ----------------------------------------------------------------------------
    def label(self, path: str, class_name: str, shown: Suggestion | None = None,
              new_class: bool = False) -> moves.LabelReport:
        """Move one picture into the dataset as ``class_name`` (one undo step). ``shown``: the
        suggestion as it was shown (the picture must not have changed since). LabelError says why not."""
        request = moves.LabelRequest(path, class_name, *(_seen(shown) if shown is not None else (-1, -1)))
        report = moves.label_pictures([request], self.dataset, new_class=new_class)
        self._moved(report)
        with self._lock:   # gone from the inbox since it was read: not offered again
            for gone, _why in report.refused:
                if not os.path.lexists(gone):
                    self._inbox.pop(gone, None)
        if report.refused:
            raise moves.LabelError(report.refused[0][1])
        return report

    def accept_plan(self, threshold: float, suggestions: list[Suggestion] | None = None) -> list[Suggestion]:
        """The suggestions "accept all above ``threshold`` sure" would label (count them before
        :meth:`accept`): a class suggested at least that surely, and not "none of these"."""
        if not 0.0 <= threshold <= 1.0:
            raise CatdogError(f"{threshold:g} is not a probability: give a number from 0 to 1.")
        suggestions = self.suggestions() if suggestions is None else suggestions
        return [s for s in suggestions if s.suggestion is not None and not s.unfamiliar
                and s.probability is not None and s.probability >= threshold]

    def accept(self, plan: list[Suggestion], progress: ProgressFn | None = None,
               should_stop: StopFn | None = None) -> moves.LabelReport:
        """Label each of ``plan`` (from :meth:`accept_plan`) with its suggestion: one undo for all."""
        requests = [moves.LabelRequest(s.path, s.suggestion, *_seen(s)) for s in plan if s.suggestion]
        report = moves.label_pictures(requests, self.dataset, new_class=True, progress=progress,
                                      should_stop=should_stop)
        self._moved(report)
        return report

    def undo(self) -> UndoReport:
        """Undo the newest labelling (one picture, or one accept-all): back into the inbox."""
        report = moves.undo_last_label(self.dataset)
        with self._lock:
            self._carry_back(report)
        return report

    def _carry_back(self, report: UndoReport) -> None:
        for was, now in report.restored:
            entry = (self._labelled or {}).pop(was, None)
            picture = self._moved_back.pop(was, None)
            if picture is None and entry is not None:
                picture = _Picture(entry[1], None)
            if picture is not None and self.inbox and _inside(now, self.inbox):
                self._inbox[now] = picture

    def _moved(self, report: moves.LabelReport) -> None:
        """Carry each labelled picture's features from the inbox to the labelled set."""
        with self._lock:
            self._carry(report)

    def _carry(self, report: moves.LabelReport) -> None:
        for src, dst in report.placed:
            picture = self._inbox.pop(src, None)
            if picture is None:
                continue
            self._moved_back[dst] = picture
            if self._labelled is not None:
                self._labelled[dst] = (os.path.basename(os.path.dirname(dst)), picture.features)

    # -- learning -----------------------------------------------------------------------------
    def retrain(self, progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> Head:
        """Fit the classifier head on every labelled picture's features (seconds; the features come
        from the cache); the suggestions come from it from now on. CatdogError when fewer than two
        classes have a labelled picture."""
        self.load_labelled(progress, should_stop)   # and what changed in the folders by hand meanwhile
        with self._lock:
            classes = [c for c, _f in self._labelled.values()]
            features = np.stack([f for _c, f in self._labelled.values()]).astype(np.float32) if classes else None
        if features is None:
            raise DatasetError(f"There are no labelled pictures in {self.dataset} yet: label a few of each class first.")
        self.head = train_head(features, classes, sorted(set(classes)))
        self.held_out = self._score_held_out(self.head, progress, should_stop)
        log.info("head retrained on %d pictures in %.2f s (accuracy %s)", self.head.trained_on, self.head.seconds,
                 self.head.accuracy)
        return self.head

    def save_model(self, path: str | os.PathLike, force: bool = False, progress: ProgressFn | None = None,
                   should_stop: StopFn | None = None) -> grow.UpdatedModel:
        """Save the model in use, its classifier trained again for the dataset's class folders as they
        are now (a folder added by hand or by "new class" is a class gained, a folder removed a class
        lost, two merged into one folder one class), to ``path`` (not over a file there unless
        ``force``; never over the model in use). The labelled pictures are read again, their features
        from the cache (only pictures new to it go through the model). CatdogError says why not."""
        if self.classifier is None:
            raise CatdogError("There is no model to update: open a model first (its classes are what change).")
        grow.check_model(self.classifier)
        out = grow.check_destination(path, self.classifier, force)
        grow.check_dataset(self.dataset)
        before = self.features_computed
        self.load_labelled(progress, should_stop)   # the folders as they are now, made or removed by hand too
        grow.check_classes(self.dataset, self.labelled_counts)
        with self._lock:
            labelled = dict(self._labelled)
        paths = list(labelled)
        classes = [labelled[p][0] for p in paths]
        features = np.stack([labelled[p][1] for p in paths]).astype(np.float32)
        # The head as retrain() fits it; its accuracy comes from the cross-check the calibration needs anyway.
        # Not the session's head: a retrain may be running, and the suggestions stay the retrained one's.
        head = train_head(features, classes, sorted(set(classes)), estimate=False)
        updated = grow.save_updated(self.classifier, head, features, classes, paths, self.dataset, out,
                                    computed=self.features_computed - before)
        try:
            self._cache_for(updated.path, head)
        except Exception:  # noqa: BLE001 - the cache only saves time; the model is saved regardless
            log.warning("the updated model's features were not cached", exc_info=True)
        return updated

    def _cache_for(self, path: str, head: Head) -> None:
        """Copy the cached features of every picture this session knows to the cache of the model just
        saved at ``path``, with its outputs (``head``'s answers on them): its layers up to the features
        are the model in use's, so they are its features too, and the inbox opened with it (or the
        next class added to it) computes none of them again."""
        digest = file_digest(path)
        _extractor, (_outputs, features_cache), size = self._feature_source()
        keys, features = [], []
        with self._lock:
            pictures = [*(self._labelled or {}), *self._inbox]
        for picture in pictures:
            key = content_key(picture)
            cached = features_cache.get(b"\0" + key) if key is not None else None
            if cached is not None:   # a file changed since its features were computed is left out
                keys.append(b"\0" + key)
                features.append(cached)
        if not digest or not keys:
            return
        features = np.stack(features)
        outputs = head.probabilities(features.astype(np.float32))
        outputs = outputs[:, 1:] if outputs.shape[1] == 2 else outputs   # a sigmoid's one column for two classes
        caches = _model_caches(digest[:16], size, outputs.shape[1], features.shape[1])
        caches[0].put_many(keys, outputs.astype(np.float16))
        caches[1].put_many(keys, features)

    def _score_held_out(self, head: Head, progress, should_stop) -> tuple[float, int, str] | None:
        """The head's accuracy on the held-out folder's pictures of the classes it knows (their
        features read once, the first time)."""
        folder = moves.held_out_folder(self.dataset)
        if folder is None:
            return None
        if self._held_out is None:
            paths, classes = [], []
            for name in sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")):
                found, _skipped = scan_images([folder / name], should_stop=should_stop)
                paths += found
                classes += [name] * len(found)
            computed, _skipped = self._compute(paths, progress, should_stop, f"Reading the {folder.name} pictures")
            by_path = dict(zip(paths, classes))
            kept = [p for p in paths if p in computed]
            self._held_out = ([by_path[p] for p in kept],
                              np.stack([computed[p].features for p in kept]) if kept else np.zeros((0, 0)))
        classes, features = self._held_out
        known = [i for i, c in enumerate(classes) if c in head.class_names]
        if not known:
            return None
        predicted = head.probabilities(features[known].astype(np.float32)).argmax(axis=1)
        right = sum(head.class_names[k] == classes[i] for k, i in zip(predicted, known))
        return right / len(known), len(known), folder.name


def _model_caches(digest: str | None, size: int, outputs: int, dim: int) -> list[FeatureCache]:
    """The caches of a model's outputs and features, by the model file's digest (None: memory only)."""
    folder = default_cache_dir() if digest else None
    # The features' namespace is the label check's (core.evaluate.label_errors): they share the cache.
    return [FeatureCache(folder, f"model-{digest}-outputs-{size}px-v{FEATURE_VERSION}", (outputs,)),
            FeatureCache(folder, f"model-{digest}-{size}px-v{FEATURE_VERSION}", (dim,))]


def _inside(path: str, folder: str) -> bool:
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, ValueError):
        return False


def _seen(suggestion: Suggestion) -> tuple[int, int]:
    return suggestion.size, suggestion.mtime_ns
