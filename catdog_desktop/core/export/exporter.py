"""Export a model to TFLite, SavedModel or ONNX, and prove the export agrees with the app.

Every export is checked in its own runtime (core.export.runtimes): the same pictures go through the
exported file and through the app's Keras model, and the result records how often the top class
agrees and the largest difference of a probability. A float export must agree on at least
:data:`FLOAT_AGREEMENT` of the pictures with probabilities within :data:`FLOAT_MAX_DIFFERENCE`,
or it is reported as failed; a quantised one reports its real agreement and accuracy.

The pictures are the held-out pictures of the model's dataset (its test folder, or the validation
share of the folder it was trained on), any folder given, or, when none is available, generated
pictures: still a fair test of agreement, not of accuracy. The model card says which.

Writing is atomic: the export is made under a temporary name beside its destination (a folder
for a SavedModel), checked, and renamed into place; an existing file or folder is only replaced
when the caller says so (``force``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import fileops
from ..fileops import os_reason
from ..errors import CancelledError, DatasetError, ExportError, first_line
from .formats import FLOAT_AGREEMENT, FLOAT_MAX_DIFFERENCE, FORMATS, ExportFormat, ExportResult
from .runtimes import SIDECAR_JSON_IN_FOLDER, open_new_export, sidecar_paths
from .model_card import export_metadata, model_card
from ..safe_text import ESCAPE_ERRORS

log = logging.getLogger(__name__)

#: Pictures checked at most (balanced over the classes); enough to see a 0.5 % disagreement.
PARITY_LIMIT = 500
#: Training pictures that calibrate the full-integer quantisation's value ranges.
CALIBRATION_PICTURES = 100
#: Generated pictures when no real ones are available.
GENERATED_PICTURES = 64
_BATCH = 32


ProgressFn = Callable[[int, int, str], None]
StopFn = Callable[[], bool]


@dataclass
class ParityPictures:
    """The pictures an export is checked on. ``labels`` index the model's classes (None: unknown,
    e.g. generated pictures); ``calibration`` are training pictures for int8 quantisation."""

    pixels: np.ndarray
    labels: np.ndarray | None
    source: str
    calibration: np.ndarray | None = None

    @property
    def real(self) -> bool:
        return self.labels is not None


# ----- pictures for the parity check -----------------------------------------------------------

def parity_pictures(classifier, data_dir: str | os.PathLike | None = None, limit: int = PARITY_LIMIT,
                    progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> ParityPictures:
    """The pictures to check an export of ``classifier`` on: from ``data_dir`` when given (an error
    if unusable); else from the folder the model was trained on, if it is still there; else generated."""
    if data_dir is not None:
        return pictures_from_folder(data_dir, classifier, limit, progress, should_stop)
    root = (classifier.metadata.get("dataset") or {}).get("root")
    if root and os.path.isdir(root):
        try:
            return pictures_from_folder(root, classifier, limit, progress, should_stop)
        except DatasetError as exc:
            log.info("training folder %s not usable for the parity check: %s", root, exc)
    return generated_pictures(classifier.image_size, note="no folder of labelled pictures was available")


def pictures_from_folder(folder: str | os.PathLike, classifier, limit: int = PARITY_LIMIT,
                         progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> ParityPictures:
    """Held-out pictures of ``folder`` (class sub-folders, as for evaluate): its test folder; else,
    for the folder the model was trained on, its validation share; else all its pictures.
    At most ``limit``, taken evenly over the classes. Raises DatasetError when none can be used."""
    from ..data.dataset import Split
    from ..data.holdout import held_out, scan_as_recorded
    from ..data.pipeline import decode_paths

    scan = scan_as_recorded(folder, classifier.metadata.get("dataset"), should_stop=should_stop)
    names = classifier.class_names
    if not set(scan.class_names) & set(names):
        found = ", ".join(scan.class_names[:8]) + (", …" if len(scan.class_names) > 8 else "")
        raise DatasetError(f"{folder} has none of the model's classes ({', '.join(names)}); "
                           f"it has: {found or 'no class folders'}.")
    chosen_split = held_out(scan, classifier.metadata)
    split, which = chosen_split.split, chosen_split.name
    # A model that trained on every picture here (core.training.few) has none held out: its pictures
    # still test whether the export answers as the model does, never how often it is right.
    trained_only = not len(split) and (which == "validation" or chosen_split.trained_left_out > 0)
    if trained_only:
        split = Split(scan.train.paths + scan.validation.paths, scan.train.labels + scan.validation.labels)
    chosen = _balanced([(p, names.index(scan.class_names[y])) for p, y in zip(split.paths, split.labels)
                        if scan.class_names[y] in names], limit)
    if not chosen:
        raise DatasetError(f"{folder} has no pictures of the model's classes to check the export on.")
    pixels, kept, _ = decode_paths([p for p, _ in chosen], classifier.image_size, progress, should_stop,
                                   "pictures for the check")
    if not kept:
        raise DatasetError(f"None of the pictures in {folder} could be read.")
    labels = np.asarray([chosen[i][1] for i in kept], dtype=np.int64)
    calibration = None
    held_out = set(split.paths)  # every picture of a folder the model did not train on is held out: none
    train = _balanced([(p, y) for p, y in zip(scan.train.paths, scan.train.labels) if p not in held_out],
                      CALIBRATION_PICTURES)
    if train:
        calibration, _, _ = decode_paths([p for p, _ in train], classifier.image_size, None, should_stop)
    if trained_only:
        return ParityPictures(pixels, None, f"{len(kept)} pictures of {scan.root}, all of which the model trained "
                              "on: they test agreement, not accuracy", pixels if calibration is None else calibration)
    where = {"test": "test pictures", "validation": "validation pictures (held out from training)",
             "all": "pictures"}[which]
    return ParityPictures(pixels, labels, f"{len(kept)} {where} of {scan.root}", calibration)


def _balanced(items: list[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """At most ``limit`` items, as evenly over the labels as they allow, in a fixed order."""
    by_label: dict[int, list[tuple[str, int]]] = {}
    for item in sorted(items):
        by_label.setdefault(item[1], []).append(item)
    chosen: list[tuple[str, int]] = []
    queues = [list(reversed(v)) for _, v in sorted(by_label.items())]
    while len(chosen) < limit and any(queues):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop())
    return chosen


def generated_pictures(image_size: int, count: int = GENERATED_PICTURES, seed: int = 0,
                       note: str = "") -> ParityPictures:
    """Pictures made up of smooth colour fields, shapes and noise: they exercise the whole input
    range, so disagreements show, but they say nothing about accuracy."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:image_size, :image_size] / max(1, image_size - 1)
    pictures = np.empty((count, image_size, image_size, 3), np.uint8)
    for i in range(count):
        a, b, c = rng.uniform(0, 255, (3, 3))
        img = a + (b - a) * xx[..., None] + (c - a) * yy[..., None] * rng.uniform(-1, 1)
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.35)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 255, 3)
        img += rng.normal(0, rng.uniform(0, 40), img.shape)
        pictures[i] = np.clip(img, 0, 255).astype(np.uint8)
    source = f"{count} generated pictures" + (f" ({note})" if note else "") + \
        ": they test agreement, not accuracy"
    return ParityPictures(pictures, None, source, calibration=pictures)


