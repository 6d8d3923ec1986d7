"""What a cluster's workers run: plain functions of plain data, imported by name on each worker
(catdog-desktop is installed there too; core.cluster.connect checks it is the same version).

A worker keeps what it loaded (the backbone, a model) for the tasks that follow, so a job of
thousands of tasks loads each model once per worker. Models travel as their bytes
(:class:`ModelFile`, sent to each worker once): the workers need not see the client's files,
only the pictures, at the same paths (shared storage).
"""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data.images import ImageDecodeError, load_pixels, read_file
from ..errors import ClusterError
from ..data.pipeline import decode_workers
from ..model.engine import THREADS_ENV
from ..model.features import CHUNK, KEY_BYTES, key_of

#: Models (and backbones) a worker keeps loaded; older ones are dropped.
KEEP_LOADED = 2

_lock = threading.Lock()
_loaded: OrderedDict = OrderedDict()
_versions_checked = False


@dataclass(frozen=True)
class ModelFile:
    """A model file's name (its suffix says its format), sha256 and bytes."""

    name: str
    digest: str
    data: bytes

    @classmethod
    def read(cls, path: str | os.PathLike) -> "ModelFile":
        data = Path(path).expanduser().read_bytes()
        return cls(os.path.basename(path), hashlib.sha256(data).hexdigest(), data)


@dataclass(frozen=True)
class Converted:
    """A forward pass the client converted and checked for ONNX Runtime (core.model.engine), sent
    instead of the model: a worker runs it without loading TensorFlow (a 7 s import and the model's
    2 s load on one core, which on a small job cost more than the pictures). For a classifier, the
    model's metadata (class names, size, thresholds) and whether the second output is the features
    "none of these" compares."""

    onnx: bytes
    image_size: int
    digest: str
    metadata: dict | None = None
    novelty: bool = False


