import re

import numpy as np
import pytest

from catdog_desktop.core.training import fit
from catdog_desktop.core.training import train as training
from catdog_desktop.core.config import TrainingConfig
from catdog_desktop.core.data.dataset import scan_dataset
from catdog_desktop.core.classify.classifier import Classifier
from catdog_desktop.core.model.network import last_conv_layer_name, make_model, training_flops_per_image
from helpers import TINY
from synthetic import write_class_folders


def test_tiny_dataset_trains_to_high_accuracy(trained):
    scan, result, _ = trained
    assert result.evaluation.split == "validation"
    assert result.evaluation.count == len(scan.validation)
    assert result.evaluation.accuracy >= 0.9
    assert len(result.history) == TINY["epochs"] and 1 <= result.best_epoch <= TINY["epochs"]
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    ev = result.evaluation
    assert sum(map(sum, ev.confusion)) == ev.count
    assert [c.name for c in ev.per_class] == ["cats", "dogs"]
    assert len(ev.mistakes) == round((1 - ev.accuracy) * ev.count)


def test_evaluation_never_uses_training_pictures(trained):
    scan, result, _ = trained
    evaluated = {m.path for m in result.evaluation.mistakes}
    assert not evaluated & set(scan.train.paths)
    assert result.evaluation.count == len(scan.validation)


def test_saved_model_predicts_the_same_probabilities(trained):
    scan, result, path = trained
    paths = scan.validation.paths[:6]
    before = Classifier(result.model, result.class_names, result.config.image_size).predict_paths(paths)
    after = Classifier.load(path).predict_paths(paths)
    for a, b in zip(before, after):
        assert a.class_name == b.class_name
        assert np.allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-5)
        assert sum(b.probabilities.values()) == pytest.approx(1.0)


def test_model_takes_raw_pixels_and_names_its_blocks():
    model = make_model(TrainingConfig(image_size=32, blocks=3), 3)
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["image", "augmentation", "rescaling"]
    assert last_conv_layer_name(model) == "block3_act"
    assert model.output_shape == (None, 3)
    out = model(np.full((2, 32, 32, 3), 255, np.uint8).astype("float32"), training=False)
    assert np.allclose(np.asarray(out).sum(axis=1), 1.0, atol=1e-5)


def test_a_strided_first_convolution_halves_the_network_and_its_cost():
    plain = make_model(TrainingConfig(image_size=64, blocks=4, stem_stride=1, augmentation=False), 2)
    strided = make_model(TrainingConfig(image_size=96, blocks=4, stem_stride=2, augmentation=False), 2)
    assert strided.input_shape == (None, 96, 96, 3)
    assert strided.get_layer("block1_conv1").output.shape[1:3] == (48, 48)
    assert strided.get_layer("block4_act").output.shape[1:3] == (6, 6)
    assert plain.get_layer("block4_act").output.shape[1:3] == (8, 8)
    ratio = training_flops_per_image(strided) / training_flops_per_image(plain)
    assert 0.5 < ratio < 0.62  # (48/64)^2 = 0.56, plus a cheap first convolution
    out = strided(np.zeros((1, 96, 96, 3), "float32"), training=False)
    assert np.asarray(out).shape == (1, 1)


@pytest.mark.parametrize("changes, message", [
    (dict(stem_stride=3), "stride must be 1 or 2"),
    (dict(stem_stride=2.0), "stride must be 1 or 2"),
    (dict(backbone="none", image_size=16, blocks=4, stem_stride=2), "too many for 16-pixel images with a stride-2"),
])
def test_settings_that_cannot_work_are_refused_with_a_reason(changes, message):
    """Each fault is refused with a reason; the same settings with a stride of 1 are fine."""
    changes = {"backbone": "none", **changes}  # the stride is a setting of the network trained from scratch
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**changes).validate()
    TrainingConfig(**{**changes, "stem_stride": 1}).validate()  # the same with a stride of 1 works


def test_settings_saved_before_the_stride_existed_read_back_with_a_stride_of_1():
    old = TrainingConfig().to_dict()
    del old["stem_stride"]
    assert TrainingConfig.from_dict(old).stem_stride == 1
    assert TrainingConfig.from_dict(TrainingConfig().to_dict()) == TrainingConfig()


class Recorder(training.Reporter):
    def __init__(self, stop_after_batches=None):
        self.batches, self.epochs, self.stages = [], [], []
        self.stop_after_batches = stop_after_batches

    def on_stage(self, event):
        self.stages.append((event.done, event.total, event.message))

    def on_batch_end(self, info):
        self.batches.append(info)

    def on_epoch_end(self, info):
        self.epochs.append(info)

    def should_stop(self):
        return self.stop_after_batches is not None and len(self.batches) >= self.stop_after_batches


