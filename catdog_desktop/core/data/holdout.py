"""Which pictures a model may be scored on, in one place: a folder's test pictures; for the very
folder the model trained on, its validation pictures (the model's own share, seed and method);
elsewhere every picture. A model that recorded the pictures it trained on (by content) is never
scored on one of them, in any folder, whatever was moved, renamed or added since. Evaluation, the
report, the export's parity check and calibration all ask here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..wording import count, is_are
from .dataset import DatasetScan, Split, in_record, scan_dataset, split_method_of, trained_record


def known_classes_only(split, folder_classes: list[str], model_classes: list[str]):
    """(the part of ``split`` whose classes the model knows, {unknown class: pictures left out})."""
    known = Split()
    left_out: dict[str, int] = {}
    for path, label in zip(split.paths, split.labels):
        name = folder_classes[label]
        if name in model_classes:
            known.paths.append(path)
            known.labels.append(label)
        else:
            left_out[name] = left_out.get(name, 0) + 1
    return known, dict(sorted(left_out.items()))


@dataclass
class HeldOut:
    """The pictures of a folder to score a model on (:func:`held_out`)."""

    split: "Split"
    name: str                  # "test", "validation" or "all"
    #: Pictures of that split left out because the model trained on them (by its record).
    trained_left_out: int = 0


def held_out(scan, metadata: dict) -> HeldOut:
    """The pictures of ``scan`` to score a model on: the test folder; else, for the very folder the
    model was trained on, its "validation" pictures; else every picture ("all"). A model that
    recorded the pictures it trained on (core.data.dataset.TRAINED_PICTURES) is never scored on one of
    them, in any folder, whatever was moved, renamed or added since: for its own folder every other
    picture is its validation; elsewhere they are left out and counted. A model without the record:
    its validation share, rebuilt from the recorded share, seed and method."""
    trained_on = (metadata or {}).get("dataset") or {}
    record = trained_record(trained_on) if scan.content_digests else None
    everything = Split(scan.train.paths + scan.validation.paths, scan.train.labels + scan.validation.labels)
    if scan.test is not None and len(scan.test):
        split, name = scan.test, "test"
    elif trained_on.get("root") and Path(trained_on["root"]) == Path(scan.root):
        split, name = (everything if record is not None else scan.validation), "validation"
    else:
        split, name = everything, "all"
    if record is None:
        return HeldOut(split, name)
    # An unreadable file (no digest) is kept: it is reported as unreadable, never scored.
    kept = [(p, y) for p, y in zip(split.paths, split.labels)
            if not in_record(record, scan.content_digests.get(p))]
    left_out = len(split) - len(kept)
    if name == "validation":
        left_out = 0  # its own folder: the pictures it trained on are not validation pictures to begin with
    return HeldOut(Split([p for p, _ in kept], [y for _, y in kept]), name, left_out)


def as_split_for(scan, metadata: dict):
    """``scan`` split as the model (its ``metadata``) recorded for its training: the same share,
    seed and method (the scan itself when they match, or when it recorded no dataset)."""
    trained_on = (metadata or {}).get("dataset") or {}
    if not trained_on:
        return scan
    return scan.resplit(trained_on.get("validation_split", scan.validation_split), trained_on.get("seed", scan.seed),
                        split_method_of(trained_on))


def held_out_split(scan, metadata: dict):
    """(split, name) of :func:`held_out`."""
    chosen = held_out(scan, metadata)
    return chosen.split, chosen.name


def scan_as_recorded(folder: str | os.PathLike, summary: dict | None, **kwargs) -> DatasetScan:
    """:func:`scan_dataset` with the share, seed and method a model recorded for the dataset it was
    trained on (``metadata["dataset"]``), so that for that very folder its validation pictures are
    the ones it never trained on. ``kwargs``: progress, should_stop."""
    summary = summary or {}
    return scan_dataset(folder, validation_split=summary.get("validation_split", 0.2), seed=summary.get("seed", 1337),
                        split_method=split_method_of(summary), **kwargs)


def with_test_only(split, scan, metadata: dict):
    """(``split``, the test pictures of classes the training folder lacks added, the folder's classes
    with those, how many of them were left out as the model trained on them). A model may know such
    a class (then it is scored on it); else :func:`known_classes_only` leaves them out, and says so."""
    record = trained_record((metadata or {}).get("dataset")) if scan.content_digests else None
    folder_classes = list(scan.class_names) + sorted(scan.test_only)
    extended = Split(list(split.paths), list(split.labels))
    trained = 0
    for name, paths in sorted(scan.test_only.items()):
        for path in paths:
            if record is not None and in_record(record, scan.content_digests.get(path)):
                trained += 1
            else:
                extended.paths.append(path)
                extended.labels.append(folder_classes.index(name))
    return extended, folder_classes, trained


def split_for_continuing(scan, metadata: dict, name: str):
    """(``scan`` as a training that goes on from the model ``name`` (its ``metadata``) may use it,
    sentences for the user). The new model starts from the old one's weights, so a picture the old
    one trained on would flatter both on the held-out pictures: every such picture (by its record,
    core.data.dataset.TRAINED_PICTURES) is a training picture, never a validation or test one.
    The rest of the split is the scan's (the caller scans with the old model's share and seed,
    :func:`scan_as_recorded`: its validation pictures stay validation pictures). A model without
    the record: its split rebuilt from its share, seed and method is all there is, and the user
    is told that a few of its training pictures may be held out now."""
    import dataclasses

    trained_on = (metadata or {}).get("dataset") or {}
    record = trained_record(trained_on) if scan.content_digests else None
    if record is None:
        return scan, [f"{name} did not record which pictures it trained on, so a few of them may be held out now: "
                      "the figures before and after may look a little better than they are."]
    validation, moved = _learned_apart(scan.validation, record, scan.content_digests)
    train = Split(scan.train.paths + moved.paths, scan.train.labels + moved.labels)
    test, notes = scan.test, []
    if test is not None:
        test, gone = _learned_apart(test, record, scan.content_digests)
        if len(gone):
            notes.append(f"{count(len(gone), 'test picture')} {is_are(len(gone))} left out: {name} trained on "
                         f"{'it' if len(gone) == 1 else 'them'}.")
    if len(moved):
        which = ("is a training picture, not a validation one" if len(moved) == 1
                 else "are training pictures, not validation ones")
        notes.append(f"{count(len(moved), 'picture')} {name} trained on {which}, so that neither model is scored "
                     "on a picture it learned.")
    if not len(validation):
        from ..errors import DatasetError

        raise DatasetError(f"No validation pictures are left: {name} trained on every picture of the folder. "
                           "Add pictures it has not seen.")
    scan = dataclasses.replace(scan, train=train, validation=validation, test=test)
    return scan, notes


def _learned_apart(split, record: set[bytes], digests: dict) -> tuple[Split, Split]:
    """(the pictures of ``split`` not in ``record``, those in it)."""
    kept, learned = Split(), Split()
    for path, label in zip(split.paths, split.labels):
        part = learned if in_record(record, digests.get(path)) else kept
        part.paths.append(path)
        part.labels.append(label)
    return kept, learned


def trained_by_either(scan, metadata: dict) -> str:
    """The record (TRAINED_PICTURES) of a model that went on from the model of ``metadata``: the
    pictures of ``scan.train`` and those the old model trained on (its weights carry them)."""
    from .dataset import encode_digests

    old = trained_record((metadata or {}).get("dataset")) or set()
    return encode_digests([*old, *(scan.content_digests.get(p) for p in scan.train.paths)])
