"""The app's state without a display (core.app.session)."""

import json
from types import SimpleNamespace

from catdog_desktop.core.config import TrainingConfig, preset
from catdog_desktop.core.data.dataset import scan_dataset
from catdog_desktop.core.app.session import DictStore, EventEmitter, Session
from synthetic import write_class_folders


def model(path=None):
    return SimpleNamespace(path=path, class_names=["cats", "dogs"], metadata={})


def record(emitter):
    calls = []
    emitter.connect(lambda *args: calls.append(args))
    return calls


def test_an_event_emitter_calls_its_callbacks_in_order_until_disconnected():
    emitter, calls = EventEmitter(), []
    first = emitter.connect(lambda x: calls.append(("first", x)))
    emitter.connect(lambda x: calls.append(("second", x)))
    emitter.emit(1)
    emitter.disconnect(first)
    emitter.emit(2)
    assert calls == [("first", 1), ("second", 1), ("second", 2)]


def test_training_settings_are_stored_as_a_preset_and_overrides_and_read_back():
    store = DictStore()
    Session(store).save_training_settings("quick", preset("quick", epochs=7))
    assert json.loads(store["training"]) == {"preset": "quick", "overrides": {"epochs": 7}}
    assert Session(store).training_settings() == ("quick", preset("quick", epochs=7))


def test_the_older_stored_form_is_read_and_replaced_on_the_next_save():
    whole = TrainingConfig(backbone="none", image_size=64, epochs=9).to_dict()
    del whole["stem_stride"], whole["backbone"]  # saved before the strided network and the pretrained one
    store = DictStore(training_config=json.dumps(whole), preset="default")
    session = Session(store)
    name, config = session.training_settings()
    assert (name, config.image_size, config.epochs) == ("default", preset("default").image_size, 9)
    session.save_training_settings(name, config)
    assert set(store) == {"training"}


def test_a_trained_model_is_unsaved_until_saved_and_a_discard_is_remembered(tmp_path):
    store = DictStore()
    session = Session(store)
    changes, recent = record(session.events.model), record(session.events.recent)
    trained = model()
    session.set_model(trained, unsaved=True)
    assert session.model_unsaved and session.has_unsaved_work and session.model_name() == "trained just now"
    session.discard_unsaved()
    assert session.model_unsaved and not session.has_unsaved_work  # shown as unsaved, not asked about again
    session.mark_saved(trained, tmp_path / "pets.keras")
    assert not session.model_unsaved and session.model_name() == "pets.keras"
    assert changes == [(trained,), (trained,)]
    assert recent == [([str(tmp_path / "pets.keras")],)]
    assert store["last_model"] == str(tmp_path / "pets.keras") and store["last_model_dir"] == str(tmp_path)
    another = model()
    session.set_model(another, unsaved=True)
    assert session.has_unsaved_work  # a new training: asked about again


def test_recent_models_keep_the_newest_six_and_never_the_built_in_one(tmp_path):
    builtin = tmp_path / "default-model.keras"
    session = Session(DictStore(), builtin_model=builtin)
    for i in range(8):
        session.set_model(model(str(tmp_path / f"m{i}.keras")))
    session.set_model(model(str(tmp_path / "m3.keras")))
    session.set_model(model(str(builtin)))
    assert session.model_name() == "built-in cats-vs-dogs model"
    assert [p[-8:] for p in session.recent_models] == [f"m{i}.keras" for i in (3, 7, 6, 5, 4, 2)]
    assert session.startup_model() == str(builtin)  # the last model's file does not exist
    (tmp_path / "m3.keras").write_bytes(b"x")
    assert session.startup_model() == str(tmp_path / "m3.keras")


def test_the_split_is_decided_once_and_a_new_one_becomes_the_dataset_in_use(tmp_path):
    write_class_folders(tmp_path / "pets", ["cats", "dogs"], 10)
    session = Session(DictStore())
    session.open_dataset(str(tmp_path / "pets"))
    assert session.scan is None and session.last_dataset == str(tmp_path / "pets")
    session.set_dataset(scan_dataset(tmp_path / "pets"))
    shown = record(session.events.dataset)
    same = session.training_data(TrainingConfig())
    assert same is session.scan and shown == []
    other = session.training_data(TrainingConfig(validation_split=0.5))
    assert other is session.scan and len(other.validation) == 10 and shown == [(other,)]


def test_a_cancelled_opening_gives_back_the_dataset_in_use_before(tmp_path):
    write_class_folders(tmp_path / "pets", ["cats", "dogs"], 3)
    session = Session(DictStore())
    session.open_dataset(str(tmp_path / "pets"))
    assert session.cancel_opening() is None and session.scan is None and session.last_dataset == ""
    session.open_dataset(str(tmp_path / "pets"))
    pets = scan_dataset(tmp_path / "pets")
    session.set_dataset(pets)
    shown = record(session.events.dataset)
    session.open_dataset(str(tmp_path / "birds"))
    session.open_dataset(str(tmp_path / "fish"))   # a second folder before the first was read
    assert session.scan is None
    assert session.cancel_opening() is pets and session.scan is pets
    assert shown == [(None,), (None,), (pets,)] and session.last_dataset == pets.root


