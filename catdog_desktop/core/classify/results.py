"""The results of classifying many files, kept as plain data: counts, the "not sure" rule, CSV.

The app's results table, the CLI's ``predict --csv`` and ``sort`` all read the same
:class:`BatchResults`, so a CSV written from either says the same thing.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .. import fileops
from ..fileops import os_reason
from ..errors import CatdogError
from .prediction import Prediction
from ..safe_text import csv_cell

#: The columns every CSV starts with; one ``p_<class>`` column per class follows, then ``error``.
CSV_COLUMNS = ("path", "class", "confidence", "not_sure", "unfamiliar")


@dataclass
class ClassifyStarted:
    """Sent once the files are listed: how many results will come."""

    total: int


@dataclass
class ClassifiedRows:
    """Results ``start`` .. ``start + len(predictions) - 1`` of a batch classification.

    ``thumb`` is the large preview (width, height, RGB bytes) when a single picture was classified.
    """

    start: int
    predictions: list[Prediction]
    done: int
    total: int
    images_per_second: float = 0.0
    thumb: tuple | None = None


@dataclass
class Thumbnail:
    """A row's small picture: (width, height, RGB bytes), or None when it cannot be made."""

    path: str
    thumb: tuple | None


def is_uncertain(prediction: Prediction, threshold: float | None = None) -> bool:
    """"Not sure": a readable picture whose top probability is under ``threshold`` when one is given
    (0: never), else as the model flagged it (Classifier.mark: the user's or the recorded threshold);
    always one whose answer means nothing (``doubt``: a picture of one flat colour)."""
    if not prediction.ok:
        return False
    if threshold is None or prediction.doubt:
        return bool(prediction.uncertain or prediction.doubt)
    return prediction.probability < threshold


def is_doubtful(prediction: Prediction, threshold: float | None = None) -> bool:
    """Not sure, or looks like none of the classes ("unfamiliar"): such a picture is not sorted into
    a class folder."""
    return prediction.ok and (is_uncertain(prediction, threshold) or bool(prediction.unfamiliar))


@dataclass
class BatchResults:
    """Predictions of many files in the order they were listed, with the model's class names."""

    class_names: list[str]
    predictions: list[Prediction] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.predictions)

    @property
    def readable(self) -> list[Prediction]:
        return [p for p in self.predictions if p.ok]

    @property
    def unreadable(self) -> list[Prediction]:
        return [p for p in self.predictions if not p.ok]

    def counts(self, threshold: float | None = None) -> dict[str, int]:
        """Pictures per predicted class (in class order), the doubtful ones (not sure, or none of
        these) counted apart under ``"uncertain"`` when any; unreadable files are not counted."""
        counts = dict.fromkeys(self.class_names, 0)
        for p in self.readable:
            key = "uncertain" if is_doubtful(p, threshold) else p.class_name
            counts[key] = counts.get(key, 0) + 1
        return counts

    def csv_header(self) -> list[str]:
        return [*CSV_COLUMNS, *(f"p_{name}" for name in self.class_names), "error"]

    def csv_rows(self, threshold: float | None = None) -> Iterator[list]:
        """One row per file, as :meth:`csv_header` names them. Probabilities have 6 decimals."""
        for p in self.predictions:
            if p.ok:
                probs = [f"{p.probabilities.get(name, 0.0):.6f}" for name in self.class_names]
                yield [p.path, p.class_name, f"{p.probability:.6f}", int(is_uncertain(p, threshold)),
                       int(p.unfamiliar), *probs, ""]
            else:
                yield [p.path, "", "", "", "", *([""] * len(self.class_names)), p.error or "unreadable"]

    def write_csv(self, path: str | os.PathLike, force: bool = False, threshold: float | None = None) -> Path:
        """Write the CSV atomically (core.fileops.write_atomic). Refuses to replace an existing
        file unless ``force``; raises :class:`CatdogError` with the reason. A cell that a spreadsheet
        would run as a formula starts with an apostrophe; bytes of a name that are not UTF-8 are
        written as ``\\xNN`` (core.safe_text)."""
        return write_csv_rows(path, [self.csv_header(), *self.csv_rows(threshold)], force)


def write_csv_rows(path: str | os.PathLike, rows, force: bool = False) -> Path:
    """Write ``rows`` (the header first) as a CSV file, as :meth:`BatchResults.write_csv` does."""
    path = check_csv_path(path, force)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])  # no formulas, valid UTF-8 (core.safe_text)
    try:
        # utf-8-sig: spreadsheet programs then read non-ASCII file names correctly.
        fileops.write_atomic(path, text.getvalue().encode("utf-8-sig"), overwrite=force)
    except FileExistsError:
        raise CatdogError(f"{path} already exists: choose another name (or add --force to replace it).") from None
    except OSError as exc:
        raise CatdogError(f"Cannot write {path}: {os_reason(exc)}.") from None
    return path


def check_csv_path(path: str | os.PathLike, force: bool = False) -> Path:
    """The CSV path, checked before any work: its folder exists, and it is not an existing file
    unless ``force`` (never a folder)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise CatdogError(f"{path} is a folder: give a file name for the CSV.")
    if not path.parent.is_dir():
        raise CatdogError(f"Cannot write {path}: the folder {path.parent} does not exist.")
    if path.exists() and not force:
        raise CatdogError(f"{path} already exists: choose another name (or add --force to replace it).")
    return path


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a CSV written by :meth:`BatchResults.write_csv`, as dicts (tests, scripts)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))
