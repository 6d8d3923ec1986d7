"""The CLI through its real entry point, as a user on a bigger machine runs it."""

import json
import os
import subprocess
import sys

import pytest

from catdog_desktop import cli
from catdog_desktop.core.model import storage
from synthetic import write_class_folders


def run(*args):
    proc = subprocess.run([sys.executable, "-m", "catdog_desktop.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_train_pretrained_by_default(pets_dir, tmp_path):
    out = tmp_path / "pretrained.keras"
    code, stdout, stderr = run("--json", "train", pets_dir, "--out", out, "--image-size", 32)
    assert code == 0, stdout + stderr
    trained = json.loads(stdout)
    meta = storage.read_metadata(out)
    assert meta["config"]["backbone"] == "mobilenet_v2" and meta["backbone"]["name"] == "mobilenet_v2"
    assert set(trained["stage_seconds"]) >= {"features", "classifier", "evaluation"}
    assert trained["features_computed"] + trained["features_cached"] == 100
    assert any("Fine-tuning was skipped" in note for note in trained["notes"])  # 80 training pictures
    assert trained["evaluation"]["accuracy"] >= 0.9

    code, stdout, _ = run("--json", "predict", out, pets_dir / "dogs" / "dogs_001.png")
    assert code == 0 and json.loads(stdout)["predictions"][0]["class"] == "dogs"


def test_train_isolated_trains_in_a_child_process_as_the_app_does(pets_dir, tmp_path, capsys):
    """--isolated: the app's way (a spawned child process; frozen, the same executable started
    again), from the command line, so the frozen build's smoke test can check that way too."""
    out = tmp_path / "isolated.keras"
    code, stdout, stderr = run_here(capsys, "--json", "train", pets_dir, "--out", out, "--isolated", "--backbone",
                                    "none", "--epochs", 1, "--image-size", 32, "--blocks", 2, "--base-filters", 8)
    assert code == 0, stderr
    assert json.loads(stdout)["epochs_run"] == 1 and storage.read_metadata(out)["config"]["epochs"] == 1
    code, _, stderr = run_here(capsys, "train", pets_dir, "--out", tmp_path / "x.keras", "--isolated",
                               "--multi-gpu", "--backbone", "none")
    assert code == cli.EXIT_ERROR and "error: --multi-gpu trains in this process: leave out --isolated." in stderr


def test_train_evaluate_predict_json(pets_dir, tmp_path):
    out = tmp_path / "cli.keras"
    code, stdout, _ = run("--json", "train", pets_dir, "--out", out, "--backbone", "none", "--epochs", 3,
                          "--image-size", 32, "--blocks", 3, "--base-filters", 16, "--batch-size", 16,
                          "--time-limit-minutes", 30)
    assert code == 0, stdout
    trained = json.loads(stdout)
    assert trained["epochs_run"] == 3 and out.exists()
    assert trained["stopped_by_time_limit"] is False  # 30 minutes: all 3 epochs fit
    assert storage.read_metadata(out)["config"]["time_limit_minutes"] == 30
    assert 0.0 <= trained["evaluation"]["accuracy"] <= 1.0

    code, stdout, _ = run("--json", "evaluate", out, pets_dir)
    assert code == 0
    ev = json.loads(stdout)
    # the folder it was trained on: only its validation split is evaluated
    assert ev["split"] == "validation" and ev["count"] == 20
    assert ev["accuracy"] == pytest.approx(trained["evaluation"]["accuracy"])

    (tmp_path / "junk.jpg").write_text("not a picture")
    code, stdout, _ = run("--json", "predict", out, pets_dir / "cats" / "cats_000.png", tmp_path / "junk.jpg")
    assert code == cli.EXIT_SOME_FAILED
    result = json.loads(stdout)
    assert len(result["predictions"]) == 1 and result["predictions"][0]["class"] in ("cats", "dogs")
    assert result["errors"][0]["path"].endswith("junk.jpg") and "not an image" in result["errors"][0]["reason"]


def test_text_predict_lists_each_file(trained, tmp_path):
    scan, _, model = trained
    (tmp_path / "bad.png").write_bytes(b"")
    code, stdout, stderr = run("predict", model, scan.validation.paths[0], scan.validation.paths[1], tmp_path / "bad.png")
    assert code == cli.EXIT_SOME_FAILED
    assert len(stdout.strip().splitlines()) == 2
    assert stderr.strip().endswith("bad.png: the file is empty (0 bytes)")


@pytest.mark.parametrize("args, message", [
    (["train", "{tmp}/missing", "--out", "{tmp}/m.keras"], "does not exist"),
    (["train", "{tmp}", "--out", "{tmp}/m.keras"], "is empty"),
    (["evaluate", "{tmp}/nothing.keras", "{tmp}"], "does not exist"),
    (["predict", "{tmp}/notes.keras", "x.jpg"], "not a Keras model"),
    (["train", "{tmp}", "--out", "{tmp}/m.keras", "--image-size", "5"], "Image size"),
    (["train", "{tmp}", "--out", "{tmp}/m.keras", "--image-size", "24"], "at least 32 pixels for a pretrained"),
    (["train", "{tmp}", "--out", "{tmp}/m.keras", "--time-limit-minutes", "-1"], "time limit"),
    (["train", "{tmp}", "--out", "{tmp}/m.keras", "--multi-gpu"], "--backbone none"),
])
def test_bad_input_gives_one_line_and_no_traceback(tmp_path, args, message):
    (tmp_path / "notes.keras").write_text("hello")
    code, stdout, stderr = run(*[a.format(tmp=tmp_path) for a in args])
    assert code == cli.EXIT_ERROR
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("error: ") and message in stderr


def run_here(capsys, *args):
    """The CLI in this process (TensorFlow is loaded once): (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_classifies_a_picture_beside_a_folder_nested_1200_deep(trained, tmp_path, capsys, deep_folder):
    scan, _, model = trained
    deep = deep_folder(tmp_path / "deep")
    code, stdout, stderr = run_here(capsys, "--json", "predict", model, scan.validation.paths[0], tmp_path / "deep")
    assert code == cli.EXIT_OK, stdout + stderr
    assert [p["path"] for p in json.loads(stdout)["predictions"]] == [scan.validation.paths[0], str(deep)]


def test_evaluate_leaves_out_classes_the_model_does_not_know_and_says_so(trained, tmp_path, capsys):
    _, _, model = trained  # knows cats and dogs
    write_class_folders(tmp_path / "zoo", ["birds", "cats", "dogs"], 4, seed=5)
    code, stdout, _ = run_here(capsys, "--json", "evaluate", model, tmp_path / "zoo")
    assert code == cli.EXIT_OK
    ev = json.loads(stdout)
    assert ev["left_out"] == {"birds": 4} and ev["count"] == 8 and ev["class_names"] == ["cats", "dogs"]

    code, stdout, _ = run_here(capsys, "evaluate", model, tmp_path / "zoo")
    assert code == cli.EXIT_OK and "Left out: 4 pictures of classes the model does not know: birds (4)" in stdout

    code, _, stderr = run_here(capsys, "evaluate", "--strict", model, tmp_path / "zoo")
    assert code == cli.EXIT_ERROR and "error: " in stderr and "birds" in stderr


def test_missing_paths_and_wrong_kinds_get_one_plain_line(trained, tmp_path, capsys):
    """A path that was never there "does not exist" (not "no longer exists"); a file where a folder
    is wanted "is not a folder"; a missing --model is noticed before the dataset is scanned."""
    _, _, model = trained
    code, stdout, stderr = run_here(capsys, "sort", model, tmp_path / "nope", "--to", tmp_path / "out")
    assert (code, stdout) == (cli.EXIT_ERROR, "") and stderr == f"error: {tmp_path / 'nope'} does not exist.\n"
    assert not (tmp_path / "out").exists()                         # nothing made for a sort that cannot run
    code, _, stderr = run_here(capsys, "predict", model, tmp_path / "nope.jpg")
    assert code == cli.EXIT_SOME_FAILED and stderr == f"{tmp_path / 'nope.jpg'}: it does not exist\n"
    (tmp_path / "x.jpg").write_bytes(b"a picture")
    code, _, stderr = run_here(capsys, "undo-sort", tmp_path / "x.jpg")
    assert code == cli.EXIT_ERROR and stderr.startswith(f"error: {tmp_path / 'x.jpg'} is not a folder")
    (tmp_path / "empty").mkdir()
    code, _, stderr = run_here(capsys, "check-labels", tmp_path / "empty")
    assert code == cli.EXIT_ERROR and stderr.count("is empty") == 1     # said once, as the error
    code, _, stderr = run_here(capsys, "check-labels", tmp_path / "empty", "--model", tmp_path / "nope.keras")
    assert code == cli.EXIT_ERROR and stderr == f"error: The model file {tmp_path / 'nope.keras'} does not exist.\n"


TINY_CLI = ["--backbone", "none", "--epochs", 1, "--image-size", 32, "--blocks", 3, "--base-filters", 16,
            "--batch-size", 16]


@pytest.mark.parametrize("out", ["{tmp}/notes.txt/model.keras", "{tmp}/missing/model.keras"])
def test_train_refuses_an_unusable_out_path_before_training(pets_dir, tmp_path, capsys, monkeypatch, out):
    from catdog_desktop.core.training import train as training

    (tmp_path / "notes.txt").write_text("a file, not a folder")
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("trained although it cannot save"))
    code, _, stderr = run_here(capsys, "train", pets_dir, "--out", out.format(tmp=tmp_path), *TINY_CLI)
    assert code == cli.EXIT_ERROR and stderr.startswith("error: Cannot save")
    assert ("is a file, not a folder" if "notes" in out else "does not exist") in stderr


def test_train_refuses_a_read_only_folder_before_training(pets_dir, tmp_path, capsys, monkeypatch):
    from catdog_desktop.core.training import train as training

    # A read-only folder, as the system answers it (root may write anywhere, so the answer is
    # given here: the same error creating a file there raises for any other user).
    mkstemp = storage.tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and os.path.samefile(dir, tmp_path):
            raise PermissionError(13, "Permission denied", str(dir))
        return mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(storage.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("trained although it cannot save"))
    code, _, stderr = run_here(capsys, "train", pets_dir, "--out", tmp_path / "m.keras", *TINY_CLI)
    assert code == cli.EXIT_ERROR and "permission denied" in stderr


def test_a_save_that_fails_after_training_keeps_the_model_in_the_temp_folder(pets_dir, tmp_path, capsys, monkeypatch):
    save = storage.save_bundle
    calls = []

    def disk_full_once(model, metadata, path):
        calls.append(path)
        if len(calls) == 1:
            raise storage.ModelFileError(f"Cannot save to {path}: No space left on device.")
        return save(model, metadata, path)

    monkeypatch.setattr(storage, "save_bundle", disk_full_once)
    monkeypatch.setattr(cli.tempfile, "gettempdir", lambda: str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    code, _, stderr = run_here(capsys, "train", pets_dir, "--out", tmp_path / "m.keras", *TINY_CLI)
    assert code == cli.EXIT_ERROR and "No space left on device" in stderr
    rescued = list((tmp_path / "temp").glob("m-rescued-*.keras"))
    assert len(rescued) == 1 and str(rescued[0]) in stderr and "saved to" in stderr
    assert storage.read_metadata(rescued[0])["class_names"] == ["cats", "dogs"]
    assert not (tmp_path / "m.keras").exists()


def test_predict_sees_float_and_16_bit_tiffs_as_they_look_and_marks_a_flat_picture(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from catdog_desktop.core.classify.results import read_csv
    from helpers import brightness_classifier

    model = brightness_classifier(tmp_path).path
    light = np.clip(np.random.default_rng(0).normal(0.85, 0.1, (40, 40)), 0, 1).astype(np.float32)  # cells on a lit slide
    Image.fromarray(light).save(tmp_path / "float-0-1.tif")
    Image.fromarray(light * 900 - 300).save(tmp_path / "float-any-range.tif")
    Image.fromarray((light * 4095).astype(np.uint16)).save(tmp_path / "camera-12-bit.tif")
    Image.fromarray((light * 65535).astype(np.uint16)).save(tmp_path / "full-16-bit.tif")
    Image.fromarray(np.full((40, 40), 0.9, np.float32)).save(tmp_path / "blank.tif")
    pictures = sorted(tmp_path.glob("*.tif"))

    code, out, err = run_here(capsys, "--json", "predict", model, *pictures)
    assert code == cli.EXIT_OK, err
    answers = {os.path.basename(p["path"]): p for p in json.loads(out)["predictions"]}
    for name in ("float-0-1.tif", "float-any-range.tif", "camera-12-bit.tif", "full-16-bit.tif"):
        assert answers[name]["class"] == "bright" and not answers[name]["not_sure"], name
    assert answers["blank.tif"]["not_sure"] and answers["blank.tif"]["doubt"] == "the picture is a single flat colour"

    code, out, err = run_here(capsys, "predict", model, tmp_path / "blank.tif", tmp_path / "float-0-1.tif",
                              "--csv", tmp_path / "out.csv")
    lines = dict(line.split("\t")[:2] for line in out.strip().splitlines())
    assert lines[str(tmp_path / "blank.tif")] == "not sure (maybe bright): the picture is a single flat colour"
    assert lines[str(tmp_path / "float-0-1.tif")] == "bright"
    rows = {os.path.basename(row["path"]): row for row in read_csv(tmp_path / "out.csv")}
    assert (rows["blank.tif"]["not_sure"], rows["float-0-1.tif"]["not_sure"]) == ("1", "0")
