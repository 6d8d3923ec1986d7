"""Moving and copying the user's files without ever overwriting one.

A clash gets a new name ("photo (2).jpg"). A move is a hard link then an unlink (the link fails
rather than replace an existing file, so no check-then-act race), or, across drives, a copy into a
hidden temporary file that is then given its name, and only then the original is removed: at
every moment the file is complete in at least one place, and a crash leaves no half file under a
real name. Filesystems without hard links (FAT, some network shares) fall back to a rename after
checking the name is free.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.EACCES}


def unique_path(path: str | os.PathLike) -> Path:
    """``path`` if nothing is there, else the first free "stem (n).ext" beside it."""
    path = Path(path)
    if not os.path.lexists(path):
        return path
    n = 2
    while True:
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        if not os.path.lexists(candidate):
            return candidate
        n += 1


def _link_free_name(src: Path, dst: Path) -> Path | None:
    """Hard-link ``src`` as ``dst`` or, if taken, the next free name; None if links are unsupported."""
    while True:
        target = unique_path(dst)
        try:
            os.link(src, target)
            return target
        except FileExistsError:
            continue  # taken between the check and the link: try the next name
        except OSError as exc:
            if exc.errno in _NO_LINKS:
                return None
            raise


def move_file(src: str | os.PathLike, dst_dir: str | os.PathLike, name: str | None = None) -> Path:
    """Move ``src`` into ``dst_dir`` (created if needed) as ``name`` (default: its own name), or
    a new name on a clash. Returns where it went. Raises OSError (FileNotFoundError, PermissionError…)."""
    src, dst_dir = Path(src), Path(dst_dir)
    if not src.is_file():
        raise FileNotFoundError(errno.ENOENT, "No such file", str(src))
    dst_dir.mkdir(parents=True, exist_ok=True)
    wanted = dst_dir / (name or src.name)
    if src.parent.resolve() == dst_dir.resolve() and wanted.name == src.name:
        return src
    target = _link_free_name(src, wanted)
    if target is not None:
        os.unlink(src)
        return target
    try:
        if os.stat(src).st_dev == os.stat(dst_dir).st_dev:
            target = unique_path(wanted)
            os.rename(src, target)
            return target
    except OSError:
        pass
    target = copy_file(src, dst_dir, wanted.name)
    os.unlink(src)
    return target


def copy_file(src: str | os.PathLike, dst_dir: str | os.PathLike, name: str | None = None) -> Path:
    """Copy ``src`` into ``dst_dir`` (created if needed), never over an existing file; returns the copy."""
    src, dst_dir = Path(src), Path(dst_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    wanted = dst_dir / (name or src.name)
    partial = unique_path(dst_dir / f".{wanted.name}.partial")
    try:
        shutil.copy2(src, partial)
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        target = _link_free_name(partial, wanted)
        if target is None:
            target = unique_path(wanted)
            os.rename(partial, target)
        return target
    finally:
        if os.path.lexists(partial):
            os.unlink(partial)
