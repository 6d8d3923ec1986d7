"""The cluster path (core.cluster) on a real Dask LocalCluster: worker processes on loopback,
the real backbone and model. Features and predictions equal one computer's, in the same order;
a run started again skips what is done; a killed worker costs only its unfinished tasks; an
unreachable scheduler, mismatched versions and pictures the workers cannot see are one sentence.

These tests start worker processes that load TensorFlow, so they are the slower ones: kept in one
xdist group (one test process shares the module's cluster), and they run with the rest of the suite.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog_desktop import cli
from catdog_desktop.core.classify.classifier import Classifier
from catdog_desktop.core.cluster import connect as connecting, jobs, tasks
from catdog_desktop.core.data.dataset import scan_dataset
from catdog_desktop.core.errors import ClusterError
from catdog_desktop.core.model import features
from synthetic import write_class_folders

pytestmark = pytest.mark.xdist_group("cluster")

SIZE = 64  # the backbone at 64 px: quick, and what tests/core/test_label_errors.py uses


@pytest.fixture(scope="module")
def cluster():
    with connecting.connect("local:2") as started:
        yield started


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    """2 classes of 40 generated pictures, and a picture cut short in each: its header reads well (the
    folder scan takes it), its pixels do not (the worker that decodes it finds out)."""
    root = write_class_folders(tmp_path_factory.mktemp("cluster") / "pets", ["cats", "dogs"], 40, seed=5)
    for source, broken in (("cats/cats_000.png", "cats/broken.png"), ("dogs/dogs_000.png", "dogs/broken.jpg")):
        whole = io.BytesIO()
        Image.open(root / source).save(whole, "PNG" if broken.endswith(".png") else "JPEG")
        (root / broken).write_bytes(whole.getvalue()[:len(whole.getvalue()) // 2])
    return root


def _use_cache(monkeypatch, folder: Path) -> Path:
    monkeypatch.setenv(features.CACHE_ENV, str(folder))
    return folder


def _groups(root: Path):
    scan = scan_dataset(root)
    return [(list(scan.train.paths) + list(scan.validation.paths), True)]


def _cached(folder: Path, namespace: str) -> dict[bytes, np.ndarray]:
    """Every (key, feature) in the cache's shards; a key written twice fails the test."""
    found: dict[bytes, np.ndarray] = {}
    for shard in sorted((folder / namespace).glob("*.npz")):
        with np.load(shard, allow_pickle=False) as data:
            for key, value in zip(data["keys"], data["features"]):
                assert key.tobytes() not in found, "a picture's features were written twice"
                found[key.tobytes()] = value
    return found


def test_features_on_the_cluster_equal_one_computers_and_are_not_computed_again(cluster, pictures, tmp_path,
                                                                                monkeypatch):
    groups = _groups(pictures)
    _use_cache(monkeypatch, tmp_path / "here")
    here = jobs.fill_features_here(groups, SIZE)
    _use_cache(monkeypatch, tmp_path / "there")
    spread = jobs.fill_features(cluster, groups, size=SIZE)
    assert spread.where == "a local cluster of 2 workers"
    assert (spread.pictures, spread.computed, spread.cached) == (82, 80, 0)
    assert sorted(spread.skipped) == sorted(here.skipped) and len(spread.skipped) == 2
    assert {Path(p).name for p, _ in spread.skipped} == {"broken.png", "broken.jpg"}
    mine, theirs = _cached(tmp_path / "here", here.namespace), _cached(tmp_path / "there", spread.namespace)
    assert spread.namespace == here.namespace and len(theirs) == 160  # each picture and its mirror image
    assert mine.keys() == theirs.keys()
    # Equal to the cache's precision: a worker's one thread sums in another order than two threads
    # do, and a float32 sum that lands near a float16 rounding boundary rounds the other way: at most
    # one float16 rounding apart (2**-10 of the value), and rarely (measured: 5 numbers in 100,000).
    a = np.stack([mine[k] for k in mine]).astype(np.float32)
    b = np.stack([theirs[k] for k in mine]).astype(np.float32)
    assert (np.abs(a - b) <= 2.0 ** -10 * np.maximum(np.abs(a), np.abs(b)) + 1e-7).all()
    assert (a != b).mean() < 1e-3

    again = jobs.fill_features(cluster, groups, size=SIZE)  # an interrupted or repeated run: nothing to compute
    assert (again.computed, again.cached, len(again.skipped)) == (0, 80, 2)
    assert len(_cached(tmp_path / "there", spread.namespace)) == 160


