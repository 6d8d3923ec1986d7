"""Backbone features of pictures: computed once, streamed, cached in memory and on disk.

A pretrained training spends most of its time running the frozen backbone over every picture.
That is done once per picture (and its mirror image, a free augmentation), a chunk of pictures
at a time, so memory holds one chunk of pixels, never the whole folder. The features (1,280
numbers a picture for MobileNetV2, stored as float16) are kept on disk too, keyed by the
file's content, the backbone, its weights and the input size: training again on the same
folder, after fixing a few labels or with other settings, only computes the pictures that are new.

The disk cache is a folder of ``.npz`` shards (plain arrays, loaded with ``allow_pickle=False``),
written atomically; its zip CRCs and shapes are checked on reading, and a shard that fails
any check is ignored and removed, never trusted. The oldest shards are removed when the cache
grows past its bound.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CancelledError
from ..data.images import ImageDecodeError, load_pixels, read_file

log = logging.getLogger(__name__)

#: Bump when what a feature means changes (decoding, resizing, preprocessing): old shards are then unused.
FEATURE_VERSION = 2  # 2: float and 16-bit pictures scaled to their range (core.data.images)
#: Pictures decoded and run through the backbone together: memory holds this many pictures' pixels.
CHUNK = 128
#: A cache key: a view byte (0 the picture, 1 its mirror image) and the file content's 16-byte hash.
KEY_BYTES = 17
#: The disk cache's bound by default (about 100,000 pictures with their mirror images).
DEFAULT_MAX_BYTES = 1 << 30
#: A shard being written has a temporary name (".shard-*.tmp") until it is complete; one older than
#: this was left by a process killed while writing it, and is removed when the cache is next read.
#: (Younger ones may be another training's, writing now: a shard takes seconds to write.)
STALE_TEMPORARY_SECONDS = 3600
#: Environment variable naming the cache folder; "off" turns the disk cache off.
CACHE_ENV = "CATDOG_DESKTOP_CACHE_DIR"
#: Environment variable: the cache's bound in GB instead of :data:`DEFAULT_MAX_BYTES` (a cluster's
#: shared cache for hundreds of thousands of pictures needs more; docs/cluster.md).
CACHE_LIMIT_ENV = "CATDOG_DESKTOP_CACHE_GB"


def cache_limit() -> int:
    """The disk cache's bound in bytes: :data:`CACHE_LIMIT_ENV` when it is a positive number, else the default."""
    try:
        gigabytes = float(os.environ[CACHE_LIMIT_ENV])
    except (KeyError, ValueError):
        return DEFAULT_MAX_BYTES
    return int(gigabytes * 1e9) if gigabytes > 0 else DEFAULT_MAX_BYTES

ProgressFn = Callable[[int, int], None]


def default_cache_dir() -> Path | None:
    """The platform's cache folder for this app (``None`` when turned off by the environment)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return None if configured.lower() in ("off", "0", "none") else Path(configured)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "catdog-desktop" / "Cache" / "features"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "catdog-desktop" / "features"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "catdog-desktop" / "features"


def backbone_namespace(name: str, size: int) -> str:
    """The cache namespace of the shipped backbone ``name``'s pooled features at ``size`` pixels:
    shared by a training (core.training.pretrained), a label check and a cluster's workers."""
    from . import backbone as backbones

    return f"{backbones.spec(name).name}-{backbones.weights_sha256(name)[:16]}-{size}px-v{FEATURE_VERSION}"


def backbone_identity(name: str) -> str:
    """What the shipped backbone ``name``'s pooled features are, for the inference engine's cache of
    conversions (core.model.engine): a training's, a label check's and a cluster's are one file."""
    from . import backbone as backbones

    return f"backbone|{name}|{backbones.weights_sha256(name)}|pooled"


def _key_hash():
    return hashlib.blake2b(digest_size=16)


def content_key(path: str) -> bytes | None:
    """16 bytes that identify a file's content (None if it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, _key_hash).digest()
    except OSError:
        return None


def decode_with_key(path: str, size: int) -> tuple[np.ndarray, bytes]:
    """A picture's pixels (as :func:`images.load_pixels`) and its :func:`content_key`, both from
    one read of the file: features stored under a key are always those of the content it names,
    even when the file is edited meanwhile. Raises :class:`ImageDecodeError`."""
    data = read_file(path)
    return load_pixels(path, size, data=data), key_of(data)


def key_of(data: bytes) -> bytes:
    """The :func:`content_key` of a file's content already read."""
    key = _key_hash()
    key.update(data)
    return key.digest()


