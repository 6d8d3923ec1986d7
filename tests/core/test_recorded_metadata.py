"""A model file whose description (catdog_desktop.json, written by whoever wrote the file) has values
of the wrong type or shape: the model is refused with one sentence when its class names or picture
size are wrong; anything else wrong is ignored, and the model works as one that never recorded it."""

import json
from pathlib import Path

import pytest

from catdog_desktop import cli
from catdog_desktop.core.evaluate import evaluation
from catdog_desktop.core.model import storage
from catdog_desktop.core.data import holdout
from catdog_desktop.core.data.dataset import TRAINED_PICTURES, trained_record
from catdog_desktop.core.data.holdout import scan_as_recorded
from catdog_desktop.core.errors import ModelFileError
from catdog_desktop.core.classify.classifier import Classifier
from catdog_desktop.core.app.session import _same_pictures, _score
from hostile import (OPTIONAL_FIELDS, WRONG_VALUES, described_setting, make_described_model, with_value,
                     wrong_entries, wrong_everywhere)

#: Where a value must be right for the model to be usable.
ESSENTIAL = [("class_names",), ("class_names", 0), ("image_size",)]
#: Where a wrong value is ignored: every field the app reads, and the entries of each record in it.
OPTIONAL = [(key,) for key in OPTIONAL_FIELDS] + [
    ("dataset", key) for key in ("root", "seed", "validation_split", "split_method", TRAINED_PICTURES, "class_names",
                                 "train_counts", "test_counts", "problems", "validation_source")] + [
    ("evaluation", key) for key in ("accuracy", "count", "confusion", "per_class", "class_names", "split", "loss")] + [
    ("calibration", "confidence_threshold"), ("calibration", "novelty"), ("calibration", "confidence_threshold", "value"),
    ("calibration", "confidence_threshold", "reason"), ("calibration", "novelty", "count"),
    ("history", 0), ("history", 0, "stage"), ("config", "image_size"), ("stage_seconds", "classifier"), ("notes", 0),
    ("versions", "keras"), ("evaluation", "per_class", 0), ("evaluation", "confusion", 0)]


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """(a folder of 6 pictures a class, the good model file, its full description)."""
    return described_setting(tmp_path_factory.mktemp("described"), 6)


def test_a_well_described_model_keeps_everything_it_records(setting, tmp_path):
    data, good, meta = setting
    classifier = Classifier.load(make_described_model(tmp_path / "good.keras", good, meta))
    assert json.dumps(classifier.metadata, sort_keys=True) == json.dumps(meta, sort_keys=True)
    assert classifier.recorded_threshold == 0.7 and classifier.novelty is not None
    assert trained_record(classifier.metadata["dataset"])
    # The app's own model too: nothing it records is dropped.
    from catdog_desktop.core.model import recorded

    builtin = storage.read_metadata(Path(cli.__file__).parent / "resources" / "default-model.keras")
    assert recorded.checked(builtin, 2, 160, "default-model.keras") == builtin


def _uses_of(classifier, data):
    """What the app and the CLI do with a loaded model's description, short of drawing it."""
    _ = classifier.confidence_threshold, classifier.novelty, classifier.class_names, classifier.image_size
    scan = scan_as_recorded(data, classifier.metadata.get("dataset"))
    holdout.held_out(scan, classifier.metadata)
    evaluation.evaluate_scan(classifier, scan)
    _score(classifier.metadata), _same_pictures(classifier.metadata, classifier.metadata)
    if "evaluation" in classifier.metadata:
        evaluation.EvaluationResult.from_dict(classifier.metadata["evaluation"])


@pytest.mark.parametrize("where", OPTIONAL, ids=lambda w: "/".join(map(str, w)))
def test_a_wrong_optional_value_is_ignored(setting, tmp_path, where, caplog):
    data, good, meta = setting
    for kind, value in WRONG_VALUES.items():
        crafted = with_value(meta, where, value)
        classifier = Classifier.load(make_described_model(tmp_path / f"{kind}.keras", good, crafted))
        _uses_of(classifier, data)
        if where[0] == "calibration":  # never "not sure" or "none of these" from a summary that is not one
            in_novelty = len(where) > 1 and where[1] == "novelty"
            assert classifier.novelty is None or (len(where) > 1 and not in_novelty), kind
            a_reason = where[-1] == "reason" and isinstance(value, str)  # any text is a reason
            assert classifier.recorded_threshold == (0.7 if in_novelty or a_reason else None), kind
    assert "is ignored" in caplog.text