def test_a_training_after_the_features_command_computes_no_feature(pictures, tmp_path, monkeypatch, capsys):
    from catdog_desktop.core.config import TrainingConfig
    from catdog_desktop.core.training import train as training

    _use_cache(monkeypatch, tmp_path / "cache")
    code = cli.main(["--json", "features", str(pictures), "--image-size", str(SIZE), "--cluster", "local:2"])
    out = json.loads(capsys.readouterr().out)
    assert code == cli.EXIT_SOME_FAILED  # the two broken pictures, listed
    assert (out["pictures"], out["computed"], out["cached"]) == (82, 80, 0)
    assert {Path(s["path"]).name for s in out["skipped"]} == {"broken.png", "broken.jpg"}
    result = training.train(TrainingConfig(backbone="mobilenet_v2", image_size=SIZE, head_epochs=2, epochs=1,
                                           time_limit_minutes=0, cross_validate_below=0), scan_dataset(pictures))
    assert result.features_computed == 0 and result.features_cached == 80


def test_predictions_on_the_cluster_equal_one_computers_in_order(cluster, trained, pictures):
    _, _, model_path = trained
    files = sorted(str(p) for p in pictures.rglob("*.*"))
    classifier = Classifier.load(model_path)
    here = classifier.predict_paths(files)
    there = jobs.predict(cluster, model_path, files, digest=classifier.digest)
    assert [p.path for p in there] == files == [p.path for p in here]
    assert [(p.class_name, p.error, p.uncertain, p.unfamiliar) for p in there] == \
           [(p.class_name, p.error, p.uncertain, p.unfamiliar) for p in here]
    assert sum(not p.ok for p in there) == 2
    worst = max(abs(a.probabilities[c] - b.probabilities[c]) for a, b in zip(here, there) if a.ok
                for c in classifier.class_names)
    assert worst <= 1e-6, worst


def test_an_interrupted_classification_goes_on_where_it_stopped(cluster, trained, pictures, monkeypatch):
    _, _, model_path = trained
    monkeypatch.setattr(jobs, "TASK_PICTURES", 16)
    files = sorted(str(p) for p in pictures.rglob("*.png"))  # 81: 6 tasks
    seen = []

    def stop_after_two(done, total):
        seen.append(done)
        if len(seen) == 3:  # the call before any result, then two tasks back
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        jobs.predict(cluster, model_path, files, progress=stop_after_two)
    journals = list((features.default_cache_dir() / jobs.JOURNALS).glob("predict-*.jsonl"))
    assert len(journals) == 1 and len(journals[0].read_text().splitlines()) == 2

    starts = []
    done = jobs.predict(cluster, model_path, files, progress=lambda d, t: starts.append(d))
    assert starts[0] == 32  # the two tasks done before were not sent again
    assert [p.path for p in done] == files
    whole = jobs.predict(cluster, model_path, files)
    assert [(p.class_name, p.probability) for p in done] == [(p.class_name, p.probability) for p in whole]
    assert not journals[0].exists()  # a finished job leaves no journal


def test_a_killed_worker_costs_only_its_unfinished_share(pictures, tmp_path, monkeypatch):
    """Its own cluster: when the first task comes back, the process of a worker that is running a
    task is killed (SIGKILL); Dask gives that task to the other worker (and the nanny starts a new
    worker). Every picture is computed, and its features are written, once."""
    cache = _use_cache(monkeypatch, tmp_path / "cache")
    monkeypatch.setattr(jobs, "TASK_PICTURES", 8)
    groups = _groups(pictures)
    killed = []
    with connecting.connect("local:2") as own:
        pids = own.client.run(os.getpid)

        def kill_one(done, _total):
            if done and not killed:
                busy = [worker for worker, running in own.client.processing().items() if running]
                assert busy, "no task in flight when the worker was to be killed"
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(pids[busy[0]])

        report = jobs.fill_features(own, groups, size=SIZE, progress=kill_one)
        assert killed and killed[0] not in own.client.run(os.getpid).values()
    assert (report.pictures, report.computed, report.cached, len(report.skipped)) == (82, 80, 0, 2)
    features_written = _cached(cache, report.namespace)
    assert len(features_written) == 160  # each picture's two views
    shards = sum(len(np.load(shard)["keys"]) for shard in (cache / report.namespace).glob("*.npz"))
    assert shards == 160  # no task's results written twice


