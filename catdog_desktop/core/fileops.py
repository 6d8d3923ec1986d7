"""Moving and copying the user's files without ever overwriting one.

A clash gets a new name ("photo (2).jpg"). A move is a hard link then an unlink (the link fails
rather than replace an existing file, so no check-then-act race), or, across drives, a copy into a
hidden temporary file that is then given its name, and only then the original is removed: at
every moment the file is complete in at least one place, and a crash leaves no half file under a
real name. Filesystems without hard links (FAT, some network shares) fall back to a rename after
checking the name is free. If the original cannot be removed (a read-only folder or drive), the
new copy is removed again and the error raised: a failed move leaves the file in one place only.

:func:`write_atomic` writes a new file (a CSV, a report, an export's labels) the same way: complete
under a temporary name, then given its name, never over another file unless asked to.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
from pathlib import Path

from .errors import CatdogError

log = logging.getLogger(__name__)


def os_reason(exc: OSError) -> str:
    """Why an operating-system call failed, as a message shows it after a colon ("No space left on
    device"): the one place the engine turns an OSError into words."""
    return exc.strerror or str(exc)

_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.EACCES}


#: Environment variable naming the folder where the app keeps its own files (tests point it elsewhere).
DATA_DIR_ENV = "CATDOG_DESKTOP_DATA_DIR"


def data_dir() -> Path:
    """The platform's folder for the app's own data, this computer's (not a cache: deleting it forgets
    the key that signs sort logs, core.classify.signing, and the logs of undone sorts)."""
    import sys

    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "catdog-desktop"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "catdog-desktop"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "catdog-desktop"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The process's umask, read once at import (the app imports this module at start, before any
#: worker thread): os.umask() can only be read by setting it, and while it is 0 any file another
#: thread creates would be world-writable.
UMASK = _read_umask()


def new_file_mode() -> int:
    """The permissions a new file gets by default (for files made with mkstemp, which makes 0600)."""
    return 0o666 & ~UMASK


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
    if target is None:
        try:
            if os.stat(src).st_dev == os.stat(dst_dir).st_dev:
                target = unique_path(wanted)
                os.rename(src, target)
                return target
        except OSError:
            pass
        target = copy_file(src, dst_dir, wanted.name)
    try:
        os.unlink(src)
    except OSError:
        if not os.path.lexists(src):
            return target  # removed meanwhile by someone else: the new name holds the only copy
        # The original stays (read-only folder or drive): take the new name away again, or the
        # picture would be in two places while the caller reports that the move failed.
        _discard(target)
        raise
    return target


def _discard(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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


def write_atomic(path: str | os.PathLike, data: bytes, overwrite: bool = False, private: bool = False) -> Path:
    """Write ``data`` to ``path``: complete and flushed to disk under a temporary name beside it,
    then given its name. An existing file is replaced only when ``overwrite``; otherwise
    FileExistsError (checked by the hard link itself, or just before the rename where the file
    system has no hard links: FAT, exFAT, some shares). Other OSErrors as they come; nothing is
    left behind on an error. The file gets the usual permissions (not mkstemp's 0600), or, when
    ``private``, is readable by its owner only from its first byte on."""
    path = Path(path)
    tmp: Path | None = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        while tmp is None:
            candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            try:
                fh = os.fdopen(os.open(candidate, flags, 0o600 if private else 0o666), "wb")
            except FileExistsError:
                continue
            tmp = candidate
        with fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _place_new(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            _discard(tmp)
    return path


def _place_new(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path``, which must be free (FileExistsError otherwise)."""
    try:
        os.link(tmp, path)  # fails if the name is taken, even one taken a moment ago
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.rename(tmp, path)
        return
    os.unlink(tmp)


# ----- a file the user asked for (a report, a heatmap): checked before the long part, written atomically
def check_writable(path: str | os.PathLike, overwrite: bool = False, what: str = "the file") -> Path:
    """Raise CatdogError now, before the long part, if ``path`` could not be written (no such
    folder, a folder in the way, no permission, an existing file without ``overwrite``)."""
    path = Path(path).expanduser()
    folder = path.parent
    if not folder.is_dir():
        raise CatdogError(f"Cannot write {what}: the folder {folder} does not exist.")
    if path.is_dir():
        raise CatdogError(f"Cannot write {what} to {path}: it is a folder.")
    if path.exists() and not overwrite:
        raise CatdogError(f"{path} already exists: choose another name, or replace it (--force).")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CatdogError(f"Cannot write {what} in {folder}: permission denied. Choose another folder.")
    return path


def write_file(content: bytes, path: str | os.PathLike, overwrite: bool = False, what: str = "the file") -> Path:
    """Write ``content`` to ``path`` atomically, never over an existing file unless ``overwrite``;
    CatdogError with a readable reason otherwise. ``what`` names it in messages ("the heatmap")."""
    path = check_writable(path, overwrite, what)
    folder = path.parent
    try:
        write_atomic(path, content, overwrite=overwrite)
    except FileExistsError:
        raise CatdogError(f"{path} already exists: choose another name, or replace it (--force).") from None
    except PermissionError:
        raise CatdogError(f"Cannot write {what} in {folder}: permission denied. Choose another folder.") from None
    except OSError as exc:
        raise CatdogError(f"Cannot write {what} to {path}: {os_reason(exc)}.") from None
    log.info("%s written to %s", what, path)
    return path