class FeatureCache:
    """Features by content key, for one backbone, weights file and input size.

    ``folder`` None: memory only. Safe to use from one thread at a time; several processes
    may share a folder (each writes whole shards under new names).
    """

    def __init__(self, folder: str | os.PathLike | None, namespace: str, feature_shape: tuple[int, ...],
                 max_bytes: int | None = None):
        self.feature_shape = tuple(feature_shape)
        self.max_bytes = max_bytes if max_bytes is not None else cache_limit()
        self.namespace = namespace
        self.folder = Path(folder) / namespace if folder is not None else None
        self._memory: dict[bytes, np.ndarray] = {}
        self._loaded = False
        self.hits = 0
        self.misses = 0
        #: Features read from disk by the runtime that computed them (each shard records it).
        self.runtimes: dict[str, int] = {}

    def _load(self) -> None:
        if self._loaded or self.folder is None:
            return
        self._loaded = True
        if not self.folder.is_dir():
            return
        self._remove_stale_temporaries()
        for shard in sorted(self.folder.glob("*.npz")):
            try:
                keys, feats = self._read_shard(shard)
            except Exception as exc:  # noqa: BLE001 - any damage means: do not use it
                log.warning("ignored damaged feature cache file %s: %s", shard, exc)
                _unlink(shard)
                continue
            for key, value in zip(keys, feats):
                self._memory[key.tobytes()] = value
            try:
                os.utime(shard)  # in use: the last to be removed when the cache is trimmed
            except OSError:
                pass

    def _remove_stale_temporaries(self) -> None:
        for tmp in self.folder.glob(".shard-*.tmp"):
            try:
                stale = time.time() - tmp.stat().st_mtime > STALE_TEMPORARY_SECONDS
            except OSError:
                continue
            if stale:
                log.info("removed %s, left by an interrupted write", tmp)
                _unlink(tmp)

    def _read_shard(self, shard: Path) -> tuple[np.ndarray, np.ndarray]:
        with np.load(shard, allow_pickle=False) as data:
            if set(data.files) not in ({"keys", "features"}, {"keys", "features", "runtime"}):
                raise ValueError(f"unexpected arrays {data.files}")
            keys, feats = data["keys"], data["features"]  # reading checks each array's CRC-32
            runtime = str(data["runtime"]) if "runtime" in data.files else "TensorFlow"
        if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != KEY_BYTES:
            raise ValueError(f"keys of type {keys.dtype}{keys.shape}")
        if feats.dtype != np.float16 or feats.shape != (len(keys), *self.feature_shape):
            raise ValueError(f"features of type {feats.dtype}{feats.shape}")
        if not np.isfinite(feats).all():
            raise ValueError("features that are not finite numbers")
        self.runtimes[runtime] = self.runtimes.get(runtime, 0) + len(keys)
        return keys, feats

    def keys(self) -> set[bytes]:
        """The keys of every feature held (read from disk first)."""
        self._load()
        return set(self._memory)

    def get(self, key: bytes) -> np.ndarray | None:
        self._load()
        value = self._memory.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put_many(self, keys: Sequence[bytes], features: np.ndarray, runtime: str = "TensorFlow",
                 trim: bool = True) -> None:
        """Remember ``features`` (n arrays of ``feature_shape``; kept as they are, not copied) for
        ``keys``; written to disk as one shard, which records the ``runtime`` that computed them
        (core.model.engine: ONNX Runtime or TensorFlow, equal within 1e-5). ``trim`` False: the
        caller trims once at the end (a cluster job writes a shard per task)."""
        self._load()
        fresh = [(k, np.asarray(f, dtype=np.float16)) for k, f in zip(keys, features) if k not in self._memory]
        for key, value in fresh:
            self._memory[key] = value
        if self.folder is None or not fresh:
            return
        tmp = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".shard-", suffix=".tmp", dir=self.folder)
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, keys=np.frombuffer(b"".join(k for k, _ in fresh), np.uint8).reshape(-1, KEY_BYTES),
                         features=np.stack([f for _, f in fresh]), runtime=np.array(runtime[:40]))
            name = f"{time.time_ns():020d}-{os.getpid()}.npz"
            os.replace(tmp, self.folder / name)
        except OSError as exc:  # a full or read-only disk: the cache is an optimisation only
            log.warning("feature cache not written (%s)", exc)
            if tmp is not None:
                _unlink(Path(tmp))  # a half-written shard would only take space
            return
        if trim:
            self.trim()

    def trim(self) -> None:
        """Remove the oldest shards until the cache folder is within ``max_bytes``."""
        if self.folder is None or self.folder.parent is None:
            return
        shards = []
        for shard in self.folder.parent.glob("*/*.npz"):
            try:
                stat = shard.stat()
            except OSError:
                continue
            shards.append((stat.st_mtime, stat.st_size, shard))
        total = sum(size for _, size, _ in shards)
        for _, size, shard in sorted(shards):
            if total <= self.max_bytes:
                break
            _unlink(shard)
            total -= size


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


@dataclass
class FeatureSet:
    """Features of the readable pictures of a split, in the split's order."""

    features: np.ndarray                 # (n, views, dim) float16; view 1, when asked for, is the mirror image
    labels: np.ndarray                   # (n,) int32
    paths: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    computed: int = 0                    # pictures run through the backbone (the rest came from the cache)
    #: With a second cache: the activations where fine-tuning begins, (n, views, h, w, c) float16.
    mid: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def y(self) -> np.ndarray:
        return self.labels