@pytest.mark.parametrize("where", ESSENTIAL, ids=lambda w: "/".join(map(str, w)))
def test_wrong_class_names_or_picture_size_refuse_the_model_in_a_sentence(setting, tmp_path, where):
    _, good, meta = setting
    if where == ("class_names", 0):
        wrong = {**WRONG_VALUES, "text": "", "repeated": "dogs", "blank": "  ", "long": "x" * 300}
    else:
        wrong = {**WRONG_VALUES, "empty": "", "true": True, "three": ["a", "b", "c"], "list of two": [3, 4]}
        del wrong["null"]  # not recorded: a plain Keras file (generic names, the model's own size)
    for kind, value in wrong.items():
        crafted = make_described_model(tmp_path / "crafted.keras", good, with_value(meta, where, value))
        with pytest.raises(ModelFileError) as caught:
            Classifier.load(crafted)
        message = str(caught.value)
        assert message.startswith("crafted.keras ") and message.endswith(".") and "\n" not in message, (kind, message)
        assert ("class names" if where[0] == "class_names" else "picture") in message, (kind, message)


def _cli(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "unexpected error" not in out + err, (args, err)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert (code, len(errors)) in ((cli.EXIT_OK, 0), (cli.EXIT_ERROR, 1)), (args, code, err)
    return code, out, err


@pytest.mark.parametrize("kind", WRONG_VALUES)
def test_every_command_takes_a_model_whose_description_is_wrong_everywhere(setting, tmp_path, capsys, kind):
    """Each command that reads a model's description, on a model with every optional field wrong (then
    every entry of each record wrong), and on one whose class names are wrong."""
    data, good, meta = setting
    value = WRONG_VALUES[kind]
    for name, crafted in (("everywhere", wrong_everywhere(meta, value)), ("entries", wrong_entries(meta, value))):
        model = make_described_model(tmp_path / f"{name}.keras", good, crafted)
        code, out, _ = _cli(capsys, "--json", "predict", model, data / "cats")
        assert code == cli.EXIT_OK and json.loads(out)["threshold"] is None  # no "not sure" from a wrong threshold
        assert _cli(capsys, "evaluate", model, data)[0] == cli.EXIT_OK
        assert _cli(capsys, "report", model, data, "--out", tmp_path / f"{name}.html", "--force",
                    "--no-label-check", "--mistakes", "1")[0] == cli.EXIT_OK
        assert _cli(capsys, "check-labels", data, "--model", model)[0] == cli.EXIT_OK
    if value is not None:
        model = make_described_model(tmp_path / "names.keras", good, {**meta, "class_names": value})
        for args in (("predict", model, data / "cats"), ("evaluate", model, data), ("check-labels", data, "--model", model),
                     ("report", model, "--out", tmp_path / "names.html")):
            code, _, err = _cli(capsys, *args)
            assert code == cli.EXIT_ERROR and "class names" in err


def test_an_export_whose_json_is_wrong_is_checked_the_same_way(setting, tmp_path, capsys):
    """The JSON beside a .tflite or .onnx export is written by whoever shared it too."""
    from catdog_desktop.core.export import exporter as export
    from catdog_desktop.core.export.runtimes import sidecar_paths

    data, good, meta = setting
    classifier = Classifier.load(make_described_model(tmp_path / "good.keras", good, meta))
    target = tmp_path / "shared.onnx"
    export.export_model(classifier, "onnx", target, parity=export.generated_pictures(32, count=4))
    sidecar = sidecar_paths(target)["json"]
    written = json.loads(sidecar.read_text())
    assert written["calibration"]["confidence_threshold"]["value"] == 0.7
    for kind, value in WRONG_VALUES.items():
        sidecar.write_text(json.dumps({**written, "calibration": value}))
        code, out, _ = _cli(capsys, "--json", "predict", target, data / "cats")
        assert code == cli.EXIT_OK and json.loads(out)["threshold"] is None, kind
        sidecar.write_text(json.dumps(wrong_entries({**written, **{k: meta[k] for k in OPTIONAL_FIELDS}}, value)))
        assert _cli(capsys, "predict", target, data / "cats")[0] == cli.EXIT_OK, kind
        if value is not None:
            sidecar.write_text(json.dumps({**written, "class_names": value}))
            code, _, err = _cli(capsys, "predict", target, data / "cats")
            assert code == cli.EXIT_ERROR and "shared.onnx cannot be opened: its recorded class names" in err, kind


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"class_names": ["cats", "dogs"], "seed": 1' + "0" * 5000 + "}",
                                  '["cats", "dogs"]'], ids=["nested 100,000 deep", "a 5,000-digit number", "a list"])
def test_a_description_nested_too_deep_or_with_endless_numbers_is_refused_or_ignored(setting, tmp_path, capsys, text):
    import zipfile

    _, good, _ = setting
    crafted = tmp_path / "crafted.keras"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(crafted, "w") as target:
        for info in source.infolist():
            if info.filename != storage.METADATA_ENTRY:
                target.writestr(info, source.read(info.filename))
        target.writestr(storage.METADATA_ENTRY, text)
    if text.startswith("[\""):  # JSON, but not a mapping: as if nothing were recorded
        assert Classifier.load(crafted).class_names == ["class 1", "class 2"]
        return
    with pytest.raises(ModelFileError, match=r"^crafted.keras is damaged: its description cannot be read \(.*\)\.$"):
        Classifier.load(crafted)
    code, _, err = _cli(capsys, "predict", crafted, tmp_path)
    assert code == cli.EXIT_ERROR and "crafted.keras is damaged" in err
