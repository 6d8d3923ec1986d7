"""Sort classified files into one folder per predicted class, and undo the last sort.

``target/<class>/`` receives each readable picture (copied by default, or moved);
``target/uncertain/`` the "not sure" ones and those that look like none of the classes;
unreadable files are never touched, only listed.
Nothing is ever overwritten: a name already taken gets a suffix ("cat (2).jpg", core.fileops).

Every sort is recorded in a journal in the target folder (:data:`JOURNAL_NAME`, JSON lines).
Before each file is copied or moved, a "planned" line (source and destination) is written and
flushed to the operating system; after it, a "placed" line. So whatever stops a sort half-way
(a crash, a full disk, the power cut during a copy), each file is in exactly one complete place
(a move is one rename, or a copy completed before the source is removed), and the journal says
enough for :func:`undo_last_sort` to put back every file that was moved, including the one being
moved when it stopped. The journal is fsynced at the start and end of a sort and about once a
second in between (an fsync per file would cost more than the copy of a small photo); a power cut
can thus lose the last second of lines, not files: undo then reports those files as left in the
target rather than guessing.
"""

from __future__ import annotations

import datetime as _dt
import filecmp
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import fileops
from .batch import is_doubtful
from .errors import CatdogError, NothingToUndoError
from .prediction import Prediction

log = logging.getLogger(__name__)

JOURNAL_NAME = ".catdog-sort-log.jsonl"
UNCERTAIN_FOLDER = "uncertain"
#: Why a picture that was classified but is no longer there was skipped.
MISSING = "it is no longer there, so it was skipped"
#: Seconds between fsyncs of the journal while a sort runs (see the module docstring).
SYNC_INTERVAL = 1.0

ProgressFn = Callable[[int, int, str], None]
StopFn = Callable[[], bool]


@dataclass
class SortReport:
    """What a sort did. Paths are strings; ``placed`` pairs each source with where it went."""

    target: str
    move: bool
    placed: list[tuple[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)       # folder name -> files placed there
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # left where they are, with the reason
    failed: list[tuple[str, str]] = field(default_factory=list)      # could not be copied/moved, with the reason
    renamed: int = 0        # placed under a new name because the name was taken
    stopped: bool = False   # cancelled part-way

    def summary(self) -> str:
        """One or two sentences for the user."""
        verb = "Moved" if self.move else "Copied"
        where = ", ".join(f"{name}: {n}" for name, n in self.counts.items()) or "nothing"
        parts = [f"{verb} {len(self.placed)} file{'s' * (len(self.placed) != 1)} into {self.target} ({where})."]
        if self.renamed:
            parts.append(f"{self.renamed} got a new name because the name was taken.")
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable files were left where they are." if len(self.unreadable) > 1
                         else "1 unreadable file was left where it is.")
        if self.failed:
            path, reason = self.failed[0]
            verb = "moved" if self.move else "copied"
            parts.append(f"1 file could not be {verb}: {os.path.basename(path)} ({reason})." if len(self.failed) == 1
                         else f"{len(self.failed)} files could not be {verb}, e.g. {os.path.basename(path)}: {reason}.")
        if self.stopped:
            parts.append("Stopped before the end: the rest were not touched.")
        return " ".join(parts)


@dataclass
class UndoReport:
    target: str
    move: bool
    restored: list[tuple[str, str]] = field(default_factory=list)   # (where it was in the target, where it is now)
    kept: list[tuple[str, str]] = field(default_factory=list)       # (path, why it was left)
    renamed: int = 0
    log_kept: str = ""   # where the sort log went when the target was left empty and removed

    def summary(self) -> str:
        if self.move:
            text = f"Moved {len(self.restored)} file{'s' * (len(self.restored) != 1)} back where they were."
        else:
            text = f"Removed {len(self.restored)} cop{'ies' if len(self.restored) != 1 else 'y'} from {self.target}."
        if self.renamed:
            text += (" 1 got a new name because another file now has its name." if self.renamed == 1
                     else f" {self.renamed} got a new name because other files now have theirs.")
        if self.kept:
            path, why = self.kept[0]
            text += (f" 1 file was left as it is: {os.path.basename(path)} ({why})." if len(self.kept) == 1
                     else f" {len(self.kept)} files were left as they are, e.g. {os.path.basename(path)}: {why}.")
        if self.log_kept:
            text += f" {self.target} was left empty and removed; its sort log is kept in {self.log_kept}."
        return text


