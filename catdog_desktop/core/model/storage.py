"""Save and load a model bundle: one ``.keras`` file that also carries our metadata.

The bundle is the Keras zip file with one more entry, ``catdog_desktop.json`` (class names,
input size, training settings, history, evaluation, dataset summary), so a model and what it
means can never be separated. Keras ignores the extra entry when loading.

Saving is atomic: the bundle is written to a temporary file in the same folder, flushed, and
renamed over the target, so a failed or interrupted save never destroys the previous model.
Loading always uses ``safe_mode=True``; Lambda layers and other code in a file are refused.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import fileops
from . import recorded
from ..fileops import os_reason
from ..errors import ModelFileError, first_line
from ..wording import size_text

log = logging.getLogger(__name__)

METADATA_ENTRY = "catdog_desktop.json"
FORMAT_VERSION = 1
#: The most a description read into memory may unpack to (ours, and Keras' config.json and
#: metadata.json): the record of a million training pictures (core.data.dataset, 11 bytes each) takes a sixth.
MAX_JSON_BYTES = 64 << 20
#: A model file may unpack to at most this many times its size on disk, plus MAX_JSON_BYTES. Keras
#: stores the weights uncompressed (1:1) and only the descriptions are compressed, while zeros
#: deflate 1,000:1: more than this is a "zip bomb" (Keras' own check starts at 4 GiB a part).
MAX_EXPANSION = 4


@dataclass
class ModelBundle:
    model: object            # keras.Model
    metadata: dict = field(default_factory=dict)
    path: str | None = None
    #: Sentences for the user about how the file was read (e.g. raw scores turned into probabilities).
    notes: list[str] = field(default_factory=list)

    @property
    def class_names(self) -> list[str]:
        return list(self.metadata["class_names"])

    @property
    def image_size(self) -> int:
        return int(self.metadata["image_size"])


def normalise_path(path: str | os.PathLike) -> Path:
    """The path a bundle is saved to: ``.keras`` is appended when missing."""
    path = Path(path).expanduser()
    if path.suffix.lower() != ".keras":
        path = path.with_name(path.name + ".keras")
    return path


def check_save_path(path: str | os.PathLike) -> Path:
    """The path a bundle would be saved to, after checking that a file can be created in its folder
    (by making and removing one), so that a long training does not end unable to save.

    Raises :class:`ModelFileError` with the reason; returns the normalised path.
    """
    path = normalise_path(path)
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise ModelFileError(f"Cannot save to {path}: {folder} is a file, not a folder.")
    if not folder.is_dir():
        raise ModelFileError(f"Cannot save: the folder {folder} does not exist.")
    if path.is_dir():
        raise ModelFileError(f"Cannot save to {path}: it is a folder.")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _cannot_write(exc, folder) from None
    return path


def save_bundle(model, metadata: dict, path: str | os.PathLike) -> Path:
    """Write ``model`` and ``metadata`` to ``path`` atomically; returns the final path.

    Raises :class:`ModelFileError` with a readable reason (read-only folder, disk full, ...);
    the previous file at ``path``, if any, is then untouched.
    """
    import keras

    path = normalise_path(path)
    folder = path.parent
    if not folder.is_dir():
        raise ModelFileError(f"Cannot save: the folder {folder} does not exist.")
    from ..versions import library_versions

    # The versions it was made with (the report shows them); a re-saved model keeps its own.
    meta_json = _metadata_json({"format_version": FORMAT_VERSION, "versions": library_versions(), **metadata})

    def write(tmp: str) -> None:
        _inference_copy(model, keras).save(tmp, overwrite=True)
        with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(METADATA_ENTRY, meta_json)

    _replace_atomically(path, write)
    log.info("saved model bundle %s", path)
    return path


def _metadata_json(meta: dict) -> str:
    try:
        return json.dumps(meta, indent=1, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"Cannot save the model's description: {exc}") from None


def _replace_atomically(path: Path, write) -> None:
    """``write(tmp)`` a complete file under a temporary name beside ``path``, flush it to disk, give
    it the usual permissions and rename it over ``path``: a crash leaves the old file or the new
    one, never half of one. Raises ModelFileError (damaged source, unwritable folder, full disk)."""
    folder = path.parent
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.keras", dir=folder)
        os.close(fd)
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600; keep the usual permissions
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(folder)
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{path.name} is damaged: {exc}") from None
    except OSError as exc:
        raise _cannot_write(exc, folder, path) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _cannot_write(exc: OSError, folder: Path, path: Path | None = None) -> ModelFileError:
    if isinstance(exc, PermissionError):
        return ModelFileError(f"Cannot save to {folder}: permission denied. Choose another folder.")
    return ModelFileError(f"Cannot save to {path or folder}: {os_reason(exc)}.")


def _inference_copy(model, keras):
    """The model as prediction needs it: no optimizer state (a third of the size), float32.

    A model trained with mixed bfloat16 precision is saved computing in float32, so it
    predicts at full speed and precision on any CPU, including those without bfloat16.
    """
    config = _float32_config(model.get_config())
    if getattr(model, "optimizer", None) is None and config == model.get_config():
        return model
    # clone_model() would copy the compiled state too; from_config() builds it bare.
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def _float32_config(config):
    """``config`` with every mixed-precision dtype policy replaced by float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and str(config.get("config", {}).get("name", "")).startswith("mixed_"):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {k: _float32_config(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_float32_config(v) for v in config]
    return config


def update_metadata(path: str | os.PathLike, metadata: dict) -> Path:
    """Replace a bundle's metadata, keeping every other entry of the file byte for byte (the model
    is not loaded or saved again). Atomic like :func:`save_bundle`: a new file is written beside
    it and renamed over it. Raises :class:`ModelFileError`."""
    path = _check_file(path)
    meta_json = _metadata_json({"format_version": FORMAT_VERSION, **metadata})

    def write(tmp: str) -> None:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp, "w") as target:
            for info in source.infolist():
                if info.filename != METADATA_ENTRY:
                    target.writestr(info, source.read(info.filename))
            target.writestr(METADATA_ENTRY, meta_json, compress_type=zipfile.ZIP_DEFLATED)

    _replace_atomically(path, write)
    log.info("updated the metadata of %s", path)
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """The bundle's metadata, without loading the model (no TensorFlow needed)."""
    path = _check_file(path)
    try:
        text = read_member(path, METADATA_ENTRY)
        return {} if text is None else json.loads(text)
    except (zipfile.BadZipFile, ValueError, RecursionError, OSError) as exc:
        # ValueError: not JSON, not UTF-8, or a number of thousands of digits; RecursionError: nested too deep
        raise ModelFileError(f"{path.name} is damaged: its description cannot be read "
                             f"({str(exc)[:120] or type(exc).__name__}).") from None