def _limit_threads() -> None:
    """Before anything heavy loads in this worker: its forward passes use the worker's threads,
    not every core of a machine it may share with other workers."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # not on a worker (called directly, e.g. in a test)
        return
    threads = str(getattr(getattr(worker, "state", None), "nthreads", None) or worker.nthreads)
    for name in (THREADS_ENV, "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(name, threads)


def check_versions(expected: dict | None) -> None:
    """Raise :class:`ClusterError` when this worker's versions differ from the client's ``expected``
    (core.cluster.connect.versions): also for workers that joined after the client checked them."""
    global _versions_checked
    if expected is None or _versions_checked:
        return
    from .connect import mismatch, versions

    problem = mismatch(_address(), versions(), expected)
    if problem:
        raise ClusterError(problem)
    _versions_checked = True


def _kept(key: tuple, make: Callable[[], object]):
    """What ``make()`` returns, made once per worker process for ``key``."""
    with _lock:
        if key not in _loaded:
            _limit_threads()
            _loaded[key] = make()
            while len(_loaded) > KEEP_LOADED:
                _loaded.popitem(last=False)
        _loaded.move_to_end(key)
        return _loaded[key]


def with_model_file(model: ModelFile, use: Callable[[str], object]):
    """``use(path)`` of a temporary copy of ``model``, removed afterwards (what was loaded stays)."""
    with tempfile.TemporaryDirectory(prefix="catdog-model-") as folder:
        path = os.path.join(folder, os.path.basename(model.name) or "model.keras")
        with open(path, "wb") as fh:
            fh.write(model.data)
        return use(path)


def _feature_source(model: ModelFile | Converted | None, size: int | None):
    """(extractor, cache namespace, feature width, input size) of the shipped backbone at ``size``
    (``model`` None, or its :class:`Converted` forward pass) or of ``model``'s own features
    (core.evaluate.label_errors.feature_source)."""
    from ..evaluate.label_errors import feature_source

    if isinstance(model, Converted):
        def converted():
            from ..config import TrainingConfig
            from ..model import backbone as backbones
            from ..model.engine import Engine
            from ..model.features import backbone_namespace

            name = TrainingConfig.backbone
            extractor = Engine.from_onnx(model.onnx, model.image_size, f"the {backbones.spec(name).label} backbone",
                                         probabilities_first=False)
            return (extractor, backbone_namespace(name, model.image_size), backbones.spec(name).feature_dim,
                    model.image_size)

        return _kept(("features", model.digest, model.image_size), converted)

    def make():
        extractor, cache, used_size, _ = (feature_source(None, size) if model is None else
                                          with_model_file(model, lambda path: feature_source(path, None)))
        return extractor, cache.namespace, int(cache.feature_shape[0]), used_size

    return _kept(("features", model.digest if model else None, size), make)


def feature_namespace(model: ModelFile | Converted | None, size: int | None,
                      expected: dict | None = None) -> tuple[str, int, int]:
    """(cache namespace, feature width, input size) of the features :func:`features` computes."""
    check_versions(expected)
    _extractor, namespace, width, used_size = _feature_source(model, size)
    return namespace, width, used_size


def _address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "this process"


def features(model: ModelFile | Converted | None, size: int | None, paths: list[str], mirror: bool,
             known: frozenset, job_size: int, expected: dict | None = None) -> dict:
    """The features of ``paths`` (and their mirror images with ``mirror``) whose content keys are
    not in ``known`` (17-byte cache keys the client holds already): a picture is read once, its
    key hashed from those bytes, and decoded only when needed, a chunk of :data:`CHUNK` at a time
    while threads read the next ones. Returns plain data: {namespace, keys (n * 17 bytes),
    features (n, width) float16, skipped [(path, reason)], unseen [paths this worker cannot see],
    computed, cached, runtime, worker}."""
    check_versions(expected)
    extractor, namespace, width, used_size = _feature_source(model, size)
    views = (0, 1) if mirror else (0,)
    extractor.prefer(job_size)

    def read(path: str):
        if not os.path.lexists(path):
            return "unseen", None
        try:
            data = read_file(path)
            key = key_of(data)
            if all(bytes([v]) + key in known for v in views):
                return "cached", None
            return key, load_pixels(path, used_size, data=data)
        except ImageDecodeError as exc:
            return "skipped", str(exc)

    keys: list[bytes] = []
    rows: list[np.ndarray] = []
    skipped, unseen, cached, computed = [], [], 0, 0
    pending: list[tuple[bytes, np.ndarray]] = []

    def run(batch: list[tuple[bytes, np.ndarray]]) -> None:
        x = np.stack([pixels for _, pixels in batch]).astype(np.float32)
        for v in views:
            out = extractor(x if v == 0 else x[:, :, ::-1])[0]
            keys.extend(bytes([v]) + key for key, _ in batch)
            rows.append(np.asarray(out, dtype=np.float16))

    with ThreadPoolExecutor(max_workers=decode_workers()) as pool:
        for path, (key, value) in zip(paths, pool.map(read, paths)):
            if key == "unseen":
                unseen.append(path)
            elif key == "cached":
                cached += 1
            elif key == "skipped":
                skipped.append((path, value))
            else:
                pending.append((key, value))
                if len(pending) == CHUNK:
                    run(pending)
                    computed += len(pending)
                    pending = []
    if pending:
        run(pending)
        computed += len(pending)
    # Keys in the order of the rows: for each batch, view 0 of every picture, then view 1.
    stacked = np.concatenate(rows) if rows else np.zeros((0, width), np.float16)
    assert len(keys) == len(stacked) and all(len(k) == KEY_BYTES for k in keys)
    return {"namespace": namespace, "keys": b"".join(keys), "features": stacked, "skipped": skipped,
            "unseen": unseen, "computed": computed, "cached": cached,
            "runtime": getattr(extractor, "runtime", "TensorFlow"), "worker": _address()}


def _classifier(model: ModelFile | Converted):
    if isinstance(model, Converted):
        return _kept(("converted", model.digest), lambda: _converted_classifier(model))
    from ..export.runtimes import load_classifier

    return _kept(("classifier", model.digest), lambda: with_model_file(model, load_classifier))


def _converted_classifier(model: Converted):
    """A core.classify.classifier.Classifier running ``model``'s conversion: the same decoding,
    batching, "not sure" and "none of these" as one computer's, with no Keras model behind it."""
    from ..classify.classifier import Classifier
    from ..model import calibration
    from ..model.engine import Engine

    class ConvertedClassifier(Classifier):
        @property
        def novelty(self):
            return self._converted_novelty

    metadata = dict(model.metadata or {})
    classifier = ConvertedClassifier(None, metadata["class_names"], model.image_size, metadata)
    classifier.digest = model.digest
    classifier._engine = Engine.from_onnx(model.onnx, model.image_size, "the model")
    classifier._converted_novelty = calibration.load_novelty(metadata) if model.novelty else None
    return classifier


def predict(model: ModelFile | Converted, threshold: float | None, paths: list[str], job_size: int,
            expected: dict | None = None) -> dict:
    """Classify ``paths`` as core.classify.classifier.Classifier.predict_paths does on one computer
    ("not sure" under ``threshold``, else the model's recorded one). Returns {predictions: [dicts of
    core.classify.prediction.Prediction], unseen [paths this worker cannot see], runtime, worker}."""
    check_versions(expected)
    kept = _classifier(model)
    _ = kept.novelty, kept.engine  # made once, on the kept classifier: every copy shares them
    # A copy with this job's threshold: the kept classifier may serve another job's task at the same time.
    classifier = copy.copy(kept)
    classifier.threshold_override = threshold
    unseen = [path for path in paths if not os.path.lexists(path)]
    predictions = classifier.predict_paths(paths, job_size=job_size)
    return {"predictions": [asdict(p) for p in predictions], "unseen": unseen,
            "runtime": getattr(getattr(classifier, "_engine", None), "runtime", type(classifier).__name__),
            "worker": _address()}
