"""Training from the pretrained backbone that ships with the app (real weights, tiny pictures)."""

import json
import zipfile

import numpy as np
from PIL import Image
import pytest

from catdog_desktop.core.model import backbone
from catdog_desktop.core.model import features
from catdog_desktop.core.training import train as training
from catdog_desktop.core.training import pretrained as transfer
from catdog_desktop.core.config import TrainingConfig, preset
from catdog_desktop.core.data.dataset import scan_dataset
from catdog_desktop.core.errors import CancelledError
from catdog_desktop.core.model.features import FeatureCache
from catdog_desktop.core.classify.classifier import Classifier
from catdog_desktop.core.model.storage import load_bundle, save_bundle

#: Small and fast: MobileNetV2 at its smallest input, the classifier for a few epochs.
PRETRAINED = dict(backbone="mobilenet_v2", image_size=32, head_epochs=12, epochs=2, batch_size=16,
                  time_limit_minutes=0, patience=20,
                  cross_validate_below=0)  # the held-out path (tests/core/test_few_labels.py has the other)


@pytest.fixture(autouse=True)
def exact_head_epochs(monkeypatch):
    """The classifier runs ``head_epochs`` exactly (not more for a small dataset): quicker tests."""
    monkeypatch.setattr(transfer, "MIN_HEAD_STEPS", 0)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(features.CACHE_ENV, str(folder))
    return folder


class Recorder(training.Reporter):
    """Records stages and epochs; asks to stop when ``stop_when(self)`` says so."""

    def __init__(self, stop_when=lambda r: False):
        self.stages, self.epochs, self.batches = [], [], 0
        self.stop_when = stop_when

    def on_stage(self, event):
        self.stages.append((event.done, event.total, event.message))

    def on_batch_end(self, info):
        self.batches += 1

    def on_epoch_end(self, info):
        self.epochs.append(info)

    def should_stop(self):
        return self.stop_when(self)


@pytest.fixture(scope="module")
def pretrained(pets_dir, tmp_path_factory):
    """One pretrained training (classifier only: the dataset is far below fine-tuning's minimum)."""
    import os

    old = os.environ.get(features.CACHE_ENV)
    os.environ[features.CACHE_ENV] = str(tmp_path_factory.mktemp("feature-cache"))
    min_steps, transfer.MIN_HEAD_STEPS = transfer.MIN_HEAD_STEPS, 0
    try:
        scan = scan_dataset(pets_dir)
        recorder = Recorder()
        result = training.train(TrainingConfig(**PRETRAINED), scan, recorder)
    finally:
        transfer.MIN_HEAD_STEPS = min_steps
        if old is None:
            os.environ.pop(features.CACHE_ENV)
        else:
            os.environ[features.CACHE_ENV] = old
    path = save_bundle(result.model, result.metadata(), tmp_path_factory.mktemp("models") / "pretrained.keras")
    return scan, result, recorder, path


def test_pretrained_is_the_default_and_old_settings_stay_from_scratch():
    assert TrainingConfig().backbone == "mobilenet_v2"
    assert TrainingConfig.from_dict({"image_size": 64}).backbone == "none"
    quick = preset("quick", backbone="none")
    assert (quick.image_size, quick.stem_stride, quick.epochs) == (64, 1, 12)
    assert preset("quick").fine_tune is False
    with pytest.raises(ValueError, match="Unknown model type"):
        TrainingConfig(backbone="resnet").validate()