# ----- the export ----------------------------------------------------------------------------

def destination(fmt: str, out: str | os.PathLike) -> Path:
    """Where an export in ``fmt`` to ``out`` goes (the format's ending added when missing)."""
    spec = _format(fmt)
    path = Path(out).expanduser()
    if spec.suffix and path.suffix.lower() != spec.suffix:
        path = path.with_name(path.name + spec.suffix)
    return path.absolute()


def planned_files(fmt: str, out: str | os.PathLike) -> list[Path]:
    """Every path an export would create or replace: the model and the files beside it."""
    path = destination(fmt, out)
    sidecars = sidecar_paths(path)
    return [path] if not _format(fmt).suffix else [path, *sidecars.values()]


def export_model(classifier, fmt: str, out: str | os.PathLike, parity: ParityPictures | None = None,
                 force: bool = False, progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None) -> ExportResult:
    """Export ``classifier`` (an inference.Classifier or a storage.ModelBundle) as ``fmt`` (a key of
    :data:`FORMATS`) to ``out``, check it against the app's model on ``parity`` (generated pictures
    when None), and write labels, metadata and a model card beside it.

    Raises ExportError (e.g. the destination exists and ``force`` is False, or the converter
    fails) and CancelledError when ``should_stop`` turns True; nothing is left behind then.
    """
    from ..classify.classifier import Classifier
    from ..model.storage import ModelBundle

    if isinstance(classifier, ModelBundle):
        classifier = Classifier.from_bundle(classifier)
    spec = _format(fmt)
    path = check_destination(fmt, out, force)
    progress = progress or (lambda done, total, message="": None)
    should_stop = should_stop or (lambda: False)
    parity = parity if parity is not None else generated_pictures(classifier.image_size)
    started = time.perf_counter()
    steps = 4

    def check_stop():
        if should_stop():
            raise CancelledError("The export was cancelled; nothing was written.")

    staging = _staging_path(path)
    try:
        progress(0, steps, "Preparing the model")
        model = inference_model(classifier.model)
        check_stop()
        progress(1, steps, f"Converting to {spec.title}")
        notes = _convert(model, spec, staging, parity)
        check_stop()
        progress(2, steps, f"Checking the export in the {spec.runtime}")
        result = _check_parity(classifier, spec, path, staging, parity, should_stop)
        result.notes += notes
        check_stop()
        progress(3, steps, "Writing the files")
        if not result.passed and os.path.lexists(path):
            # Replacing was allowed (force), but for a good export: keep the previous one and put
            # this one beside it, so the user can still look at it.
            result.kept, path = str(path), _failed_path(fmt, path)
            result.path = str(path)
        _move_into_place(staging, path)
        staging = None
    finally:
        if staging is not None:
            _remove(staging)
    sidecars = sidecar_paths(path)
    result.size_bytes = _size(path)
    result.seconds = round(time.perf_counter() - started, 2)
    meta = export_metadata(classifier, spec, result)
    _write_text(sidecars["json"], json.dumps(meta, indent=1))
    _write_text(sidecars["labels"], "".join(f"{name}\n" for name in classifier.class_names))
    _write_text(sidecars["card"], model_card(classifier, spec, result))
    result.files = [str(path), *(str(p) for p in sidecars.values())]
    progress(steps, steps, "Done")
    log.info("exported %s as %s: %s", classifier.path, fmt, result.verdict())
    return result


