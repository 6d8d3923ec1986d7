"""Classifier: a loaded model that classifies files, PIL images or pixel arrays.

Pictures are decoded by :mod:`.images` exactly as for training, and the model does its own
scaling, so predictions match what evaluation measured.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..model import calibration
from .prediction import Prediction
from ..errors import ModelFileError
from ..data.images import ImageDecodeError, flat_picture_reason, load_pixels, pixels_from_image
from ..data.pipeline import decode_workers
from ..model.engine import Engine, file_digest
from ..model.storage import ModelBundle, load_bundle

log = logging.getLogger(__name__)

#: Classifying many files (Classifier.predict_paths): the model works on MODEL_STREAMS batches of
#: PREDICT_BATCH pictures at once. Measured on 2 cores (README): two calls fill the gaps one call
#: leaves between its many small layers, and two batches of 32 need less memory than one of 64.
MODEL_STREAMS = 2
PREDICT_BATCH = 32
#: How far outside 0..1 a probability may be (float rounding, a dequantised int8 export) before the
#: model's outputs are taken for what they are: not probabilities.
PROBABILITY_SLACK = 1e-3


def probabilities_from_outputs(outputs: np.ndarray) -> np.ndarray:
    """Model outputs as an (n, classes) probability array (a sigmoid column becomes 2 columns)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        p = outputs[:, 0]
        return np.stack([1.0 - p, p], axis=1)
    return outputs


