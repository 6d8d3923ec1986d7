"""The app opening a model whose description (catdog_desktop.json) has values of the wrong type:
it opens and works as one that recorded nothing wrong (no error in any tab), or, when its class
names are wrong, the Classify tab says so in a sentence and the model in use stays."""

import pytest

from hostile import WRONG_VALUES, described_setting, make_described_model, wrong_entries, wrong_everywhere


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    return described_setting(tmp_path_factory.mktemp("described"), 4)


def open_and_wait(qtbot, window, path):
    window.load_model(str(path))
    qtbot.waitUntil(lambda: not window.jobs.busy("load-model"), timeout=60_000)


@pytest.mark.parametrize("kind", ["text", "list", "mapping", "NaN"])
def test_a_model_whose_description_is_wrong_opens_and_shows_no_error(qtbot, window, setting, tmp_path, kind):
    data, good, meta = setting
    value = WRONG_VALUES[kind]
    for name, crafted in (("everywhere", wrong_everywhere(meta, value)), ("entries", wrong_entries(meta, value))):
        path = make_described_model(tmp_path / f"{name}.keras", good, crafted)
        open_and_wait(qtbot, window, path)
        assert window.session.classifier.path == str(path)  # opened (a slot that raised fails the test)
        assert window.session.classifier.recorded_threshold is None
        assert "not sure" not in window.classify_panel.message.text()
        window.tabs.setCurrentWidget(window.evaluation_panel)
        window.evaluating.evaluate_folder(str(data))  # the Evaluate tab scores it on a folder
        qtbot.waitUntil(lambda: not window.jobs.busy("evaluate"), timeout=60_000)
        assert "correct" in window.statusBar().currentMessage() or "Evaluated" in window.statusBar().currentMessage()

    path = make_described_model(tmp_path / "names.keras", good, {**meta, "class_names": value})
    open_and_wait(qtbot, window, path)
    assert "its recorded class names are not a list of names" in window.classify_panel.message.text()
    assert window.session.classifier.path != str(path)
