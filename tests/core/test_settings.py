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
