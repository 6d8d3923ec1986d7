"""STAND-IN for the lead's core/fileops.py (same API as announced), so that core/sorting.py can be
written and tested before main has it. On merge, take main's version of this file.

Never overwrite: a clash gets a new name ("name (2).ext"). A move is a rename, or (across file
systems) a copy to a temporary name, a rename into place, then the source removed, so the file
is always in at least one complete place and never half-written under its final name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def unique_path(path: str | os.PathLike) -> Path:
    """``path`` if nothing is there, else the first free "name (2).ext", "name (3).ext", ..."""
    path = Path(path)
    if not os.path.lexists(path):
        return path
    n = 2
    while True:
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        if not os.path.lexists(candidate):
            return candidate
        n += 1


def _link_into(src: Path, dst: Path) -> Path:
    """Put ``src`` at ``dst`` or the next free name, atomically, never replacing anything."""
    while True:
        try:
            os.link(src, dst)  # fails if dst exists: no overwrite race
            return dst
        except FileExistsError:
            dst = unique_path(dst)


def copy_file(src: str | os.PathLike, dst_dir: str | os.PathLike, name: str | None = None) -> Path:
    src, dst_dir = Path(src), Path(dst_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    tmp = dst_dir / f".{src.name}.catdog-partial"
    tmp = unique_path(tmp)
    shutil.copy2(src, tmp)
    try:
        return _link_into(tmp, unique_path(dst_dir / (name or src.name)))
    finally:
        os.unlink(tmp)


def move_file(src: str | os.PathLike, dst_dir: str | os.PathLike, name: str | None = None) -> Path:
    src, dst_dir = Path(src), Path(dst_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = unique_path(dst_dir / (name or src.name))
    try:
        dst = _link_into(src, dst)
    except OSError:
        dst = copy_file(src, dst_dir, dst.name)
    os.unlink(src)
    return dst