def scored(path=None, accuracy=0.9, root="/pets", split="validation", seed=1337):
    metadata = {"evaluation": {"accuracy": accuracy, "count": 20, "split": split},
                "dataset": {"root": root, "class_names": ["cats", "dogs"], "validation_source": "split",
                            "validation_split": 0.2, "seed": seed}}
    return SimpleNamespace(path=path, class_names=["cats", "dogs"], metadata=metadata)


def trained_result(accuracy, monkeypatch, **where):
    """A TrainingResult stand-in whose model becomes ``scored(...)`` in the session."""
    from catdog_desktop.core.classify import classifier as inference

    made = scored(accuracy=accuracy, **where)
    monkeypatch.setattr(inference, "Classifier", lambda *args: made)
    return SimpleNamespace(model=None, class_names=["cats", "dogs"], config=TrainingConfig(), metadata=dict)


def test_a_training_never_replaces_the_model_in_use_by_itself(tmp_path, monkeypatch):
    session = Session(DictStore(), builtin_model=tmp_path / "builtin.keras")
    in_use = scored(str(tmp_path / "old.keras"), accuracy=0.80)
    session.set_model(in_use)
    session.set_trained_model(trained_result(0.95, monkeypatch))
    assert session.classifier is in_use and session.trained is not None
    assert session.model_comparison() == ("This model: 95.0% correct on 20 validation pictures. "
                                          "The model in use (old.keras): 80.0% on the same pictures.")
    assert session.at_risk("quitting") is session.trained and session.at_risk("opening") is None
    session.use_trained()
    assert session.classifier is session.trained and session.model_name() == "trained just now"
    assert "It is the model in use" in session.model_comparison()
    session.set_trained_model(trained_result(0.9, monkeypatch, seed=2))  # split differently
    assert "checked on other pictures" in session.model_comparison()
    assert session.at_risk("opening") is session.classifier      # using the new one would lose it


def test_a_model_trained_on_every_picture_is_said_to_be_estimated_not_held_out(tmp_path, monkeypatch):
    session = Session(DictStore(), builtin_model=tmp_path / "builtin.keras")
    session.set_trained_model(trained_result(0.95, monkeypatch, split="cross-validation"))
    assert session.model_comparison().startswith("This model: 95.0% correct, estimated by cross-validation on 20 "
                                                 "pictures.")


def test_a_discarded_model_is_not_asked_about_again_when_quitting(monkeypatch):
    session = Session(DictStore())
    session.set_trained_model(trained_result(0.9, monkeypatch))   # no model before: in use at once
    assert session.classifier is session.trained and session.at_risk("training") is None  # it stays in use
    session.set_trained_model(trained_result(0.8, monkeypatch))
    asked = session.at_risk("training")
    assert asked is session.trained
    session.discard_unsaved(asked)                      # "Discard" before training a new one
    assert session.at_risk("training") is None
    assert session.at_risk("quitting") is session.classifier    # the one in use is another model
    session.discard_unsaved(session.classifier)
    assert not session.has_unsaved_work


def test_the_way_to_show_where_it_looked_is_remembered_and_an_unknown_one_is_not_used():
    store = DictStore()
    assert Session(store).explain_method == "gradcam"  # the default
    Session(store).set_explain_method("occlusion")
    assert Session(store).explain_method == "occlusion"  # a new start reads it back
    assert Session(DictStore(explain_method="magic")).explain_method == "gradcam"  # e.g. from a newer version


def test_two_models_split_by_different_methods_were_not_checked_on_the_same_pictures():
    from catdog_desktop.core.app.session import _same_pictures

    older, newer = scored().metadata, scored().metadata  # the same folder, share and seed
    assert _same_pictures(older, newer)
    newer["dataset"]["split_method"] = "hashed"  # the older one recorded no method: the seeded shuffle
    assert not _same_pictures(older, newer)
    older["dataset"]["split_method"] = "hashed"
    assert _same_pictures(older, newer)
    # A validation folder is the same pictures whatever the method: an older and a newer model compare.
    older["dataset"].update(validation_source="folder 'val'", split_method="shuffled")
    newer["dataset"].update(validation_source="folder 'val'")
    assert _same_pictures(older, newer)


def test_the_export_folder_is_the_last_one_while_it_exists(tmp_path):
    session = Session(DictStore(last_model_dir=str(tmp_path / "models")))
    assert session.export_folder == str(tmp_path / "models")
    (tmp_path / "exports").mkdir()
    session.set_export_folder(str(tmp_path / "exports"))
    assert session.export_folder == str(tmp_path / "exports")
    (tmp_path / "exports").rmdir()  # deleted since: where models are saved again
    assert session.export_folder == str(tmp_path / "models")
