"""Scan a dataset folder: find the layout, the classes, the files, the problems, the splits.

Two layouts are understood:

* **train/test folders** (the original project's): ``dataset/4k_training_data_set/{cats,dogs}``
  and ``dataset/1k_test_data_set/{cats,dogs}``. Folders are recognised by name ("train",
  "test", "val"/"valid"/"validation"). Without a validation folder, a stratified part of the
  training folder is held out for validation. The test folder is only ever evaluated on.
* **class folders**: ``pets/{cats,dogs}``; a stratified, seeded part is held out for validation.

Nothing here decodes pixels; it only reads file headers, so a folder of thousands of photos
scans in seconds. Files that cannot be used are listed in ``skipped`` with the reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import images
from .layout import EXCLUDED_DIR, folder_role
from ..fileops import os_reason
from ..errors import CancelledError, DatasetError
from ..wording import count, is_are

log = logging.getLogger(__name__)

LAYOUT_SPLIT = "train/test folders"
LAYOUT_CLASSES = "class folders"

#: A class with fewer images than this in training gets a warning.
FEW_IMAGES_PER_CLASS = 20
#: Largest/smallest class size ratio above which classes count as imbalanced.
IMBALANCE_RATIO = 1.5

#: How a validation share is held out of each class: "hashed" orders a class's pictures by a hash of
#: the seed and each picture's path within the dataset folder and holds out the first ones, so that
#: adding, moving or removing a picture moves at most one other of its class between training and
#: validation (a model trained again is validated on nearly the same pictures; which pictures a
#: model never trained on is known exactly from its record, TRAINED_PICTURES);
#: "shuffled" is a seeded shuffle of each class, which any change reshuffles: how models saved
#: before 2026-12-01 (no ``split_method`` recorded) were split, so their split is rebuilt that way.
SPLIT_METHOD = "hashed"
LEGACY_SPLIT_METHOD = "shuffled"

#: The key of a trained model's dataset summary that lists the pictures it trained on: the first
#: TRAINED_DIGEST_BYTES bytes of each one's content hash (blake2b), sorted and base64-encoded,
#: about 11 characters a picture. With it, "the pictures it never trained on" of that folder are
#: known exactly later, whatever was moved, renamed, excluded or added since.
TRAINED_PICTURES = "trained_pictures"
TRAINED_DIGEST_BYTES = 8
#: Files that operating systems leave in folders; skipped without a mention.
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "icon\r"})

ProgressFn = Callable[[int, int, str], None]
StopFn = Callable[[], bool]


@dataclass
class Split:
    """Files of one split (train, validation or test), with integer labels."""

    paths: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def counts(self, num_classes: int) -> list[int]:
        out = [0] * num_classes
        for label in self.labels:
            out[label] += 1
        return out


@dataclass
class Problem:
    """Something the user should know before training. ``level`` is "error" or "warning"."""

    level: str
    message: str


@dataclass
class DatasetScan:
    """What a dataset folder holds, ready for training. Plain data: safe to pass between threads."""

    root: str
    layout: str
    class_names: list[str]
    train: Split
    validation: Split
    test: Split | None
    skipped: list[tuple[str, str]]
    problems: list[Problem]
    validation_source: str  # "folder <name>" or "20% of training, seed 1337"
    seed: int = 1337
    validation_split: float = 0.2
    validation_from_folder: bool = False  # True: a validation folder, not a share of training
    split_method: str = SPLIT_METHOD  # how the validation share was chosen (SPLIT_METHOD, LEGACY_SPLIT_METHOD)
    #: The problems that do not depend on the split (layout, classes, folders), for :meth:`resplit`.
    layout_problems: list[Problem] = field(default_factory=list, repr=False)
    #: Each file's content hash (None: unreadable), so that a new split finds copies without reading.
    content_digests: dict[str, bytes | None] = field(default_factory=dict, repr=False)
    #: The test folder's pictures of classes the training folder lacks, {class: paths}: not in ``test``
    #: (nothing can train on them), but a model's evaluation says it leaves them out (core.evaluate.evaluation).
    test_only: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        """True when training can start (warnings allowed, no errors)."""
        return not self.errors

    @property
    def evaluation_split(self) -> Split:
        """The held-out split final figures are computed on: test if there is one, else validation."""
        return self.test if self.test is not None and len(self.test) else self.validation

    @property
    def evaluation_name(self) -> str:
        return "test" if self.evaluation_split is self.test else "validation"

    def resplit(self, validation_split: float, seed: int, method: str | None = None) -> "DatasetScan":
        """The same files with another share held out for validation, another seed or another
        ``method`` (default: this scan's), without reading the folder again. Returns ``self`` when
        nothing changes, including when the validation pictures come from a folder of their own."""
        method = method or self.split_method
        if self.validation_from_folder or (abs(validation_split - self.validation_split) <= 1e-9 and seed == self.seed
                                           and method == self.split_method):
            return self
        if not 0.0 < validation_split < 1.0:
            raise ValueError("validation_split must be between 0 and 1")
        index = {name: i for i, name in enumerate(self.class_names)}
        paths, labels = self.train.paths + self.validation.paths, self.train.labels + self.validation.labels
        class_files = {name: [p for p, y in zip(paths, labels) if y == i] for name, i in index.items()}
        train, validation = _hold_out(class_files, index, validation_split, seed, self.root, method)
        problems = list(self.layout_problems)
        if len(self.class_names) >= 2:
            _check_counts(self.class_names, train, validation, problems)
            _leak_problems(train, validation, self.test, self.content_digests, problems)
        return dataclasses.replace(
            self, train=train, validation=validation, problems=problems, seed=seed, split_method=method,
            validation_split=validation_split, validation_source=_share_source(validation_split, seed))

    def raise_for_errors(self) -> None:
        if self.errors:
            raise DatasetError(" ".join(p.message for p in self.errors))

    def summary(self, trained_record: bool = False) -> dict:
        """A JSON-friendly summary, stored with a trained model; with ``trained_record``, the
        pictures trained on too (TRAINED_PICTURES)."""
        n = len(self.class_names)
        record = {TRAINED_PICTURES: encode_digests(self.content_digests.get(p) for p in self.train.paths)} \
            if trained_record else {}
        return {
            "root": self.root,
            "layout": self.layout,
            "class_names": list(self.class_names),
            "train_counts": self.train.counts(n),
            "validation_counts": self.validation.counts(n),
            "test_counts": self.test.counts(n) if self.test is not None else None,
            "validation_source": self.validation_source,
            "seed": self.seed,
            "validation_split": self.validation_split,
            "split_method": self.split_method,
            "skipped": len(self.skipped),
            "problems": [asdict(p) for p in self.problems],
            **record,  # last: a long string, after what a person reads
        }


def scan_dataset(
    root: str | os.PathLike,
    validation_split: float = 0.2,
    seed: int = 1337,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    split_method: str = SPLIT_METHOD,
) -> DatasetScan:
    """Scan ``root`` and return a :class:`DatasetScan`, a ``validation_split`` share of each class
    held out by ``split_method`` and ``seed`` when there is no validation folder.

    Problems the user can fix (empty folder, one class, ...) come back in ``problems`` as
    errors rather than exceptions, so the UI can show them all at once. A folder that does not
    exist or cannot be read raises :class:`DatasetError`. ``should_stop`` returning True
    cancels the scan with :class:`CancelledError`.
    """
    if not 0.0 < validation_split < 1.0:
        raise ValueError("validation_split must be between 0 and 1")
    root_path = Path(root).expanduser()
    if not root_path.exists():
        raise DatasetError(f"The folder {root_path} does not exist.")
    if not root_path.is_dir():
        raise DatasetError(f"{root_path} is a file, not a folder. Choose the folder that holds one sub-folder per class.")
    root_path = root_path.resolve()

    scanner = _Scanner(progress, should_stop)
    subdirs = scanner.list_subdirs(root_path)
    roles = {d: folder_role(d.name) for d in subdirs}
    train_dirs = [d for d in subdirs if roles[d] == "train" and scanner.list_subdirs(d)]
    # A class folder may be called "trains" or "trainers": only take "train" as a split folder
    # when a test/validation folder stands beside it, or nothing else does.
    split_partner = any(roles[d] in ("test", "val") for d in subdirs)
    only_split_folders = all(roles[d] is not None for d in subdirs)
    problems: list[Problem] = []

    if train_dirs and (split_partner or only_split_folders):
        layout = LAYOUT_SPLIT
        if len(train_dirs) > 1:
            problems.append(Problem("warning", f"Several training folders found; using '{train_dirs[0].name}'."))
        train_dir = train_dirs[0]
        val_dirs = [d for d in subdirs if roles[d] == "val"]
        test_dirs = [d for d in subdirs if roles[d] == "test"]
        for d in subdirs:
            if d is not train_dir and d not in val_dirs[:1] and d not in test_dirs[:1]:
                problems.append(Problem("warning", f"The folder '{d.name}' is neither a training, validation nor test folder; it is ignored."))
        train_files = scanner.scan_class_folders(train_dir)
        val_files = scanner.scan_class_folders(val_dirs[0]) if val_dirs else None
        test_files = scanner.scan_class_folders(test_dirs[0]) if test_dirs else None
        loose = scanner.loose_images(root_path)
        if test_files is None:
            problems.append(Problem("warning", "No test folder found: final figures are computed on the validation split."))
    else:
        layout = LAYOUT_CLASSES
        train_files = scanner.scan_class_folders(root_path)
        val_files = test_files = None
        val_dirs = []
        loose = scanner.loose_images(root_path)

    problems += [Problem("warning", message) for message in scanner.warnings.values()]
    class_names = sorted(name for name, files in train_files.items() if files)
    empty = sorted(name for name in train_files if not train_files[name])
    if len(empty) == 1:
        problems.append(Problem("warning", f"The class folder '{empty[0]}' has no usable pictures; it is left out."))
    elif empty:
        problems.append(Problem("warning", f"{len(empty)} class folders have no usable pictures and are left out: "
                                           f"{_listed(_quoted(name) for name in empty)}."))

    if loose:
        if not class_names:
            problems.append(Problem(
                "error",
                f"The pictures are directly in '{root_path.name}'. Put them in one sub-folder per class "
                f"(for example '{root_path.name}/cats' and '{root_path.name}/dogs') and choose '{root_path.name}' again.",
            ))
        else:
            n = len(loose)
            problems.append(Problem("warning", f"{count(n, 'picture')} directly in '{root_path.name}' "
                                               f"belong{'s' if n == 1 else ''} to no class and {is_are(n)} ignored."))
        scanner.skipped.extend((p, "not inside a class folder") for p in loose)
    elif not train_files:
        problems.append(Problem("error", f"The folder '{root_path.name}' is empty: it has no class sub-folders with pictures."))
    elif not class_names:
        problems.append(Problem("error", "None of the class folders contains a usable picture."))
    if len(class_names) == 1:
        problems.append(Problem(
            "error",
            f"Only one class was found ('{class_names[0]}'). A classifier needs at least two sub-folders "
            "with pictures, for example 'cats' and 'dogs'.",
        ))

    index = {name: i for i, name in enumerate(class_names)}
    if val_files is not None:
        train, validation = Split(), Split()
        _fill(train, train_files, index)
        _fill(validation, val_files, index, problems, "validation")
        validation_source = f"folder '{val_dirs[0].name}'"
    else:
        train, validation = _hold_out({name: train_files[name] for name in class_names}, index, validation_split, seed,
                                      str(root_path), split_method)
        validation_source = _share_source(validation_split, seed)
    test = None
    test_only: dict[str, list[str]] = {}
    if test_files is not None:
        test = Split()
        test_only = _fill(test, test_files, index, problems, "test")
    layout_problems = list(problems)

    digests: dict[str, bytes | None] = {}
    if class_names:  # one class is enough to tell which of its pictures a model trained on
        held_out = validation.paths + (test.paths if test is not None else []) + sum(test_only.values(), [])
        digests = _content_digests(train.paths + held_out, scanner)
    if len(class_names) >= 2:
        _check_counts(class_names, train, validation, problems)
        _leak_problems(train, validation, test, digests, problems)

    log.info("scanned %s: %s, %d classes, %d train / %d val / %s test, %d skipped",
             root_path, layout, len(class_names), len(train), len(validation),
             len(test) if test is not None else "no", len(scanner.skipped))
    return DatasetScan(
        root=str(root_path), layout=layout, class_names=class_names, train=train,
        validation=validation, test=test, skipped=scanner.skipped, problems=problems,
        validation_source=validation_source, seed=seed, validation_split=validation_split,
        validation_from_folder=val_files is not None, layout_problems=layout_problems, content_digests=digests,
        split_method=split_method, test_only=test_only,
    )


def scan_images(
    paths: list[str | os.PathLike],
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand files and folders (recursively) into image files. Returns (images, skipped)."""
    scanner = _Scanner(progress, should_stop)
    found: list[str] = []
    for p in paths:
        p = Path(p)
        try:
            if p.is_dir():
                found += scanner.walk_images(p)
            elif p.exists():
                found += scanner.check_files([str(p)], require_extension=False)
            else:
                scanner.skipped.append((str(p), "it does not exist"))  # as given: it may never have existed
        except (OSError, RecursionError) as exc:  # this argument is unusable; the others still count
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            scanner.skipped.append((str(p), f"cannot read ({reason})"))
    return found, scanner.skipped


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in SYSTEM_FILES


def _fill(split: Split, files: dict[str, list[str]], index: dict[str, int],
          problems: list[Problem] | None = None, what: str = "") -> dict[str, list[str]]:
    """Put ``files`` ({class: paths}) of the classes in ``index`` into ``split``; returns the others'."""
    unknown = sorted(name for name, paths in files.items() if paths and name not in index)
    missing = sorted(name for name in index if not files.get(name))
    if problems is not None and unknown:
        problems.append(Problem(
            "error",
            f"The {what} folder has classes that training does not have: {', '.join(unknown)}. "
            f"Training classes: {', '.join(index)}.",
        ))
    if problems is not None and missing and index:
        problems.append(Problem("warning", f"The {what} folder has no pictures of: {', '.join(missing)}."))
    for name in sorted(files):
        if name in index:
            split.paths += sorted(files[name])
            split.labels += [index[name]] * len(files[name])
    return {name: sorted(files[name]) for name in unknown}


def _check_counts(class_names: list[str], train: Split, validation: Split, problems: list[Problem]) -> None:
    counts = train.counts(len(class_names))
    held = validation.counts(len(class_names))
    too_few = [name for name, n, v in zip(class_names, counts, held) if n == 0 or n + v < 2]
    few = [(name, n) for name, n in zip(class_names, counts) if name not in too_few and n < FEW_IMAGES_PER_CLASS]
    # One line each, however many classes: 200 small classes are one problem, not 200.
    if len(too_few) == 1:
        problems.append(Problem("error", f"The class '{too_few[0]}' needs at least 2 pictures to train and validate."))
    elif too_few:
        problems.append(Problem("error", f"{len(too_few)} classes need at least 2 pictures each to train and "
                                         f"validate: {_listed(_quoted(name) for name in too_few)}."))
    if len(few) == 1:
        problems.append(Problem("warning", f"The class '{few[0][0]}' has only {few[0][1]} training pictures; expect poor accuracy (aim for 100 or more)."))
    elif few:
        problems.append(Problem("warning", f"{len(few)} classes have fewer than {FEW_IMAGES_PER_CLASS} training "
                                           f"pictures ({_listed(_quoted(name) + f': {n}' for name, n in few)}); expect poor "
                                           "accuracy (aim for 100 or more)."))
    nonzero = [c for c in counts if c]
    if len(nonzero) >= 2 and max(nonzero) / min(nonzero) > IMBALANCE_RATIO:
        big = class_names[counts.index(max(nonzero))]
        small = class_names[counts.index(min(nonzero))]
        problems.append(Problem(
            "warning",
            f"The classes are imbalanced: '{big}' has {max(nonzero)} training pictures, '{small}' only "
            f"{min(nonzero)}. Training weights the classes to compensate.",
        ))


def _listed(items, shown: int = 5) -> str:
    """The first ``shown`` of ``items`` and how many more: a line, not a page, for hundreds of classes."""
    items = list(items)
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _quoted(name: str) -> str:
    return f"'{name}'"


def encode_digests(digests) -> str:
    """Content hashes (None ones left out) as one sorted, base64 string of their first bytes."""
    import base64

    prefixes = sorted({d[:TRAINED_DIGEST_BYTES] for d in digests if d})
    return base64.b64encode(b"".join(prefixes)).decode("ascii")


def decode_digests(text: str) -> set[bytes]:
    import base64

    raw = base64.b64decode(text.encode("ascii"), validate=True)
    return {raw[i:i + TRAINED_DIGEST_BYTES] for i in range(0, len(raw) - TRAINED_DIGEST_BYTES + 1, TRAINED_DIGEST_BYTES)}


def trained_record(summary: dict | None) -> set[bytes] | None:
    """The pictures a model recorded training on (its ``metadata["dataset"]``), as digest prefixes;
    None when it recorded none, or the record cannot be read (then it is as if there were none)."""
    text = (summary or {}).get(TRAINED_PICTURES)
    if not text:
        return None
    try:
        return decode_digests(text)
    except (ValueError, TypeError, AttributeError):  # binascii.Error is a ValueError
        log.warning("the model's record of its training pictures cannot be read; using its recorded split")
        return None


def in_record(record: set[bytes], digest: bytes | None) -> bool:
    """Whether the picture whose content hash is ``digest`` is one ``record`` (trained_record)
    lists; an unreadable file (no digest) never is."""
    return bool(digest) and digest[:TRAINED_DIGEST_BYTES] in record


def split_method_of(summary: dict | None) -> str:
    """The split method of a model's recorded dataset summary (``metadata["dataset"]``): the one
    recorded; none recorded by a model that recorded its dataset: the legacy one; no record at all:
    today's."""
    if not summary:
        return SPLIT_METHOD
    return summary.get("split_method", LEGACY_SPLIT_METHOD)


def _hold_out(class_files: dict[str, list[str]], index: dict[str, int], validation_split: float,
              seed: int, root: str, method: str = SPLIT_METHOD) -> tuple[Split, Split]:
    """(train, validation): a seeded, stratified share of each class held out (at least one picture
    of a class with two or more, never all of them), chosen by ``method`` (see SPLIT_METHOD)."""
    if method not in (SPLIT_METHOD, LEGACY_SPLIT_METHOD):
        raise ValueError(f"Unknown split method {method!r}.")
    rng = random.Random(seed)
    train, validation = Split(), Split()
    for name in sorted(class_files, key=index.get):
        files = sorted(class_files[name])
        if method == LEGACY_SPLIT_METHOD:
            rng.shuffle(files)
        else:
            files.sort(key=lambda path: _split_key(seed, root, path))
        n_val = int(round(len(files) * validation_split))
        n_val = min(max(n_val, 1), len(files) - 1) if len(files) >= 2 else 0
        validation.paths += files[:n_val]
        validation.labels += [index[name]] * n_val
        train.paths += files[n_val:]
        train.labels += [index[name]] * (len(files) - n_val)
    return train, validation


def _split_key(seed: int, root: str, path: str) -> bytes:
    """A picture's place in the hashed order: its path within the dataset folder ('/' between
    folders, whatever the system), so the order survives moving the whole folder."""
    relative = os.path.relpath(path, root).replace(os.sep, "/")
    return hashlib.blake2b(f"{seed}/{relative}".encode("utf-8", "surrogateescape"), digest_size=8).digest()


def _share_source(validation_split: float, seed: int) -> str:
    return f"{validation_split:.0%} of the training pictures (seed {seed})"


def _content_digests(paths: list[str], scanner: "_Scanner") -> dict[str, bytes | None]:
    digests: dict[str, bytes | None] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for i, (path, digest) in enumerate(zip(paths, pool.map(content_hash, paths))):
            if i % 64 == 0 and scanner.should_stop():
                pool.shutdown(wait=True, cancel_futures=True)  # Cancel must not wait for every file
                scanner._check_stop()
            digests[path] = digest
    return digests


def _leak_problems(train: Split, validation: Split, test: Split | None, digests: dict[str, bytes | None],
                   problems: list[Problem]) -> None:
    """Warn when the same picture (same bytes) is both trained on and held out."""
    held_out = [("validation", validation)] + ([("test", test)] if test is not None else [])
    trained = {digests.get(p) for p in train.paths} - {None}
    for name, split in held_out:
        leaked = [p for p in split.paths if digests.get(p) in trained]
        if leaked:
            problems.append(Problem(
                "warning",
                f"{count(len(leaked), name + ' picture')} {is_are(len(leaked))} also among the training pictures "
                f"(same file content), "
                f"e.g. '{os.path.basename(leaked[0])}'. The {name} score will look better than it really is; "
                "remove the copies for an honest figure.",
            ))


def content_hash(path: str) -> bytes | None:
    """The file's content hash that records of trained pictures keep (TRAINED_PICTURES); None if unreadable."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "blake2b").digest()
    except OSError:
        return None


class _Scanner:
    """Walks folders, checks image headers in parallel, collects skipped files."""

    def __init__(self, progress: ProgressFn | None, should_stop: StopFn | None):
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)
        self.skipped: list[tuple[str, str]] = []
        #: Warnings about folders, by path (a folder listed twice is mentioned once).
        self.warnings: dict[str, str] = {}
        self.checked = 0

    def _check_stop(self) -> None:
        if self.should_stop():
            raise CancelledError("Scanning was cancelled.")

    def list_subdirs(self, folder: Path) -> list[Path]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except PermissionError:
            raise DatasetError(f"Permission denied: cannot read the folder {folder}.") from None
        except FileNotFoundError:
            raise DatasetError(f"The folder {folder} was removed while it was being read.") from None
        except OSError as exc:
            raise DatasetError(f"Cannot read the folder {folder}: {os_reason(exc)}.") from None
        out = []
        for entry in entries:
            if not entry.name.strip(".") and _is_folder(entry):  # "...": a class folder in the user's eyes
                self.warnings.setdefault(entry.path, (
                    f"The folder '{entry.name}' in '{folder.name}' is left out: a name made only of dots is hidden "
                    "on Linux and macOS and cannot be kept on Windows. Rename it to use its pictures."))
                continue
            if _is_hidden(entry.name) or entry.name == EXCLUDED_DIR or not _is_folder(entry):
                continue
            if entry.is_symlink() and _links_to_ancestor(entry.path, folder):
                self.warnings.setdefault(entry.path, (
                    f"'{entry.name}' in '{folder.name}' is a link to '{folder.name}' itself or a folder "
                    "above it, not a class folder: it is left out."))
                continue
            out.append(Path(entry.path))
        return out

    def loose_images(self, folder: Path) -> list[str]:
        try:
            return sorted(e.path for e in os.scandir(folder)
                          if not _is_hidden(e.name) and e.is_file() and images.is_image_name(e.name))
        except OSError:
            return []

    def scan_class_folders(self, folder: Path) -> dict[str, list[str]]:
        return {d.name: self.walk_images(d) for d in self.list_subdirs(folder)}

    def walk_images(self, folder: Path) -> list[str]:
        """All usable image files below ``folder``; others are recorded in ``skipped``.

        An explicit stack rather than ``os.walk``, which recurses once per level (Python 3.11) and
        dies with RecursionError in a folder nested ~1,000 deep. Links to folders found inside are
        not followed, so a link that loops back cannot trap the scan or count pictures twice.
        """
        candidates: list[str] = []
        stack = [str(folder)]
        while stack:
            self._check_stop()
            current = stack.pop()
            try:
                with os.scandir(current) as it:
                    entries = sorted((e for e in it if not _is_hidden(e.name)), key=lambda e: e.name)
            except OSError as exc:
                self.skipped.append((current, f"cannot read ({os_reason(exc)})"))
                continue
            subfolders = []
            for entry in entries:
                if _is_folder(entry):
                    if not entry.is_symlink():
                        subfolders.append(entry.path)
                else:
                    candidates.append(entry.path)
            stack.extend(reversed(subfolders))  # depth first, in name order
        return self.check_files(candidates, require_extension=True)

    def check_files(self, candidates: list[str], require_extension: bool) -> list[str]:
        named = []
        for path in candidates:
            if require_extension and not images.is_image_name(path):
                suffix = Path(path).suffix
                reason = (images.unsupported_reason(path)
                          or (f"not an image file type ({suffix})" if suffix else "no image file extension"))
                self.skipped.append((path, reason))
            else:
                named.append(path)
        good: list[str] = []
        total = len(named)
        with ThreadPoolExecutor(max_workers=8) as pool:
            for i, (path, reason) in enumerate(zip(named, pool.map(_header_problem, named))):
                if i % 64 == 0:
                    if self.should_stop():
                        pool.shutdown(wait=True, cancel_futures=True)  # do not finish the queue
                    self._check_stop()
                    if self.progress:
                        self.progress(self.checked + i, self.checked + total, os.path.dirname(path))
                if reason is None:
                    good.append(path)
                else:
                    self.skipped.append((path, reason))
        self.checked += total
        return good


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _links_to_ancestor(link: str, folder: Path) -> bool:
    """True when the link ``link`` inside ``folder`` points at ``folder`` or a folder above it:
    walking it would go over the same pictures again."""
    try:
        target = Path(os.path.realpath(link))
        return Path(os.path.realpath(folder)).is_relative_to(target)
    except (OSError, ValueError):
        return True


def _header_problem(path: str) -> str | None:
    """Why ``path`` is unusable, from its header alone; None if it looks like a good image."""
    try:
        images.check_header(path)
    except images.ImageDecodeError as exc:
        return str(exc)
    return None
