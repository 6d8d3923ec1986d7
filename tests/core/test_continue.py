"""Training on from a saved model (core.training.continued, `train --from`): the new model starts
from the old one's weights, no picture the old one trained on is held out, both are compared on
the same pictures, a new class is picked up, and the old file is never touched."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from catdog_desktop import cli
from catdog_desktop.core.config import TrainingConfig
from catdog_desktop.core.data.dataset import Split, scan_dataset, trained_record
from catdog_desktop.core.data.holdout import split_for_continuing
from catdog_desktop.core.errors import CatdogError
from catdog_desktop.core.model import backbone as backbones
from catdog_desktop.core.model import features
from catdog_desktop.core.model.network import make_model
from catdog_desktop.core.model.storage import load_bundle, save_bundle
from catdog_desktop.core.training import continued
from catdog_desktop.core.training import starting_point as start
from catdog_desktop.core.training import pretrained as transfer
from catdog_desktop.core.training.events import Reporter
from helpers import TINY, colour_classifier
from synthetic import synthetic_image
from test_cli import run_here

PRETRAINED = dict(backbone="mobilenet_v2", image_size=32, head_epochs=12, epochs=2, batch_size=16,
                  time_limit_minutes=0, patience=20,
                  cross_validate_below=0)  # the held-out path (tests/core/test_few_labels.py has the other)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels(paths, size=32):
    from catdog_desktop.core.data.images import load_pixels

    return np.stack([load_pixels(str(p), size) for p in paths]).astype(np.float32)


def grown(source, target, classes=("cats", "dogs"), extra=10, new_class=None):
    """A copy of the dataset ``source`` with ``extra`` new pictures a class (and a class ``new_class``)."""
    shutil.copytree(source, target)
    rng = np.random.default_rng(7)
    for label, name in enumerate([*classes, *([new_class] if new_class else [])]):
        (target / name).mkdir(exist_ok=True)
        for i in range(extra if name != new_class else 30):
            synthetic_image(label, rng).save(target / name / f"new_{name}_{i:03d}.png")
    return target


def saved_scratch_model(tmp_path, classes, name="old.keras"):
    """An untrained from-scratch model saved as this app saves one (no training: seconds)."""
    config = TrainingConfig(**TINY)
    model = make_model(config, len(classes))
    return save_bundle(model, {"class_names": classes, "image_size": 32, "config": config.to_dict()},
                       tmp_path / name)


# ----------------------------------------------------------------------------- weights carry over

@pytest.mark.parametrize("old_classes, new_classes", [
    (["cats", "dogs"], ["cats", "dogs"]),
    (["cats", "dogs"], ["birds", "cats", "dogs"]),      # sigmoid -> softmax, a class more
    (["birds", "cats", "dogs"], ["cats", "dogs"]),      # softmax -> sigmoid, a class less
])
def test_a_network_started_from_a_model_answers_as_it_did(tmp_path, pets_dir, old_classes, new_classes):
    bundle = load_bundle(saved_scratch_model(tmp_path, old_classes))
    point = start.starting_point(bundle)
    fresh = make_model(point.config, len(new_classes))
    start.start_network(fresh, point, new_classes)
    x = pixels(sorted((pets_dir / "cats").iterdir())[:4] + sorted((pets_dir / "dogs").iterdir())[:4])
    old = np.asarray(bundle.model(x, training=False))
    new = np.asarray(fresh(x, training=False))
    old = np.concatenate([1 - old, old], axis=1) if old.shape[1] == 1 else old
    new = np.concatenate([1 - new, new], axis=1) if new.shape[1] == 1 else new
    # Between the classes both know, the same odds (a new class only adds its own share).
    a, b = old_classes.index("cats"), old_classes.index("dogs")
    c, d = new_classes.index("cats"), new_classes.index("dogs")
    np.testing.assert_allclose(new[:, d] / new[:, c], old[:, b] / old[:, a], rtol=1e-4)


def test_continuing_from_scratch_starts_where_the_old_model_ended_and_compares_both(trained, tmp_path, pets_dir):
    scan, old_result, old_path = trained
    before = digest(old_path)
    data = grown(pets_dir, tmp_path / "data")
    bundle = load_bundle(old_path)
    config = start.config_for(start.starting_point(bundle), {"epochs": 1})
    new_scan = scan_dataset(data, validation_split=config.validation_split, seed=config.seed)
    result = continued.continue_training(config, new_scan, bundle)

    # The first epoch begins from the old weights: far below a fresh start's first epoch.
    assert result.history[0]["loss"] < 0.5 * old_result.history[0]["loss"]
    # Held out: no picture the old model trained on (its record, whatever the folder is called now).
    trained_names = {Path(p).name for p in scan.train.paths}
    compared = [r.path for r in result.evaluation.results]
    assert compared and not trained_names & {Path(p).name for p in compared}
    # Both models on the very same pictures, each figure what that model scores on them.
    comparison = result.comparison
    assert comparison.split == "validation" and comparison.count == len(compared) and not comparison.left_out
    old_answers = continued._correct_answers(bundle, _split(compared), ["cats", "dogs"], "old.keras", Reporter())
    assert comparison.before == pytest.approx(sum(old_answers.values()) / len(old_answers))
    assert comparison.after == pytest.approx(result.evaluation.accuracy)
    assert comparison.sentence().startswith(f"Before: {comparison.before:.1%}, after: {comparison.after:.1%} on the "
                                            f"same {comparison.count} validation pictures")
    # The new model's record covers the old one's pictures too; the old file is untouched.
    saved = save_bundle(result.model, result.metadata(), tmp_path / "new.keras")
    meta = load_bundle(saved).metadata
    assert meta["continued_from"]["model"] == old_path.name
    assert meta["continued_from"]["comparison"]["count"] == comparison.count
    assert trained_record(meta["dataset"]) >= trained_record(old_result.dataset_summary)
    assert digest(old_path) == before


def test_pictures_the_old_model_trained_on_are_never_held_out(trained, tmp_path, pets_dir):
    scan, old_result, _ = trained
    data = grown(pets_dir, tmp_path / "data")
    other = scan_dataset(data, seed=99)  # another split: some of its validation pictures were trained on
    trained_names = {Path(p).name for p in scan.train.paths}
    moved = [p for p in other.validation.paths if Path(p).name in trained_names]
    assert moved
    split, notes = split_for_continuing(other, old_result.metadata(), "old.keras")
    assert not trained_names & {Path(p).name for p in split.validation.paths}
    assert set(split.train.paths) == set(other.train.paths) | set(moved)
    assert notes == [f"{len(moved)} pictures old.keras trained on are training pictures, not validation ones, so "
                     "that neither model is scored on a picture it learned."]


def test_a_test_picture_the_old_model_trained_on_is_left_out(trained, tmp_path, pets_dir):
    scan, old_result, _ = trained
    data = tmp_path / "data"
    shutil.copytree(pets_dir, data / "train")
    (data / "test" / "cats").mkdir(parents=True)
    (data / "test" / "dogs").mkdir()
    learned = Path(scan.train.paths[0])  # a picture the old model trained on, copied into the test folder
    shutil.copy(learned, data / "test" / learned.parent.name / "copied.png")
    rng = np.random.default_rng(3)
    for label, name in enumerate(["cats", "dogs"]):
        for i in range(3):
            synthetic_image(label, rng).save(data / "test" / name / f"unseen_{i}.png")
    split, notes = split_for_continuing(scan_dataset(data), old_result.metadata(), "old.keras")
    assert sorted(Path(p).name for p in split.test.paths) == sorted([f"unseen_{i}.png" for i in range(3)] * 2)
    assert "1 test picture is left out: old.keras trained on it." in notes


def test_the_app_keeps_the_old_models_network_and_split_and_the_forms_schedule(trained):
    _, old_result, _ = trained
    form = TrainingConfig(epochs=3, time_limit_minutes=2, validation_split=0.3, seed=5)  # pretrained, 160 px
    config = start.continuing_config(form, old_result.metadata())
    assert (config.backbone, config.image_size, config.blocks, config.base_filters, config.stem_stride) == (
        "none", 32, 3, 16, 1)
    assert (config.validation_split, config.seed) == (0.2, 1337)
    assert (config.epochs, config.time_limit_minutes) == (3, 2)
    assert start.recorded_config({"class_names": ["a", "b"], "image_size": 32}) is None


def _split(paths):
    names = ["cats", "dogs"]
    return Split(list(paths), [names.index(Path(p).parent.name) for p in paths])


# ----------------------------------------------------------------------------- pretrained

@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(features.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(transfer, "MIN_HEAD_STEPS", 0)


def pretrained_file(tmp_path, change_top=0.0, change_bottom=0.0):
    """An untrained pretrained model saved as this app saves one; its last blocks (or its first)
    changed as fine-tuning (or something else) would."""
    config = TrainingConfig(**PRETRAINED)
    model = transfer.make_pretrained_model(config, 2)
    net = model.get_layer("backbone")
    for name, change in (("block_16_project", change_top), ("Conv1", change_bottom)):
        if change:
            net.get_layer(name).set_weights([w * (1 + change) for w in net.get_layer(name).get_weights()])
    return save_bundle(model, {"class_names": ["cats", "dogs"], "image_size": 32, "config": config.to_dict()},
                       tmp_path / "pretrained.keras")


def test_a_pretrained_model_goes_on_from_its_fine_tuned_blocks_and_classifier(pets_dir, tmp_path, cache_dir):
    bundle = load_bundle(pretrained_file(tmp_path, change_top=0.05))
    # A learning rate too small to move anything: the new model is where it started, the old one.
    config = TrainingConfig(**{**PRETRAINED, "head_epochs": 1, "learning_rate": 1e-12})
    result = continued.continue_training(config, scan_dataset(grown(pets_dir, tmp_path / "data")), bundle)
    x = pixels(sorted((pets_dir / "cats").iterdir())[:4])
    np.testing.assert_allclose(np.asarray(result.model(x, training=False)), np.asarray(bundle.model(x, training=False)),
                               rtol=1e-4)
    # Its features came through its fine-tuned blocks: cached under a name of their own.
    assert any("-tuned-" in folder.name for folder in (tmp_path / "cache").iterdir())
    assert any("did not record which pictures it trained on" in n for n in result.notes)
    # Blocks before the fine-tuned ones that are not the shipped ones: another network, refused.
    point = start.starting_point(bundle)
    point.layers["Conv1"] = [w * 1.05 for w in point.layers["Conv1"]]
    with pytest.raises(CatdogError, match="pretrained network differs from the one this app ships"):
        start.load_backbone(backbones.make_backbone("mobilenet_v2", 32), point, "block_13_expand")


# ----------------------------------------------------------------------------- the CLI

def test_cli_trains_on_from_a_model_and_prints_both_figures(trained, tmp_path, pets_dir, capsys):
    _, _, old_path = trained
    before = digest(old_path)
    data = grown(pets_dir, tmp_path / "data", new_class="birds")
    code, out, err = run_here(capsys, "--json", "train", data, "--out", tmp_path / "new.keras",
                              "--from", old_path, "--epochs", 3)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["continued_from"] == old_path.name
    assert any(n.startswith("New class birds: learned from the start") for n in shown["notes"])
    ev = shown["evaluation"]
    assert ev["class_names"] == ["birds", "cats", "dogs"] and ev["per_class"][0]["recall"] > 0.5  # learned
    # Compared on the same pictures: those of the classes both know; the new class's are left out.
    comparison = shown["comparison"]
    assert comparison["split"] == "validation" and comparison["left_out"] == {"birds": 6}
    assert comparison["count"] == ev["count"] - 6 and 0 <= comparison["before"] <= 1
    assert digest(old_path) == before


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("elsewhere", "does not record how it was trained"),
    ("backbone", "is a from-scratch model; training on from it cannot make a pretrained model (mobilenet_v2)"),
    ("size", "takes 32-pixel pictures; training on from it cannot use 64 pixels"),
    ("same", "--out is the model you train on from"),
])
def test_cli_refuses_what_cannot_be_continued_in_one_line(tmp_path, pets_dir, capsys, case, message):
    old = saved_scratch_model(tmp_path, ["cats", "dogs"])
    extra = []
    if case == "missing":
        old = tmp_path / "nowhere.keras"
    elif case == "elsewhere":
        old = Path(colour_classifier(tmp_path).path)
    elif case == "backbone":
        extra = ["--backbone", "mobilenet_v2"]
    elif case == "size":
        extra = ["--image-size", 64]
    out = old if case == "same" else tmp_path / "new.keras"
    before = digest(old) if case != "missing" else None
    code, _, err = run_here(capsys, "train", pets_dir, "--out", out, "--from", old, *extra)
    assert code == cli.EXIT_ERROR
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1] and "Traceback" not in err
    if before:
        assert digest(old) == before
    assert not (tmp_path / "new.keras").exists()
