"""Labelling moves: an inbox picture given a class is moved into ``DATASET/<class>/``.

The moves are sorts into the dataset folder (core.classify.sorting.place_files): the same
never-overwrite moves (core.fileops: a name taken gets " (2)"), the same journal in the dataset
folder (a "planned" line before each move, a "placed" line after it, so a crash between the move
and the log leaves the file in one place and undo still finds it) and the same undo, which trusts
only lines signed on this computer. One call of :func:`label_pictures` is one sort, so one undo:
a single label is undone on its own (label by label, last first), and "accept all suggestions
above X %" is undone in one step. No second journal format: the sort log already says everything
a label needs.

Before anything moves, each picture is checked against what was shown (its size and modification
time, :class:`~.choose.Suggestion`): a picture that vanished or changed since is not moved, with
a sentence why. Every problem is a sentence in :attr:`LabelReport.refused`; nothing is deleted or
overwritten, and every file is in exactly one place whatever happens.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..classify import sorting
from ..data.layout import EXCLUDED_DIR, folder_role
from ..errors import CatdogError, NothingToUndoError
from ..wording import count

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]


class LabelError(CatdogError):
    """A label cannot be given (the message says why; nothing was moved)."""


@dataclass(frozen=True)
class LabelRequest:
    """Put ``path`` in the class ``class_name``; ``size``/``mtime_ns`` as the picture was shown (-1: not checked)."""

    path: str
    class_name: str
    size: int = -1
    mtime_ns: int = -1


@dataclass
class LabelReport:
    """What a labelling did. ``placed`` pairs each picture with where it went; ``refused`` gives
    each picture left where it was with the sentence why."""

    dataset: str
    placed: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)   # placed under a new name: the name was taken
    new_classes: list[str] = field(default_factory=list)            # class folders this labelling made
    counts: dict[str, int] = field(default_factory=dict)            # class -> pictures placed

    def summary(self) -> str:
        """Sentences for the user."""
        if self.placed:
            where = ", ".join(f"{name}: {n}" for name, n in self.counts.items())
            parts = [f"Labelled {count(len(self.placed), 'picture')} ({where}): moved into {self.dataset}."]
        else:
            parts = ["Nothing was labelled."]
        if self.new_classes:
            parts.append(f"New class{'es' if len(self.new_classes) > 1 else ''}: {', '.join(self.new_classes)}.")
        for src, dst in self.renamed[:3]:
            parts.append(f"{os.path.basename(src)} is now {os.path.basename(dst)}: the name was taken in "
                         f"{os.path.basename(os.path.dirname(dst))}, and nothing is overwritten.")
        if len(self.renamed) > 3:
            parts.append(f"{len(self.renamed) - 3} more got a new name for the same reason.")
        parts += [sentence for _path, sentence in self.refused[:3]]
        if len(self.refused) > 3:
            parts.append(f"{count(len(self.refused) - 3, 'more picture')} stayed in the inbox.")
        return " ".join(parts)

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "placed": [{"from": a, "to": b} for a, b in self.placed],
                "renamed": [{"from": a, "to": b} for a, b in self.renamed], "new_classes": self.new_classes,
                "counts": self.counts, "refused": [{"path": p, "reason": r} for p, r in self.refused]}


def labels_folder(dataset: str | os.PathLike) -> Path:
    """The folder whose sub-folders are the classes labels go to: the dataset folder, or, in a
    train/test layout, its training folder (labels are training pictures, never test ones)."""
    dataset = Path(dataset).expanduser()
    try:
        subdirs = [Path(e.path) for e in os.scandir(dataset) if e.is_dir() and not e.name.startswith(".")]
    except OSError:
        return dataset
    roles = {d: folder_role(d.name) for d in subdirs}
    train = sorted(d for d in subdirs if roles[d] == "train")
    if train and any(roles[d] in ("test", "val") for d in subdirs):
        return train[0]
    return dataset


def held_out_folder(dataset: str | os.PathLike) -> Path | None:
    """In a train/test layout, the folder of pictures no label goes to: the test folder, else the
    validation one (None for a plain class-folder dataset)."""
    dataset = Path(dataset).expanduser()
    if labels_folder(dataset) == dataset:
        return None
    subdirs = [Path(e.path) for e in os.scandir(dataset) if e.is_dir() and not e.name.startswith(".")]
    for role in ("test", "val"):
        found = sorted(d for d in subdirs if folder_role(d.name) == role)
        if found:
            return found[0]
    return None


def class_folders(dataset: str | os.PathLike) -> list[str]:
    """The class folders that exist in the dataset (empty ones too: a class just made), sorted."""
    root = labels_folder(dataset)
    try:
        return sorted(e.name for e in os.scandir(root)
                      if e.is_dir() and not e.name.startswith(".") and e.name != EXCLUDED_DIR)
    except OSError:
        return []


def check_class_name(name: str) -> str:
    """``name`` if it can be a class folder's name on every system, else LabelError saying why."""
    cleaned = name.strip()
    if (not cleaned or cleaned in (".", "..") or cleaned.startswith(".") or cleaned == EXCLUDED_DIR
            or any(c in cleaned for c in '<>:"/\\|?*') or any(ord(c) < 32 for c in cleaned)
            or cleaned.endswith(".")):
        raise LabelError(f"'{name}' cannot be a class name: use letters, digits and spaces (no / \\ : * ? \" < > |, "
                         "not starting or ending with a dot).")
    return cleaned


