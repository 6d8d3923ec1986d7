"""Issue 27, item 4: the app starts with any settings file. QSettings hands back whatever the file
holds (a list for ``a, b``, text for a cut-short byte array, a rectangle for ``@Rect(…)``); every
stored value is type-checked on read and a bad one gives the default."""

import pytest
from PySide6.QtCore import QSettings

from catdog_desktop.core.config import preset
from catdog_desktop.core.app.session import STORED_TYPES

#: Damaged values as they appear in the INI file (its own escapes, written by hand).
GARBAGE = {
    "a list": "quick, best",
    "text": "hello",
    "a cut-short byte array": r"@ByteArray(\x1\xd9\xd0\xcb\0\x3",
    "a byte array of a few bytes": r"@ByteArray(\x1\xd9\xd0\xcb\0\x3)",
    "a rectangle": "@Rect(1 2 3 4)",
    "a number": r"@Variant(\0\0\0\x2\0\0\0\x5)",
    "a map": r"@Variant(\0\0\0\x8\0\0\0\x1\0\0\0\x2\0k\0\0\0\x2\0\0\0\x5)",
    "an unknown type": r"@Variant(\0\0\0\x7f\0\0\0\x13Garbage)",
    "a JSON list": '"[1, 2]"',
    "JSON of the wrong types": r'"{\"preset\": \"quick\", \"overrides\": {\"seed\": 99999999999999, '
                               r'\"epochs\": \"x\", \"batch_size\": true}, \"x\": 0.5}"',
    "JSON with a list for the preset": r'"{\"preset\": [\"quick\"], \"training_config\": [1]}"',
    "a zero byte": r"a\0b",
    "empty": "",
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_the_window_opens_with_garbage_in_every_stored_setting(qtbot, tmp_path, garbage):
    from catdog_desktop.ui.main_window import MainWindow

    path = tmp_path / "settings.ini"
    path.write_text("[General]\n" + "".join(f"{key}={garbage}\n" for key in STORED_TYPES), encoding="latin-1")
    settings = QSettings(str(path), QSettings.Format.IniFormat)
    assert set(settings.allKeys()) >= set(STORED_TYPES)  # every key the app reads holds the garbage

    win = MainWindow(settings, default_model=None, sample_dataset=None)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.tf_ready, timeout=120_000)  # closing before the warm-up starts would leave it running
    assert win.isVisible() and win.width() > 200  # a usable window, not one restored to nothing
    name = win.training_panel.preset_name()
    assert win.training_panel.config() == preset(name)  # the goal's own settings, nothing from the garbage
    win.session.discard_unsaved()
    win.close()

    # What the window writes on closing is readable again.
    again = MainWindow(QSettings(str(path), QSettings.Format.IniFormat), default_model=None, sample_dataset=None)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.tf_ready, timeout=120_000)
    assert again.isVisible() and again.training_panel.preset_name() == name
    again.close()
