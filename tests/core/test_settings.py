"""Stored training settings (core.config): a preset plus overrides, and the older forms read back."""

import json

import pytest

from catdog_desktop.core.config import TrainingConfig, config_from_settings, preset, settings_to_dict


def test_settings_store_the_preset_and_only_what_differs_from_it():
    config = preset("quick", epochs=7, dropout=0.4)
    stored = settings_to_dict("quick", config)
    assert stored == {"preset": "quick", "overrides": {"epochs": 7, "dropout": 0.4}}
    assert json.loads(json.dumps(stored)) == stored  # storable as JSON text
    assert config_from_settings(stored) == ("quick", config)  # every field comes back, not just the form's


def test_a_field_the_user_never_changed_follows_the_preset():
    stored = settings_to_dict("default", TrainingConfig(epochs=9))
    assert "image_size" not in stored["overrides"]
    name, config = config_from_settings(stored)
    assert (name, config.epochs, config.image_size) == ("default", 9, preset("default").image_size)


@pytest.mark.parametrize("saved_preset, saved_size, has_stem, restored_size", [
    ("default", 64, False, None),  # an older version's default: today's default size comes back
    ("quick", 64, False, None),    # Quick's 64 px were Quick's own: today's Quick size comes back
    ("default", 128, True, 128),   # a size the user chose: restored as it was
])
def test_the_whole_config_stored_by_older_versions_is_migrated(saved_preset, saved_size, has_stem, restored_size):
    # Those versions trained from scratch only (no model type was stored, none was chosen): the
    # choices the user made come back on today's default model type, the pretrained one.
    whole = TrainingConfig(backbone="none", image_size=saved_size, epochs=9, dropout=0.5).to_dict()
    del whole["backbone"]
    if not has_stem:
        del whole["stem_stride"]
    name, config = config_from_settings({"preset": saved_preset, "training_config": json.dumps(whole)})
    assert name == saved_preset and config.backbone == "mobilenet_v2"
    assert (config.image_size, config.epochs) == (restored_size or preset(saved_preset).image_size, 9)
    # Fields the settings form never offered were the preset's of that day: today's preset's now.
    assert config.stem_stride == preset(saved_preset).stem_stride
    assert config.dropout == preset(saved_preset).dropout


@pytest.mark.parametrize("data", [
    None, {}, {"preset": "nonsense"}, {"preset": "quick", "overrides": {"image_size": 3}},
    {"preset": "quick", "overrides": "garbage"}, {"preset": "quick", "training_config": "{not json"},
])
def test_unreadable_settings_give_the_presets_defaults(data):
    name, config = config_from_settings(data)
    expected = "quick" if data and data.get("preset") == "quick" else "default"
    assert (name, config) == (expected, preset(expected))


def test_unknown_fields_from_a_newer_version_are_ignored():
    name, config = config_from_settings({"preset": "default", "overrides": {"epochs": 3, "backbone": "x"}})
    assert (name, config.epochs) == ("default", 3)


@pytest.mark.parametrize("overrides", [
    {"seed": 99999999999999}, {"epochs": "12"}, {"batch_size": True}, {"augmentation": 1},
    {"learning_rate": float("nan")}, {"dropout": [0.1]}, {"precision": 3}, {"backbone": ["none"]},
])
def test_a_stored_training_setting_of_the_wrong_type_is_ignored_and_the_others_kept(overrides):
    # Such values reach the form's spin boxes and check boxes, which raise on them at start.
    name, config = config_from_settings({"preset": "quick", "overrides": {**overrides, "head_epochs": 7}})
    assert (name, config) == ("quick", preset("quick", head_epochs=7))


def test_a_preset_or_older_config_of_the_wrong_type_gives_the_defaults():
    assert config_from_settings({"preset": ["quick"], "training_config": [1]}) == ("default", preset("default"))
    assert config_from_settings({"preset": "best", "training_config": '{"seed": "x", "epochs": 3}'})[1].seed \
        == preset("best").seed


@pytest.mark.parametrize("key, value", [
    ("last_dataset", ["a", " b"]), ("last_dataset", b"x"), ("last_dataset", "a\0b"), ("geometry", "text"),
    ("training", ["quick", "best"]), ("recent_models", {"k": 5}), ("advanced_settings_open", 5),
])
def test_a_stored_value_of_the_wrong_type_gives_the_default_and_is_logged(key, value, caplog):
    from catdog_desktop.core.app.session import STORED_TYPES, checked_setting

    assert key in STORED_TYPES
    assert checked_setting(key, value, "default") == "default"
    assert key in caplog.text
    assert checked_setting(key, None, "default") == "default"


def test_a_session_reads_any_stored_garbage_as_its_defaults():
    from catdog_desktop.core.app.session import STORED_TYPES, DictStore, Session

    garbage = 1.5  # no stored setting is a number
    session = Session(DictStore({key: garbage for key in STORED_TYPES}))
    assert session.training_settings() == ("default", preset("default"))
    assert (session.last_dataset, session.last_sort_target, session.recent_models) == ("", "", [])
    assert session.window_geometry is None and session.advanced_open is False
    assert session.startup_model() is None and session.confidence_override("m.keras") is None
    session = Session(DictStore({"recent_models": ["a.keras", 3, "", "b\0.keras"], "training": "[" * 100_000}))
    assert session.recent_models == ["a.keras"] and session.training_settings() == ("default", preset("default"))


def test_settings_are_read_through_the_type_check_only():
    # Every read of a stored value goes through Session._setting (core.app.session.checked_setting).
    import pathlib
    import re

    import catdog_desktop

    root = pathlib.Path(catdog_desktop.__file__).parent
    reads = {str(p.relative_to(root)): len(re.findall(r"\.store\.get\(|\.value\(\s*[A-Z_\"']", p.read_text()))
             for p in root.rglob("*.py")}
    assert {p: n for p, n in reads.items() if n} == {"core/app/session.py": 1}
