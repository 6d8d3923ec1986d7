"""The Classify tab says "not sure" and "looks like none of these", with the probabilities still
shown, and the user's threshold is applied at once and kept for the model file."""

import json

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from ui_helpers import drop_files


def test_not_sure_and_none_of_these_in_the_classify_tab(qtbot, window_with_model, trained, tmp_path):
    scan, _, model_path = trained
    window = window_with_model
    panel = window.classify_panel
    assert "always answers cat or dog, even for a photo of a car" in panel.why_doubt.text()
    # The tiny model is usually too good on its 20 validation pictures to fit a threshold: it says so.
    recorded = window.session.classifier.recorded_threshold
    assert ("no default" in panel.threshold.default_label.text()) == (recorded is None)
    assert panel.threshold.spin.value() == pytest.approx(100 * (recorded or 0.0))

    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(noise)
    drop_files(panel, [noise])
    qtbot.waitUntil(lambda: len(panel.results()) == 1, timeout=30_000)
    assert panel.results()[0].unfamiliar
    assert "Looks like none of: cats, dogs" in panel.verdict.text() and panel.bars_box.count() == 2

    # Ordinary pictures (about 1 in 20 is flagged unfamiliar by construction) that the model is
    # less than 99.9 % sure of: chosen here, so that what follows holds for every one of them.
    ordinary = [p.path for p in window.session.classifier.predict_paths(scan.validation.paths)
                if not p.unfamiliar and p.probability < 0.999]
    assert len(ordinary) >= 4
    picture = ordinary[0]
    drop_files(panel, [picture])
    qtbot.waitUntil(lambda: [p.path for p in panel.results()] == [picture], timeout=30_000)
    prediction = panel.results()[0]
    assert prediction.uncertain == (recorded is not None and prediction.probability < recorded)
    panel.threshold.spin.setValue(99.9)  # the user wants near certainty: the answer on screen changes at once
    qtbot.waitUntil(lambda: "Not sure" in panel.verdict.text(), timeout=5_000)
    assert prediction.class_name in panel.verdict.text() and panel.bars_box.count() == 2
    assert json.loads(window.store.get("confidence_thresholds")) == {str(model_path): 0.999}

    drop_files(panel, ordinary[1:4] + [str(noise)])
    qtbot.waitUntil(lambda: "classified" in panel.message.text(), timeout=30_000)
    answers = [panel.cell_text(row, 2) for row in range(4)]
    assert answers[3].startswith("None of these (") and all(a.startswith("Not sure (") for a in answers[:3])
    assert "not sure: " in panel.message.text()

    qtbot.mouseClick(panel.threshold.reset, Qt.MouseButton.LeftButton)  # back to the model's default (none)
    assert window.session.classifier.threshold_override is None
    assert json.loads(window.store.get("confidence_thresholds")) == {}
    shown = panel.results()[:3]
    assert [panel.cell_text(row, 2).startswith("Not sure") for row in range(3)] == \
           [not p.unfamiliar and recorded is not None and p.probability < recorded for p in shown]


def test_the_reason_names_the_models_own_classes():
    from catdog_desktop.ui.classify_panel import WHY_DOUBT, doubt_sentence

    assert doubt_sentence(["cats", "dogs"]) == WHY_DOUBT
    assert "always answers roses, tulips or daisies, even for a photo of a car" in doubt_sentence(
        ["roses", "tulips", "daisies"])


def test_a_picture_of_one_flat_colour_is_not_sure_and_says_why(qtbot, window, tmp_path):
    from helpers import colour_classifier

    window.session.set_model(colour_classifier())
    panel = window.classify_panel
    blank = tmp_path / "blank.tif"
    Image.fromarray(np.full((40, 40), 0.7, np.float32)).save(blank)  # a float picture with nothing in it
    red = tmp_path / "red.png"
    Image.fromarray(np.random.default_rng(0).normal((200, 40, 40), 20, (40, 40, 3)).clip(0, 255).astype(np.uint8)).save(red)

    drop_files(panel, [blank])
    qtbot.waitUntil(lambda: len(panel.results()) == 1, timeout=30_000)
    assert "Not sure" in panel.verdict.text() and "The picture is a single flat colour" in panel.verdict.text()

    drop_files(panel, [blank, red])
    qtbot.waitUntil(lambda: "classified" in panel.message.text(), timeout=30_000)
    answers = {panel.cell_text(row, 1): panel.cell_text(row, 2) for row in range(2)}
    assert answers == {"blank.tif": "Not sure (cats?): the picture is a single flat colour", "red.png": "cats"}
    panel.threshold.spin.setValue(1.0)  # a new threshold re-marks every row: the flat picture stays not sure
    assert panel.cell_text([panel.cell_text(r, 1) for r in range(2)].index("blank.tif"), 2).startswith("Not sure")
