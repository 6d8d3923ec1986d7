"""The client's side of a cluster job: cut the pictures into tasks, hand them to Dask, and write
every result here, as it arrives.

* **Features** land in this computer's feature cache (core.model.features: content-keyed shards,
  each written atomically), one shard per finished task. Point ``CATDOG_DESKTOP_CACHE_DIR`` at
  shared storage and every machine's training reads them. Pictures whose features the cache holds
  already are read and hashed on the workers, not computed: a run started again after an
  interruption redoes only the tasks that had not come back.
* **Predictions** come back in the order of the pictures, as one computer gives them. Each
  finished task is appended to a journal in the cache folder (JSON lines, flushed to disk), so an
  interrupted ``predict``/``sort`` started again with the same model and pictures reuses them
  (a picture changed since is classified again); the journal is removed when the job completes.
  Sorting itself moves files from the client only, through core.classify.sorting's journal.

A worker that dies costs the tasks it had not returned: Dask gives them to another worker, and a
result is used once, whichever worker sent it. A task that kills workers again and again (a
picture that crashes a decoder) ends the job with a sentence naming its pictures.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..classify.prediction import Prediction
from ..errors import CatdogError, ClusterError, first_line
from ..model.features import CACHE_LIMIT_ENV, KEY_BYTES, FeatureCache, backbone_namespace, default_cache_dir
from ..wording import count, size_text
from . import tasks
from .connect import Cluster, versions

log = logging.getLogger(__name__)

#: Pictures per task: a worker that dies loses at most this many, and 2,000 pictures make enough
#: tasks to keep every worker of a small cluster busy to the end. A multiple of features.CHUNK.
TASK_PICTURES = 256
#: Where predictions of unfinished jobs are kept, inside the cache folder.
JOURNALS = "cluster-jobs"
JOURNAL_VERSION = 1
CACHE_OFF = ("The feature cache is turned off (CATDOG_DESKTOP_CACHE_DIR=off): the features would have nowhere to "
             "go. Set it to a folder (shared storage for several machines).")

ProgressFn = Callable[[int, int], None]


@dataclass
class FeaturesReport:
    """What filling the cache did: pictures, those computed now, those already cached, unreadable."""

    pictures: int
    computed: int
    cached: int
    skipped: list[tuple[str, str]]
    namespace: str
    folder: Path | None
    seconds: float
    where: str
    runtimes: dict[str, int] = field(default_factory=dict)


def check_room(cache: FeatureCache, views: int, pictures: int) -> None:
    """Refuse, before any work, a job whose features the cache would not keep: it would remove the
    first ones to make room for the last, and a training would compute them all again."""
    need = views * (int(np.prod(cache.feature_shape)) * 2 + KEY_BYTES) * 1.02  # the shards' zip headers
    if need > cache.max_bytes:
        raise ClusterError(f"The features of {count(pictures, 'picture')} take about {size_text(need)}, more "
                           f"than the feature cache keeps ({size_text(cache.max_bytes)}): set {CACHE_LIMIT_ENV}="
                           f"{int(need / 1e9) + 1} (and CATDOG_DESKTOP_CACHE_DIR to a folder with that much room, "
                           "shared storage for several machines), then run the command again.")


def fine_tune_note(training_pictures: int) -> str | None:
    """What a training of this dataset with the default settings may still compute (None: nothing)."""
    from ..config import MIN_FINE_TUNE_PICTURES

    if training_pictures < MIN_FINE_TUNE_PICTURES:
        return None
    return ("A training that fine-tunes (the default, when the activations it needs fit in memory: up to about "
            "35,000 training pictures at 160 px) runs the backbone's first blocks again for them; "
            "train --no-fine-tune uses these features alone.")


def _chunks(items: Sequence, size: int) -> list:
    return [list(items[start:start + size]) for start in range(0, len(items), size)]


def _not_seen(unseen: list[str]) -> list[tuple[str, str]]:
    """Pictures a worker could not find, with why when this computer does see them."""
    reasons = []
    for path in unseen:
        if os.path.lexists(path):
            reasons.append((path, "the cluster's workers cannot see this file: they need the pictures at the same "
                                  "path, on storage they share (docs/cluster.md)"))
        else:
            reasons.append((path, "the file no longer exists"))
    return reasons


def _all_unseen(unseen: int, pictures: int, where: str, example: str | None) -> None:
    if pictures and unseen == pictures and example is not None and os.path.lexists(example):
        raise ClusterError(f"The workers of {where} cannot see the pictures (e.g. {example}): they need them "
                           "at the same path, on storage they share (docs/cluster.md).")


def _results(cluster: Cluster, futures: dict, what: str, jobs: list):
    """(index, result) of each task as it finishes. A task that fails is said in one sentence with
    the first of its pictures (its own sentence when it has one, e.g. a model that cannot be
    opened); on any failure or interruption the tasks still out are cancelled (close() this
    generator, as ``contextlib.closing`` does, to cancel them when the caller stops early)."""
    distributed = __import__("distributed")
    try:
        for future in distributed.as_completed(list(futures)):
            index = futures[future]
            try:
                result = future.result()
            except (CatdogError, KeyboardInterrupt, SystemExit, GeneratorExit):
                raise
            except distributed.KilledWorker:
                raise ClusterError(f"The task of {what} starting at {jobs[index][0]} stopped every worker that ran "
                                   "it: one of its pictures may crash the decoder, or the workers run out of "
                                   "memory. The tasks done are kept: run the command again to go on.") from None
            except BaseException as exc:  # noqa: BLE001 - cancelled (a BaseException), lost, or a bug on the worker
                raise ClusterError(f"The task of {what} starting at {jobs[index][0]} failed on the cluster "
                                   f"({type(exc).__name__}: {first_line(exc)}). The tasks done are kept: run the "
                                   "command again to go on.") from None
            yield index, result
    finally:
        cluster.client.cancel([f for f in futures if not f.done()])


def cache_for(cluster: Cluster, model: tasks.ModelFile | tasks.Converted | None, size: int | None,
              folder: Path | None) -> tuple[FeatureCache, int]:
    """(the feature cache the features of ``model`` — None: the shipped backbone — at ``size`` go
    to, the input size): asked of a worker when it takes loading the model to know."""
    if model is None or isinstance(model, tasks.Converted):  # the shipped backbone
        from ..config import TrainingConfig
        from ..model import backbone as backbones

        name, used = TrainingConfig.backbone, int(size or TrainingConfig.image_size)
        return FeatureCache(folder, backbone_namespace(name, used), (backbones.spec(name).feature_dim,)), used
    namespace, width, used = cluster.client.submit(tasks.feature_namespace, model, size, versions(),
                                                   pure=False).result()
    return FeatureCache(folder, namespace, (width,)), used


def converted_backbone(size: int | None, job_size: int) -> tasks.Converted | None:
    """The shipped backbone's conversion for ONNX Runtime, to send to the workers: the one kept in
    the cache, else (a job big enough that one computer would convert too) converted and checked
    here first. None: the workers run TensorFlow, as one computer would for this job."""
    from ..config import TrainingConfig
    from ..model.engine import CONVERT_FROM, Engine
    from ..model.features import backbone_identity

    name, used = TrainingConfig.backbone, int(size or TrainingConfig.image_size)
    probe = Engine(None, used, backbone_identity(name), probabilities_first=False)
    content = probe.cached_conversion()
    if content is None and job_size >= CONVERT_FROM and probe.key is not None:
        from ..evaluate.label_errors import feature_source

        feature_source(None, used)[0].convert()  # TensorFlow here, once, rather than on every worker
        content = probe.cached_conversion()
    return tasks.Converted(content, used, probe.key) if content is not None else None


def converted_classifier(model: tasks.ModelFile, job_size: int) -> tasks.Converted | None:
    """:func:`converted_backbone` for a saved .keras model (its metadata read without TensorFlow)."""
    if not model.name.lower().endswith(".keras"):
        return None  # an export: the workers open it as it is
    return tasks.with_model_file(model, lambda path: _converted_classifier(path, model, job_size))


def _converted_classifier(path: str, model: tasks.ModelFile, job_size: int) -> tasks.Converted | None:
    from ..classify.classifier import outputs_identity
    from ..model import calibration, storage
    from ..model.engine import CONVERT_FROM, Engine

    metadata = storage.read_plain_metadata(path)
    if metadata is None:
        return None  # the workers load it, and their load says what is wrong with it
    size = metadata["image_size"]
    novelty = calibration.load_novelty(metadata)

    def cached() -> tasks.Converted | None:
        for layer in ([novelty.layer] if novelty is not None else []) + [None]:
            content = Engine(None, size, outputs_identity(model.digest, layer)).cached_conversion()
            if content is not None:
                return tasks.Converted(content, size, model.digest, metadata, novelty=layer is not None)
        return None

    found = cached()
    if found is None and job_size >= CONVERT_FROM:
        from ..classify.classifier import Classifier

        Classifier.load(path).engine.convert()  # TensorFlow here, once, rather than on every worker
        found = cached()
    return found


def fill_features(cluster: Cluster, groups: Sequence[tuple[Sequence[str], bool]], model: tasks.ModelFile | None = None,
                  size: int | None = None, progress: ProgressFn | None = None) -> FeaturesReport:
    """Fill this computer's feature cache with the features of every picture of ``groups``
    ((paths, with their mirror images?) pairs), computed on the cluster's workers."""
    started = time.perf_counter()
    folder = default_cache_dir()
    if folder is None:
        raise ClusterError(CACHE_OFF)
    job_size = sum(len(paths) * (2 if mirror else 1) for paths, mirror in groups)
    if model is None:
        model = converted_backbone(size, job_size)  # None: the workers build the backbone themselves
    cache, used = cache_for(cluster, model, size, folder)
    check_room(cache, job_size, sum(len(paths) for paths, _ in groups))
    client = cluster.client
    # In a list: scatter() would otherwise send each key of the set as a piece of data of its own.
    # hash=False: data of its own for this job, not shared with (and released by) an earlier one.
    [known] = client.scatter([frozenset(cache.keys())], broadcast=True, hash=False)
    model_data = client.scatter(model, broadcast=True, hash=False) if model is not None else None
    # Absolute paths, as for predict(); the skipped pictures are named with them.
    jobs = [([os.path.abspath(p) for p in chunk], mirror) for paths, mirror in groups
            for chunk in _chunks(paths, TASK_PICTURES)]
    pictures = sum(len(paths) for paths, _ in groups)
    token = uuid.uuid4().hex[:8]
    expected = versions()
    futures = {client.submit(tasks.features, model_data, used, chunk, mirror, known, job_size, expected,
                             key=f"catdog-features-{token}-{i}", pure=False): i
               for i, (chunk, mirror) in enumerate(jobs)}
    done = computed = cached = 0
    skipped: list[tuple[str, str]] = []
    unseen: list[str] = []
    runtimes: dict[str, int] = {}
    if progress is not None:
        progress(0, pictures)
    try:
        with contextlib.closing(_results(cluster, futures, "the features", [paths for paths, _ in jobs])) as results:
            for index, result in results:
                if result["namespace"] != cache.namespace:
                    raise ClusterError(f"Worker {result['worker']} computes other features ({result['namespace']}, "
                                       f"this computer {cache.namespace}): install the same catdog-desktop everywhere.")
                keys = np.frombuffer(result["keys"], np.uint8).reshape(-1, KEY_BYTES)
                if len(keys):
                    cache.put_many([k.tobytes() for k in keys], result["features"], result["runtime"], trim=False)
                    runtimes[result["runtime"]] = runtimes.get(result["runtime"], 0) + result["computed"]
                computed += result["computed"]
                cached += result["cached"]
                skipped += result["skipped"]
                unseen += result["unseen"]
                done += len(jobs[index][0])
                if progress is not None:
                    progress(done, pictures)
    finally:
        cache.trim()  # once, not after every task's shard (it looks at every shard of the cache)
    _all_unseen(len(unseen), pictures, cluster.where, unseen[0] if unseen else None)
    return FeaturesReport(pictures=pictures, computed=computed, cached=cached, skipped=skipped + _not_seen(unseen),
                          namespace=cache.namespace, folder=cache.folder, seconds=time.perf_counter() - started,
                          where=cluster.where, runtimes=runtimes)


