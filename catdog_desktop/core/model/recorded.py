"""What a model file records (its ``catdog_desktop.json``, see :mod:`.storage`), checked once, when
the model is loaded, against what our own saving writes.

Whoever wrote a model file wrote its metadata, so nothing in it is trusted: every field the app and
the CLI read is checked for type and shape here, and everything after loading may rely on it.

* What the model cannot be used without (its class names, its picture size) refuses the model with
  one sentence when it is wrong.
* Anything else (history, evaluation, dataset record, calibration, notes, ...) that is wrong is
  dropped with a log warning: the model then behaves as one that never recorded it ("not recorded",
  no "not sure" threshold, the held-out split of a model without a dataset record). Within the
  dataset record, a wrong share, seed, method or folder drops the whole record (a part of it would
  rebuild another split); a wrong count or label drops only that entry. Within the calibration, the
  "not sure" threshold and the "none of these" summary are dropped each on its own.

The JSON beside an export (core.export.runtimes) is checked the same way. Keys this app does not read are kept as they are (a newer version may have written them).
"""

from __future__ import annotations

import binascii
import logging
import math

from ..errors import ModelFileError

log = logging.getLogger(__name__)

#: The longest class name accepted: a class is a folder, and folder names stop at 255 bytes.
MAX_NAME = 255
#: The largest picture side accepted (the app's networks take 32 to 512 pixels).
MAX_IMAGE_SIZE = 4096
#: Whole numbers beyond this are not counts, seeds or epochs (and some do not even print).
MAX_WHOLE = 2 ** 63


class _Wrong(ValueError):
    """A recorded value is not what our saving writes; the text says how (for the log)."""


# ----------------------------------------------------------------------------- what a value may be