def compute_features(
    extractor: Callable[[np.ndarray], Sequence[np.ndarray]],
    paths: Sequence[str],
    labels: Sequence[int],
    image_size: int,
    caches: Sequence[FeatureCache],
    mirror: bool = True,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    workers: int = 4,
) -> FeatureSet:
    """Features of each picture (and its mirror image with ``mirror``): ``extractor`` maps
    float32 pixels (n, size, size, 3) in 0..255 to one array per cache in ``caches`` (the
    pooled features first; optionally the activations fine-tuning starts from). Pictures whose
    views are all cached are not decoded at all; the others are decoded a chunk at a time in
    threads, the next chunk while the backbone works on this one. ``progress(done, total)``
    counts pictures. Raises CancelledError when ``should_stop()`` turns True.
    """
    total = len(paths)
    views = (0, 1) if mirror else (0,)
    stop = should_stop or (lambda: False)
    skipped: dict[int, str] = {}
    # Filled in place, a picture at a time: the features of 100,000 pictures are held once
    # (float16, 5 kB a picture with its mirror image), never a second copy to assemble them.
    arrays = [np.empty((total, len(views), *cache.feature_shape), np.float16) for cache in caches]
    filled = np.zeros(total, bool)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        keys = list(pool.map(content_key, paths))
        todo = []
        for i, key in enumerate(keys):
            cached = ([[cache.get(bytes([v]) + key) for v in views] for cache in caches]
                      if key is not None else [[None]])
            if any(value is None for per_cache in cached for value in per_cache):
                todo.append(i)
            else:
                for array, per_cache in zip(arrays, cached):
                    array[i] = per_cache
                filled[i] = True
        done = total - len(todo)
        if progress is not None:
            progress(done, total)
        prefer = getattr(extractor, "prefer", None)  # an inference engine: convert first for a big job
        if prefer is not None and todo:
            prefer(len(todo) * len(views))

        def decode_one(i: int) -> tuple[np.ndarray, bytes] | str:
            try:
                return decode_with_key(paths[i], image_size)
            except ImageDecodeError as exc:
                return str(exc)

        def decode_chunk(indices: list[int]) -> list[tuple[int, np.ndarray]]:
            # In threads (Pillow releases the GIL while decoding). A picture's key becomes that of
            # the bytes decoded: the file may have changed since it was looked up in the cache.
            decoded = []
            for i, result in zip(indices, pool.map(decode_one, indices)):
                if isinstance(result, str):
                    skipped[i] = result
                else:
                    pixels, keys[i] = result
                    decoded.append((i, pixels))
            return decoded

        chunks = [todo[s:s + CHUNK] for s in range(0, len(todo), CHUNK)]
        with ThreadPoolExecutor(max_workers=1) as ahead:
            pending = ahead.submit(decode_chunk, chunks[0]) if chunks else None
            for c, chunk in enumerate(chunks):
                decoded = pending.result()
                pending = ahead.submit(decode_chunk, chunks[c + 1]) if c + 1 < len(chunks) else None
                if stop():
                    if pending is not None:
                        pending.cancel()
                    raise CancelledError("Stopped while computing features.")
                if decoded:
                    _run_chunk(extractor, decoded, views, keys, caches, arrays)
                    filled[[i for i, _ in decoded]] = True
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    for i in sorted(skipped):
        log.info("skipped %s: %s", paths[i], skipped[i])
    kept = np.flatnonzero(filled)
    if len(kept) < total:  # unreadable pictures: a copy without their rows
        arrays = [array[kept] for array in arrays]
    return FeatureSet(
        features=arrays[0], labels=np.asarray([labels[i] for i in kept], dtype=np.int32),
        paths=[paths[i] for i in kept], skipped=[(paths[i], skipped[i]) for i in sorted(skipped)],
        computed=len(todo) - len(skipped), mid=arrays[1] if len(arrays) > 1 else None,
    )


def _run_chunk(extractor, decoded, views, keys, caches, arrays) -> None:
    """Run the backbone on decoded pictures (each view); store the results in ``arrays`` (one per
    cache, indexed by picture) and, as views of those rows, in the caches."""
    x = np.stack([px for _, px in decoded]).astype(np.float32)
    per_view = [extractor(x if v == 0 else x[:, :, ::-1]) for v in views]  # [view][cache] -> (n, *shape)
    runtime = getattr(extractor, "runtime", "TensorFlow")
    rows = [i for i, _ in decoded]
    for k, (cache, array) in enumerate(zip(caches, arrays)):
        for v in range(len(views)):
            array[rows, v] = per_view[v][k]
        cache.put_many([bytes([v]) + keys[i] for i in rows if keys[i] is not None for v in views],
                       [array[i, v] for i in rows if keys[i] is not None for v in range(len(views))], runtime)