def inference_model(model):
    """``model`` as an export needs it: float32 (storage's inference copy) and without the
    augmentation layers, which do nothing at inference but bring random-number and image-transform
    ops that ONNX and TFLite's built-in operators do not have. Layers (and weights) are shared."""
    import keras

    from ..model.storage import _inference_copy

    model = _inference_copy(model, keras)
    if any(layer.name == "augmentation" for layer in model.layers):
        def call(layer, *args, **kwargs):
            return args[0] if layer.name == "augmentation" else layer(*args, **kwargs)

        model = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    # Keras' ONNX export refuses a model that has never been called ("has never called").
    model(np.zeros((1, *model.input_shape[1:]), np.float32), training=False)
    return model


def _convert(model, spec: ExportFormat, staging: Path, parity: ParityPictures) -> list[str]:
    """Write the export of ``model`` to ``staging``; returns notes for the card."""
    if spec.key == "savedmodel":
        model.export(str(staging), format="tf_saved_model", verbose=False)
        return []
    if spec.key == "onnx":
        try:
            import tf2onnx  # noqa: F401
        except ImportError:
            raise ExportError("ONNX export needs the tf2onnx and onnxruntime packages: "
                              "pip install 'catdog-desktop[export]'.") from None
        # tf2onnx logs each graph rewrite as a warning; the parity check is what tells if it worked.
        logging.getLogger("tf2onnx").setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():  # Keras' tf2onnx patch trips NumPy's np.object FutureWarning
                warnings.simplefilter("ignore", FutureWarning)
                model.export(str(staging), format="onnx", verbose=False)
        except Exception as exc:  # the converter's own errors; the message says what failed
            log.info("ONNX export failed", exc_info=True)
            raise ExportError(f"The ONNX converter failed: {first_line(exc)}") from None
        return []
    return _convert_tflite(model, spec, staging, parity)


