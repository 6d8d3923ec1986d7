"""The inference engine: a model's frozen forward pass, run where it is fast.

MobileNetV2 is a mobile network; TensorFlow's runtime spends as much time between its ~150 small
layers as in them. ONNX Runtime runs the same computation 2-3x faster on a laptop CPU (measured on
our models, docs/benchmarks.md). So every forward pass that needs no gradient (classifying, the
features a training or a label check computes, evaluation, the "hiding parts" heatmap) goes
through an :class:`Engine`:

* It starts on TensorFlow (a ``tf.function`` of the Keras model: exactly what was trained).
* It is converted to ONNX (``tf2onnx``, a few seconds) once a job is big enough to pay for that
  (:meth:`Engine.prefer`), or in the background (:meth:`Engine.convert_in_background`, the app's
  model after loading), and the converted file is kept in the cache folder, keyed by the model's
  content, what it computes and the converter's and runtime's versions: the next process loads it
  in a fraction of a second.
* **Parity is checked, not hoped**: right after a conversion, a few photos go through both
  runtimes; the probabilities must agree within :data:`TOLERANCE` (1e-5; measured about 1e-7) and
  features within :data:`FEATURE_TOLERANCE` of their size, else the engine stays on TensorFlow for that model, with a
  log line and nothing for the user to do. A conversion that fails (a layer ONNX has no operator
  for) falls back the same way. Only a checked conversion is written to the cache.

TensorFlow stays for training, fine-tuning and Grad-CAM, which need gradients. Set
``CATDOG_DESKTOP_ENGINE=tensorflow`` to run everything on TensorFlow (to compare, or to rule the
engine out when something looks wrong).

Why ONNX Runtime and not the TFLite interpreter (measured on the built-in model, 2-core AMD EPYC,
AVX2, float32): both run it about 3x faster than TensorFlow (ONNX Runtime 212 pictures/s in
batches of 32 and 161/s one at a time; TFLite with XNNPACK 232/s and 196/s), but converting takes
3.8 s with tf2onnx against 22 s through TFLite's SavedModel path, and every training makes a new
model to convert; TensorFlow's ``tf.lite.Interpreter`` is also deprecated in favour of a separate
package. TFLite keeps the full-integer (int8) "fast" option for large folders (core.export), where its
kernels are the mature ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

from ..errors import first_line

log = logging.getLogger(__name__)

#: Environment variable: "tensorflow" runs every forward pass on TensorFlow; anything else, the engine.
ENGINE_ENV = "CATDOG_DESKTOP_ENGINE"
#: Environment variable: the cores one ONNX Runtime call may use (default: all of them). A cluster
#: worker (core.cluster) sets it to its own share, so that two workers on one machine do not fight.
THREADS_ENV = "CATDOG_DESKTOP_THREADS"
#: Bump when what a converted file holds changes: older files are then not used.
ENGINE_VERSION = 1
#: The probabilities (a model's first output) of the two runtimes must agree within this.
TOLERANCE = 1e-5
#: Features (any further output, and a feature extractor's outputs) within this share of their
#: largest value: ten times finer than the float16 the feature cache stores them in (a relative
#: step of 1e-3). Measured: 1.5e-6 for the built-in model at 160 px, 1.3e-5 for MobileNetV2 at
#: 32 px, whatever ONNX Runtime's graph optimisations (TensorFlow's own kernels round differently).
FEATURE_TOLERANCE = 1e-4
#: A job of at least this many pictures converts first (a few seconds) when no converted file is
#: cached: at 2-3x the speed it is paid back within the job. Smaller jobs run on TensorFlow.
CONVERT_FROM = 400
#: Pictures put through both runtimes after a conversion.
PARITY_PICTURES = 4
#: Converted models kept (about 9 MB each for MobileNetV2); the least recently used go first.
KEEP_CONVERSIONS = 24
#: The ONNX operator set converted to (onnxruntime >= 1.17 runs it).
OPSET = 17

TENSORFLOW = "TensorFlow"
ONNX_RUNTIME = "ONNX Runtime"


def engine_wanted() -> bool:
    """False when the user asked for TensorFlow everywhere (:data:`ENGINE_ENV`)."""
    return os.environ.get(ENGINE_ENV, "").strip().lower() not in ("tensorflow", "tf", "off")


def runtime_versions() -> str | None:
    """"onnxruntime X, tf2onnx Y, tensorflow Z" (part of a converted file's key), None when the
    converter or the runtime is not installed (the engine then stays on TensorFlow)."""
    parts = []
    for name in ("onnxruntime", "tf2onnx", "onnx"):
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            return None
    for name in ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel"):
        try:
            parts.append(f"tensorflow {metadata.version(name)}")
            break
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(parts)


def engines_dir() -> Path | None:
    """Where converted models are kept: a folder inside the feature cache's (so that
    ``CATDOG_DESKTOP_CACHE_DIR`` moves or turns off both; None: turned off)."""
    from .features import default_cache_dir

    features = default_cache_dir()
    return features / "engines" if features is not None else None


def file_digest(path: str | os.PathLike) -> str | None:
    """sha256 of a file's content (None when it cannot be read): a saved model's identity."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None