@dataclass
class SortRun:
    """One sort as the journal records it."""

    run: str
    move: bool
    time: str
    planned: list[dict] = field(default_factory=list)   # {"src", "dst"} in order
    placed: dict[str, str] = field(default_factory=dict)  # src -> dst actually used
    restored: set[str] = field(default_factory=set)     # src restored (or copy removed) by an undo
    ended: bool = False
    undone: bool = False


def folder_names(class_names: Sequence[str]) -> dict[str | None, str]:
    """The sub-folder for each class, and for "not sure" (key None): names safe on every file
    system, and distinct from each other."""
    used: set[str] = set()
    names: dict[str | None, str] = {}
    for key in [*class_names, None]:
        base = UNCERTAIN_FOLDER if key is None else _safe_name(key)
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base} ({n})", n + 1
        used.add(name.lower())
        names[key] = name
    return names


def _safe_name(name: str) -> str:
    cleaned = "".join("_" if c in '<>:"/\\|?*' or ord(c) < 32 else c for c in name).strip().rstrip(".")
    return cleaned if cleaned and cleaned not in (".", "..") else "class"


def plan(predictions: Iterable[Prediction], class_names: Sequence[str], threshold: float | None = None
         ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """([(path, folder name)] for the readable pictures, [(path, reason)] for the unreadable)."""
    names = folder_names(class_names)
    moves, unreadable = [], []
    for p in predictions:
        if p.path is None:
            continue
        if not p.ok:
            unreadable.append((p.path, p.error or "unreadable"))
        else:
            moves.append((p.path, names[None] if is_doubtful(p, threshold)
                           else names.get(p.class_name, _safe_name(p.class_name))))
    return moves, unreadable


def check_target(target: str | os.PathLike, sources: Iterable[str | os.PathLike] = ()) -> Path:
    """The target folder, checked: not a file, its parent exists, and not inside (or equal to) a
    folder being sorted (whose next scan would then find the sorted copies again)."""
    target = Path(target).expanduser()
    if target.exists() and not target.is_dir():
        raise CatdogError(f"{target} is a file, not a folder: choose a folder to sort into.")
    if not target.exists() and not target.parent.is_dir():
        raise CatdogError(f"Cannot sort into {target}: the folder {target.parent} does not exist.")
    resolved = target.resolve()
    for source in sources:
        source = Path(source).expanduser()
        if not source.is_dir():
            continue
        src = source.resolve()
        if resolved == src or src in resolved.parents:
            raise CatdogError(f"The target folder {target} is inside {source}, the folder being sorted: "
                              f"choose a folder outside it (for example {source.name}-sorted next to it).")
    return target


def sort_files(predictions: Sequence[Prediction], class_names: Sequence[str], target: str | os.PathLike,
               move: bool = False, threshold: float | None = None, sources: Iterable[str | os.PathLike] = (),
               progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> SortReport:
    """Copy (or ``move``) each readable picture into ``target/<predicted class>/`` (``uncertain/``
    when "not sure" — under ``threshold`` if given, else as the model flagged it — or "none of
    these"), recording every step in the journal.

    Raises :class:`CatdogError` when the target cannot be used; a file that cannot be copied or
    moved (gone, permission) is listed in the report and the others go on.
    """
    target = check_target(target, sources)
    moves, unreadable = plan(predictions, class_names, threshold)
    report = SortReport(target=str(target), move=move, unreadable=unreadable)
    try:
        target.mkdir(exist_ok=True)
        for folder in sorted({f for _, f in moves}):
            if (target / folder).exists() and not (target / folder).is_dir():
                raise CatdogError(f"{target / folder} is a file: the sort needs a folder of that name there. "
                                  "Rename the file or choose another target folder.")
        journal = _Journal(target)
    except OSError as exc:
        raise CatdogError(f"Cannot sort into {target}: {exc.strerror or exc}.") from None
    run = uuid.uuid4().hex[:12]
    verb = "Moving" if move else "Copying"
    with journal:
        journal.write({"op": "begin", "run": run, "mode": "move" if move else "copy",
                       "time": _dt.datetime.now().isoformat(timespec="seconds"), "count": len(moves)}, sync=True)
        for done, (src, folder) in enumerate(moves):
            if should_stop is not None and should_stop():
                report.stopped = True
                break
            if not os.path.lexists(src):
                # Gone since it was classified (deleted, or moved by an earlier sort): skip it.
                report.failed.append((src, MISSING))
                journal.write({"op": "failed", "run": run, "src": src, "reason": MISSING})
                continue
            wanted = target / folder / os.path.basename(src)
            try:
                already = os.path.lexists(wanted) and os.path.samefile(src, wanted)
            except OSError:  # either name vanished just now: treat it as not in place
                already = False
            if already:
                # Already in its place (sorted before into this target): nothing to do, no "(2)" copy.
                report.placed.append((src, src))
                report.counts[folder] = report.counts.get(folder, 0) + 1
                continue
            dst = fileops.unique_path(wanted)
            journal.write({"op": "planned", "run": run, "src": src, "dst": str(dst)})
            try:
                placed = (fileops.move_file if move else fileops.copy_file)(src, target / folder, dst.name)
            except OSError as exc:
                report.failed.append((src, _reason(exc)))
                journal.write({"op": "failed", "run": run, "src": src, "reason": _reason(exc)})
                continue
            journal.write({"op": "placed", "run": run, "src": src, "dst": str(placed)})
            report.placed.append((src, str(placed)))
            report.counts[folder] = report.counts.get(folder, 0) + 1
            report.renamed += placed.name != os.path.basename(src)
            if progress is not None:
                progress(done + 1, len(moves), f"{verb} files")
        journal.write({"op": "end", "run": run, "stopped": report.stopped}, sync=True)
    order = list(folder_names(class_names).values())
    report.counts = dict(sorted(report.counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    log.info("sort into %s: %d placed, %d failed, %d unreadable", target, len(report.placed),
             len(report.failed), len(report.unreadable))
    return report


def read_journal(target: str | os.PathLike) -> list[SortRun]:
    """The sorts recorded in ``target``'s journal, oldest first (an unfinished last line, from a
    crash while writing it, is ignored)."""
    path = Path(target) / JOURNAL_NAME
    runs: dict[str, SortRun] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.readlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CatdogError(f"Cannot read the sort log {path}: {exc.strerror or exc}.") from None
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
            op, key = entry["op"], entry["run"]
        except (ValueError, KeyError, TypeError):
            log.warning("%s line %d is not a sort-log entry; ignored", path, number)
            continue
        if op == "begin":
            runs[key] = SortRun(run=key, move=entry.get("mode") == "move", time=entry.get("time", ""))
            continue
        run = runs.get(key)
        if run is None:
            continue
        if op == "planned":
            run.planned.append({"src": entry["src"], "dst": entry["dst"]})
        elif op == "placed":
            run.placed[entry["src"]] = entry["dst"]
        elif op == "restored":
            run.restored.add(entry["src"])
        elif op == "end":
            run.ended = True
        elif op == "undone":
            run.undone = True
    return list(runs.values())


def last_sort(target: str | os.PathLike) -> SortRun | None:
    """The newest sort in ``target`` that was not undone (undo works as a stack: one sort at a time,
    newest first, even one that had nothing to move)."""
    for run in reversed(read_journal(target)):
        if not run.undone:
            return run
    return None


def undo_last_sort(target: str | os.PathLike, progress: ProgressFn | None = None) -> UndoReport:
    """Undo the newest sort into ``target``: moved files go back where they were (a name taken
    there since gets a suffix), copies are removed if they still equal their original. A file
    changed or gone since is left and listed. Safe to run again after it was interrupted."""
    target = Path(target).expanduser()
    if not target.is_dir():
        raise CatdogError(f"{target} is not a folder: give the folder the pictures were sorted into."
                          if target.exists() else f"{target} does not exist.")
    run = last_sort(target)
    if run is None:
        raise NothingToUndoError(f"There is no sort to undo in {target}.")
    report = UndoReport(target=str(target), move=run.move)
    try:
        journal = _Journal(target)
    except OSError as exc:
        raise CatdogError(f"Cannot undo the sort in {target}: {exc.strerror or exc}.") from None
    folders: set[Path] = set()
    with journal:
        journal.write({"op": "undo-begin", "run": run.run}, sync=True)
        todo = [e for e in reversed(run.planned) if e["src"] not in run.restored]
        for done, entry in enumerate(todo):
            src, dst = Path(entry["src"]), Path(run.placed.get(entry["src"], entry["dst"]))
            folders.add(dst.parent)
            outcome = _undo_one(src, dst, run.move, entry["src"] in run.placed)
            if isinstance(outcome, Path):
                journal.write({"op": "restored", "run": run.run, "src": str(src), "at": str(outcome)})
                report.restored.append((str(dst), str(outcome)))
                report.renamed += outcome != src and run.move
            elif outcome:
                report.kept.append((str(dst), outcome))
            if progress is not None:
                progress(done + 1, len(todo), "Undoing the sort")
        journal.write({"op": "undone", "run": run.run}, sync=True)
    for folder in sorted(folders, reverse=True):
        try:
            folder.rmdir()  # only when empty: a folder with anything else in it stays
        except OSError:
            pass
    report.log_kept = _retire_journal(target)
    return report


def _retire_journal(target: Path) -> str:
    """When ``target`` holds nothing but the sort log, the log moves to the app's data folder
    (fileops.data_dir()/sort-logs) and the empty target goes: an undone sort leaves no folder that
    looks empty but is not. Returns where the log went, or "" (the target is kept, log and all)."""
    try:
        if [entry.name for entry in os.scandir(target)] != [JOURNAL_NAME]:
            return ""
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        kept = fileops.move_file(target / JOURNAL_NAME, fileops.data_dir() / "sort-logs", f"{target.name}-{stamp}.jsonl")
    except OSError as exc:
        log.warning("the sort log of %s stays there: %s", target, exc)
        return ""
    try:
        target.rmdir()
    except OSError:  # something arrived meanwhile: it stays, and so does the folder
        pass
    return str(kept)


def _undo_one(src: Path, dst: Path, move: bool, completed: bool) -> Path | str | None:
    """Undo one file. Returns where the file now is (restored), a reason it was left, or None
    when there was nothing to undo (the sort stopped before this file)."""
    if not os.path.lexists(dst):
        if os.path.lexists(src):
            return src if move and completed else None  # never moved, or already back
        return "it is no longer in the target folder"
    if not move:
        if not os.path.lexists(src):
            return "its original is gone, so the copy is kept"
        if not _same_content(src, dst):
            return "the copy was changed since, so it is kept"
        os.unlink(dst)
        return src
    if os.path.lexists(src) and not completed:
        if _same_content(src, dst):
            # Stopped inside the move itself: both names exist with the same content (a copy that
            # was about to remove its source). The original is in place: drop the duplicate.
            os.unlink(dst)
            return src
        return None  # the move never happened; that file is not ours
    try:
        return fileops.move_file(dst, src.parent, src.name)
    except OSError as exc:
        return f"it could not be moved back ({_reason(exc)})"


def _same_content(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the file no longer exists"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


class _Journal:
    """The target's sort log, appended to. Each line is flushed to the operating system when
    written (a crash of this program loses nothing); fsync at most every SYNC_INTERVAL."""

    def __init__(self, target: Path):
        self.path = target / JOURNAL_NAME
        self.fh = open(self.path, "a", encoding="utf-8")
        self.synced = time.monotonic()

    def write(self, entry: dict, sync: bool = False) -> None:
        self.fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.fh.flush()
        if sync or time.monotonic() - self.synced > SYNC_INTERVAL:
            os.fsync(self.fh.fileno())
            self.synced = time.monotonic()

    def __enter__(self) -> "_Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.fh.close()