def fill_features_here(groups: Sequence[tuple[Sequence[str], bool]], size: int | None = None,
                       progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None
                       ) -> FeaturesReport:
    """:func:`fill_features` of the shipped backbone in this process (no cluster): the same cache,
    the same pictures, what a cluster run is measured against."""
    from ..evaluate.label_errors import feature_source
    from ..model.features import compute_features

    started = time.perf_counter()
    extractor, cache, used, _ = feature_source(None, size)
    if cache.folder is None:
        raise ClusterError(CACHE_OFF)
    pictures = sum(len(paths) for paths, _ in groups)
    check_room(cache, sum(len(paths) * (2 if mirror else 1) for paths, mirror in groups), pictures)
    computed = offset = 0
    skipped: list[tuple[str, str]] = []

    def on_progress(done: int, _total: int) -> None:
        if progress is not None:
            progress(offset + done, pictures)

    for paths, mirror in groups:
        found = compute_features(extractor, list(paths), [0] * len(paths), used, [cache], mirror=mirror,
                                 progress=on_progress, should_stop=should_stop)
        computed += found.computed
        skipped += found.skipped
        offset += len(paths)
    return FeaturesReport(pictures=pictures, computed=computed, cached=pictures - computed - len(skipped),
                          skipped=skipped, namespace=cache.namespace, folder=cache.folder,
                          seconds=time.perf_counter() - started, where="this computer",
                          runtimes={extractor.runtime: computed} if computed else {})


