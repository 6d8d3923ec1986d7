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

The journal lives in the target, which may be shared or synced, so undo believes none of it that
it cannot check (see :func:`undo_last_sort`). Each "planned" line records the file's size and
SHA-256 and where it goes relative to the target; the lines that let undo move a file out of the
target are signed with a key kept on this computer (core.classify.signing). The "begin" line names
the class folders the sort made: undo removes those when it leaves them empty, never a folder that
was there before (the inbox's labels are sorts into a dataset's own class folders, core.label).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import logging
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import fileops
from . import signing
from .results import is_doubtful
from ..fileops import os_reason
from ..errors import CatdogError, NothingToUndoError
from .prediction import Prediction
from ..wording import count

log = logging.getLogger(__name__)

JOURNAL_NAME = ".catdog-sort-log.jsonl"
UNCERTAIN_FOLDER = "uncertain"
#: The "not sure" folder when a class already has the folder UNCERTAIN_FOLDER (a class named so).
NOT_SURE_FOLDER = "not sure"
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
    undo_until_exit: bool = False  # moved files can be put back only by this process (core.classify.signing)

    note: str = ""          # where the "not sure" pictures went when a class took uncertain/ (not_sure_note)

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
        if self.undo_until_exit and self.move and self.placed:
            parts.append(f"Undo can put them back only until the program exits: the key that signs the sort log "
                         f"could not be kept in {fileops.data_dir()}.")

        if self.note:
            parts.append(self.note)
        return " ".join(parts)


@dataclass
class UndoReport:
    target: str
    move: bool
    restored: list[tuple[str, str]] = field(default_factory=list)   # (where it was in the target, where it is now)
    kept: list[tuple[str, str]] = field(default_factory=list)       # (path, why it was left)
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (log line, path as written, why)
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
        if self.refused:
            line, path, why = self.refused[0]
            which = f"line {line}, {os.path.basename(path)}" if path else f"line {line}"
            text += (f" 1 line of the sort log was refused (nothing was done for it): {which}: {why}."
                     if len(self.refused) == 1
                     else f" {len(self.refused)} lines of the sort log were refused (nothing was done for them), "
                     f"e.g. {which}: {why}.")

        if self.log_kept:
            text += f" {self.target} was left empty and removed; its sort log is kept in {self.log_kept}."
        return text

    def refusals(self) -> list[str]:
        """One line per refused line of the sort log: which, the file it names, and why."""
        return [f"refused (sort log line {line}): {path + ': ' if path else ''}{why}"
                for line, path, why in self.refused]


@dataclass
class LogEntry:
    """A "planned" or "placed" line of the journal, as written (nothing in it is checked yet)."""

    line: int
    src: str
    dst: str                  # relative to the target ("file"), or as the previous version wrote it ("dst")
    relative: bool
    size: int | None = None   # size and SHA-256 of what was placed (the previous version recorded none)
    sha256: str | None = None
    moved: bool = False       # signed on this computer, saying the file was moved: undo may move it back


@dataclass
class SortRun:
    """One sort as the journal records it."""

    run: str
    move: bool
    time: str
    planned: list[LogEntry] = field(default_factory=list)   # in order
    placed: dict[str, LogEntry] = field(default_factory=dict)  # src -> where it actually went
    restored: set[str] = field(default_factory=set)     # src restored (or copy removed) by an undo
    damaged: list[int] = field(default_factory=list)     # numbers of its lines that are not complete entries
    ended: bool = False
    #: The class folders the sort made (None: not recorded, by the previous version): undo removes
    #: only those, when it leaves them empty; a folder that was there before stays.
    made: set[str] | None = None
    undone: bool = False


def folder_names(class_names: Sequence[str]) -> dict[str | None, str]:
    """The sub-folder for each class, and for "not sure" (key None): names safe on every file
    system, and distinct from each other."""
    used: set[str] = set()
    names: dict[str | None, str] = {}
    for key in [*class_names, None]:
        base = _safe_name(key) if key is not None else NOT_SURE_FOLDER if UNCERTAIN_FOLDER in used else UNCERTAIN_FOLDER
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base} ({n})", n + 1
        used.add(name.lower())
        names[key] = name
    return names


