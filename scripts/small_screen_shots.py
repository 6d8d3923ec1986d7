"""Screenshots of each tab, and of the export dialog, on a 1024×600 screen after a short real
training (offscreen Qt): what a netbook or a small laptop shows.

    python scripts/small_screen_shots.py [--data DATA_DIR] [--out resources/screenshots]

Writes small_screen_dataset.png, small_screen_train.png, small_screen_classify.png,
small_screen_evaluate.png and small_screen_export.png. Without --data it trains on the bundled
sample dataset.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from screenshots import settle, wait  # noqa: E402

SCREEN = (1024, 600)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=None, help="a class-folder dataset (default: the sample)")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from catdog_desktop.paths import sample_dataset_dir
    from catdog_desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    work = Path(tempfile.mkdtemp(prefix="catdog-small-"))
    data = args.data or sample_dataset_dir()
    window = MainWindow(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(*SCREEN)
    window.show()
    wait(app, lambda: window.tf_ready)
    wait(app, lambda: window.session.classifier is not None)
    window.open_dataset(str(data))
    wait(app, lambda: window.session.scan is not None and window.training_panel.train_button.isEnabled())
    settle(app)
    window.grab().save(str(args.out / "small_screen_dataset.png"))

    panel = window.training_panel
    panel.preset_box.setCurrentIndex(max(0, panel.preset_box.findData("quick")))
    panel.epochs.setValue(args.epochs)
    panel.request_training()
    wait(app, lambda: window.is_training())
    wait(app, lambda: not window.is_training())
    settle(app)
    window.grab().save(str(args.out / "small_screen_train.png"))

    window.classify_paths([str(data)])
    wait(app, lambda: len(window.classify_panel.results()) > 1 and not window.classify_panel.progress.isVisible())
    settle(app)
    window.grab().save(str(args.out / "small_screen_classify.png"))

    window.tabs.setCurrentWidget(window.evaluation_panel)
    settle(app)
    settle(app)
    window.grab().save(str(args.out / "small_screen_evaluate.png"))

    window.export_model()
    dialog = window.export_dialog
    dialog.path_edit.setText(str(work / "model.tflite"))
    dialog.data_edit.setText(str(data))
    dialog.start()
    wait(app, lambda: not dialog.running())
    settle(app)
    dialog.grab().save(str(args.out / "small_screen_export.png"))
    print(f"dialog {dialog.width()}x{dialog.height()} (hint {dialog.sizeHint().height()}); screenshots in {args.out}")
    dialog.reject()
    window.session.discard_unsaved()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