def check_folders(inbox: str | os.PathLike | None, dataset: str | os.PathLike) -> None:
    """LabelError when the inbox and the dataset folder are one inside the other (the dataset's
    pictures would be offered for labelling again, or the inbox would become a class)."""
    dataset_path = Path(dataset).expanduser()
    if dataset_path.exists() and not dataset_path.is_dir():
        raise LabelError(f"{dataset_path} is a file: give the dataset folder (one sub-folder per class).")
    if not dataset_path.exists() and not dataset_path.parent.is_dir():
        raise LabelError(f"The dataset folder {dataset_path} does not exist, nor the folder {dataset_path.parent}.")
    if inbox is None:
        return
    inbox_path = Path(inbox).expanduser()
    if not inbox_path.is_dir():
        raise LabelError(f"The inbox {inbox_path} is not a folder." if inbox_path.exists()
                         else f"The inbox {inbox_path} does not exist.")
    a, b = inbox_path.resolve(), dataset_path.resolve()
    if a == b or a in b.parents:
        raise LabelError(f"The dataset folder {dataset_path} is inside the inbox {inbox_path}: keep them apart "
                         "(for example side by side), or its labelled pictures would be offered again.")
    if b in a.parents:
        raise LabelError(f"The inbox {inbox_path} is inside the dataset folder {dataset_path}: keep them apart "
                         "(for example side by side), or the inbox would count as a class.")


def label_picture(path: str, class_name: str, dataset: str | os.PathLike, *, size: int = -1, mtime_ns: int = -1,
                  new_class: bool = False) -> LabelReport:
    """Label one picture (one undo step); LabelError with the sentence when it cannot be."""
    report = label_pictures([LabelRequest(str(path), class_name, size, mtime_ns)], dataset, new_class=new_class)
    if report.refused:
        raise LabelError(report.refused[0][1])
    return report


