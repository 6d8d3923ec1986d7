"""Fast (int8) classification of large folders: a full-integer model, used only where it pays.

A model's full-integer (int8) TFLite version runs several times faster on a laptop CPU than its
float32 forward pass (docs/guide.md, "Fast (int8) classification", has the measurement), but
rounding every layer to 8 bits can change an answer. So :func:`prepare_fast` makes it, calibrated
on the model's **training** pictures, and puts the **held-out** pictures (the test folder, else the
validation share the model recorded: core.data.holdout) through both versions; the int8 one is
used only when it gives the same answer on at least :data:`REQUIRED_AGREEMENT` of them. (In a folder
the model was not trained on and that has no test folder, a fifth of the pictures calibrates and the
rest checks.) Otherwise,
and whenever it cannot be checked (no labelled pictures, a model not saved to a file, a converter
failure), the full model stays in use, and the decision says why in one sentence.

"None of these": a model with a novelty summary flags pictures far from everything it learned
from, which needs the features its last layer reads. A user who sorts a large folder fast expects
the same folders as without "fast" (pictures of something else in uncertain/), so the int8 model
computes those features too (one pass: the same layers on the way to the probabilities) and the
flags are checked like the classes. But int8 features move distances more than answers (on the
built-in model: 99.75 % of the classes agreed, 98.5 % of the flags), and a model that would never
be fast because of its flags helps nobody: when only the flags fall short, the int8 model is used
without them, and the decision says so ("it does not answer “none of these”").

The int8 file and the decision (agreement, number of pictures) are kept beside the inference
engine's converted models (core.model.engine.engines_dir), keyed by the model file's content,
the recipe and TensorFlow's version: the second use is instant. A decision that could not be
measured (no pictures) is not kept: pictures given later are used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..classify.classifier import Classifier
from ..errors import CancelledError, DatasetError, first_line
from .exporter import (CALIBRATION_PICTURES, PARITY_LIMIT, inference_model, parity_pictures,
                       tflite_content)
from .formats import FastDecision
from .runtimes import tflite_interpreter

log = logging.getLogger(__name__)

#: The int8 model is used only when it gives the same answer as the full one on this share of the
#: held-out pictures.
REQUIRED_AGREEMENT = 0.99
#: Fewer held-out pictures than this cannot show a 1 % disagreement: the full model stays.
MIN_PICTURES = 100
#: Bump when what the int8 file holds or how it is checked changes: older files are then not used.
RECIPE = ("int8 v1: TFLite full integer, built-in operators, float32 pixels in and outputs out, "
          f"{CALIBRATION_PICTURES} training pictures, up to {PARITY_LIMIT} checked")

ProgressFn = Callable[[int, int, str], None]
StopFn = Callable[[], bool]


class Int8Classifier(Classifier):
    """A Classifier whose outputs come from the int8 TFLite file; everything else (decoding,
    batching, "not sure", "none of these", the Keras model for "where it looked") is the full
    model's."""

    #: A TFLite interpreter must not run two calls at once: one batch at a time.
    model_streams = 1
    runtime_name = "TensorFlow Lite interpreter (int8)"

    def __init__(self, full: Classifier, path: Path, none_of_these: bool = True):
        super().__init__(full.model, full.class_names, full.image_size, full.metadata, full.path, full.notes)
        self.digest = full.digest
        self.threshold_override = full.threshold_override
        #: False: "none of these" is never answered (its int8 features did not agree well enough).
        self.answers_none_of_these = none_of_these
        self.interpreter = tflite_interpreter(path)
        # The signature names the outputs (output_0: probabilities, output_1: features); the
        # interpreter's own list is in no set order. Calls go to the interpreter itself: a signature
        # runner resizes and allocates every tensor on each call, which costs more than a small batch.
        runner = self.interpreter.get_signature_runner()
        self.input_index = next(iter(runner.get_input_details().values()))["index"]
        self.output_indices = [details["index"] for _name, details in sorted(runner.get_output_details().items())]
        self.batch = None

    @property
    def novelty(self):
        return super().novelty if self.answers_none_of_these else None

    def _prepare(self, pictures: int = 0) -> None:
        """The interpreter is ready once opened."""

    def _outputs(self, pixels: np.ndarray):
        if self.batch != len(pixels):
            self.interpreter.resize_tensor_input(self.input_index, list(pixels.shape))
            self.interpreter.allocate_tensors()
            self.batch = len(pixels)
        self.interpreter.set_tensor(self.input_index, np.ascontiguousarray(pixels, dtype=np.float32))
        self.interpreter.invoke()
        if len(self.output_indices) > 1 and self.novelty is not None:
            return tuple(self.interpreter.get_tensor(i) for i in self.output_indices[:2])
        return self.interpreter.get_tensor(self.output_indices[0])


