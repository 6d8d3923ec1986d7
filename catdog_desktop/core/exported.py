"""Exported models in their own runtimes: TFLite interpreter, ``tf.saved_model.load``, onnxruntime.

Each is a :class:`~.inference.Classifier` whose raw outputs come from the exported file instead of
Keras, so pictures are decoded, resized and batched exactly as for a ``.keras`` model. The export
parity check (core.export) and ``catdog-desktop-cli predict`` both use them.

What an export means (class names, input size) travels in small files beside it (see
:func:`sidecar_paths`): ``NAME.json`` (ours), ``NAME.labels.txt`` (one class a line, the convention of
TFLite tools), NAME being the file's whole name (``pets.tflite.labels.txt``), so a
.tflite and an .onnx export can share a folder; inside a SavedModel folder ``catdog_desktop.json`` and ``labels.txt``.
A SavedModel folder without our ``catdog_desktop.json`` is refused: ``tf.saved_model.load`` runs
whatever TensorFlow ops the folder holds, so only exports made by this app are opened.
We chose these over TFLite's embedded metadata, which needs the heavy ``tflite-support`` package.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from .errors import ModelFileError
from .inference import Classifier

log = logging.getLogger(__name__)

SIDECAR_JSON_IN_FOLDER = "catdog_desktop.json"


def sidecar_paths(artefact: str | os.PathLike) -> dict[str, Path]:
    """The files written with an export: ``json``, ``labels`` and ``card``. Beside a file they are
    named after it (so several exports can share a folder); a SavedModel folder holds its own."""
    artefact = Path(artefact)
    if artefact.suffix.lower() in (".tflite", ".onnx"):
        name = artefact.name
        return {"json": artefact.with_name(name + ".json"),
                "labels": artefact.with_name(name + ".labels.txt"),
                "card": artefact.with_name(name + ".MODEL_CARD.md")}
    return {"json": artefact / SIDECAR_JSON_IN_FOLDER, "labels": artefact / "labels.txt",
            "card": artefact / "MODEL_CARD.md"}


def is_exported_model(path: str | os.PathLike) -> bool:
    """True for a path this module opens: a .tflite or .onnx file, or a SavedModel folder."""
    path = Path(path)
    return path.suffix.lower() in (".tflite", ".onnx") or (path.is_dir() and (path / "saved_model.pb").exists())


def load_classifier(path: str | os.PathLike) -> Classifier:
    """A Classifier for a ``.keras`` bundle or an exported model (see :func:`is_exported_model`)."""
    if is_exported_model(path):
        return load_exported(path)
    return Classifier.load(path)


def load_exported(path: str | os.PathLike, artefact: str | os.PathLike | None = None,
                  metadata: dict | None = None) -> "ExportedClassifier":
    """Open an exported model in its runtime. ``artefact``: where the model itself is read from when
    it is not ``path`` (a file being exported, not yet in place); ``metadata``: its class names and
    image size when no sidecar has been written yet."""
    path = Path(path).expanduser()
    source = Path(artefact) if artefact is not None else path
    if not source.exists():
        raise ModelFileError(f"The model {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        runtime = _TFLiteRuntime(source)
    elif suffix == ".onnx":
        runtime = _OnnxRuntime(source)
    elif source.is_dir() and (source / "saved_model.pb").exists():
        if metadata is None and not sidecar_paths(path)["json"].is_file():
            # Loading a SavedModel runs the TensorFlow graph inside it: only our own exports.
            raise ModelFileError(
                f"{path.name} is a SavedModel folder without {SIDECAR_JSON_IN_FOLDER}: only SavedModel folders "
                "exported by this app are opened (loading one runs the TensorFlow code in it, so folders "
                "from elsewhere are refused).")
        runtime = _SavedModelRuntime(source)
    else:
        raise ModelFileError(f"{path.name} is not an exported model (.tflite, .onnx or a SavedModel folder).")
    metadata = dict(metadata) if metadata else _read_sidecars(path, runtime)
    return ExportedClassifier(runtime, metadata, str(path))


class ExportedClassifier(Classifier):
    """A Classifier whose outputs come from an exported model's own runtime."""

    #: A TFLite interpreter must not run two calls at once: one batch at a time.
    model_streams = 1

    def __init__(self, runtime, metadata: dict, path: str):
        super().__init__(None, metadata["class_names"], metadata["image_size"], metadata, path)
        self.runtime = runtime

    @property
    def runtime_name(self) -> str:
        return self.runtime.name

    def _prepare(self) -> None:
        """The runtime is ready once opened."""

    def _outputs(self, pixels: np.ndarray) -> np.ndarray:
        return np.asarray(self.runtime.run(np.ascontiguousarray(pixels, dtype=np.float32)))