def test_three_classes_report_progress_and_stop_at_next_batch(tmp_path):
    write_class_folders(tmp_path, ["a", "b", "c"], 30)
    scan = scan_dataset(tmp_path)
    # 72 training pictures / batch 8 = 9 batches an epoch; stop during the second epoch.
    rec = Recorder(stop_after_batches=12)
    config = TrainingConfig(**{**TINY, "epochs": 50, "batch_size": 8})
    result = training.train(config, scan, rec)
    assert result.stopped_by_user and not result.stopped_early
    assert len(rec.batches) == 12            # stopped right after the batch that asked
    assert [e.epoch for e in rec.epochs] == [1]  # the cut-short epoch is not reported
    assert result.best_epoch == 1 and len(result.history) == 1
    assert rec.batches[0].batches == 9 and rec.batches[0].images_per_second > 0
    done, total, message = rec.stages[-1]
    assert done == total == 18 and message == "Reading validation pictures"
    assert len(result.evaluation.per_class) == 3


def test_class_weights_only_when_imbalanced():
    assert training.class_weights(np.array([0] * 50 + [1] * 50), 2) is None
    weights = training.class_weights(np.array([0] * 90 + [1] * 30), 2)
    assert weights[1] == pytest.approx(3 * weights[0])


def test_undecodable_training_files_are_skipped_not_fatal(tmp_path):
    write_class_folders(tmp_path, ["a", "b"], 10)
    good = (tmp_path / "a" / "a_000.png").read_bytes()
    (tmp_path / "a" / "truncated.png").write_bytes(good[: len(good) // 2])
    scan = scan_dataset(tmp_path)
    result = training.train(TrainingConfig(**{**TINY, "epochs": 1}), scan)
    assert [p.endswith("truncated.png") for p, _ in result.skipped] == [True]
    assert "damaged" in result.skipped[0][1]


def test_test_folder_is_only_evaluated_never_trained_on(tmp_path, monkeypatch):
    from catdog_desktop.core.data import pipeline

    write_class_folders(tmp_path / "data" / "train", ["cats", "dogs"], 20)
    write_class_folders(tmp_path / "data" / "test", ["cats", "dogs"], 6, seed=5)
    scan = scan_dataset(tmp_path / "data")
    decoded = []
    original = pipeline.decode_split

    def recording(split, *args, **kwargs):
        decoded.append((args[3] if len(args) > 3 else kwargs.get("what"), set(split.paths)))
        return original(split, *args, **kwargs)

    monkeypatch.setattr(pipeline, "decode_split", recording)
    result = training.train(TrainingConfig(**{**TINY, "epochs": 1}), scan)
    test_paths = set(scan.test.paths)
    by_role = {what: paths for what, paths in decoded}
    assert by_role["test pictures"] == test_paths
    assert not test_paths & (by_role["training pictures"] | by_role["validation pictures"])
    assert result.evaluation.split == "test" and result.evaluation.count == 12


def test_stop_before_the_first_epoch_ends_makes_no_model(tmp_path):
    from catdog_desktop.core.errors import CancelledError

    write_class_folders(tmp_path, ["a", "b"], 20)
    with pytest.raises(CancelledError, match="no model"):
        training.train(TrainingConfig(**{**TINY, "batch_size": 4}), scan_dataset(tmp_path), Recorder(stop_after_batches=2))


def simulated_clock(monkeypatch) -> list[float]:
    """Simulated time for the training: each reading of its clock is half a second later than the
    one before. ``now[0]`` is the time; moving it on simulates work that takes time."""
    now = [0.0]

    def clock():
        now[0] += 0.5
        return now[0]

    monkeypatch.setattr(fit, "_clock", clock)  # the training and its progress callback read this clock
    return now


def test_a_time_limit_ends_training_with_an_annealed_model(tmp_path, monkeypatch):
    simulated_clock(monkeypatch)  # so that the test does not depend on how busy the computer is
    write_class_folders(tmp_path, ["a", "b"], 40)
    rec = Recorder()
    config = TrainingConfig(**{**TINY, "epochs": 500, "time_limit_minutes": 1.0})
    result = training.train(config, scan_dataset(tmp_path), rec)
    assert result.stopped_by_time_limit and not result.stopped_by_user and not result.stopped_early
    assert 3 <= len(result.history) < 500
    assert rec.epochs[-1].elapsed <= 60                 # the last epoch ended within the limit
    assert result.metadata()["stopped_by_time_limit"] is True
    rates = [entry["learning_rate"] for entry in result.history]
    assert rates[-1] < 0.05 * config.learning_rate      # decayed over the minute, not over 500 epochs
    assert all(b < a for a, b in zip(rates[1:], rates[2:]))
    # The epochs planned in all are re-estimated as epochs end, and end on the true count.
    assert rec.batches[0].epochs == 500                 # before an epoch is timed: the most epochs
    assert rec.epochs[0].epochs < 500
    assert rec.batches[-1].epochs == rec.epochs[-2].epochs
    assert rec.epochs[-1].epochs == len(result.history)
    assert result.evaluation.accuracy >= 0.9


def simulated_clock_with_slow_setup(monkeypatch, build_seconds: float, setup_seconds: float) -> list[float]:
    """:func:`simulated_clock`, with building the model "taking" ``build_seconds`` and fit()'s
    set-up before the first epoch ``setup_seconds``."""
    now = simulated_clock(monkeypatch)

    def slow_make_model(*args, **kwargs):
        now[0] += build_seconds
        model = make_model(*args, **kwargs)
        fit = model.fit

        def slow_fit(*a, **k):
            now[0] += setup_seconds
            return fit(*a, **k)

        model.fit = slow_fit
        return model

    monkeypatch.setattr(training, "make_model", slow_make_model)
    return now


@pytest.mark.parametrize("setup_seconds", [10.0, 25.0])  # (on a busy machine fit()'s set-up once took 40 s)
def test_time_spent_before_the_first_epoch_comes_out_of_the_limit(tmp_path, monkeypatch, setup_seconds):
    now = simulated_clock_with_slow_setup(monkeypatch, 2.0, setup_seconds)

    class EndTimes(Recorder):
        def on_epoch_end(self, info):
            super().on_epoch_end(info)
            self.last_end = now[0]

    write_class_folders(tmp_path, ["a", "b"], 40)
    rec = EndTimes()
    config = TrainingConfig(**{**TINY, "epochs": 500, "time_limit_minutes": 1.0})
    result = training.train(config, scan_dataset(tmp_path), rec)
    assert result.stopped_by_time_limit and len(result.history) >= 3
    assert rec.last_end <= 60                            # since the start of train(), reading included
    assert rec.epochs[-1].elapsed == pytest.approx(rec.last_end, abs=1.0)
    # The set-up is not an epoch: epochs are planned from the epochs' own durations, so the
    # rate still anneals over the time that is left.
    assert result.history[-1]["learning_rate"] < 0.05 * config.learning_rate
    epochs = sum(entry["seconds"] for entry in result.history)
    assert result.train_seconds >= 2.0 + setup_seconds + epochs   # the model's building included


def test_a_time_limit_spent_before_the_first_epoch_still_trains_one_epoch(tmp_path, monkeypatch):
    simulated_clock_with_slow_setup(monkeypatch, 2.0, 70.0)
    rates = []
    learning_rate = training.Pace.learning_rate

    def recorded(self, step, elapsed):
        rates.append(learning_rate(self, step, elapsed))
        return rates[-1]

    monkeypatch.setattr(training.Pace, "learning_rate", recorded)
    write_class_folders(tmp_path, ["a", "b"], 40)
    rec = Recorder()
    config = TrainingConfig(**{**TINY, "epochs": 50, "batch_size": 4, "time_limit_minutes": 1.0})
    result = training.train(config, scan_dataset(tmp_path), rec)
    assert len(result.history) == 1 and result.best_epoch == 1
    assert result.stopped_by_time_limit and not result.stopped_by_user
    assert rec.epochs[-1].epochs == 1
    # Its own one-epoch schedule (16 steps), not the floor of a decay whose time is already over.
    assert len(rates) == 16
    assert sum(rates) / len(rates) > 0.3 * config.learning_rate


def test_a_time_limit_spent_reading_the_pictures_still_trains_one_epoch(tmp_path, monkeypatch):
    simulated_clock(monkeypatch)  # reading "takes" longer than the limit
    write_class_folders(tmp_path, ["a", "b"], 20)
    config = TrainingConfig(**{**TINY, "epochs": 50, "time_limit_minutes": 0.01})
    result = training.train(config, scan_dataset(tmp_path))
    assert len(result.history) == 1 and result.best_epoch == 1
    assert result.stopped_by_time_limit and not result.stopped_by_user


def test_a_first_epoch_longer_than_the_limit_is_stopped_at_the_limit_and_its_model_kept(tmp_path, monkeypatch):
    now = simulated_clock(monkeypatch)

    class SlowBatches(Recorder):
        def on_batch_end(self, info):
            super().on_batch_end(info)
            now[0] += 10.0  # each batch "takes" 10 s: one pass of 20 batches, 200 s, against a minute

    write_class_folders(tmp_path, ["a", "b"], 50)
    rec = SlowBatches()
    config = TrainingConfig(**{**TINY, "epochs": 50, "batch_size": 4, "time_limit_minutes": 1.0})
    initial = make_model(config, 2).get_weights()
    result = training.train(config, scan_dataset(tmp_path), rec)
    assert result.stopped_by_time_limit and not result.stopped_by_user
    assert result.history == [] and result.best_epoch == 0 and rec.epochs == []
    assert 4 <= len(rec.batches) < 20 and rec.batches[-1].elapsed < 75   # stopped at the minute, not after 200 s
    assert rec.batches[-1].epochs == 1                                  # the one pass planned, once timed
    assert result.evaluation.count == 20                                # the weights at the limit, evaluated
    assert any(not np.array_equal(a, b) for a, b in zip(initial, result.model.get_weights()))
    # 10 s a batch and the simulated clock's own half-seconds: about 230 s
    assert len(result.notes) == 1 and re.fullmatch(
        r"One pass over 80 pictures takes about [34] minutes, longer than your 1-minute limit: "
        r"the model was stopped part-way through its first pass\.", result.notes[0])
    assert result.metadata()["notes"] == result.notes