def prepare_fast(classifier: Classifier, data_dir: str | os.PathLike | None = None,
                 progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                 how_to_give: str = "give a folder of them") -> tuple[FastDecision, Classifier]:
    """(the decision, the classifier to use): the int8 version of ``classifier`` when it agrees with
    it on at least :data:`REQUIRED_AGREEMENT` of the held-out pictures of ``data_dir`` (default: the
    folder the model was trained on), else ``classifier`` itself. Slow the first time for a model
    (reading pictures, a conversion of half a minute): call it from a worker. Raises CancelledError
    when ``should_stop`` turns True; any other failure keeps the full model, with the reason.
    ``how_to_give``: how the user gives labelled pictures, said when there are none ("give one with
    --data DIR")."""
    progress = progress or (lambda done, total, message="": None)
    should_stop = should_stop or (lambda: False)

    def full(reason: str, **figures) -> tuple[FastDecision, Classifier]:
        decision = FastDecision(False, reason, **figures)
        log.info("%s", decision.sentence())
        return decision, classifier

    def check_stop() -> None:
        if should_stop():
            raise CancelledError("Stopped while preparing the fast model.")

    if classifier.model is None:
        return full("this is an exported model, which runs as it is")
    if not classifier.digest:
        return full("the model is not saved in a file yet (the fast version is made for a saved model)")
    folder = str(Path(data_dir).expanduser().absolute()) if data_dir is not None else None
    files = _cache_files(classifier)
    cached = _load(files, folder)
    if cached is not None:
        decision = cached
        if not decision.fast:
            return decision, classifier
        try:
            return decision, Int8Classifier(classifier, files[0], decision.none_of_these)
        except Exception as exc:  # noqa: BLE001 - a damaged cache file (the interpreter raises anything): made again
            log.warning("ignored the cached int8 model: %s", first_line(exc))

    started = time.perf_counter()
    progress(0, 3, "Reading pictures to check the fast model on")
    try:
        pictures = parity_pictures(classifier, data_dir, limit=PARITY_LIMIT, progress=None, should_stop=should_stop)
    except DatasetError as exc:
        return full(f"no pictures to check the fast version on ({str(exc).rstrip('.')})")
    if not pictures.real:
        root = (classifier.metadata.get("dataset") or {}).get("root")
        where = (f"the folder it was trained on, {root}, is not there" if root
                 else "the model does not record the folder it was trained on")
        return full(f"no labelled pictures to check the fast version on ({where}; {how_to_give})")
    pixels, calibration, checked_on = pictures.pixels, pictures.calibration, pictures.source
    held_out = "held-out pictures"
    if calibration is None:
        # A folder the model did not train on: calibrate on a part of it, check on the rest.
        step = max(2, math.ceil(len(pixels) / CALIBRATION_PICTURES))
        calibration, keep = pixels[::step], np.ones(len(pixels), bool)
        keep[::step] = False
        pixels = pixels[keep]
        checked_on += f" ({len(calibration)} of them calibrated the int8 model, the other {len(pixels)} checked it)"
        held_out = "pictures"  # which of them the model trained on, it does not record
    if len(pixels) < MIN_PICTURES:
        return full(f"only {len(pixels)} {held_out} to check the fast version on, and it takes "
                    f"at least {MIN_PICTURES} to measure a 1 % difference")
    check_stop()

    progress(1, 3, "Making the fast int8 model (once for this model)")
    try:
        content = _int8_model(classifier, calibration)
    except Exception as exc:  # noqa: BLE001 - Keras and the converter raise anything; the full model still works
        log.info("int8 conversion failed", exc_info=True)
        decision = FastDecision(False, f"the int8 conversion failed ({first_line(exc).rstrip('.')})")
        _store(files, decision, None, folder)
        return full(decision.reason)
    check_stop()
    _store(files, None, content, folder)  # the file first: the interpreter opens a file

    progress(2, 3, f"Checking the fast model on {len(pixels)} {held_out}")
    try:
        fast = Int8Classifier(classifier, files[0])
        agreement, flags = _agreement(classifier, fast, pixels, should_stop)
    except CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - the interpreter raises anything; the full model still works
        log.info("int8 model not usable", exc_info=True)
        return full(f"the int8 model could not be run ({first_line(exc).rstrip('.')})")
    figures = dict(agreement=agreement, pictures=len(pixels), checked_on=checked_on,
                   none_of_these_agreement=flags)
    if agreement >= REQUIRED_AGREEMENT:
        fast.answers_none_of_these = flags is not None and flags >= REQUIRED_AGREEMENT
        reason = f"agrees with the full model on {_percent(agreement)} of {len(pixels)} {held_out}"
        if flags is not None and not fast.answers_none_of_these:
            reason += (f"; it does not answer “none of these” (its answers to that agreed on only "
                       f"{_percent(flags)})")
        decision = FastDecision(True, reason, none_of_these=fast.answers_none_of_these, **figures)
    else:
        decision = FastDecision(False, f"the int8 version agrees with it on only {_percent(agreement)} of "
                                       f"{len(pixels)} {held_out} (at least {100 * REQUIRED_AGREEMENT:.0f} % is "
                                       "needed)", **figures)
    _store(files, decision, None, folder)
    progress(3, 3, "Done")
    log.info("%s (decided in %.1f s)", decision.sentence(), time.perf_counter() - started)
    return decision, fast if decision.fast else classifier


