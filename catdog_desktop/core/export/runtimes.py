"""Exported models in their own runtimes: TFLite interpreter, ``tf.saved_model.load``, onnxruntime.

Each is a :class:`~.inference.Classifier` whose raw outputs come from the exported file instead of
Keras, so pictures are decoded, resized and batched exactly as for a ``.keras`` model. The export
parity check (core.export.exporter) and ``catdog-desktop-cli predict`` both use them.

What an export means (class names, input size) travels in small files beside it (see
:func:`sidecar_paths`): ``NAME.json`` (ours), ``NAME.labels.txt`` (one class a line, the convention of
TFLite tools), NAME being the file's whole name (``pets.tflite.labels.txt``), so a
.tflite and an .onnx export can share a folder; inside a SavedModel folder ``catdog_desktop.json`` and ``labels.txt``.
We chose these over TFLite's embedded metadata, which needs the heavy ``tflite-support`` package.

Files from elsewhere run only where they cannot act on the computer: a SavedModel folder is never
opened for classifying (``tf.saved_model.load`` runs whatever TensorFlow ops the graph holds, file
reads and writes included, and anyone can write the sidecar that would vouch for it; SavedModels
are for TF Serving, while .keras, .tflite and .onnx serve our users), and a .tflite that holds
TensorFlow ("Flex", Select TF) operators is refused for the same reason. Only the export check opens
a SavedModel: the one this process has just written (:func:`open_new_export`).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from ..model import recorded
from ..errors import ModelFileError
from ..classify.classifier import Classifier

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
    """True for a path this module answers for: a .tflite or .onnx file, or a SavedModel folder
    (which :func:`load_exported` refuses with a sentence)."""
    path = Path(path)
    return path.suffix.lower() in (".tflite", ".onnx") or _is_saved_model(path)


def _is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").exists()


def load_classifier(path: str | os.PathLike) -> Classifier:
    """A Classifier for a ``.keras`` bundle or an exported model (see :func:`is_exported_model`)."""
    if is_exported_model(path):
        return load_exported(path)
    return Classifier.load(path)


def load_exported(path: str | os.PathLike) -> "ExportedClassifier":
    """Open a .tflite or .onnx export in its runtime, described by the files beside it. A SavedModel
    folder is refused (ModelFileError): loading one runs the TensorFlow code inside it."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFileError(f"The model {path} does not exist.")
    if _is_saved_model(path):
        raise ModelFileError(
            f"{path.name} is a TensorFlow SavedModel folder, which this app does not open (loading one runs the "
            "TensorFlow code in it; SavedModels are for TF Serving): use the .keras model, or a .tflite or .onnx "
            "export.")
    runtime = _open_runtime(path, path)
    return ExportedClassifier(runtime, _read_sidecars(path, runtime), str(path))


def open_new_export(path: str | os.PathLike, artefact: str | os.PathLike, metadata: dict) -> "ExportedClassifier":
    """The export this process has just written to ``artefact`` (to be renamed ``path``, whose ending
    names the format), in its runtime, described by ``metadata`` (class names, image size): the export
    check. A SavedModel is opened here, and only here, because its graph is the one we made."""
    path, artefact = Path(path), Path(artefact)
    if _is_saved_model(artefact):
        runtime = _SavedModelRuntime(artefact)
    else:
        runtime = _open_runtime(path, artefact)
    return ExportedClassifier(runtime, dict(metadata), str(path))


def _open_runtime(path: Path, source: Path):
    """The runtime of the .tflite or .onnx file ``source``, whose format ``path``'s ending names."""
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return _TFLiteRuntime(source)
    if suffix == ".onnx":
        return _OnnxRuntime(source)
    raise ModelFileError(f"{path.name} is not an exported model (.tflite or .onnx).")


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

    def _prepare(self, pictures: int = 0) -> None:
        """The runtime is ready once opened."""

    def _outputs(self, pixels: np.ndarray) -> np.ndarray:
        return np.asarray(self.runtime.run(np.ascontiguousarray(pixels, dtype=np.float32)))


def _read_sidecars(path: Path, runtime) -> dict:
    files = sidecar_paths(path)
    metadata: dict = {}
    if files["json"].is_file():
        try:
            metadata = json.loads(files["json"].read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise ModelFileError(f"{files['json'].name} beside the model is damaged: {str(exc)[:120]}") from None
    if not isinstance(metadata, dict):
        log.warning("%s beside the model is not a mapping and is ignored", files["json"].name)
        metadata = {}
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
    # Written by whoever shared the file, like a .keras model's description: checked the same way.
    names = metadata["class_names"]
    return recorded.checked(metadata, len(names) if isinstance(names, list) else 0, metadata["image_size"],
                            path.name)


class _TFLiteRuntime:
    name = "TensorFlow Lite interpreter"

    def __init__(self, path: Path):
        self.interpreter = tflite_interpreter(path)
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


def tflite_interpreter(path: Path):
    """A TFLite interpreter for the file ``path`` (LiteRT's when installed, else TensorFlow's), using
    every core; ModelFileError for a file that is not a TFLite model or holds TensorFlow operators."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # TFLite's successor, when installed
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    try:
        with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated": it still ships with TF
            warnings.simplefilter("ignore")
            interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count() or 1)
    except (ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path.name} is not a usable TFLite model ({str(exc).strip()[:200]}).") from None
    _refuse_tensorflow_ops(interpreter, path)
    return interpreter


def _refuse_tensorflow_ops(interpreter, path: Path) -> None:
    """Refuse a model with TensorFlow ("Flex") operators before any is prepared or run: they can do
    whatever TensorFlow can (read and write files), our exports hold TFLite built-ins only, and
    without a Flex runtime they would fail anyway, with advice for Android. ``_get_ops_details`` is
    the one listing of a model's operators that both TFLite interpreters offer."""
    flex = sorted({str(op.get("op_name", "")) for op in interpreter._get_ops_details()
                   if str(op.get("op_name", "")).startswith("Flex")})
    if flex:
        shown = ", ".join(flex[:3]) + (", …" if len(flex) > 3 else "")
        raise ModelFileError(
            f"{path.name} contains TensorFlow operators ({shown}) that this app does not run (they can do anything "
            "TensorFlow can, such as reading and writing files): use a .tflite converted with TFLite's built-in "
            "operators only, as this app's exports are.")


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