def test_pretrained_training_learns_saves_and_reloads(pretrained):
    scan, result, recorder, path = pretrained
    # 20 validation pictures at 32 px (chance: 0.5); measured 0.85-1.0 over 8 splits of this folder.
    assert result.evaluation.accuracy >= 0.8
    assert result.history and all(h["stage"] == "classifier" for h in result.history)
    assert any("Fine-tuning was skipped" in note for note in result.notes)
    assert recorder.stages[-1][2].startswith("Checking the model")
    feature_stages = [s for s in recorder.stages if s[2] == "Computing features"]
    assert feature_stages[-1][:2] == (len(scan.train) + len(scan.validation),) * 2
    assert result.features_computed == len(scan.train) + len(scan.validation)

    metadata = load_bundle(path).metadata
    assert metadata["calibration"]["novelty"]["dim"] == 1280  # the pooled MobileNetV2 features
    assert metadata["calibration"]["confidence_threshold"]["pictures"] == len(scan.validation)
    assert metadata["backbone"]["weights_sha256"] == backbone.BACKBONES["mobilenet_v2"].weights_sha256
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
    assert "Lambda" not in json.dumps(config)
    assert path.stat().st_size < 12e6

    paths = scan.validation.paths[:8]
    before = Classifier(result.model, result.class_names, 32).predict_paths(paths)
    after = Classifier.load(path).predict_paths(paths)  # safe_mode=True, as every load
    for a, b in zip(before, after):
        assert a.class_name == b.class_name
        assert np.allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-5)


def test_the_saved_model_takes_raw_pixels(pretrained):
    _, result, _, path = pretrained
    model = Classifier.load(path).model
    names = [layer.name for layer in model.layers]
    assert names == ["image", "rescaling", "backbone", "dropout", "predictions"]
    scale = model.get_layer("rescaling")
    assert np.allclose(np.asarray(scale(np.array([[0.0, 127.5, 255.0]]))), [[-1, 0, 1]])


def test_training_again_reuses_the_cached_features(pets_dir, cache_dir):
    scan = scan_dataset(pets_dir)
    config = TrainingConfig(**{**PRETRAINED, "head_epochs": 2})
    first = training.train(config, scan)
    assert first.features_computed == len(scan.train) + len(scan.validation)
    second = training.train(config, scan)
    assert second.features_computed == 0
    assert second.features_cached == len(scan.train) + len(scan.validation)
    # Other settings that do not change what a feature is share the cache too.
    third = training.train(TrainingConfig(**{**PRETRAINED, "head_epochs": 3, "dropout": 0.1}), scan)
    assert third.features_computed == 0


def test_a_damaged_cache_file_is_ignored_never_trusted(tmp_path):
    cache = FeatureCache(tmp_path, "ns", (4,))
    keys = [bytes([0]) + bytes([i]) * 16 for i in range(3)]
    cache.put_many(keys, np.arange(12, dtype=np.float32).reshape(3, 4))
    (shard,) = (tmp_path / "ns").glob("*.npz")

    again = FeatureCache(tmp_path, "ns", (4,))
    assert np.array_equal(again.get(keys[1]), [4, 5, 6, 7])

    data = bytearray(shard.read_bytes())
    data[-200] ^= 0xFF  # a flipped bit inside the stored arrays: the zip CRC no longer matches
    shard.write_bytes(bytes(data))
    damaged = FeatureCache(tmp_path, "ns", (4,))
    assert damaged.get(keys[1]) is None
    assert not shard.exists()  # removed, so it is not read again

    # A shard with the wrong shape (another backbone's, say) is not used either.
    FeatureCache(tmp_path, "ns", (5,)).put_many(keys[:1], np.zeros((1, 5)))
    assert FeatureCache(tmp_path, "ns", (4,)).get(keys[0]) is None
    (tmp_path / "ns" / "garbage.npz").write_bytes(b"not a zip at all")
    assert FeatureCache(tmp_path, "ns", (4,)).get(keys[0]) is None


def test_temporary_shards_left_by_a_kill_or_a_full_disk_are_cleaned(tmp_path, monkeypatch):
    import errno
    import os

    folder = tmp_path / "ns"
    folder.mkdir()
    killed = folder / ".shard-killed.tmp"     # a training killed while it wrote a shard, yesterday
    killed.write_bytes(b"half a shard")
    os.utime(killed, (1, 1))
    writing = folder / ".shard-writing.tmp"   # another training writing one right now
    writing.write_bytes(b"being written")
    FeatureCache(tmp_path, "ns", (4,)).get(bytes(17))
    assert not killed.exists() and writing.exists()

    def disk_full(fh, **_arrays):
        fh.write(b"the start of a shard")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    FeatureCache(tmp_path, "ns", (4,)).put_many([bytes(17)], np.zeros((1, 4)))
    assert sorted(p.name for p in folder.iterdir()) == [".shard-writing.tmp"]


