"""Opening exported models: a SavedModel folder is only loaded when it is one of our exports
(loading one runs the TensorFlow code inside it)."""

import json

import pytest

from catdog_desktop import cli
from catdog_desktop.core import exported
from catdog_desktop.core.errors import ModelFileError


@pytest.fixture
def opened(monkeypatch):
    """The SavedModel folders that reach tf.saved_model.load (a stand-in runtime records them)."""
    paths = []

    class Runtime:
        name = "stand-in"

        def __init__(self, path):
            paths.append(path)

        def image_size(self):
            return 32

    monkeypatch.setattr(exported, "_SavedModelRuntime", Runtime)
    return paths


def saved_model_folder(path, sidecar: bool):
    path.mkdir()
    (path / "saved_model.pb").write_bytes(b"\x08\x01")  # never read: the runtime is a stand-in
    (path / "labels.txt").write_text("cats\ndogs\n")
    if sidecar:
        (path / exported.SIDECAR_JSON_IN_FOLDER).write_text(json.dumps({"class_names": ["cats", "dogs"],
                                                                        "image_size": 32}))
    return path


def test_a_savedmodel_folder_without_our_sidecar_is_refused_before_loading(tmp_path, opened, capsys):
    foreign = saved_model_folder(tmp_path / "downloaded", sidecar=False)
    with pytest.raises(ModelFileError, match="without catdog_desktop.json: only SavedModel folders exported by "
                                             "this app are opened"):
        exported.load_classifier(foreign)
    assert opened == []                                    # tf.saved_model.load never saw it

    assert cli.main(["predict", str(foreign), str(tmp_path / "any.png")]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "exported by this app" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert opened == []

    ours = saved_model_folder(tmp_path / "ours", sidecar=True)
    classifier = exported.load_classifier(ours)
    assert opened == [ours] and classifier.class_names == ["cats", "dogs"] and classifier.image_size == 32