class Classifier:
    """Wraps a Keras model with its class names and input size.

    Predictions are marked ``uncertain`` ("not sure") under :attr:`confidence_threshold` (the
    user's :attr:`threshold_override` if set, else the one recorded from the validation pictures,
    else none: models without one behave as before), and ``unfamiliar`` ("none of these") when
    the model carries a novelty summary and the picture's features lie farther from the training
    pictures' than its calibrated threshold (:mod:`.calibration`).
    """

    @property
    def model_streams(self) -> int:
        """Batches :meth:`predict_paths` gives the model at once: :data:`MODEL_STREAMS` for
        TensorFlow (a compiled graph may be called from several threads, and two calls fill each
        other's gaps); one for ONNX Runtime, whose one call keeps both cores busy."""
        return 1 if self.engine.fast else MODEL_STREAMS

    def __init__(self, model, class_names: Sequence[str], image_size: int,
                 metadata: dict | None = None, path: str | None = None, notes: Sequence[str] = ()):
        self.model = model
        #: Sentences for the user about how the model file was read (core.model.storage.ModelBundle.notes).
        self.notes = list(notes)
        self.class_names = list(class_names)
        self.image_size = int(image_size)
        self.metadata = metadata or {"class_names": self.class_names, "image_size": self.image_size}
        self.path = path
        #: sha256 of the model file as loaded or saved (None: only in memory): keys the engine's cache.
        self.digest: str | None = None
        self._engine: Engine | None = None
        self._features_engine: Engine | None = None
        #: The user's "not sure" threshold (a probability), replacing the recorded one; None: the recorded one.
        self.threshold_override: float | None = None
        self._novelty: calibration.Novelty | None | bool = False  # False: not looked at yet

    @property
    def recorded_threshold(self) -> float | None:
        """The "not sure" threshold set from the validation pictures at training (None: none recorded)."""
        return calibration.recorded_threshold(self.metadata)

    @property
    def confidence_threshold(self) -> float | None:
        """The threshold in use: answers less sure than this are "not sure" (None: never)."""
        return self.threshold_override if self.threshold_override is not None else self.recorded_threshold

    @property
    def novelty(self) -> calibration.Novelty | None:
        """The model's "none of these" summary, if it has a usable one."""
        if self._novelty is False:
            # An exported model (core.export.runtimes: no Keras model here) has no features to compare.
            novelty = calibration.load_novelty(self.metadata) if self.model is not None else None
            if novelty is not None:
                try:
                    width = calibration.feature_model(self.model, novelty.layer).outputs[1].shape[-1]
                except (ValueError, AttributeError, IndexError) as exc:
                    log.warning("novelty data ignored: the model has no layer %r (%s)", novelty.layer, exc)
                    novelty = None
                else:
                    if width != novelty.centres.shape[1]:
                        log.warning("novelty data ignored: %d numbers per centre, layer %r gives %s",
                                    novelty.centres.shape[1], novelty.layer, width)
                        novelty = None
            self._novelty = novelty
        return self._novelty

    def mark(self, prediction: "Prediction") -> "Prediction":
        """Set ``prediction.uncertain`` for the threshold in use now (e.g. after the user changed it)."""
        threshold = self.confidence_threshold
        if prediction.ok:
            prediction.uncertain = bool(prediction.doubt) or (threshold is not None and prediction.probability < threshold)
        return prediction

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Classifier":
        """Load a saved bundle (safe mode). Raises ModelFileError with a readable reason."""
        digest = file_digest(path)
        classifier = cls.from_bundle(load_bundle(path))
        # The file changed while it was read (saved over): no cache key rather than a wrong one.
        classifier.digest = digest if file_digest(path) == digest else None
        return classifier

    @classmethod
    def from_bundle(cls, bundle: ModelBundle) -> "Classifier":
        return cls(bundle.model, bundle.class_names, bundle.image_size, bundle.metadata, bundle.path, bundle.notes)

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities (n, classes) for uint8 pixels of shape (n, s, s, 3) or (s, s, 3)."""
        return self._scored(pixels)[0]

    def _scored(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities (n, classes), "none of these" flags (n,) or None without a novelty summary)."""
        pixels = np.asarray(pixels)
        if pixels.ndim == 3:
            pixels = pixels[None]
        expected = (self.image_size, self.image_size, 3)
        if pixels.shape[1:] != expected:
            raise ValueError(f"Expected pictures of shape {expected}, got {pixels.shape[1:]}.")
        if len(pixels) == 0:
            return np.zeros((0, len(self.class_names))), None
        outputs = self._outputs(pixels.astype("float32"))
        if isinstance(outputs, tuple):  # (outputs, features): the graph of a model with a novelty summary
            raw, features = outputs
            return self._checked(probabilities_from_outputs(raw)), self.novelty.unfamiliar(features)
        return self._checked(probabilities_from_outputs(outputs)), None

    def _checked(self, probabilities: np.ndarray) -> np.ndarray:
        """``probabilities``, after checking they are: a model from elsewhere whose last layer
        core.model.storage could not read may give scores, which must not be shown as "-35 %"."""
        finite = np.isfinite(probabilities).all()
        if not finite or probabilities.min(initial=0.0) < -PROBABILITY_SLACK \
                or probabilities.max(initial=0.0) > 1 + PROBABILITY_SLACK:
            name = os.path.basename(self.path) if self.path else "The model"
            values = (f"its outputs run from {probabilities.min():.3g} to {probabilities.max():.3g}" if finite
                      else "some of its outputs are not numbers")
            raise ModelFileError(f"{name} does not give probabilities: {values}, not 0 to 1. catdog-desktop needs "
                                 "one probability per class (a last layer with softmax).")
        return probabilities

    def _prepare(self, pictures: int = 0) -> None:
        """Ready what :meth:`_outputs` calls, before several threads call it, for a job of
        ``pictures``: a big job first converts the model for the fast runtime (core.model.engine)."""
        self.engine.prefer(pictures)
        if not self.engine.fast:
            self.engine.tensorflow_function()

    def _outputs(self, pixels: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The model's raw outputs for float32 pixels (n, s, s, 3), with the features "none of these"
        needs as a second array when the model has a novelty summary; an exported model's runtime
        (core.export.runtimes) replaces this, and everything else (decoding, batching) stays the same."""
        outputs = self.engine.run(pixels)
        return (outputs[0], outputs[1]) if len(outputs) > 1 else outputs[0]

    def probabilities_and_features(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, classes), the features the model's last layer reads (n, dim)) for
        uint8 pixels (n, s, s, 3): what calibration needs."""
        if self._features_engine is None:
            both = calibration.feature_model(self.model)
            self._features_engine = Engine(lambda x: both(x, training=False), self.image_size,
                                           self._identity("features"), self._what("'s features"))
        probs, features = self._features_engine.run(np.asarray(pixels).astype("float32"))
        return probabilities_from_outputs(probs), features

    @property
    def engine(self) -> Engine:
        """The model's forward pass (core.model.engine: ONNX Runtime once converted and checked,
        TensorFlow until then or when it cannot be). With a novelty summary it has a second output,
        the features, computed by the same layers on the way to the probabilities."""
        if self._engine is None:
            model = self.model
            layer = None
            if self.novelty is not None:
                layer = self.novelty.layer
                model = calibration.feature_model(self.model, layer)
            self._engine = Engine(lambda x: model(x, training=False), self.image_size,
                                  outputs_identity(self.digest, layer), self._what(""))
        return self._engine

    def _identity(self, what: str) -> str | None:
        """What a converted forward pass is of, for the engine's cache: the model file's content as
        it was when loaded or saved (:attr:`digest`; None for a model only in memory)."""
        return f"classifier|{self.digest}|{what}" if self.digest else None

    def _what(self, suffix: str) -> str:
        return (os.path.basename(self.path) if self.path else "the trained model") + suffix

    def warm_up(self, background: bool = False) -> "Classifier":
        """Ready the forward pass now, so the first picture is answered quickly: load its cached
        conversion, else trace the TensorFlow graph (about a second) and, with ``background``
        (a long-lived app), convert it for the fast runtime in a background thread."""
        if self.model is not None:
            self.engine.prefer(0)
        self.probabilities(np.zeros((1, self.image_size, self.image_size, 3), np.uint8))
        if background and self.model is not None:
            self.engine.convert_in_background()
        return self

    def predict_array(self, pixels: np.ndarray) -> list[Prediction]:
        probs, unfamiliar = self._scored(pixels)
        pixels = np.asarray(pixels).reshape(-1, *np.shape(pixels)[-3:])
        return [self._prediction(None, p, _flag(unfamiliar, i), pixels[i]) for i, p in enumerate(probs)]

    def predict_image(self, image, path: str | None = None) -> Prediction:
        """Classify a PIL image (already decoded, e.g. pasted from the clipboard)."""
        pixels = pixels_from_image(image, self.image_size)
        probs, unfamiliar = self._scored(pixels)
        return self._prediction(path, probs[0], _flag(unfamiliar, 0), pixels)

    def predict_path(self, path: str | os.PathLike) -> Prediction:
        """Classify one file; an unreadable file gives a Prediction with ``error`` set."""
        try:
            pixels = load_pixels(path, self.image_size)
        except ImageDecodeError as exc:
            return Prediction(path=str(path), error=str(exc))
        probs, unfamiliar = self._scored(pixels)
        return self._prediction(str(path), probs[0], _flag(unfamiliar, 0), pixels)

    def predict_paths(
        self,
        paths: Sequence[str | os.PathLike],
        batch_size: int = PREDICT_BATCH,
        on_result: Callable[[int, Prediction], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        streams: int | None = None,
        job_size: int | None = None,
    ) -> list[Prediction]:
        """Classify many files, in order, a batch at a time. Threads decode the next batches
        while the model works, and the model works on ``streams`` batches at once (default
        :data:`MODEL_STREAMS`): one call alone leaves the cores idle between its many small
        layers, two calls fill those gaps. A few batches of pixels are in memory at any time,
        whatever the number of files.

        ``on_result(index, prediction)`` is called in order as results arrive; ``should_stop``
        ends early (the results so far are returned). ``job_size``: the pictures of the whole job
        when these are a share of it (a cluster's task, core.cluster), for choosing the runtime.
        """
        paths = [str(p) for p in paths]
        # made once here, before threads share it (a big job converts first)
        self._prepare(max(len(paths), job_size or 0))
        streams = max(1, streams or self.model_streams)  # after: it depends on the runtime in use
        chunks = [paths[start:start + batch_size] for start in range(0, len(paths), batch_size)]
        results: list[Prediction] = []
        stopped = object()  # a decode skipped because a stop was asked for: Cancel does not wait for a batch

        def asked_to_stop() -> bool:
            return should_stop is not None and should_stop()

        def decode(path: str):
            if asked_to_stop():
                return None, stopped
            try:
                return load_pixels(path, self.image_size), None
            except ImageDecodeError as exc:
                return None, str(exc)

        def score(decoded):
            good = [i for i, (px, _) in enumerate(decoded) if px is not None]
            probs, unfamiliar = self._scored(np.stack([decoded[i][0] for i in good])) if good else ([], None)
            return {i: (p, _flag(unfamiliar, k), decoded[i][0]) for k, (i, p) in enumerate(zip(good, probs))}

        def emit(index: int, decoded, scored) -> None:
            start = index * batch_size
            for i, path in enumerate(chunks[index]):
                if i in scored:
                    pred = self._prediction(path, *scored[i])
                else:
                    pred = Prediction(path=path, error=decoded[i][1])
                results.append(pred)
                if on_result is not None:
                    on_result(start + i, pred)

        with ThreadPoolExecutor(max_workers=decode_workers()) as pool, \
                ThreadPoolExecutor(max_workers=streams, thread_name_prefix="model") as model:
            decoding = {k: [pool.submit(decode, p) for p in chunks[k]] for k in range(min(len(chunks), streams + 1))}
            scoring: deque = deque()
            for k in range(len(chunks)):
                if asked_to_stop():
                    break
                decoded = [future.result() for future in decoding.pop(k)]
                if any(reason is stopped for _, reason in decoded):
                    break
                if k + streams + 1 < len(chunks):
                    decoding[k + streams + 1] = [pool.submit(decode, p) for p in chunks[k + streams + 1]]
                scoring.append((k, decoded, model.submit(score, decoded)))
                while len(scoring) >= streams:
                    index, done, future = scoring.popleft()
                    emit(index, done, future.result())
            for futures in decoding.values():
                for future in futures:
                    future.cancel()
            while scoring:  # batches already with the model: their answers are kept, even after a stop
                index, done, future = scoring.popleft()
                emit(index, done, future.result())
        return results

    def _prediction(self, path: str | None, probs: np.ndarray, unfamiliar: bool, pixels: np.ndarray) -> Prediction:
        """The answer for one picture: its class and probabilities, marked "not sure" under the
        threshold or when ``pixels`` (what the model saw) give no reason to believe any answer."""
        best = int(np.argmax(probs))
        return self.mark(Prediction(
            path=path,
            class_name=self.class_names[best],
            probability=float(probs[best]),
            probabilities={name: float(p) for name, p in zip(self.class_names, probs)},
            unfamiliar=unfamiliar,
            doubt=flat_picture_reason(pixels),
        ))


def outputs_identity(digest: str | None, layer: str | None) -> str | None:
    """What a classifier's forward pass (with the features of ``layer`` for "none of these") is of,
    for the engine's cache of conversions: the model file's ``digest`` (None: not cached)."""
    return f"classifier|{digest}|outputs+{layer}" if digest else None


def _flag(flags: np.ndarray | None, index: int) -> bool:
    return bool(flags[index]) if flags is not None else False