def read_plain_metadata(path: str | os.PathLike) -> dict | None:
    """:func:`read_metadata` when it names the classes (distinct, non-empty text) and a usable image
    size, as this app saves them; None when only loading the model can tell (a file from elsewhere,
    damaged or odd metadata): what may be used without loading the model (core.cluster's client)."""
    try:
        metadata = read_metadata(path)
    except ModelFileError:
        return None
    names, size = metadata.get("class_names"), metadata.get("image_size")
    if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) and n.strip() for n in names)
            and len(set(names)) == len(names) and isinstance(size, int) and 16 <= size <= 1024):
        return None
    return metadata


def read_member(path: str | os.PathLike, name: str, limit: int = MAX_JSON_BYTES) -> bytes | None:
    """The part ``name`` of the zip file ``path`` (None if it has none), refused (ModelFileError) if
    it declares more than ``limit`` bytes, and never unpacked beyond that whatever it declares."""
    with zipfile.ZipFile(path) as zf:
        try:
            info = zf.getinfo(name)
        except KeyError:
            return None
        if info.file_size > limit:
            raise _bomb(Path(path), info.file_size, Path(path).stat().st_size)
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    if len(data) > limit:
        raise _bomb(Path(path), len(data), Path(path).stat().st_size)
    return data


def _check_unpacked_sizes(path: Path, size: int) -> None:
    """Refuse a zip file whose parts declare far more than a model's file unpacks to, before
    anything is unpacked (what Keras and this module read is capped by what the parts declare)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelFileError(f"{path.name} is damaged: {exc}") from None
    unpacked = sum(info.file_size for info in infos)
    json_parts = [i for i in infos if i.filename.endswith(".json") and i.file_size > MAX_JSON_BYTES]
    if unpacked > MAX_EXPANSION * size + MAX_JSON_BYTES or json_parts:
        raise _bomb(path, unpacked, size)


def _bomb(path: Path, unpacked: int, size: int) -> ModelFileError:
    return ModelFileError(f"{path.name} was refused: it would unpack to {size_text(unpacked)} from {size_text(size)} on "
                          "disk, far more than a model holds (a damaged file, or one made to exhaust memory).")


def load_bundle(path: str | os.PathLike) -> ModelBundle:
    """Load a bundle with ``safe_mode=True``. Raises :class:`ModelFileError` with a clear reason."""
    path = _check_file(path)
    metadata = read_metadata(path)
    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for bad files; all mean "not usable"
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text or "lambda" in text:
            raise ModelFileError(
                f"{path.name} was refused: it contains Python code (for example a Lambda layer), "
                "which could run anything on this computer. Only models without code can be opened."
            ) from None
        log.info("load failed for %s", path, exc_info=True)
        raise ModelFileError(f"{path.name} is not a model this app can open ({first_line(exc, 200)}).") from None
    metadata = _complete_metadata(model, metadata, path)
    notes = _as_probabilities(model, path)
    return ModelBundle(model=model, metadata=metadata, path=str(path), notes=notes)


def _check_file(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFileError(f"The model file {path} does not exist.")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file.")
    if path.suffix.lower() in (".h5", ".hdf5"):
        raise ModelFileError(f"{path.name} is an old HDF5 model; only .keras files can be opened safely.")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ModelFileError(f"Cannot read {path.name}: {os_reason(exc)}.") from None
    if size == 0:
        raise ModelFileError(f"{path.name} is empty (0 bytes): it is not a model.")
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as exc:
        raise ModelFileError(f"Cannot read {path.name}: {os_reason(exc)}.") from None
    if not is_zip:
        if _head(path, 4) == b"PK\x03\x04":  # a zip's first entry, but no directory at the end
            raise ModelFileError(f"{path.name} is damaged or incomplete: it begins like a Keras model file but "
                                 "its end is missing (a download or copy that did not finish?).")
        raise ModelFileError(f"{path.name} is not a Keras model file (.keras).")
    _check_unpacked_sizes(path, size)
    return path


def _head(path: Path, count: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(count)
    except OSError:
        return b""


def _complete_metadata(model, metadata, path: Path) -> dict:
    """Check the model matches its metadata, and the metadata's every field (core.model.recorded); fill in
    what a plain Keras file lacks."""
    shape = model.input_shape
    if isinstance(shape, list):
        raise ModelFileError(f"{path.name} has several inputs; an image classifier has one.")
    if len(shape) != 4 or shape[-1] != 3 or shape[1] is None or shape[1] != shape[2]:
        raise ModelFileError(f"{path.name} does not take square RGB pictures (input shape {shape}).")
    if len(model.outputs) != 1:
        raise ModelFileError(f"{path.name} has {len(model.outputs)} outputs; catdog-desktop needs one output with a "
                             "score per class.")
    if len(model.output_shape) != 2:
        raise ModelFileError(f"{path.name} gives outputs of shape {model.output_shape}; catdog-desktop needs one "
                             "output with a score per class.")
    outputs = model.output_shape[-1]
    return recorded.checked(metadata, 2 if outputs == 1 else outputs, int(shape[1]), path.name)


def _as_probabilities(model, path: Path) -> list[str]:
    """Make ``model`` give probabilities when its last layer plainly does not, and say so: a last
    layer without activation (raw scores, as many models from elsewhere are saved for training
    with ``from_logits=True``) gets the softmax (one output: the sigmoid) it lacks. Returns the
    notes for the user. A last layer this cannot read is left as it is: the classifier checks
    its outputs (core.classify.classifier)."""
    import keras

    layer = model.outputs[0]._keras_history.operation
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None) if activation is not None else None
    name = name or type(layer).__name__.lower()  # keras.layers.Softmax, keras.ops.softmax/sigmoid
    one_output = model.output_shape[-1] == 1
    wanted = "sigmoid" if one_output else "softmax"
    if name == "sigmoid" and not one_output:
        raise ModelFileError(f"{path.name} gives a separate yes-or-no score for each class (sigmoid), not one "
                             "probability per class; catdog-desktop needs a last layer with softmax.")
    if name in ("softmax", "sigmoid") or activation is None:
        return []
    if name != "linear":
        raise ModelFileError(f"{path.name} ends with a {name} activation, so its outputs are not probabilities; "
                             f"catdog-desktop needs a last layer with {wanted}.")
    layer.activation = keras.activations.get(wanted)  # the layer's call uses it; saved and exported with it
    note = (f"{path.name} gives raw scores (its last layer has no {wanted}): catdog-desktop turns them into "
            f"probabilities with a {wanted}.")
    log.info("%s", note)
    return [note]


def _file_mode(path: Path) -> int:
    """The replaced file's permissions, or what a new file gets under the current umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return fileops.new_file_mode()  # the umask read once at import: os.umask() is not thread-safe


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported (Windows); the rename itself is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_default(value):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:
        pass
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