def not_sure_note(class_names: Sequence[str]) -> str:
    """A sentence when a class has the folder "not sure" pictures usually go to ("" when none has)."""
    names = folder_names(class_names)
    if names[None] == UNCERTAIN_FOLDER:
        return ""
    taker = next(key for key, name in names.items() if key is not None and name.lower() == UNCERTAIN_FOLDER)
    return (f"The class '{taker}' has the folder {names[taker]}/, so the pictures the model was not sure of went "
            f"to {names[None]}/.")


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
    report = place_files(moves, target, move, progress, should_stop)
    report.unreadable = unreadable
    order = list(folder_names(class_names).values())
    if order[-1] in report.counts:
        report.note = not_sure_note(class_names)
    report.counts = dict(sorted(report.counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    log.info("sort into %s: %d placed, %d failed, %d unreadable", target, len(report.placed),
             len(report.failed), len(report.unreadable))
    return report


def place_files(moves: Sequence[tuple[str, str]], target: Path, move: bool = False,
                progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> SortReport:
    """Copy (or ``move``) each file of ``moves`` (path, folder name) into ``target/<folder>/``, as
    one sort: journaled, never overwriting, undone in one step by :func:`undo_last_sort` (the
    inbox's labels are such sorts into the dataset folder, core.label). Raises :class:`CatdogError`
    when the target cannot be used; a file that cannot be placed is listed in ``failed``."""
    report = SortReport(target=str(target), move=move, undo_until_exit=not signing.key_is_kept())
    try:
        target.mkdir(exist_ok=True)
        made = sorted(f for f in {f for _, f in moves} if not os.path.lexists(target / f))
        for folder in sorted({f for _, f in moves}):
            if (target / folder).exists() and not (target / folder).is_dir():
                raise CatdogError(f"{target / folder} is a file: the sort needs a folder of that name there. "
                                  "Rename the file or choose another target folder.")
        journal = _Journal(target)
    except OSError as exc:
        raise CatdogError(f"Cannot sort into {target}: {os_reason(exc)}.") from None
    run = uuid.uuid4().hex[:12]
    verb = "Moving" if move else "Copying"
    with journal, _said_if_stopped(report, len(moves)):
        journal.write({"op": "begin", "run": run, "mode": "move" if move else "copy",
                       "time": _dt.datetime.now().isoformat(timespec="seconds"), "count": len(moves),
                       "made": made}, sync=True)
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
            origin = os.path.abspath(src)  # undo may run from another working folder
            try:
                size, sha256 = _fingerprint(src)
                journal.write(signing.signed({"op": "planned", "run": run, "mode": "move" if move else "copy",
                                              "src": origin, "file": f"{folder}/{dst.name}",
                                              "size": size, "sha256": sha256}))
                placed = (fileops.move_file if move else fileops.copy_file)(src, target / folder, dst.name)
            except OSError as exc:
                report.failed.append((src, _reason(exc)))
                journal.write({"op": "failed", "run": run, "src": src, "reason": _reason(exc)})
                continue
            journal.write(signing.signed({"op": "placed", "run": run, "src": origin,
                                          "file": f"{folder}/{placed.name}"}))
            report.placed.append((src, str(placed)))
            report.counts[folder] = report.counts.get(folder, 0) + 1
            report.renamed += placed.name != os.path.basename(src)
            if progress is not None:
                progress(done + 1, len(moves), f"{verb} files")
        journal.write({"op": "end", "run": run, "stopped": report.stopped}, sync=True)
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
        raise CatdogError(f"Cannot read the sort log {path}: {os_reason(exc)}.") from None
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
            op, key = entry["op"], entry["run"]
            if not isinstance(key, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            log.warning("%s line %d is not a sort-log entry; ignored", path, number)
            continue
        if op == "begin":
            made = entry.get("made")
            runs[key] = SortRun(run=key, move=entry.get("mode") == "move", time=str(entry.get("time", "")),
                                made={m for m in made if isinstance(m, str)} if isinstance(made, list) else None)
            continue
        run = runs.get(key)
        if run is None:
            continue
        if op in ("planned", "placed"):
            read = _log_entry(entry, number)
            if read is None:
                run.damaged.append(number)
            elif op == "planned":
                run.planned.append(read)
            else:
                run.placed[read.src] = read
        elif op == "restored" and isinstance(entry.get("src"), str):
            run.restored.add(entry["src"])
        elif op == "end":
            run.ended = True
        elif op == "undone":
            run.undone = True
    return list(runs.values())


def _log_entry(entry: dict, number: int) -> LogEntry | None:
    """A "planned" or "placed" line read, with the types checked (None if it is not complete)."""
    src, relative = entry.get("src"), "file" in entry
    dst = entry.get("file" if relative else "dst")
    size, sha256 = entry.get("size"), entry.get("sha256")
    if not (isinstance(src, str) and isinstance(dst, str) and src and dst):
        return None
    if not (size is None or type(size) is int) or not (sha256 is None or isinstance(sha256, str)):
        return None
    moved = entry.get("mode", "move") == "move" and signing.verified(entry)  # "placed" lines name no mode
    return LogEntry(number, src, dst, relative, size, sha256, moved)


def last_sort(target: str | os.PathLike) -> SortRun | None:
    """The newest sort in ``target`` that was not undone (undo works as a stack: one sort at a time,
    newest first, even one that had nothing to move)."""
    for run in reversed(read_journal(target)):
        if not run.undone:
            return run
    return None


def undo_last_sort(target: str | os.PathLike, progress: ProgressFn | None = None,
                   keep_target: bool = False) -> UndoReport:
    """Undo the newest sort into ``target``: moved files go back where they were (a name taken
    there since gets a suffix), copies are removed while their original is still there, identical.
    A file changed or gone since is left and listed. Safe to run again after it was interrupted.

    The journal may have been edited by anyone who can write to ``target``, so a line is refused
    (listed in ``refused``, nothing done) when the file it names is not in a class folder of
    ``target`` (outside it, reached through '..' or a link), is its own original, or is not what
    the sort put there (size and SHA-256, when recorded). A file is moved out of ``target`` only
    if the lines about it were signed on this computer (core.classify.signing), so the previous version's
    journals and foreign ones never move anything; and nothing is deleted unless its original is
    there with the same content, which no line can fake.

    ``keep_target``: the target stays even when nothing but the log is left in it (a dataset folder
    labels go to, core.label.moves: the user's folder, not one a sort made).
    """
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
        raise CatdogError(f"Cannot undo the sort in {target}: {os_reason(exc)}.") from None
    folders: set[Path] = set()
    with journal:
        journal.write({"op": "undo-begin", "run": run.run}, sync=True)
        todo = [e for e in reversed(run.planned) if e.src not in run.restored]
        for done, entry in enumerate(todo):
            placed = run.placed.get(entry.src)
            written = placed or entry
            dst = _placed_file(target, written)
            if isinstance(dst, Path):
                folders.add(dst.parent)
                trusted = entry.moved and (placed is None or placed.moved)
                outcome = _undo_one(Path(entry.src), dst, run.move, placed is not None,
                                    _recorded(entry), trusted)
            else:
                outcome = _Refusal(dst)
            if isinstance(outcome, _Refusal):
                report.refused.append((written.line, written.dst, str(outcome)))
                log.info("undo in %s: sort log line %d refused: %s", target, written.line, outcome)
            elif isinstance(outcome, Path):
                journal.write({"op": "restored", "run": run.run, "src": entry.src, "at": str(outcome)})
                report.restored.append((str(dst), str(outcome)))
                report.renamed += outcome != Path(entry.src) and run.move
            elif outcome:
                report.kept.append((str(dst), outcome))
            if progress is not None:
                progress(done + 1, len(todo), "Undoing the sort")
        journal.write({"op": "undone", "run": run.run}, sync=True)
    report.refused.extend((number, "", "it is not a complete sort log entry") for number in run.damaged)
    for folder in sorted(folders, reverse=True):
        if run.made is not None and folder.name not in run.made:
            continue  # there before the sort (a class folder of a dataset labelled into): it stays
        try:
            folder.rmdir()  # only when empty: a folder with anything else in it stays
        except OSError:
            pass
    report.log_kept = "" if keep_target else _retire_journal(target)
    return report


class _Refusal(str):
    """Why a line of the journal is refused (as opposed to a file left for an ordinary reason)."""


Fingerprint = tuple[int, str]  # size, SHA-256


def _fingerprint(path: str | os.PathLike) -> Fingerprint:
    """Size and SHA-256 of a regular file (OSError for anything else: a pipe is never waited on)."""
    with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)), "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return info.st_size, hashlib.file_digest(fh, "sha256").hexdigest()


def _recorded(entry: LogEntry) -> Fingerprint | None:
    return None if entry.size is None or entry.sha256 is None else (entry.size, entry.sha256)


def _placed_file(target: Path, entry: LogEntry) -> Path | str:
    """The file ``entry`` says a sort placed, if it lies in a class folder of ``target`` (one
    level down) reached without '..' or a link; else why the line is refused."""
    if ".." in Path(entry.dst).parts:
        return "its path contains '..' (a sort never writes that)"
    path = target / entry.dst if entry.relative else Path(entry.dst)
    real_target = Path(os.path.realpath(target))
    try:
        inside = Path(os.path.abspath(path)).relative_to(os.path.abspath(target))
    except ValueError:
        try:  # the target spelt another way (through a link to it) when the previous version sorted
            inside = Path(os.path.realpath(path.parent)).relative_to(real_target) / path.name
        except ValueError:
            return f"it is outside {target}"
    if len(inside.parts) != 2:
        return f"it is not in a class folder of {target}"
    if Path(os.path.realpath(target / inside)) != real_target / inside:
        return f"it is reached through a link in {target} that leads elsewhere"
    return target / inside


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


def _undo_one(src: Path, dst: Path, move: bool, completed: bool, recorded: Fingerprint | None,
              trusted: bool) -> Path | _Refusal | str | None:
    """Undo one file. Returns where the file now is (restored), why the line is refused, a reason
    the file was left, or None when there was nothing to undo (the sort stopped before this file)."""
    if not os.path.lexists(dst):
        if os.path.lexists(src):
            return src if move and completed else None  # never moved, or already back
        return "it is no longer in the target folder"
    if os.path.lexists(src) and os.path.realpath(src) == os.path.realpath(dst):
        return _Refusal("its original and its place in the sorted folder are the same file")
    try:
        current = _fingerprint(dst) if os.path.isfile(dst) else None
    except OSError as exc:
        return f"it cannot be read ({_reason(exc)})"
    if current is None or (recorded is not None and current != recorded):
        return _Refusal("it is not what the sort put there (changed since, or replaced)")
    if not move or (os.path.lexists(src) and not completed):
        # A copy, or a move stopped inside itself (both names exist: a copy about to remove its
        # source). Removed only while the original is there with the same content.
        if _fingerprint_or_none(src) != current:
            return None if move else "it and its original differ now (or the original is gone), so the copy is kept"
        os.unlink(dst)
        return src
    if not trusted:
        return _Refusal("this computer's catdog-desktop did not write that line (an older version did, or "
                        "another computer, or someone edited the log), so the file is not moved out of the folder")
    try:
        return fileops.move_file(dst, src.parent, src.name)
    except OSError as exc:
        return f"it could not be moved back ({_reason(exc)})"


def _fingerprint_or_none(path: Path) -> Fingerprint | None:
    try:
        return _fingerprint(path) if os.path.isfile(path) else None
    except OSError:
        return None


@contextlib.contextmanager
def _said_if_stopped(report: SortReport, total: int):
    """An error that ends a sort part-way (the sort log cannot be written: a full disk, ...) as a
    sentence that says how far it got: a sort never stops without saying so."""
    try:
        yield
    except (OSError, ValueError) as exc:
        reason = _reason(exc) if isinstance(exc, OSError) else str(exc)
        undo = "puts the moved ones back" if report.move else "removes the copies"
        raise CatdogError(f"The sort stopped after {len(report.placed)} of {count(total, 'file')}: {reason}. The other "
                          f"files were not touched, and undoing the sort {undo}.") from None


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the file no longer exists"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return os_reason(exc)


class _Journal:
    """The target's sort log, appended to. Each line is flushed to the operating system when
    written (a crash of this program loses nothing); fsync at most every SYNC_INTERVAL."""

    def __init__(self, target: Path):
        self.path = target / JOURNAL_NAME
        self.fh = open(self.path, "a", encoding="utf-8")
        self.synced = time.monotonic()

    def write(self, entry: dict, sync: bool = False) -> None:
        # ASCII: a name that is not UTF-8 (Linux allows any bytes) is kept exactly, as \udcXX escapes.
        self.fh.write(json.dumps(entry) + "\n")
        self.fh.flush()
        if sync or time.monotonic() - self.synced > SYNC_INTERVAL:
            os.fsync(self.fh.fileno())
            self.synced = time.monotonic()

    def __enter__(self) -> "_Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.fh.close()