class Engine:
    """One model's forward pass: float32 pixels (n, s, s, 3) in 0..255 -> a list of arrays.

    ``forward`` is the Keras computation (``x -> tensor or tuple of tensors``, called inside a
    ``tf.function``); ``identity`` names it for the cache (a model file's digest and what is
    computed from it; None: never cached on disk, e.g. a model not saved yet). Thread-safe: the
    app's workers may call :meth:`run` while a conversion runs in the background.
    """

    def __init__(self, forward: Callable, image_size: int, identity: str | None, what: str = "the model",
                 probabilities_first: bool = True):
        self.forward = forward
        #: The first output is probabilities (a classifier); False: features only (a backbone).
        self.probabilities_first = probabilities_first
        self.image_size = int(image_size)
        self.what = what
        versions = runtime_versions()
        self.key = (hashlib.sha256(f"{identity}|{self.image_size}|v{ENGINE_VERSION}|{versions}".encode()).hexdigest()[:32]
                    if identity is not None and versions is not None else None)
        self._available = versions is not None and engine_wanted()
        self._tf = None
        self._session = None
        self._lock = threading.Lock()
        self._converting: threading.Thread | None = None
        self._tried = False
        #: Why the engine runs on TensorFlow after trying ONNX Runtime ("" when it did not try).
        self.fallback_reason = ""
        #: The parity check's result as a share of the tolerance (<= 1: passed; None: not checked yet).
        self.parity_difference: float | None = None

    # -- which runtime ------------------------------------------------------------------------
    @property
    def runtime(self) -> str:
        return ONNX_RUNTIME if self._session is not None else TENSORFLOW

    @property
    def fast(self) -> bool:
        return self._session is not None

    def prefer(self, pictures: int) -> None:
        """A job of ``pictures`` is about to start: convert first (in this thread) when it is big
        enough to pay for a conversion, and load a cached conversion whatever the size."""
        if self._session is not None or not self._available:
            return
        if self._load_cached():
            return
        if pictures >= CONVERT_FROM:
            self.convert()

    def convert_in_background(self) -> threading.Thread | None:
        """Convert in a background thread (the app, after loading a model): forward passes use
        TensorFlow until the converted model is checked and ready, then ONNX Runtime."""
        if self._session is not None or not self._available or self._tried:
            return None
        with self._lock:
            if self._converting is None:
                self._converting = threading.Thread(target=self.convert, name="engine-convert", daemon=True)
                self._converting.start()
            return self._converting

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background conversion; True when ONNX Runtime is in use."""
        thread = self._converting
        if thread is not None:
            thread.join(timeout)
        return self._session is not None

    def convert(self) -> bool:
        """Convert to ONNX (or load the cached conversion), check parity, switch. Never raises:
        any failure leaves the engine on TensorFlow with :attr:`fallback_reason` set."""
        if self._session is not None or not self._available:
            return self._session is not None
        if self._load_cached():
            return True
        with self._lock:  # one conversion at a time, and only once per engine
            if self._tried:
                return self._session is not None
            self._tried = True
        started = time.perf_counter()
        try:
            content = self._to_onnx()
            session = _session(content)
            difference = self._parity(session)
        except Exception as exc:  # noqa: BLE001 - the converter and runtime raise anything; TF still works
            self.fallback_reason = f"the conversion to ONNX failed ({first_line(exc, 200)})"
            log.warning("%s runs on TensorFlow: %s", self.what, self.fallback_reason)
            log.debug("conversion failure", exc_info=True)
            return False
        self.parity_difference = difference
        if not difference <= 1.0:
            self.fallback_reason = (f"ONNX Runtime's answers differ from TensorFlow's by {difference:.2g} times "
                                    "the tolerance")
            log.warning("%s runs on TensorFlow: %s", self.what, self.fallback_reason)
            return False
        self._session = session
        log.info("%s runs on ONNX Runtime (converted in %.1f s, differences %.2g of the tolerance)",
                 self.what, time.perf_counter() - started, difference)
        self._store(content, difference)
        return True

    # -- running ------------------------------------------------------------------------------
    def run(self, pixels: np.ndarray) -> list[np.ndarray]:
        """The model's outputs for float32 pixels (n, s, s, 3), as a list of arrays."""
        pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        session = self._session
        if session is not None:
            return list(session.run(None, {session.get_inputs()[0].name: pixels}))
        return self.run_tensorflow(pixels)

    __call__ = run

    def run_tensorflow(self, pixels: np.ndarray) -> list[np.ndarray]:
        """:meth:`run` on TensorFlow, whatever the engine uses (to compare, or to time TensorFlow)."""
        pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        outputs = self.tensorflow_function()(pixels)
        if isinstance(outputs, (tuple, list)):
            return [t.numpy() for t in outputs]
        return [outputs.numpy()]

    def tensorflow_function(self):
        """The forward pass as one compiled TensorFlow graph for any batch size (traced on its
        first call): calling a Keras model eagerly costs ~100 ms a picture in Python overhead."""
        if self._tf is None:
            import tensorflow as tf

            forward = self.forward
            spec = tf.TensorSpec((None, self.image_size, self.image_size, 3), tf.float32)
            # autograph=False: nothing to convert (one call), and a frozen app has no source to read
            function = tf.function(lambda x: forward(x), input_signature=[spec], autograph=False)
            with self._lock:
                if self._tf is None:
                    self._tf = function
        return self._tf

    # -- converting, checking, caching --------------------------------------------------------
    def _to_onnx(self) -> bytes:
        import tensorflow as tf
        import tf2onnx

        logging.getLogger("tf2onnx").setLevel(logging.ERROR)  # it logs each graph rewrite as a warning
        spec = tf.TensorSpec((None, self.image_size, self.image_size, 3), tf.float32)
        proto, _ = tf2onnx.convert.from_function(self.tensorflow_function(), input_signature=[spec], opset=OPSET)
        return proto.SerializeToString()

    def _parity(self, session) -> float:
        """How far the runtimes differ on a few pictures, as a share of what is allowed: 1 is the
        limit (:data:`TOLERANCE` for the probabilities, :data:`FEATURE_TOLERANCE` for features)."""
        pixels = parity_pictures(self.image_size)
        ours = self.run_tensorflow(pixels)
        theirs = session.run(None, {session.get_inputs()[0].name: pixels})
        if len(ours) != len(theirs):
            return float("inf")
        worst = 0.0
        for k, (a, b) in enumerate(zip(ours, theirs)):
            if a.shape != b.shape or not np.isfinite(b).all():
                return float("inf")
            difference = float(np.abs(a.astype(np.float64) - b).max(initial=0.0))
            if k == 0 and self.probabilities_first:
                worst = max(worst, difference / TOLERANCE)
            else:
                worst = max(worst, difference / max(1.0, float(np.abs(a).max(initial=0.0))) / FEATURE_TOLERANCE)
        return worst

    def _paths(self) -> tuple[Path, Path] | None:
        folder = engines_dir()
        if folder is None or self.key is None:
            return None
        return folder / f"{self.key}.onnx", folder / f"{self.key}.json"

    @classmethod
    def from_onnx(cls, content: bytes, image_size: int, what: str = "the model",
                  probabilities_first: bool = True) -> "Engine":
        """An engine that runs a conversion made and checked elsewhere (:meth:`cached_conversion`
        of another process, e.g. a cluster's client): ONNX Runtime only, TensorFlow never loaded."""
        engine = cls(None, image_size, None, what, probabilities_first)
        engine._session = _session(content)
        engine._tried = True
        return engine

    def cached_conversion(self) -> bytes | None:
        """The checked conversion kept in the cache for this engine, as bytes (None: none kept, or
        the engine is off). Needs no TensorFlow: an engine made with ``forward`` None will do."""
        if not self._available:
            return None
        paths = self._paths()
        if paths is None or not paths[0].is_file():
            return None
        try:
            return self._read_checked(*paths)[0]
        except Exception:  # noqa: BLE001 - damaged: not shipped (the next conversion replaces it)
            return None

    @staticmethod
    def _read_checked(model_path: Path, record_path: Path) -> tuple[bytes, dict]:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        content = model_path.read_bytes()
        if hashlib.sha256(content).hexdigest() != record.get("sha256"):
            raise ValueError("its content is not what was checked")
        return content, record

    def _load_cached(self) -> bool:
        paths = self._paths()
        if paths is None or not paths[0].is_file():
            return False
        model_path, record_path = paths
        try:
            content, record = self._read_checked(model_path, record_path)
            session = _session(content)
        except Exception as exc:  # noqa: BLE001 - a damaged cache file is converted again
            log.warning("ignored the cached conversion %s: %s", model_path.name, first_line(exc, 200))
            for path in paths:
                try:
                    path.unlink()
                except OSError:
                    pass
            return False
        with self._lock:
            if self._session is None:
                self._session = session
                self.parity_difference = record.get("difference")
        log.info("%s runs on ONNX Runtime (cached conversion %s)", self.what, model_path.name)
        try:
            os.utime(model_path)  # in use: the last to be removed
        except OSError:
            pass
        return True

    def _store(self, content: bytes, difference: float) -> None:
        paths = self._paths()
        if paths is None:
            return
        from ..fileops import write_atomic

        model_path, record_path = paths
        record = {"what": self.what, "difference": difference, "sha256": hashlib.sha256(content).hexdigest(),
                  "versions": runtime_versions(), "engine_version": ENGINE_VERSION}
        try:
            model_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(model_path, content, overwrite=True)
            write_atomic(record_path, json.dumps(record).encode("utf-8"), overwrite=True)
        except OSError as exc:  # a full or read-only disk: the cache is an optimisation only
            log.warning("converted model not cached (%s)", exc)
            return
        _trim(model_path.parent)