def test_model_features_for_check_labels_on_the_cluster(cluster, trained, pictures, tmp_path, monkeypatch, capsys):
    _, _, model_path = trained
    _use_cache(monkeypatch, tmp_path / "cache")
    assert cli.main(["check-labels", str(pictures), "--model", str(model_path), "--cluster", "local:1"]) == 0
    err = capsys.readouterr().err
    assert "cluster: a local cluster of 1 worker (1 worker now, 1 thread in all)" in err
    found = jobs.fill_features(cluster, [(sorted(str(p) for p in pictures.rglob("*.png")), False)],
                               tasks.ModelFile.read(model_path))
    assert found.computed == 0 and found.cached == 80  # the check put them in the cache: none computed again


def test_sort_on_the_cluster_moves_from_the_client_and_undoes(trained, pictures, tmp_path, capsys):
    import shutil

    _, _, model_path = trained
    source = tmp_path / "unsorted"
    shutil.copytree(pictures / "dogs", source)
    target = tmp_path / "sorted"
    assert cli.main(["--json", "sort", str(model_path), str(source), "--to", str(target), "--move",
                     "--cluster", "local:1"]) == cli.EXIT_SOME_FAILED  # broken.jpg stays where it is
    report = json.loads(capsys.readouterr().out)
    assert report["placed"] == 40 and [Path(u["path"]).name for u in report["unreadable"]] == ["broken.jpg"]
    assert sorted(p.name for p in source.iterdir()) == ["broken.jpg"]
    assert cli.main(["undo-sort", str(target)]) == 0
    assert len(list(source.iterdir())) == 41


def test_the_cluster_is_refused_in_one_sentence(monkeypatch, tmp_path):
    with pytest.raises(ClusterError, match=r"Could not reach the Dask scheduler \(tcp://127.0.0.1:9\) within 2 s"):
        connecting.connect("tcp://127.0.0.1:9", timeout=2)
    for spec in ("local:0", "local:two", "two words"):
        with pytest.raises(ClusterError, match="give local, local:N"):
            connecting.parse(spec)
    with pytest.raises(ClusterError, match="no scheduler file there"):
        connecting.parse(str(tmp_path / "scheduler.json"))
    assert connecting.parse("10.0.0.5:8786") == ("address", None)
    assert connecting.parse("local:3") == ("local", 3)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    with pytest.raises(ClusterError, match=r'pip install "catdog-desktop\[cluster\]"'):
        connecting.connect("local:1")


def test_a_worker_with_other_versions_is_named_before_any_task(cluster):
    mine = connecting.versions()
    assert mine["catdog-desktop"] and mine["tensorflow"] and mine["python"].count(".") == 1
    connecting.check_workers(cluster)  # the same installation: accepted
    with pytest.raises(ClusterError, match=r"Worker tcp://127\.0\.0\.1:\d+ has tensorflow .*, this computer 0\.0"):
        connecting.check_workers(cluster, {**mine, "tensorflow": "0.0"})


def test_pictures_the_workers_cannot_see_are_said_so(pictures, tmp_path):
    seen_here = str(next((pictures / "cats").glob("*.png")))
    reasons = dict(jobs._not_seen([seen_here, str(tmp_path / "gone.png")]))
    assert "cannot see this file" in reasons[seen_here] and "same path" in reasons[seen_here]
    assert reasons[str(tmp_path / "gone.png")] == "the file no longer exists"
    with pytest.raises(ClusterError, match="cannot see the pictures"):
        jobs._all_unseen(3, 3, "the scheduler at tcp://x:8786", seen_here)
    # On a worker: a path it cannot see is returned as such, not computed, not an error.
    result = tasks.features(None, SIZE, [str(tmp_path / "elsewhere.png")], True, frozenset(), 1)
    assert (result["unseen"], result["computed"], len(result["keys"])) == ([str(tmp_path / "elsewhere.png")], 0, 0)