def test_the_cache_stays_within_its_bound(tmp_path):
    cache = FeatureCache(tmp_path, "ns", (256,), max_bytes=5_000)
    for i in range(10):
        cache.put_many([bytes([0]) + bytes([i]) * 16], np.ones((1, 256)))
    total = sum(p.stat().st_size for p in (tmp_path / "ns").glob("*.npz"))
    assert 0 < total <= 5_000
    newest = FeatureCache(tmp_path, "ns", (256,))
    assert newest.get(bytes([0]) + bytes([9]) * 16) is not None
    assert newest.get(bytes([0]) + bytes([0]) * 16) is None


def test_stop_while_computing_features_makes_no_model(pets_dir, cache_dir):
    scan = scan_dataset(pets_dir)
    recorder = Recorder(stop_when=lambda r: bool(r.stages))
    with pytest.raises(CancelledError):
        training.train(TrainingConfig(**PRETRAINED), scan, recorder)
    assert not recorder.epochs


def test_stop_during_the_classifier_keeps_the_best_epoch(pets_dir, cache_dir):
    scan = scan_dataset(pets_dir)
    recorder = Recorder(stop_when=lambda r: len(r.epochs) >= 2)
    result = training.train(TrainingConfig(**{**PRETRAINED, "head_epochs": 20}), scan, recorder)
    assert result.stopped_by_user
    assert len(result.history) <= 3 and result.best_epoch >= 1


def test_fine_tuning_trains_the_last_blocks_and_keeps_the_best(pets_dir, cache_dir, monkeypatch):
    monkeypatch.setattr(transfer, "MIN_FINE_TUNE_PICTURES", 10)
    scan = scan_dataset(pets_dir)
    recorder = Recorder(stop_when=lambda r: sum(e.epoch > 12 for e in r.epochs) >= 1)
    config = TrainingConfig(**{**PRETRAINED, "epochs": 3})
    result = training.train(config, scan, recorder)
    stages = [h["stage"] for h in result.history]
    assert stages[:12] == ["classifier"] * 12 and stages[12:] == ["fine-tuning"]  # stopped after one
    assert [h["epoch"] for h in result.history] == list(range(1, 14))
    assert result.stopped_by_user and "fine-tuning" in result.stage_seconds
    best = max(result.history, key=lambda h: (h["val_accuracy"], -h["val_loss"]))
    assert result.best_epoch == best["epoch"]
    # The kept model is the one the best epoch measured: its validation score is reproduced.
    ev = result.evaluation
    assert ev.split == "validation" and ev.accuracy == pytest.approx(best["val_accuracy"], abs=1e-6)
    # After the stop, the check is told as what it is, with its own count.
    assert (20, 20, "Checking the kept model on 20 validation pictures…") in recorder.stages
    # "None of these" was calibrated on the fine-tuned network's features, as the saved model computes
    # them: its threshold (held-out distances' bounded 95th percentile) flags at most 2 of the 20.
    classifier = Classifier(result.model, result.class_names, 32, result.metadata())
    assert classifier.novelty is not None and classifier.novelty.layer == "dropout"
    assert sum(p.unfamiliar for p in classifier.predict_paths(scan.validation.paths)) <= 2
    # Batch norms stay frozen (ImageNet statistics), the last blocks' weights moved.
    assert all(not layer.trainable for layer in result.model.get_layer("backbone").layers)


def test_fine_tuning_is_skipped_when_the_time_limit_leaves_no_room(pets_dir, cache_dir, monkeypatch):
    monkeypatch.setattr(transfer, "MIN_FINE_TUNE_PICTURES", 10)
    monkeypatch.setattr(transfer, "FINE_TUNE_STEP_COST", 1e6)  # an epoch would take for ever
    result = training.train(TrainingConfig(**{**PRETRAINED, "time_limit_minutes": 5}), scan_dataset(pets_dir))
    assert "fine-tuning" not in result.stage_seconds
    assert any("time limit" in note for note in result.notes)