def _int8_model(classifier: Classifier, calibration: np.ndarray) -> bytes:
    """The int8 TFLite file of ``classifier``: with the features "none of these" compares as a
    second output when the model has a novelty summary."""
    from ..model import calibration as calibrating

    model = inference_model(classifier.model)
    if classifier.novelty is not None:
        model = calibrating.feature_model(model, classifier.novelty.layer)
    return tflite_content(model, "tflite-int8", calibration)


def _agreement(full: Classifier, fast: Classifier, pixels: np.ndarray, should_stop: StopFn,
               batch: int = 32) -> tuple[float, float | None]:
    """(share of ``pixels`` given the same class by both, share given the same "none of these"
    answer (None: the model has no novelty summary))."""
    same_class = same_flag = 0
    for start in range(0, len(pixels), batch):
        if should_stop():
            raise CancelledError("Stopped while checking the fast model.")
        part = pixels[start:start + batch]
        for a, b in zip(full.predict_array(part), fast.predict_array(part)):
            same_class += a.class_name == b.class_name
            same_flag += a.unfamiliar == b.unfamiliar
    return same_class / len(pixels), (same_flag / len(pixels) if full.novelty is not None else None)


def _percent(share: float) -> str:
    """"99.4 %", rounded down: 98.96 % never shows as the 99.0 % it falls short of."""
    return f"{math.floor(1000 * share) / 10:.1f} %"


# ----- the cache ---------------------------------------------------------------------------------

def _cache_files(classifier: Classifier) -> tuple[Path, Path]:
    """(the int8 file, its decision) in the cache for ``classifier``; in a temporary folder, for
    this process only, when the cache is turned off."""
    from ..model.engine import engines_dir
    from ..versions import library_versions

    folder = engines_dir()
    if folder is None:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="catdog-int8-"))
    key = hashlib.sha256(f"{classifier.digest}|{RECIPE}|tensorflow {library_versions().get('tensorflow')}"
                         .encode()).hexdigest()[:32]
    return folder / "int8" / f"{key}.tflite", folder / "int8" / f"{key}.json"


def _load(files: tuple[Path, Path], folder: str | None) -> FastDecision | None:
    """The cached decision (None: none, damaged, or measured on another folder than ``folder``)."""
    if not files[1].is_file():
        return None
    try:
        record = json.loads(files[1].read_text(encoding="utf-8"))
        if folder is not None and record.get("folder") != folder:
            return None
        decision = FastDecision(**record["decision"], cached=True)
        if decision.fast and hashlib.sha256(files[0].read_bytes()).hexdigest() != record.get("sha256"):
            raise ValueError("the int8 file is not the one checked")
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("ignored the cached fast-model decision %s: %s", files[1].name, exc)
        return None
    return decision


def _store(files: tuple[Path, Path], decision: FastDecision | None, content: bytes | None,
           folder: str | None) -> None:
    """Keep ``content`` (the int8 file), or ``decision`` (with the digest of the file it is about; a
    file not to be used is removed)."""
    from ..fileops import write_atomic

    model_file, record_file = files
    try:
        model_file.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            write_atomic(model_file, content, overwrite=True)
        if decision is None:
            return
        digest = None
        if decision.fast:
            digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
        else:
            model_file.unlink(missing_ok=True)
        record = {k: v for k, v in asdict(decision).items() if k != "cached"}
        write_atomic(record_file, json.dumps({"decision": record, "sha256": digest, "folder": folder,
                                              "recipe": RECIPE}).encode("utf-8"), overwrite=True)
    except OSError as exc:  # a full or read-only disk: the cache is an optimisation only
        log.warning("fast-model decision not cached (%s)", exc)
