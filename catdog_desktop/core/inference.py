"""Classifier: a loaded model that classifies files, PIL images or pixel arrays.

Pictures are decoded by :mod:`.images` exactly as for training, and the model does its own
scaling, so predictions match what evaluation measured.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .evaluation import probabilities_from_outputs
from .images import ImageDecodeError, load_pixels, pixels_from_image
from .pipeline import decode_workers
from .storage import ModelBundle, load_bundle

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """One picture's result. ``error`` is set (and the rest empty) when it could not be read."""

    path: str | None
    class_name: str | None = None
    probability: float = 0.0
    probabilities: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    #: Top probability under the model's confidence threshold: shown as "not sure".
    uncertain: bool = False
    #: The picture looks like none of the training classes (far from their features).
    unfamiliar: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class Classifier:
    """Wraps a Keras model with its class names and input size."""

    def __init__(self, model, class_names: Sequence[str], image_size: int,
                 metadata: dict | None = None, path: str | None = None):
        self.model = model
        self.class_names = list(class_names)
        self.image_size = int(image_size)
        self.metadata = metadata or {"class_names": self.class_names, "image_size": self.image_size}
        self.path = path
        self._forward = None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Classifier":
        """Load a saved bundle (safe mode). Raises ModelFileError with a readable reason."""
        return cls.from_bundle(load_bundle(path))

    @classmethod
    def from_bundle(cls, bundle: ModelBundle) -> "Classifier":
        return cls(bundle.model, bundle.class_names, bundle.image_size, bundle.metadata, bundle.path)

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities (n, classes) for uint8 pixels of shape (n, s, s, 3) or (s, s, 3)."""
        pixels = np.asarray(pixels)
        if pixels.ndim == 3:
            pixels = pixels[None]
        expected = (self.image_size, self.image_size, 3)
        if pixels.shape[1:] != expected:
            raise ValueError(f"Expected pictures of shape {expected}, got {pixels.shape[1:]}.")
        if len(pixels) == 0:
            return np.zeros((0, len(self.class_names)))
        return probabilities_from_outputs(self._outputs(pixels.astype("float32")))

    def _outputs(self, pixels: np.ndarray) -> np.ndarray:
        """The model's raw outputs for float32 pixels (n, s, s, 3); an exported model's runtime
        (core.exported) replaces this, and everything else (decoding, batching) stays the same."""
        return self._compiled()(pixels).numpy()

    def _compiled(self):
        """The model as one compiled graph for any batch size. Calling a model eagerly costs
        ~100 ms a picture for MobileNetV2's 150 layers (Python overhead), predict() more; the
        graph takes what the computation takes. Traced once, on the first call (see warm_up)."""
        if self._forward is None:
            import tensorflow as tf

            model = self.model
            spec = tf.TensorSpec((None, self.image_size, self.image_size, 3), tf.float32)
            self._forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        return self._forward

    def warm_up(self) -> "Classifier":
        """Trace the compiled graph now (about a second), so the first picture is answered quickly."""
        self.probabilities(np.zeros((1, self.image_size, self.image_size, 3), np.uint8))
        return self

    def predict_array(self, pixels: np.ndarray) -> list[Prediction]:
        return [self._prediction(None, p) for p in self.probabilities(pixels)]

    def predict_image(self, image, path: str | None = None) -> Prediction:
        """Classify a PIL image (already decoded, e.g. pasted from the clipboard)."""
        return self._prediction(path, self.probabilities(pixels_from_image(image, self.image_size))[0])

    def predict_path(self, path: str | os.PathLike) -> Prediction:
        """Classify one file; an unreadable file gives a Prediction with ``error`` set."""
        try:
            pixels = load_pixels(path, self.image_size)
        except ImageDecodeError as exc:
            return Prediction(path=str(path), error=str(exc))
        return self._prediction(str(path), self.probabilities(pixels)[0])

    def predict_paths(
        self,
        paths: Sequence[str | os.PathLike],
        batch_size: int = 64,
        on_result: Callable[[int, Prediction], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Prediction]:
        """Classify many files, in order, a batch at a time; threads decode the next batch while
        the model works on this one, so only two batches of pixels are in memory at once.

        ``on_result(index, prediction)`` is called as results arrive; ``should_stop`` ends
        early (the results so far are returned).
        """
        paths = [str(p) for p in paths]
        results: list[Prediction] = []

        def decode(path: str):
            try:
                return load_pixels(path, self.image_size), None
            except ImageDecodeError as exc:
                return None, str(exc)

        starts = range(0, len(paths), batch_size)
        with ThreadPoolExecutor(max_workers=decode_workers()) as pool:
            # The next chunk is decoded while the model works on this one (both release the GIL).
            ahead = [pool.submit(decode, p) for p in paths[:batch_size]]
            for start in starts:
                if should_stop is not None and should_stop():
                    for future in ahead:
                        future.cancel()
                    break
                chunk = paths[start:start + batch_size]
                decoded = [future.result() for future in ahead]
                ahead = [pool.submit(decode, p) for p in paths[start + batch_size:start + 2 * batch_size]]
                good = [i for i, (px, _) in enumerate(decoded) if px is not None]
                probs = self.probabilities(np.stack([decoded[i][0] for i in good])) if good else []
                by_index = dict(zip(good, probs))
                for i, path in enumerate(chunk):
                    if i in by_index:
                        pred = self._prediction(path, by_index[i])
                    else:
                        pred = Prediction(path=path, error=decoded[i][1])
                    results.append(pred)
                    if on_result is not None:
                        on_result(start + i, pred)
        return results

    def _prediction(self, path: str | None, probs: np.ndarray) -> Prediction:
        best = int(np.argmax(probs))
        return Prediction(
            path=path,
            class_name=self.class_names[best],
            probability=float(probs[best]),
            probabilities={name: float(p) for name, p in zip(self.class_names, probs)},
        )