def _trim(folder: Path) -> None:
    """Keep the :data:`KEEP_CONVERSIONS` most recently used conversions (and their records)."""
    try:
        found = sorted(((p.stat().st_mtime, p) for p in folder.glob("*.onnx")), reverse=True)
    except OSError:
        return
    for _, old in found[KEEP_CONVERSIONS:]:
        for path in (old, old.with_suffix(".json")):
            try:
                path.unlink()
            except OSError:
                pass


def compute_threads() -> int:
    """The cores one forward pass may use: :data:`THREADS_ENV` when set to a whole number, else all."""
    try:
        return max(1, int(os.environ[THREADS_ENV]))
    except (KeyError, ValueError):
        return os.cpu_count() or 1


def _session(content: bytes):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = compute_threads()
    options.inter_op_num_threads = 1
    # Threads that spin between calls take the cores the picture decoders need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])


def parity_pictures(size: int, count: int = PARITY_PICTURES) -> np.ndarray:
    """float32 (count, size, size, 3): photos of the sample dataset shipped with the app (as many
    classes as it has, in turn), decoded as every picture is; made-up pictures (a colour gradient,
    smooth blotches) if they are missing. Photos, because pixel noise or flat colours drive a
    network to activations no photo gives, where the runtimes' rounding differs most."""
    from PIL import Image

    from ..data.images import ImageDecodeError, load_pixels
    from ...paths import RESOURCES

    folders = sorted(p for p in (RESOURCES / "sample").glob("*") if p.is_dir())
    files = [sorted(f.glob("*.jpg"))[:count] for f in folders]
    pictures = []
    for k in range(count):
        for group in files:
            if len(pictures) < count and k < len(group):
                try:
                    pictures.append(load_pixels(group[k], size).astype(np.float32))
                except ImageDecodeError:
                    continue
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    while len(pictures) < count:
        blotches = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((size, size), Image.BILINEAR)
        pictures.append(np.asarray(blotches, np.float32) if len(pictures) % 2 else np.stack(
            [ramp[None, :].repeat(size, 0), ramp[:, None].repeat(size, 1), 255 - ramp[None, :].repeat(size, 0)], -1))
    return np.stack(pictures[:count])


def run_all(engine: Engine, pixels: np.ndarray, batch: int = 64) -> list[np.ndarray]:
    """``engine.run`` over many pictures, ``batch`` at a time, the outputs joined."""
    parts: list[list[np.ndarray]] = [engine.run(pixels[s:s + batch]) for s in range(0, len(pixels), batch)]
    if not parts:
        return []
    return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


__all__: Sequence[str] = ("Engine", "engine_wanted", "engines_dir", "file_digest", "parity_pictures", "run_all")
