"""Every hostile or unusual file in tests/hostile.py, through the core and the CLI."""

import re
import subprocess
import sys

import numpy as np
import pytest

from catdog_desktop import cli
from catdog_desktop.core.data import pipeline
from catdog_desktop.core.data.dataset import scan_dataset, scan_images
from catdog_desktop.core.data.images import ImageDecodeError, load_pixels
from hostile import BAD, GOOD, make_bad, make_good
from synthetic import write_class_folders


@pytest.mark.parametrize("name", list(BAD))
def test_bad_file_is_refused_with_its_reason(tmp_path, monkeypatch, name):
    path = make_bad(tmp_path, name, monkeypatch)
    words = BAD[name][1]
    with pytest.raises(ImageDecodeError, match=re.escape(words)):
        load_pixels(path, 32)
    # Dropped or opened on its own: refused by the header check, or else when it is decoded.
    files, skipped = scan_images([path])
    reasons = [reason for _, reason in skipped] + [decode_problem(f) for f in files]
    assert len(reasons) == 1 and words in reasons[0]


def decode_problem(path):
    try:
        load_pixels(path, 32)
    except ImageDecodeError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("name", list(BAD))
def test_bad_file_inside_a_dataset_is_skipped_and_listed(tmp_path, monkeypatch, name):
    write_class_folders(tmp_path, ["cats", "dogs"], 6)
    make_bad(tmp_path / "cats", name, monkeypatch)
    scan = scan_dataset(tmp_path)
    assert scan.ok
    # Skipped by the scan's header check, or else when training decodes the pictures.
    decoded = [pipeline.decode_split(split, 32) for split in (scan.train, scan.validation)]
    skipped = scan.skipped + [s for d in decoded for s in d.skipped]
    assert [(p.endswith(name), BAD[name][1] in reason) for p, reason in skipped] == [(True, True)]
    assert sum(len(d.x) for d in decoded) == 12  # every good picture is still used


@pytest.mark.parametrize("name", GOOD)
def test_unusual_but_valid_picture_decodes(tmp_path, name):
    path = make_good(tmp_path, name)
    px = load_pixels(path, 32)
    assert px.shape == (32, 32, 3) and px.dtype == np.uint8
    assert px.std() > 0
    assert scan_images([path]) == ([str(path)], [])


def test_file_without_extension_is_read_when_dropped_but_not_in_a_dataset(tmp_path):
    write_class_folders(tmp_path, ["cats", "dogs"], 6)
    (tmp_path / "cats" / "photo").write_bytes((tmp_path / "cats" / "cats_000.png").read_bytes())
    assert scan_images([tmp_path / "cats" / "photo"])[0] == [str(tmp_path / "cats" / "photo")]
    scan = scan_dataset(tmp_path)
    assert scan.skipped == [(str(tmp_path / "cats" / "photo"), "no image file extension")]


def test_cli_predict_reports_every_bad_file_on_its_own_line_and_goes_on(trained, tmp_path):
    _, _, model = trained
    bad = [make_bad(tmp_path, name) for name in BAD if name != "locked.jpg"]  # a subprocess: no monkeypatch
    good = make_good(tmp_path, GOOD[0])
    proc = subprocess.run([sys.executable, "-m", "catdog_desktop.cli", "predict", str(model), *map(str, bad), str(good)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == cli.EXIT_SOME_FAILED
    assert len(proc.stdout.strip().splitlines()) == 1 and GOOD[0] in proc.stdout  # the good one is classified
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    for path in bad:
        line = next(line for line in lines if path.name in line)
        assert BAD[path.name][1] in line