def _number(value, low: float = -math.inf, high: float = math.inf, nan: bool = False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Wrong(f"{_shown(value)} is not a number")
    if isinstance(value, int) and abs(value) >= MAX_WHOLE:
        raise _Wrong("a number is far too large")
    if math.isnan(value) and nan:
        return value
    if not low <= value <= high:  # also NaN and the infinities
        raise _Wrong(f"{_shown(value)} is not a number from {low:g} to {high:g}")
    return value


def _whole(value, low: int = 0):
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Wrong(f"{_shown(value)} is not a whole number")
    return _number(value, low)


def _text(value):
    if not isinstance(value, str):
        raise _Wrong(f"{_shown(value)} is not text")
    return value


def _flag(value):
    if not isinstance(value, bool):
        raise _Wrong(f"{_shown(value)} is not true or false")
    return value


def _scalar(value):
    if value is None or isinstance(value, (str, bool)):
        return value
    return _number(value, nan=True)


def _optional(check):
    return lambda value: None if value is None else check(value)


def _list_of(check, length: int | None = None):
    def checked(value):
        if not isinstance(value, list):
            raise _Wrong(f"{_shown(value)} is not a list")
        if length is not None and len(value) != length:
            raise _Wrong(f"{len(value)} items where there are {length} classes")
        return [check(item) for item in value]
    return checked


def _mapping(value):
    if not isinstance(value, dict):
        raise _Wrong(f"{_shown(value)} is not a mapping")
    return value


def _mapping_of(check):
    return lambda value: {_text(k): check(v) for k, v in _mapping(value).items()}


def _fields(checks: dict, required: tuple = (), others=None):
    """A mapping whose ``checks`` keys pass their check (``required`` ones must be there); other keys
    pass ``others`` (None: kept as they are)."""
    def checked(value):
        value = _mapping(value)
        for key in required:
            if key not in value:
                raise _Wrong(f"{key} is missing")
        out = {}
        for key, item in value.items():
            check = checks.get(key, others)
            try:
                out[key] = check(item) if check is not None else item
            except _Wrong as exc:
                raise _Wrong(f"{key}: {exc}") from None
        return out
    return checked


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ----------------------------------------------------------------------------- the fields


def _probability(value):
    try:
        return _number(value, 0.0, 1.0)
    except _Wrong:
        raise _Wrong(f"{_shown(value)} is not a probability") from None


def _seconds(value):
    return _number(value, 0.0)


def _digests(value):
    """The pictures trained on (core.data.dataset.TRAINED_PICTURES): base64 of whole digest prefixes."""
    from ..data.dataset import decode_digests

    try:
        decode_digests(_text(value))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise _Wrong("it is not a list of picture digests") from None
    return value


def _split_method(value):
    from ..data.dataset import LEGACY_SPLIT_METHOD, SPLIT_METHOD

    if value not in (SPLIT_METHOD, LEGACY_SPLIT_METHOD):
        raise _Wrong(f"{_shown(value)} is not a way of splitting this app knows")
    return value


#: The dataset record's entries that decide which pictures were held out: one wrong, the whole
#: record is dropped (the rest alone would rebuild a different split).
_SPLIT = {"root": _text, "validation_split": lambda v: _number(v, 1e-9, 1 - 1e-9),
          "seed": lambda v: _whole(v, -MAX_WHOLE + 1), "split_method": _split_method}
#: Its entries that only describe it: one wrong, that entry alone is dropped.
_DESCRIPTION = {
    "layout": _text, "class_names": _list_of(_text), "train_counts": _list_of(_whole),
    "validation_counts": _list_of(_whole), "test_counts": _optional(_list_of(_whole)),
    "validation_source": _text, "skipped": _whole, "problems": _list_of(_mapping_of(_scalar)),
    "trained_pictures": _digests,
}


def _evaluation(value, class_names: list[str]):
    n = len(class_names)
    names = _list_of(_text, n)
    checked = _fields({
        "split": _text, "count": _whole, "accuracy": _probability, "loss": lambda v: _number(v, 0.0, nan=True),
        "class_names": names, "confusion": _list_of(_list_of(_whole, n), n), "mistakes": _whole,
        "per_class": _list_of(_fields({"name": _text, "precision": _probability, "recall": _probability,
                                       "f1": _probability, "support": _whole},
                                      required=("name", "precision", "recall", "f1", "support")), n),
    }, required=("split", "count", "accuracy", "class_names", "confusion", "per_class"))(value)
    if checked["class_names"] != class_names:
        raise _Wrong("its classes are not the model's")
    if "results" in checked:
        raise _Wrong("it lists pictures, which a model's file never does")
    return checked


#: The parts of the calibration (core.model.calibration); one wrong, that part alone is dropped.
_CALIBRATION = {
    "confidence_threshold": _fields({"value": _optional(_probability), "reason": _text, "source": _text},
                                    required=("value",), others=_scalar),
    "novelty": _fields({"count": lambda v: _whole(v, 1), "dim": lambda v: _whole(v, 1), "centres": _text,
                        "threshold": lambda v: _number(v, 0.0, 2.0), "layer": _text},
                       required=("count", "dim", "centres", "threshold", "layer"), others=_scalar),
}


#: Every optional field and its check; what it is called in the log when it is dropped.
_OPTIONAL = {
    "format_version": (_whole, "format version"),
    "versions": (_mapping_of(_text), "library versions"),
    "keras_version": (_text, "Keras version"),
    "config": (_mapping_of(_scalar), "training settings"),
    "history": (_list_of(_fields({"epoch": _whole, "stage": _text}, required=("epoch",),
                                 others=lambda v: _number(v, nan=True))), "training history"),
    "best_epoch": (_whole, "best epoch"),
    "stopped_by_user": (_flag, "stop by hand"),
    "stopped_early": (_flag, "early stop"),
    "stopped_by_time_limit": (_flag, "time limit"),
    "decode_seconds": (_seconds, "reading time"),
    "train_seconds": (_seconds, "training time"),
    "stage_seconds": (_mapping_of(_seconds), "time of each stage"),
    "notes": (_list_of(_text), "notes"),
    "backbone": (_optional(_mapping_of(_optional(_text))), "pretrained network"),
    "provenance": (_mapping_of(_scalar), "provenance"),
    "calibration": (_mapping, '"not sure" and "none of these" calibration'),
}


# ----------------------------------------------------------------------------- the check


def checked(metadata, outputs: int, image_size: int, name: str) -> dict:
    """``metadata`` (as read from the file ``name``) with every field the app reads checked, for a
    model of ``outputs`` classes taking pictures of ``image_size`` pixels: class names (generic ones
    when none are recorded) and picture size filled in, wrong optional fields dropped (logged).

    Raises :class:`ModelFileError` with one sentence when the class names or the picture size are wrong.
    """
    if not isinstance(metadata, dict):
        log.warning("%s: its description is not a mapping and is ignored", name)
        metadata = {}
    metadata = dict(metadata)
    metadata["class_names"] = _class_names(metadata.get("class_names"), outputs, name)
    recorded_size = metadata.get("image_size", image_size)
    if isinstance(recorded_size, bool) or not isinstance(recorded_size, int) \
            or not 1 <= recorded_size <= MAX_IMAGE_SIZE:
        raise ModelFileError(f"{name} cannot be opened: its recorded picture size is not a number of pixels.")
    if recorded_size != image_size:
        raise ModelFileError(f"{name} is inconsistent: it records pictures of {recorded_size} pixels but takes "
                             f"{image_size}.")
    metadata["image_size"] = image_size
    for key, (check, label) in _OPTIONAL.items():
        if key in metadata:
            _keep_if(metadata, key, check, label, name)
    if "evaluation" in metadata:
        _keep_if(metadata, "evaluation", lambda v: _evaluation(v, metadata["class_names"]), "evaluation", name)
    if "dataset" in metadata:  # a wrong entry that decides the split drops the whole record
        _keep_if(metadata, "dataset", _fields(_SPLIT), "dataset", name)
    _check_parts(metadata, "dataset", _DESCRIPTION, name, "dataset's ")
    _check_parts(metadata, "calibration", _CALIBRATION, name, "calibration's ")
    return metadata


def _class_names(names, outputs: int, name: str) -> list[str]:
    if names is None:
        return [f"class {i + 1}" for i in range(outputs)]
    if not isinstance(names, list) or not names or not all(
            isinstance(n, str) and n.strip() and len(n) <= MAX_NAME for n in names):
        raise ModelFileError(f"{name} cannot be opened: its recorded class names are not a list of names.")
    if len(set(names)) != len(names):
        raise ModelFileError(f"{name} cannot be opened: its recorded class names are not all different.")
    if len(names) != outputs:
        raise ModelFileError(f"{name} is inconsistent: {len(names)} class names for {outputs} outputs.")
    return list(names)


def _keep_if(metadata: dict, key: str, check, label: str, name: str) -> None:
    try:
        metadata[key] = check(metadata[key])
    except _Wrong as exc:
        log.warning("%s: its recorded %s is ignored (%s)", name, label, exc)
        del metadata[key]


def _check_parts(metadata: dict, key: str, checks: dict, name: str, label: str) -> None:
    """Each part of the record ``metadata[key]`` that has a check in ``checks``: a wrong one is dropped."""
    record = metadata.get(key)
    if record is None:
        return
    record = dict(record)
    for part, check in checks.items():
        if part in record:
            _keep_if(record, part, check, label + part.replace("_", " "), name)
    metadata[key] = record
