"""Signatures that tell the records this computer's catdog-desktop wrote from ones written by others.

The sort log (core.classify.sorting) lives in the sorted folder, which may be shared or synced: whoever can
write there can write log lines, and a line that says "this file came from ~/.ssh/authorized_keys"
would make undo move a file of theirs there. So the lines that let undo move a file out of that
folder carry an HMAC-SHA256 made with a key kept in the user's own app-data folder, never beside
the log. A line from another computer, from the previous version (which signed nothing) or edited
by hand does not verify. The key is made on first use (32 random bytes, readable by the user only);
if it cannot be stored (a read-only home), a key for this run is used and a warning logged: lines
signed then verify until the program exits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from pathlib import Path

from ..fileops import os_reason
from .. import fileops

log = logging.getLogger(__name__)

#: Environment variable naming the folder the key is kept in (tests point it at a temporary folder).
DATA_ENV = fileops.DATA_DIR_ENV
KEY_NAME = "sort-log.key"
KEY_BYTES = 32
SIGNATURE = "sig"

_keys: dict[Path, bytes] = {}
_unkept: set[Path] = set()  # key files that could not be written: their key lives as long as this process


def _key() -> bytes:
    path = fileops.data_dir() / KEY_NAME
    if path not in _keys:
        try:
            _keys[path] = _read_or_make(path)
        except OSError as exc:
            log.warning("cannot keep the sort-log key in %s (%s): undo can move files back only until "
                        "the program exits", path, os_reason(exc))
            _keys[path] = secrets.token_bytes(KEY_BYTES)
            _unkept.add(path)
    return _keys[path]


def key_is_kept() -> bool:
    """Whether what is signed now can still be verified after this program exits."""
    _key()
    return fileops.data_dir() / KEY_NAME not in _unkept


def _read_or_make(path: Path) -> bytes:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = None
    if key is not None and len(key) == KEY_BYTES:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    new = secrets.token_bytes(KEY_BYTES)
    try:  # a damaged key is replaced: what it signed could not be verified anyway
        fileops.write_atomic(path, new, overwrite=key is not None, private=True)
        return new
    except FileExistsError:  # another process made it a moment ago: use theirs
        key = path.read_bytes()
        if len(key) != KEY_BYTES:
            raise OSError(f"{path} is damaged") from None
        return key


def _digest(entry: dict) -> str:
    fields = {k: v for k, v in entry.items() if k != SIGNATURE}
    text = json.dumps(fields, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hmac.new(_key(), text.encode("ascii"), hashlib.sha256).hexdigest()


def signed(entry: dict) -> dict:
    """``entry`` with its signature (under the key :data:`SIGNATURE`)."""
    return {**entry, SIGNATURE: _digest(entry)}


def verified(entry: dict) -> bool:
    """Whether ``entry`` carries a signature made on this computer for exactly these fields."""
    signature = entry.get(SIGNATURE)
    return isinstance(signature, str) and hmac.compare_digest(signature, _digest(entry))
