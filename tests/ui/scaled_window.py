"""Run by tests/ui/test_scaled_display.py in a child process: Qt reads ``QT_SCALE_FACTOR`` only
when the QApplication starts, so each scale factor needs a process of its own (pytest-qt keeps one
application for the whole session). A segfault here is the child's exit code -11, which the test
sees; an in-process test would take the whole suite down with it.

Steps a user takes: open a generated dataset through the folder picker, train the small CNN to its
end, look at the result on the Train tab and at the Evaluate tab (every matplotlib figure the
window has), then close. Prints one ``DONE`` line with what was shown.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def main(save_to: str | None = None) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: synthetic, ui_helpers
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QFileDialog

    from synthetic import write_class_folders
    from ui_helpers import tiny_settings

    app = QApplication([])
    from catdog_desktop.ui.main_window import MainWindow

    def wait(condition, what: str, seconds: float = 240) -> None:
        end = time.monotonic() + seconds
        while not condition():
            app.processEvents()
            time.sleep(0.02)
            if time.monotonic() > end:
                raise TimeoutError(f"waited {seconds:.0f} s for {what}")

    folder = Path(tempfile.mkdtemp(prefix="catdog-scaled-"))
    data = write_class_folders(folder / "pets", ["cats", "dogs"], 30)
    window = MainWindow(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat), default_model=None)
    window.show()
    wait(lambda: window.tf_ready, "TensorFlow")
    QFileDialog.getExistingDirectory = staticmethod(lambda *args, **kwargs: str(data))
    window.dataset_panel.choose_button.click()
    wait(lambda: window.session.scan is not None, "the dataset scan")
    tiny_settings(window.training_panel, epochs=2)
    window.training_panel.train_button.click()
    wait(window.is_training, "the training to start")
    wait(lambda: not window.is_training(), "the training to end")
    panel = window.training_panel
    for _ in range(20):  # let the charts' delayed redraws run at this scale
        app.processEvents()
        time.sleep(0.05)
    train_shot = window.grab()
    result_shown = panel.result_box.isVisible()
    window.tabs.setCurrentWidget(window.evaluation_panel)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.05)
    evaluate_shot = window.grab()
    if save_to:  # scripts/screenshots.py-style pictures for README: python tests/ui/scaled_window.py DIR
        train_shot.save(str(Path(save_to) / "scaled_train.png"))
        evaluate_shot.save(str(Path(save_to) / "scaled_evaluate.png"))
    print("DONE", f"ratio={window.devicePixelRatioF():g}", f"result_shown={result_shown}",
          f"epochs={panel.chart.points('loss')}", f"matrix={window.evaluation_panel.confusion_chart.class_count}",
          flush=True)
    window.session.discard_unsaved()
    window.close()
    return 0


if __name__ == "__main__":  # the training's child process is spawned: it must not run main() again
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