def _convert_tflite(model, spec: ExportFormat, staging: Path, parity: ParityPictures) -> list[str]:
    notes = []
    calibration = None
    if spec.key == "tflite-int8":
        calibration = parity.calibration if parity.calibration is not None else parity.pixels
        calibration = calibration[:CALIBRATION_PICTURES]
        # int8 inside, float32 pixels in and probabilities out: used like the other files.
        notes.append(f"Quantisation calibrated on {len(calibration)} "
                     f"{'training' if parity.calibration is not None and parity.real else 'check'} pictures; "
                     "input and output stay float32.")
    content = tflite_content(model, spec.key, calibration)
    with open(staging, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    return notes


def tflite_content(model, key: str, calibration: np.ndarray | None = None) -> bytes:
    """``model`` converted to TFLite as the format ``key`` says (a TFLite key of :data:`FORMATS`),
    a full-integer one calibrated on the uint8 pictures ``calibration``. ExportError when the
    converter fails."""
    import tensorflow as tf

    # Keras 3 models convert through a SavedModel (tf.lite's documented path for them); only
    # TFLite's built-in operators are allowed, so the file runs in any TFLite runtime.
    with tempfile.TemporaryDirectory(prefix="catdog-export-") as work:
        model.export(os.path.join(work, "saved_model"), format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(os.path.join(work, "saved_model"))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if key != "tflite":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if key == "tflite-float16":
            converter.target_spec.supported_types = [tf.float16]
        if key == "tflite-int8":
            pictures = np.asarray(calibration, dtype=np.float32)

            def representative():
                for picture in pictures:
                    yield [picture[None]]

            converter.representative_dataset = representative
        try:
            return converter.convert()
        except Exception as exc:  # the converter's own errors
            log.info("TFLite conversion failed", exc_info=True)
            raise ExportError(f"The TensorFlow Lite converter failed: {first_line(exc)}") from None


def _check_parity(classifier, spec: ExportFormat, path: Path, staging: Path, parity: ParityPictures,
                  should_stop: StopFn) -> ExportResult:
    exported = open_new_export(path, staging, {"class_names": classifier.class_names,
                                               "image_size": classifier.image_size})
    if exported.image_size != classifier.image_size:
        raise ExportError(f"The export takes {exported.image_size}-pixel pictures, the model "
                          f"{classifier.image_size}: the conversion went wrong.")
    reference, theirs = [], []
    for start in range(0, len(parity.pixels), _BATCH):
        if should_stop():
            raise CancelledError("The export was cancelled; nothing was written.")
        batch = parity.pixels[start:start + _BATCH]
        reference.append(classifier.probabilities(batch))
        theirs.append(exported.probabilities(batch))
    reference, theirs = np.concatenate(reference), np.concatenate(theirs)
    return compare(spec, str(path), reference, theirs, parity, exported.runtime_name)


def compare(spec: ExportFormat, path: str, reference: np.ndarray, theirs: np.ndarray,
            parity: ParityPictures, runtime: str) -> ExportResult:
    """The parity figures of probabilities ``theirs`` (the export) against ``reference`` (the app)."""
    agreement = float(np.mean(reference.argmax(1) == theirs.argmax(1))) if len(reference) else 0.0
    max_difference = float(np.abs(reference - theirs).max()) if len(reference) else 0.0
    accuracy = app_accuracy = None
    if parity.labels is not None:
        accuracy = float(np.mean(theirs.argmax(1) == parity.labels))
        app_accuracy = float(np.mean(reference.argmax(1) == parity.labels))
    required = None if spec.quantised else FLOAT_AGREEMENT
    passed = required is None or (agreement >= required and max_difference <= FLOAT_MAX_DIFFERENCE)
    return ExportResult(format=spec.key, path=path, files=[], size_bytes=0, parity_source=parity.source,
                        pictures=len(reference), agreement=agreement, max_difference=max_difference,
                        accuracy=accuracy, app_accuracy=app_accuracy, required_agreement=required,
                        passed=passed, runtime=runtime, seconds=0.0)


# ----- files -----------------------------------------------------------------------------------

def _format(fmt: str) -> ExportFormat:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise ExportError(f"Unknown export format '{fmt}'. Choose one of: {', '.join(FORMATS)}.") from None


def check_destination(fmt: str, out: str | os.PathLike, force: bool = False) -> Path:
    """The export's path, after checking it can be written: its folder exists and is writable,
    it is not inside the app, and nothing would be replaced unless ``force``. Else ExportError."""
    from ...paths import inside_package

    path, files = destination(fmt, out), planned_files(fmt, out)

    if inside_package(path):
        raise ExportError(f"{path} is inside the app's own folder, which an update would replace. "
                          "Export to another folder.")
    folder = path.parent
    if not folder.is_dir():
        raise ExportError(f"Cannot export: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK):
        raise ExportError(f"Cannot export to {folder}: permission denied. Choose another folder.")
    if path.exists() and (path.is_dir() != (not _is_file_format(path))):
        kind = "folder" if path.is_dir() else "file"
        raise ExportError(f"{path} is a {kind}; choose another name.")
    _refuse_foreign_folder(path)
    existing = [p for p in files if p.exists()]
    if existing and not force:
        names = ", ".join(p.name for p in existing)
        raise ExportError(f"{names} already exist{'s' if len(existing) == 1 else ''} in {folder}: choose "
                          "another name, or replace (--force).")
    return path


def _refuse_foreign_folder(path: Path) -> None:
    """A SavedModel export replaces a whole folder: allowed (with ``force``) only for a folder that
    is one of our exports, or empty, never for a folder of the user's (~/Pictures), even with force."""
    if not path.is_dir():
        return
    if (path / "saved_model.pb").exists() or (path / SIDECAR_JSON_IN_FOLDER).exists():
        return
    try:
        empty = next(os.scandir(path), None) is None
    except OSError:
        empty = False
    if not empty:
        raise ExportError(f"{path} is a folder with other files in it: choose a new folder name.")


def _failed_path(fmt: str, path: Path) -> Path:
    """A free name beside ``path`` for an export that failed its check: NAME.failed.EXT (or
    NAME.failed (2).EXT …), with none of its files (sidecars) there already."""
    suffix = _format(fmt).suffix
    stem = path.name[:-len(suffix)] if suffix else path.name
    n = 1
    while True:
        candidate = path.with_name(f"{stem}.failed{f' ({n})' if n > 1 else ''}{suffix}")
        if not any(os.path.lexists(p) for p in planned_files(fmt, candidate)):
            return candidate
        n += 1


def _is_file_format(path: Path) -> bool:
    return path.suffix.lower() in (".tflite", ".onnx")


def _staging_path(path: Path) -> Path:
    """A free name beside ``path`` (same disk, so the final rename is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    os.unlink(name)  # the converters create it themselves (a file or a folder)
    return Path(name)


def _move_into_place(staging: Path, path: Path) -> None:
    if staging.is_dir():
        old = None
        if path.exists():  # replaced only with force (checked before): keep it until the new one is in
            _refuse_foreign_folder(path)  # again: files may have been put there while the export ran
            old = _staging_path(path)
            os.replace(path, old)
        try:
            os.replace(staging, path)
        except OSError:
            if old is not None:
                os.replace(old, path)
            raise
        if old is not None:
            _remove(old)
    else:
        os.replace(staging, path)


def _write_text(path: Path, text: str) -> None:
    try:
        # A class name that is not UTF-8 (a folder name's odd bytes) is written as \xNN (core.safe_text).
        fileops.write_atomic(path, text.encode("utf-8", ESCAPE_ERRORS), overwrite=True)
    except OSError as exc:
        raise ExportError(f"Cannot write {path}: {os_reason(exc)}.") from None


def _remove(path: Path) -> None:
    try:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    except OSError:
        log.warning("could not remove %s", path, exc_info=True)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size

