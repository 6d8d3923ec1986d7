"""Fast (int8) classification: the int8 model is used only when it gives the same answers as the full
one on at least 99 % of the held-out pictures, the decision is kept, and the CLI says which runs."""

import json

import numpy as np
import pytest

from catdog_desktop import cli
from catdog_desktop.core.classify.classifier import Classifier
from catdog_desktop.core.export import fast
from helpers import colour_classifier
from synthetic import write_class_folders


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory, monkeypatch):
    """One cache for this module: a test that needs the int8 model of the colour model finds it made."""
    monkeypatch.setenv("CATDOG_DESKTOP_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "fast-cache" / "features"))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """The colour model (red "cats", blue "dogs") saved to a file."""
    return colour_classifier(tmp_path_factory.mktemp("model")).path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """train/ and test/ folders of red cats and blue dogs: 120 held-out (test) pictures."""
    root = tmp_path_factory.mktemp("colours")
    write_class_folders(root / "train", ["cats", "dogs"], 60, seed=1, size=32)
    write_class_folders(root / "test", ["cats", "dogs"], 60, seed=2, size=32)
    return root


def test_an_int8_model_that_agrees_is_used_and_kept_for_next_time(model_file, data, monkeypatch):
    full = Classifier.load(model_file)
    steps = []
    decision, chosen = fast.prepare_fast(full, data, progress=lambda done, total, message="": steps.append(message))
    assert decision.fast and isinstance(chosen, fast.Int8Classifier)
    assert decision.pictures == 120 and decision.agreement >= 0.99
    assert decision.sentence() == ("fast int8 model in use: agrees with the full model on "
                                   f"{np.floor(1000 * decision.agreement) / 10:.1f} % of 120 held-out pictures")
    assert "Making the fast int8 model (once for this model)" in steps
    pictures = sorted(str(p) for p in (data / "test").rglob("*.png"))[:10]
    assert [p.class_name for p in chosen.predict_paths(pictures)] == [p.class_name for p in full.predict_paths(pictures)]

    int8_file = fast._cache_files(full)[0]
    int8_file.write_bytes(int8_file.read_bytes()[:1000])  # damaged on disk: made again, not used
    assert fast.prepare_fast(Classifier.load(model_file), data)[0] == decision

    def no_conversion(*_args):
        raise AssertionError("converted again")

    monkeypatch.setattr(fast, "_int8_model", no_conversion)
    again, chosen_again = fast.prepare_fast(Classifier.load(model_file), data)
    assert again.cached and again.fast and isinstance(chosen_again, fast.Int8Classifier)
    assert (again.agreement, again.pictures) == (decision.agreement, decision.pictures)


def test_an_int8_model_that_disagrees_on_more_than_1_percent_is_not_used(tmp_path, data, monkeypatch):
    full = Classifier.load(colour_classifier(tmp_path).path)
    full.digest = "another " + full.digest  # (the same weights would find the other test's decision)
    real_outputs = fast.Int8Classifier._outputs

    def every_20th_answer_swapped(self, pixels):
        outputs = np.array(real_outputs(self, pixels))
        outputs[::20] = outputs[::20, ::-1]  # in each batch of 32: 8 of the 120
        return outputs

    monkeypatch.setattr(fast.Int8Classifier, "_outputs", every_20th_answer_swapped)
    decision, chosen = fast.prepare_fast(full, data)
    assert not decision.fast and chosen is full
    assert decision.sentence() == ("full model in use: the int8 version agrees with it on only 93.3 % of 120 "
                                   "held-out pictures (at least 99 % is needed)")
    assert fast.prepare_fast(full, data)[0].cached  # the measurement is kept too


def test_without_enough_held_out_pictures_the_full_model_is_used_and_says_why(model_file, tmp_path):
    full = Classifier.load(model_file)
    full.digest = "never measured " + full.digest  # (a decision kept for this file would be used)
    decision, chosen = fast.prepare_fast(full)  # it records no training folder
    assert chosen is full and not decision.fast
    assert decision.sentence() == ("full model in use: no labelled pictures to check the fast version on (the "
                                   "model does not record the folder it was trained on; give a folder of them)")
    few = write_class_folders(tmp_path / "few", ["cats", "dogs"], 10, size=32)
    assert fast.prepare_fast(full, few)[0].reason == (
        "only 10 pictures to check the fast version on, and it takes at least 100 to measure a 1 % "
        "difference")
    assert fast.prepare_fast(colour_classifier())[0].reason.startswith("the model is not saved in a file yet")


def test_a_model_the_converter_cannot_take_stays_full_and_says_why(model_file, data, monkeypatch):
    full = Classifier.load(model_file)
    full.digest = "not convertible " + full.digest

    def refuses(*_args):
        raise RuntimeError("'tfl.custom' op is neither a custom op nor a flex op\nmore details")

    monkeypatch.setattr(fast, "tflite_content", refuses)
    decision, chosen = fast.prepare_fast(full, data)
    assert chosen is full and decision.sentence() == (
        "full model in use: the int8 conversion failed ('tfl.custom' op is neither a custom op nor a flex op)")


def test_cli_predict_and_sort_say_which_model_runs(model_file, data, tmp_path, capsys):
    pictures = data / "test" / "dogs"
    code = cli.main(["predict", str(model_file), str(pictures), "--fast", "--data", str(data)])
    out, err = capsys.readouterr()
    assert code == 0 and "fast int8 model in use: agrees with the full model on" in err
    assert all(line.split("\t")[1] == "dogs" for line in out.splitlines())

    code = cli.main(["--json", "sort", str(model_file), str(pictures), "--to", str(tmp_path / "sorted"),
                     "--fast", "--data", str(data)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["counts"] == {"dogs": 60}
    assert report["fast"]["model"] == "int8" and report["fast"]["pictures"] == 120

    code = cli.main(["predict", str(model_file), str(pictures), "--fast"])  # the decision was kept
    assert code == 0 and "fast int8 model in use: agrees with the full model on" in capsys.readouterr().err

    code = cli.main(["predict", str(model_file), str(pictures), "--data", str(data)])
    assert code == cli.EXIT_ERROR
    assert "error: --data names the pictures --fast checks its int8 model on: give --fast too." in \
        capsys.readouterr().err
    code = cli.main(["predict", str(model_file), str(pictures), "--fast", "--data", str(tmp_path / "typo")])
    assert code == cli.EXIT_ERROR and f"error: --data {tmp_path / 'typo'} is not a folder" in capsys.readouterr().err


def novelty_model(folder, data):
    """The colour model with a "none of these" summary of its training pictures' mean colours: a
    green picture (a class it never saw) is none of these."""
    from catdog_desktop.core.model import calibration, storage

    from PIL import Image

    classifier = colour_classifier()
    layer = calibration.feature_layer(classifier.model)
    both = calibration.feature_model(classifier.model, layer)

    def features(part):
        paths = sorted((data / part).rglob("*.png"))
        return both.predict(np.stack([np.asarray(Image.open(p)) for p in paths]), verbose=0)[1], \
            np.array([p.parent.name == "dogs" for p in paths], int)

    train, labels = features("train")
    summary = calibration.summarise_novelty(train, labels, features("test")[0], 2, layer)
    path = storage.save_bundle(classifier.model, {"class_names": classifier.class_names, "image_size": 32,
                                                  "calibration": {"novelty": summary}}, folder / "novelty.keras")
    return Classifier.load(path)


def test_none_of_these_is_answered_by_the_int8_model_only_when_its_answers_agree_too(data, tmp_path, monkeypatch):
    full = novelty_model(tmp_path, data)
    green = sorted(str(p) for p in write_class_folders(tmp_path / "green", ["cats", "dogs", "green"], 4,
                                                       size=32).glob("green/*.png"))
    decision, chosen = fast.prepare_fast(full, data)
    assert decision.fast and decision.none_of_these and decision.none_of_these_agreement >= 0.99
    assert [p.unfamiliar for p in chosen.predict_paths(green)] == [p.unfamiliar for p in full.predict_paths(green)] \
        == [True] * 4

    real_outputs = fast.Int8Classifier._outputs

    def features_moved_for_every_20th(self, pixels):
        outputs = real_outputs(self, pixels)
        if isinstance(outputs, tuple):
            outputs[1][::20] = outputs[1][::20, ::-1]  # scrambled features: 8 of the 120 answer otherwise
        return outputs

    monkeypatch.setattr(fast.Int8Classifier, "_outputs", features_moved_for_every_20th)
    full.digest = "measured again " + full.digest
    decision, chosen = fast.prepare_fast(full, data)
    assert decision.fast and not decision.none_of_these
    assert decision.reason.endswith("; it does not answer “none of these” (its answers to that agreed on only "
                                    "93.3 %)")
    assert [p.unfamiliar for p in chosen.predict_paths(green)] == [False] * 4