def test_fast_and_cluster_are_one_or_the_other(trained, pictures, capsys):
    _, _, model_path = trained
    assert cli.main(["predict", str(model_path), str(pictures), "--fast", "--cluster", "local"]) == cli.EXIT_ERROR
    assert "--fast and --cluster do not go together" in capsys.readouterr().err


def test_workers_run_the_clients_conversion_without_tensorflow(trained, pictures, tmp_path, monkeypatch):
    """A conversion the client has (core.model.engine) is sent instead of the model: the workers
    classify with ONNX Runtime alone, as this computer does with that conversion."""
    _, _, model_path = trained
    _use_cache(monkeypatch, tmp_path / "cache")
    classifier = Classifier.load(model_path)
    assert classifier.engine.convert()  # checked and kept in the cache, as a first big job does
    files = sorted(str(p) for p in pictures.rglob("*.*"))
    here = classifier.predict_paths(files)
    with connecting.connect("local:1") as own:
        there = jobs.predict(own, model_path, files, digest=classifier.digest)
        assert not any(own.client.run(lambda: "tensorflow" in sys.modules).values())
    assert [(p.path, p.class_name, p.error, p.uncertain, p.unfamiliar) for p in there] == \
           [(p.path, p.class_name, p.error, p.uncertain, p.unfamiliar) for p in here]
    assert max(abs(a.probabilities[c] - b.probabilities[c]) for a, b in zip(here, there) if a.ok
               for c in classifier.class_names) <= 1e-6


def test_the_backbone_conversion_is_sent_to_the_workers(cluster, pictures, tmp_path, monkeypatch):
    from catdog_desktop.core.evaluate.label_errors import feature_source

    _use_cache(monkeypatch, tmp_path / "cache")
    assert feature_source(None, SIZE)[0].convert()
    sent = jobs.converted_backbone(SIZE, job_size=10)
    assert sent is not None and sent.image_size == SIZE and len(sent.onnx) > 100_000
    groups = _groups(pictures)
    spread = jobs.fill_features(cluster, groups, size=SIZE)
    assert spread.runtimes == {"ONNX Runtime": 80}
    _use_cache(monkeypatch, tmp_path / "cache-here")
    assert feature_source(None, SIZE)[0].convert()
    here = jobs.fill_features_here(groups, SIZE)
    assert here.runtimes == {"ONNX Runtime": 80}
    mine, theirs = _cached(tmp_path / "cache-here", here.namespace), _cached(tmp_path / "cache", spread.namespace)
    assert mine.keys() == theirs.keys() and all(np.array_equal(mine[k], theirs[k]) for k in mine)


def test_a_failing_task_is_named_by_its_first_picture(cluster):
    failing = cluster.client.submit(lambda: 1 / 0, pure=False)
    with pytest.raises(ClusterError, match=r"The task of the features starting at /data/a\.png failed on the "
                                           r"cluster \(ZeroDivisionError: division by zero\)\. The tasks done are kept"):
        list(jobs._results(cluster, {failing: 0}, "the features", [["/data/a.png", "/data/b.png"]]))


def test_a_worker_that_joined_later_with_other_versions_refuses_its_tasks(monkeypatch):
    monkeypatch.setattr(tasks, "_versions_checked", False)
    with pytest.raises(ClusterError, match=r"Worker this process has numpy .*, this computer 0\.1: its results"):
        tasks.check_versions({**connecting.versions(), "numpy": "0.1"})
    tasks.check_versions(connecting.versions())  # the same: accepted, and not looked at again


def test_exports_and_too_small_caches_are_refused_before_any_task(cluster, pictures, tmp_path, monkeypatch):
    export = tmp_path / "model.onnx"
    export.write_bytes(b"not used")
    with pytest.raises(ClusterError, match=r"--cluster classifies with \.keras models: give the \.keras model "
                                           r"model\.onnx was exported from"):
        jobs.predict(cluster, export, [str(pictures / "cats" / "cats_001.png")])
    _use_cache(monkeypatch, tmp_path / "cache")
    monkeypatch.setenv(features.CACHE_LIMIT_ENV, "0.0001")  # 100 kB: less than 80 pictures' features
    with pytest.raises(ClusterError, match=r"The features of 82 pictures take about 0\.4 MB, more than the feature "
                                           r"cache keeps \(0\.1 MB\): set CATDOG_DESKTOP_CACHE_GB=1"):
        jobs.fill_features(cluster, _groups(pictures), size=SIZE)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npz"))


