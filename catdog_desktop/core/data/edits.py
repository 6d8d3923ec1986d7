"""Fixing a dataset on disk: move a picture to another class folder, or exclude it.

Excluded pictures go to ``_excluded/<class>/`` beside the class folders (the scanner ignores that
folder); nothing is ever deleted. Each change is recorded so the last ones can be undone, and a
name clash never overwrites a file (:mod:`.fileops`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .layout import EXCLUDED_DIR, folder_role
from ..errors import CatdogError
from ..fileops import move_file, os_reason

#: How many changes can be undone.
UNDO_LIMIT = 100


class EditError(CatdogError):
    """A picture could not be moved (the message says why)."""


@dataclass(frozen=True)
class Edit:
    kind: str           # "move", "exclude" or "undo"
    source: str         # where the picture was
    destination: str    # where it is now
    class_name: str     # the class folder it went to ("" when excluded)


class DatasetEditor:
    """Moves pictures within the dataset folder ``root`` (either layout: class folders directly in
    ``root``, or in split folders such as ``root/train``)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.history: list[Edit] = []

    @property
    def can_undo(self) -> bool:
        return bool(self.history)

    def class_folder(self, path: str | os.PathLike) -> tuple[Path, str]:
        """(the folder holding the class folders, the picture's class) for a picture in the dataset."""
        path = Path(path).resolve()
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            raise EditError(f"{path.name} is not inside the dataset folder {self.root}.") from None
        if len(parts) >= 3 and folder_role(parts[0]) is not None:
            base, parts = self.root / parts[0], parts[1:]
        else:
            base = self.root
        if len(parts) < 2 or parts[0] == EXCLUDED_DIR:
            raise EditError(f"{path.name} is not in a class folder of {self.root}.")
        return base, parts[0]

    def move_to_class(self, path: str | os.PathLike, class_name: str) -> Edit:
        """Move the picture into the class folder ``class_name`` (created if it is missing)."""
        if not class_name or class_name in (".", "..", EXCLUDED_DIR) or any(c in class_name for c in "/\\\0"):
            raise EditError(f"'{class_name}' cannot be a class folder name.")
        base, current = self.class_folder(path)
        if current == class_name:
            raise EditError(f"{Path(path).name} is already in {class_name}.")
        return self._move("move", path, base / class_name, class_name)

    def exclude(self, path: str | os.PathLike) -> Edit:
        """Move the picture to ``_excluded/<its class>/``: out of the dataset (training and scores), never deleted."""
        base, current = self.class_folder(path)
        return self._move("exclude", path, base / EXCLUDED_DIR / current, "")

    def undo(self) -> Edit | None:
        """Put the last moved picture back where it was (a new name if that one is taken since)."""
        if not self.history:
            return None
        last = self.history[-1]
        source, destination = Path(last.source), Path(last.destination)
        if not destination.is_file():
            self.history.pop()
            raise EditError(f"Cannot undo: {destination.name} is no longer in {destination.parent}.")
        try:
            back = move_file(destination, source.parent, source.name)
        except OSError as exc:
            raise EditError(f"Cannot move {destination.name} back: {os_reason(exc)}.") from None
        self.history.pop()
        if last.kind == "exclude":
            _remove_if_empty(destination.parent, destination.parent.parent)  # _excluded/<class>, then _excluded
        return Edit("undo", str(destination), str(back), source.parent.name)

    def _move(self, kind: str, path, folder: Path, class_name: str) -> Edit:
        path = Path(path)
        try:
            moved = move_file(path, folder)
        except FileNotFoundError:
            raise EditError(f"{path.name} is no longer there (moved or deleted outside the app?).") from None
        except PermissionError:
            raise EditError(f"Permission denied: cannot move {path.name} to {folder}.") from None
        except OSError as exc:
            raise EditError(f"Cannot move {path.name} to {folder}: {os_reason(exc)}.") from None
        edit = Edit(kind, str(path.resolve()), str(moved.resolve()), class_name)
        self.history.append(edit)
        del self.history[:-UNDO_LIMIT]
        return edit


def _remove_if_empty(*folders: Path) -> None:
    """Remove the ``_excluded`` folders an undo has emptied (rmdir: a folder with anything in it stays)."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            return
