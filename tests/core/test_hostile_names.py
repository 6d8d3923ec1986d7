"""Names other programs interpret or cannot read: class and file names that a spreadsheet would
run as formulas, that are not UTF-8 (Linux allows any bytes), or that matplotlib reads as maths.
Every output still comes, and says the name as it is."""

import csv
import json
import os

import pytest

from catdog_desktop import cli
from catdog_desktop.core.classify import sorting
from catdog_desktop.core.model import storage
from helpers import colour_classifier
from hostile import DOLLAR_CLASSES, FORMULA_CLASSES, rename_to_undecodable
from synthetic import write_class_folders


def model_with_classes(folder, class_names):
    """The colour classifier (tests/helpers.py: red is the first class, blue the second) saved under
    other class names."""
    model = colour_classifier().model
    return storage.save_bundle(model, {"class_names": list(class_names), "image_size": 32}, folder / "model.keras")


def raw_cells(path):
    with open(path, newline="", encoding="utf-8-sig") as fh:  # valid UTF-8, or this raises
        return [cell for row in csv.reader(fh) for cell in row]


def run(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_no_csv_cell_starts_like_a_formula(tmp_path, monkeypatch, capsys):
    """Class names and file names starting with = + - @ or a tab get an apostrophe in predict --csv
    and sort --csv (the app's export writes the same CSV: tests/ui/test_batch_classify.py)."""
    model = model_with_classes(tmp_path, FORMULA_CLASSES)
    pictures = write_class_folders(tmp_path / "pictures", ["red", "blue"], 5)
    monkeypatch.chdir(pictures / "red")
    names = ["=1+2.png", "+cmd.png", "-2+3.png", "@SUM(A1).png", "\tA1.png"]
    for old, new in zip(sorted(os.listdir()), names):
        os.rename(old, new)
    # "./-2+3.png": argparse would take "-2+3.png" for an option; the CSV gets the name without "./".
    code, out, _ = run(capsys, "predict", model, "./" + names[2], *[n for n in names if n != names[2]],
                       "--csv", tmp_path / "predictions.csv")
    assert code == 0 and "=HYPERLINK" in out  # stdout is not a spreadsheet: names as they are
    code, _, _ = run(capsys, "sort", model, pictures / "blue", "--to", tmp_path / "sorted", "--csv", tmp_path / "sorted.csv")
    assert code == 0
    for written in ("predictions.csv", "sorted.csv"):
        assert not [c for c in raw_cells(tmp_path / written) if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    cells = raw_cells(tmp_path / "predictions.csv")  # red pictures: the first class
    assert {"'=1+2.png", "'+cmd.png", "'-2+3.png", "'@SUM(A1).png", "'\tA1.png", "'" + FORMULA_CLASSES[0]} <= set(cells)
    assert "'" + FORMULA_CLASSES[1] in raw_cells(tmp_path / "sorted.csv")  # blue pictures: the second


@pytest.fixture
def undecodable(tmp_path):
    """(model, folder of 3 red and 3 blue pictures whose names hold the byte 0xff, those names)."""
    model = model_with_classes(tmp_path, ["cats", "dogs"])
    folder = write_class_folders(tmp_path / "pictures", ["red", "blue"], 3)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for path in sorted(folder.rglob("*.png")):
        path.rename(inbox / path.name)
    return model, inbox, rename_to_undecodable(inbox)


def test_names_that_are_not_utf8_reach_every_output_of_predict(undecodable, tmp_path, capsys):
    model, inbox, names = undecodable
    code, out, err = run(capsys, "predict", model, inbox, "--csv", tmp_path / "out.csv")
    assert code == 0, err
    shown = sorted(line.split("\t")[0] for line in out.splitlines())
    assert shown == sorted(f"{inbox}/\\xff{os.fsdecode(n[1:])}" for n in names)  # backslash escapes
    paths = [row["path"] for row in csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8-sig"))]
    assert sorted(paths) == shown
    code, out, _ = run(capsys, "--json", "predict", model, inbox)
    answers = json.loads(out)["predictions"]  # valid JSON; Python gets the exact names back
    assert code == 0 and sorted(os.path.basename(os.fsencode(a["path"])) for a in answers) == sorted(names)


def test_a_sort_moves_every_file_whose_name_is_not_utf8_and_undo_puts_them_back(undecodable, tmp_path, capsys):
    model, inbox, names = undecodable
    target = tmp_path / "sorted"
    code, out, err = run(capsys, "sort", model, inbox, "--to", target, "--move")
    assert code == 0, err
    assert "Moved 6 files" in out and os.listdir(os.fsencode(inbox)) == []
    assert sorted(os.listdir(os.fsencode(target / "cats")) + os.listdir(os.fsencode(target / "dogs"))) == sorted(names)
    code, out, err = run(capsys, "undo-sort", target)
    assert code == 0 and "Moved 6 files back" in out, err
    assert sorted(os.listdir(os.fsencode(inbox))) == sorted(names)


def test_a_sort_that_cannot_go_on_says_how_far_it_got(undecodable, tmp_path, capsys, monkeypatch):
    """The sort log cannot be written any more (the disk is full): the sort stops, and says so."""
    model, inbox, _names = undecodable
    real_write, lines = sorting._Journal.write, []

    def write(self, entry, sync=False):
        lines.append(entry)
        if len(lines) > 5:
            raise OSError(28, "No space left on device")
        real_write(self, entry, sync)

    monkeypatch.setattr(sorting._Journal, "write", write)
    code, _, err = run(capsys, "sort", model, inbox, "--to", tmp_path / "sorted", "--move")
    assert code == 2
    assert err.strip() == ("error: The sort stopped after 2 of 6 files: No space left on device. The other files "
                           "were not touched, and undoing the sort puts the moved ones back.")
    assert len(os.listdir(os.fsencode(inbox))) == 4


def test_the_report_names_pictures_that_are_not_utf8_and_draws_classes_with_dollars(tmp_path, capsys):
    """A folder whose class names hold dollars (matplotlib maths, some of it invalid) and whose
    pictures' names are not UTF-8: the report is written, with the figures and every name."""
    model = model_with_classes(tmp_path, DOLLAR_CLASSES)
    data = write_class_folders(tmp_path / "data", DOLLAR_CLASSES, 4)
    # A red picture in the second class's folder: a mistake the report shows with its name.
    os.rename(data / DOLLAR_CLASSES[0] / f"{DOLLAR_CLASSES[0]}_000.png", data / DOLLAR_CLASSES[1] / "odd.png")
    for folder in DOLLAR_CLASSES:
        rename_to_undecodable(data / folder)
    code, out, err = run(capsys, "report", model, data, "--out", tmp_path / "report.html", "--no-label-check")
    assert code == 0, err
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "\\xffodd.png" in text and "50%$#$" in text and text.count("data:image/png") >= 2


def test_an_export_of_classes_whose_folder_names_are_not_utf8(tmp_path):
    """A class folder named with a byte that is not UTF-8: the export's text files are written
    (\\xff in the labels and the model card), and the export knows its classes by their exact names."""
    from catdog_desktop.core.export import exporter as export
    from catdog_desktop.core.export.runtimes import load_classifier, sidecar_paths
    from catdog_desktop.core.classify.classifier import Classifier

    names = ["cats", os.fsdecode(b"d\xffgs")]
    classifier = Classifier.load(model_with_classes(tmp_path, names))
    out = tmp_path / "model.onnx"
    result = export.export_model(classifier, "onnx", out, parity=export.generated_pictures(32, count=4))
    assert result.passed
    assert sidecar_paths(out)["labels"].read_text(encoding="utf-8") == "cats\nd\\xffgs\n"
    assert "d\\xffgs" in sidecar_paths(out)["card"].read_text(encoding="utf-8")
    assert load_classifier(out).class_names == names