def test_a_missing_or_damaged_weights_file_is_a_clear_error(monkeypatch, tmp_path):
    from catdog_desktop.core.errors import CatdogError

    monkeypatch.setattr(backbone, "RESOURCES", tmp_path)
    backbone.weights_sha256.cache_clear()
    try:
        with pytest.raises(CatdogError, match="missing"):
            backbone.check_weights("mobilenet_v2")
        (tmp_path / backbone.BACKBONES["mobilenet_v2"].weights_file).write_bytes(b"not weights")
        with pytest.raises(CatdogError, match="damaged"):
            backbone.check_weights("mobilenet_v2")
    finally:
        backbone.weights_sha256.cache_clear()


def test_a_picture_that_cannot_be_decoded_is_skipped_and_named(pets_dir, tmp_path):
    good = sorted(str(p) for p in (pets_dir / "cats").glob("*.png"))[:3]
    broken = tmp_path / "broken.png"
    broken.write_bytes(open(good[0], "rb").read()[:60])  # a header and no picture
    paths = [good[0], str(broken), good[1], good[2]]
    result = features.compute_features(lambda x: [x.mean(axis=(1, 2))], paths, [0, 0, 0, 0], 32,
                                       [FeatureCache(None, "test", (3,))], mirror=True)
    assert result.paths == [good[0], good[1], good[2]] and result.features.shape == (3, 2, 3)
    assert [p for p, _ in result.skipped] == [str(broken)] and result.computed == 3


def test_a_picture_edited_while_features_are_computed_never_gets_another_pictures_features(tmp_path, monkeypatch):
    # The picture is changed between the read that names its cache entry and the read that is
    # decoded (an editor saving, a sync client restoring): what is stored must be the features of
    # the content whose key it is under, or the next training silently learns the wrong picture.
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    Image.new("RGB", (32, 32), (250, 0, 0)).save(red)
    Image.new("RGB", (32, 32), (0, 0, 250)).save(blue)
    picture = tmp_path / "photo.png"
    picture.write_bytes(red.read_bytes())

    real_key = features.content_key

    def key_then_edit(path):
        key = real_key(path)
        if path == str(picture):
            picture.write_bytes(blue.read_bytes())  # saved over by another program just after
        return key

    def mean_colour(x):
        return [x.mean(axis=(1, 2))]

    cache = FeatureCache(tmp_path / "cache", "test", (3,))
    monkeypatch.setattr(features, "content_key", key_then_edit)
    first = features.compute_features(mean_colour, [str(picture)], [0], 32, [cache], mirror=False)
    assert np.allclose(first.features[0, 0], [0, 0, 250], atol=1)  # it read the blue picture in the end
    monkeypatch.setattr(features, "content_key", real_key)

    picture.write_bytes(red.read_bytes())  # the red picture restored: the next training sees red
    again = features.compute_features(mean_colour, [str(picture)], [0], 32,
                                      [FeatureCache(tmp_path / "cache", "test", (3,))], mirror=False)
    assert np.allclose(again.features[0, 0], [250, 0, 0], atol=1)


def test_a_second_stop_skips_checking_the_kept_model(pets_dir, cache_dir):
    """Issue 28: after Stop, the check on the held-out pictures took 37 s that could not be skipped."""
    class StopTwice(Recorder):
        def should_skip_check(self):
            return self.should_stop()

    recorder = StopTwice(stop_when=lambda r: len(r.epochs) >= 2)
    result = training.train(TrainingConfig(**PRETRAINED), scan_dataset(pets_dir), recorder)
    assert result.stopped_by_user and result.best_epoch >= 1 and not result.evaluation.checked
    checks = [stage for stage in recorder.stages if stage[2].startswith("Checking")]
    assert checks == [(0, 20, "Checking the kept model on 20 validation pictures…")]  # begun, then skipped
    assert any("not checked on the validation pictures" in note for note in result.notes)
    assert result.metadata()["evaluation"] is None  # no score is recorded rather than a false one
    assert result.model(np.zeros((1, 32, 32, 3), np.float32)).shape == (1, 1)  # the model is kept