def label_pictures(requests: Sequence[LabelRequest], dataset: str | os.PathLike, *, new_class: bool = False,
                   progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None) -> LabelReport:
    """Move each picture into ``DATASET/<its class>/`` as one sort (undone in one step by
    :func:`undo_last_label`). A class whose folder does not exist yet is made only with
    ``new_class`` (or while the dataset has no class at all): a typo makes no class. Pictures that
    cannot be moved are listed in ``refused`` with the sentence why; LabelError when none can be
    moved for a reason that holds for all (a bad class name, the dataset folder unusable)."""
    root = labels_folder(dataset)
    check_folders(None, root)
    existing = class_folders(dataset)
    report = LabelReport(dataset=str(root))
    moves: list[tuple[str, str]] = []
    wanted: dict[str, LabelRequest] = {}
    for request in requests:
        name = check_class_name(request.class_name)
        if name not in existing and existing and not new_class:
            close = [c for c in existing if c.lower() == name.lower()]
            hint = f"did you mean '{close[0]}'?" if close else f"the classes are {', '.join(existing)}"
            raise LabelError(f"There is no class '{name}' in {root} ({hint}): check the spelling, or make it a "
                             "new class.")
        reason = _why_not(request, root, name)
        if reason:
            report.refused.append((request.path, reason))
            continue
        moves.append((request.path, name))
        wanted[request.path] = request
    if not moves:
        return report
    if root.exists() and not os.access(root, os.W_OK | os.X_OK):
        raise LabelError(f"Cannot label into {root}: the folder is not writable (permission denied). Nothing was moved.")
    try:
        placed = sorting.place_files(moves, root, move=True, progress=progress, should_stop=should_stop)
    except CatdogError as exc:
        raise LabelError(str(exc).replace("sort into", "label into").replace("The sort stopped", "Labelling stopped")
                         .replace("undoing the sort", "undoing the labels")) from None
    for src, dst in placed.placed:
        report.placed.append((src, dst))
        if os.path.basename(dst) != os.path.basename(src):
            report.renamed.append((src, dst))
    report.counts = dict(placed.counts)
    report.new_classes = sorted(c for c in placed.counts if c not in existing)
    for src, why in placed.failed:
        report.refused.append((src, _failure_sentence(src, why, root / dict(moves)[src])))
    log.info("labelled %d pictures into %s (%d refused)", len(report.placed), root, len(report.refused))
    return report


def _why_not(request: LabelRequest, root: Path, class_name: str) -> str:
    """Why this picture cannot be moved now (a sentence), or ""."""
    name = os.path.basename(request.path)
    try:
        info = os.stat(request.path)
    except OSError:
        return (f"{name} is no longer in the inbox (labelled already, moved or deleted since it was shown): "
                "nothing was moved.")
    if not os.path.isfile(request.path):
        return f"{name} is not a file: nothing was moved."
    if (request.size >= 0 and info.st_size != request.size) or (request.mtime_ns >= 0 and info.st_mtime_ns != request.mtime_ns):
        return f"{name} changed since it was shown (edited or replaced): look at it again before labelling it; it was not moved."
    folder = root / class_name
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file, not a class folder: rename it to label pictures {class_name}; {name} was not moved."
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        return f"Cannot put {name} in {class_name}: the folder {folder} is not writable (permission denied); it stays in the inbox."
    try:
        inside = Path(request.path).resolve().is_relative_to(root.resolve())
    except OSError:
        inside = False
    if inside:
        return f"{name} is already in the dataset folder {root}: nothing was moved."
    return ""


def _failure_sentence(src: str, why: str, folder: Path) -> str:
    name = os.path.basename(src)
    if why == sorting.MISSING:
        return f"{name} is no longer in the inbox (labelled already, moved or deleted since it was shown): nothing was moved."
    if why == "permission denied":
        return f"Cannot put {name} in {folder.name}: the folder {folder} is not writable (permission denied); it stays in the inbox."
    return f"Cannot put {name} in {folder.name}: {why}; it stays in the inbox."


def undo_last_label(dataset: str | os.PathLike) -> sorting.UndoReport:
    """Undo the newest labelling into ``dataset`` (one picture, or one "accept all above X %"):
    the pictures go back where they were (a new name if that one is taken since). NothingToUndoError
    when there is none."""
    root = labels_folder(dataset)
    if not root.is_dir():
        raise NothingToUndoError(f"There is no label to undo: {root} does not exist.")
    try:
        # The dataset's folder is the user's: it stays, even with nothing but the log left in it.
        return sorting.undo_last_sort(root, keep_target=True)
    except NothingToUndoError:
        raise NothingToUndoError(f"There is no label to undo in {root}.") from None