def _read_sidecars(path: Path, runtime) -> dict:
    files = sidecar_paths(path)
    metadata: dict = {}
    if files["json"].is_file():
        try:
            metadata = json.loads(files["json"].read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{files['json'].name} beside the model is damaged: {exc}") from None
    if not metadata.get("class_names") and files["labels"].is_file():
        names = [line.strip() for line in files["labels"].read_text(encoding="utf-8").splitlines()]
        metadata["class_names"] = [n for n in names if n]
    if not metadata.get("class_names"):
        raise ModelFileError(f"The class names of {path.name} are missing: {files['labels'].name} should be beside it "
                             "(it is written with every export).")
    size = runtime.image_size()
    if size is not None:
        metadata["image_size"] = size
    if not metadata.get("image_size"):
        raise ModelFileError(f"The input size of {path.name} is unknown ({files['json'].name} is missing).")
    return metadata


class _TFLiteRuntime:
    name = "TensorFlow Lite interpreter"

    def __init__(self, path: Path):
        try:
            from ai_edge_litert.interpreter import Interpreter  # TFLite's successor, when installed
        except ImportError:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
        try:
            with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated": it still ships with TF
                warnings.simplefilter("ignore")
                self.interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count() or 1)
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{path.name} is not a usable TFLite model ({str(exc).strip()[:200]}).") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.batch = None

    def image_size(self) -> int | None:
        shape = self.input["shape"]
        return int(shape[1]) if len(shape) == 4 else None

    def run(self, pixels: np.ndarray) -> np.ndarray:
        if self.batch != len(pixels):
            self.interpreter.resize_tensor_input(self.input["index"], list(pixels.shape))
            self.interpreter.allocate_tensors()
            self.batch = len(pixels)
        self.interpreter.set_tensor(self.input["index"], pixels)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])


class _SavedModelRuntime:
    name = "TensorFlow SavedModel (tf.saved_model.load)"

    def __init__(self, path: Path):
        import tensorflow as tf

        try:
            self.loaded = tf.saved_model.load(str(path))
        except Exception as exc:  # TF raises many types for a damaged folder
            raise ModelFileError(f"{path.name} is not a usable SavedModel ({str(exc).strip()[:200]}).") from None
        self.serve = self.loaded.signatures["serving_default"]
        self.input_name, self.spec = next(iter(self.serve.structured_input_signature[1].items()))

    def image_size(self) -> int | None:
        shape = self.spec.shape
        return int(shape[1]) if len(shape) == 4 and shape[1] is not None else None

    def run(self, pixels: np.ndarray) -> np.ndarray:
        outputs = self.serve(**{self.input_name: pixels})
        return next(iter(outputs.values())).numpy()


class _OnnxRuntime:
    name = "ONNX Runtime"

    def __init__(self, path: Path):
        try:
            import onnxruntime
        except ImportError:
            raise ModelFileError("Running ONNX models needs the onnxruntime package: "
                                 "pip install 'catdog-desktop[export]'.") from None
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types
            raise ModelFileError(f"{path.name} is not a usable ONNX model ({str(exc).strip()[:200]}).") from None
        self.input = self.session.get_inputs()[0]

    def image_size(self) -> int | None:
        shape = self.input.shape
        return int(shape[1]) if len(shape) == 4 and isinstance(shape[1], int) else None

    def run(self, pixels: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input.name: pixels})[0]