class _Journal:
    """Finished tasks of one predict job (model, threshold, pictures), as JSON lines in the cache
    folder; a line cut short by a crash is ignored, and so is a task whose pictures changed."""

    def __init__(self, folder: Path | None, identity: str):
        self.path = folder / JOURNALS / f"predict-{identity}.jsonl" if folder is not None else None

    @staticmethod
    def _stats(paths: list[str]) -> list:
        stats = []
        for path in paths:
            try:
                st = os.stat(path)
                stats.append([st.st_size, st.st_mtime_ns])
            except OSError:
                stats.append(None)
        return stats

    def load(self, jobs: list[list[str]]) -> dict[int, list[dict]]:
        if self.path is None or not self.path.is_file():
            return {}
        found: dict[int, list[dict]] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return {}
        for line in lines:
            try:
                entry = json.loads(line)
                index = int(entry["task"])
                paths = jobs[index]
                if entry["stats"] == self._stats(paths) and [p["path"] for p in entry["predictions"]] == paths:
                    found[index] = entry["predictions"]
            except (ValueError, KeyError, IndexError, TypeError):
                continue  # cut short, or from another shape of job: done again
        return found

    def add(self, index: int, paths: list[str], predictions: list[dict]) -> None:
        if self.path is None:
            return
        line = json.dumps({"task": index, "stats": self._stats(paths), "predictions": predictions}) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a+b") as fh:
                fh.seek(0, os.SEEK_END)
                if fh.tell():  # a line cut short by a crash stays a line of its own, not the start of this one
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        fh.write(b"\n")
                fh.write(line.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:  # resuming is an optimisation: the job itself goes on
            log.warning("cluster journal not written (%s)", exc)
            self.path = None

    def remove(self) -> None:
        if self.path is not None:
            try:
                self.path.unlink()
            except OSError:
                pass


def predict(cluster: Cluster, model_path: str | os.PathLike, paths: Sequence[str], threshold: float | None = None,
            digest: str | None = None, progress: ProgressFn | None = None) -> list[Prediction]:
    """Classify ``paths`` on the cluster's workers with the model in ``model_path`` ("not sure"
    under ``threshold``, else the model's recorded one): the predictions in the order of ``paths``,
    as core.classify.classifier.Classifier.predict_paths gives them. ``digest``: the sha256 of the
    model as the client loaded it (a file saved over since is refused, not half-used)."""
    if not str(model_path).lower().endswith(".keras"):
        raise ClusterError(f"--cluster classifies with .keras models: give the .keras model {os.path.basename(model_path)} "
                           "was exported from (an export's files beside it do not travel to the workers).")
    try:
        model = tasks.ModelFile.read(model_path)
    except OSError as exc:
        raise ClusterError(f"Cannot read {model_path} to send it to the workers: {first_line(exc)}.") from None
    if digest is not None and model.digest != digest:
        raise ClusterError(f"{model.name} changed while it was being read: run the command again.")
    paths = [str(p) for p in paths]
    jobs = _chunks(paths, TASK_PICTURES)
    # The workers get absolute paths: a worker's working folder is not this one, and "photos/a.jpg"
    # there is another picture (or none). The answers keep the paths as given.
    absolute = [[os.path.abspath(p) for p in chunk] for chunk in jobs]
    given = {a: p for chunk, names in zip(absolute, jobs) for a, p in zip(chunk, names)}
    from ... import __version__

    # A journal of another version of this job (or of catdog-desktop) is not this job's.
    identity = hashlib.sha256(json.dumps([JOURNAL_VERSION, __version__, model.digest, threshold, paths])
                              .encode()).hexdigest()[:24]
    journal = _Journal(default_cache_dir(), identity)
    finished = journal.load(jobs)
    if finished:
        log.info("resuming: %d of %d tasks were done", len(finished), len(jobs))
    client = cluster.client
    sent = converted_classifier(model, len(paths)) or model  # the conversion, else the model file
    data = client.scatter(sent, broadcast=True, hash=False)  # this job's own (see fill_features)
    token = uuid.uuid4().hex[:8]
    expected = versions()
    futures = {client.submit(tasks.predict, data, threshold, chunk, len(paths), expected,
                             key=f"catdog-predict-{token}-{i}", pure=False): i
               for i, chunk in enumerate(absolute) if i not in finished}
    done = sum(len(jobs[i]) for i in finished)
    if progress is not None:
        progress(done, len(paths))
    unseen: list[str] = []
    with contextlib.closing(_results(cluster, futures, "the classification", jobs)) as results:
        for index, result in results:
            for entry, path in zip(result["predictions"], jobs[index]):
                entry["path"] = path
            finished[index] = result["predictions"]
            unseen += [given[path] for path in result["unseen"]]
            if not result["unseen"]:  # a task with pictures a worker could not see is done again next time
                journal.add(index, jobs[index], result["predictions"])
            done += len(jobs[index])
            if progress is not None:
                progress(done, len(paths))
    _all_unseen(len(unseen), len(paths), cluster.where, unseen[0] if unseen else None)
    reasons = dict(_not_seen(unseen))
    predictions = []
    for index in range(len(jobs)):
        for entry in finished[index]:
            prediction = Prediction(**entry)
            if prediction.path in reasons:
                prediction = Prediction(path=prediction.path, error=reasons[prediction.path])
            predictions.append(prediction)
    journal.remove()
    return predictions


def summary(report: FeaturesReport) -> str:
    """The features job in a sentence or two."""
    rate = report.computed / report.seconds if report.seconds > 0 else 0.0
    parts = [f"{count(report.pictures, 'picture')}: {report.computed:,} computed",
             f"{report.cached:,} already in the cache"]
    if report.skipped:
        parts.append(f"{len(report.skipped):,} unreadable (listed below)")
    return (", ".join(parts) + f", on {report.where} in {report.seconds:.1f} s ({rate:.1f} pictures/s computed). "
            f"Cache: {report.folder}")