def test_the_journal_keeps_whole_tasks_only(tmp_path):
    paths = [str(tmp_path / f"{i}.png") for i in range(3)]
    for path in paths:
        Path(path).write_bytes(b"x")
    journal = jobs._Journal(tmp_path, "job")
    entry = [{"path": p, "class_name": "cats", "probability": 0.9} for p in paths[:2]]
    journal.add(0, paths[:2], entry)
    with open(journal.path, "a", encoding="utf-8") as fh:
        fh.write('{"task": 1, "stats": [[1, 2')  # a crash in the middle of writing task 1
    journal.add(2, paths[2:], [{"path": paths[2], "class_name": "dogs", "probability": 0.8}])
    found = journal.load([paths[:2], ["elsewhere.png"], paths[2:]])
    assert sorted(found) == [0, 2] and found[0] == entry  # the cut line is skipped, the next one kept
    Path(paths[2]).write_bytes(b"changed")  # a picture changed since: its task is done again
    assert sorted(journal.load([paths[:2], ["elsewhere.png"], paths[2:]])) == [0]


def test_the_features_command_says_when_fine_tuning_would_run_the_backbone_again():
    assert jobs.fine_tune_note(499) is None
    assert "train --no-fine-tune uses these features alone" in jobs.fine_tune_note(500)


def test_a_client_reads_only_well_formed_metadata_without_loading_the_model(trained, tmp_path):
    """Odd class names in a model file: the client does not trust them without loading the model."""
    import zipfile

    from catdog_desktop.core.model import storage

    _, _, model_path = trained
    assert storage.read_plain_metadata(model_path)["class_names"] == ["cats", "dogs"]
    for names in (5, ["cats", "cats"], ["cats", 3], ["only"]):
        odd = tmp_path / "odd.keras"
        with zipfile.ZipFile(model_path) as source, zipfile.ZipFile(odd, "w") as target:
            for item in source.infolist():
                data = source.read(item)
                if item.filename == storage.METADATA_ENTRY:
                    data = json.dumps({**json.loads(data), "class_names": names}).encode()
                target.writestr(item, data)
        assert storage.read_plain_metadata(odd) is None, names
        assert cli._model_summary(str(odd), None) is None


def test_relative_paths_reach_the_workers_as_the_same_pictures(cluster, trained, pictures, monkeypatch):
    """The workers started in another folder than the one the client is in now: "cats/x.png" is
    sent as the picture the client means, and the answers keep the paths as given."""
    _, _, model_path = trained
    monkeypatch.chdir(pictures)  # not where the cluster's workers were started
    files = sorted(f"{p.parent.name}/{p.name}" for p in pictures.rglob("cats_00*.png"))
    there = jobs.predict(cluster, model_path, files)
    here = Classifier.load(model_path).predict_paths(files)
    assert [p.path for p in there] == files and all(p.ok for p in there)
    assert [p.class_name for p in there] == [p.class_name for p in here]


def test_what_can_be_refused_is_refused_before_a_cluster_starts(pictures, trained, tmp_path, monkeypatch, capsys):
    from catdog_desktop.core.errors import CancelledError

    monkeypatch.setenv(features.CACHE_ENV, "off")
    assert cli.main(["features", str(pictures), "--cluster", "local:1"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "error: The feature cache is turned off" in err and "cluster:" not in err
    export = tmp_path / "model.onnx"
    export.write_bytes(b"not read")
    assert cli.main(["predict", str(export), str(pictures), "--cluster", "local:1"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "error: --cluster classifies with .keras models" in err and "cluster:" not in err
    with pytest.raises(CancelledError, match="interrupted: the tasks done are kept; run the same command again"):
        with cli._kept_on_interrupt():
            raise KeyboardInterrupt
