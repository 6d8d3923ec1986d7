"""Render README screenshots of each panel after a short real training (offscreen Qt).

    python scripts/screenshots.py [--data ../shared/data/catsdogs/train] [--out resources/screenshots] [--scale 1.5]

Classifies a few photos with the built-in model, then trains on a subset of the photos in --data
(symlinked into a temporary folder; without --data a synthetic dataset is generated).
Writes classify.png, classify_many.png, classify_folder.png, sort_dialog.png, classify_unsure.png (a
generated picture that is no pet: "looks like none of" once the built-in model is calibrated by
scripts/calibrate_model.py), export.png, classify_heatmap.png ("Show where it looked"),
classify_occlusion.png (the same, hiding parts), dataset.png, training.png, evaluate.png,
evaluate_cell.png and, with Chromium installed, report.png (File → Export report… on the trained
model, in a headless browser); and inbox.png: the Inbox tab on 80 photos left out of the training
subset, from 5 labelled a class, after 25 labels given as the photos' folders say (``--only inbox``
makes just that one).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]


def wait(app, condition, timeout=900.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        app.processEvents()
        time.sleep(0.02)


def settle(app) -> None:
    """Half a second of events, so what was just shown is drawn before the grab."""
    for _ in range(10):
        app.processEvents()
        time.sleep(0.05)


def make_subset(data: Path | None, per_class: int, workdir: Path) -> tuple[Path, list[str]]:
    """A class-folder dataset of ``per_class`` photos per class, plus a few photos left out of it."""
    target = workdir / "pets"
    extra: list[str] = []
    if data is None:
        sys.path.insert(0, str(ROOT / "tests"))
        from synthetic import write_class_folders

        write_class_folders(target, ["cats", "dogs"], per_class)
        write_class_folders(workdir / "extra", ["cats", "dogs"], 3, seed=9)
        return target, sorted(str(p) for p in (workdir / "extra").rglob("*.png"))
    from catdog_desktop.paths import sample_dataset_dir

    data = data.resolve()  # the symlinks below must not be relative to the current folder
    rng = random.Random(7)
    sample = sample_dataset_dir()
    for cls in sorted(p.name for p in data.iterdir() if p.is_dir()):
        # Photos to classify: full-size originals of the bundled sample, which the built-in
        # model never trained on; the training subset avoids them.
        held_out = sorted(p.name for p in (sample / cls).iterdir())[:4] if sample else []
        extra += [str(data / cls / name) for name in held_out]
        files = sorted(f for f in (data / cls).iterdir() if f.name not in held_out)
        rng.shuffle(files)
        (target / cls).mkdir(parents=True)
        for f in files[:per_class]:
            (target / cls / f.name).symlink_to(f)
    return target, extra


def inbox_shot(app, window, data: Path | None, work: Path, out: Path, labels: int = 25) -> None:
    """The Inbox tab with no model: 5 labelled photos a class, 80 unlabelled (links to --data's photos, so
    that labelling moves the links, never the photos), then ``labels`` labels as the photos' folders say."""
    if data is None:
        print("no --data: inbox.png not made (it needs photos)")
        return
    rng = random.Random(11)
    inbox, labelled = work / "inbox", work / "labelled"
    for cls in sorted(p.name for p in data.iterdir() if p.is_dir()):
        files = sorted(data.resolve().joinpath(cls).iterdir())[-400:]   # the end: the training subset is random
        rng.shuffle(files)
        (labelled / cls).mkdir(parents=True)
        for f in files[:5]:
            (labelled / cls / f.name).symlink_to(f)
        for i, f in enumerate(files[5:45]):
            folder = inbox / ("phone" if i % 2 else "camera")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"IMG_{rng.randrange(10_000):04d}{f.suffix}").symlink_to(f)
    panel, flow = window.inbox_panel, window.labelling
    window.tabs.setCurrentWidget(panel)
    panel.set_folders(str(inbox), str(labelled))
    panel.use_model_box.setChecked(False)
    panel.open_button.click()
    wait(app, lambda: flow.inbox is not None)
    for _ in range(labels):
        shown = flow.queue[0]
        flow.label(Path(os.path.realpath(shown.path)).parent.name)
        wait(app, lambda: not window.jobs.busy("inbox-retrain"))
    wait(app, lambda: not window.jobs.busy("inbox-picture") and not window.jobs.busy("inbox-thumbnails"))
    settle(app)
    window.grab().save(str(out / "inbox.png"))


def shoot_folder(app, window, work: Path, out: Path) -> None:
    """A whole folder (the bundled sample photos) in the results table, least sure first; then the
    *Sort into folders…* dialog for it."""
    from PySide6.QtCore import Qt

    from catdog_desktop.paths import sample_dataset_dir
    from catdog_desktop.ui.sort_dialog import SortDialog

    sample = sample_dataset_dir()
    if sample is None:
        return
    panel = window.classify_panel
    window.classify_paths([str(sample)])
    wait(app, lambda: len(panel.results()) > 1 and not panel.progress.isVisible())
    panel.table.sortByColumn(3, Qt.SortOrder.AscendingOrder)
    for _ in range(40):  # the thumbnails of the rows on screen
        app.processEvents()
        time.sleep(0.05)
    window.grab().save(str(out / "classify_folder.png"))
    dialog = SortDialog(panel.batch_results(), [str(sample)], str(work),
                        window.session.classifier.confidence_threshold, window)
    dialog.folder.setText("~/Pictures/sample-sorted")
    dialog.show()
    app.processEvents()
    dialog.grab().save(str(out / "sort_dialog.png"))
    dialog.close()


def export_shot(app, window, work: Path, out: Path) -> None:
    """File → Export model…: the model in use as TFLite, checked on the bundled sample photos."""
    from catdog_desktop.paths import sample_dataset_dir

    window.export_model()
    dialog = window.export_dialog
    dialog.path_edit.setText(str(work / "cats-vs-dogs.tflite"))
    if sample_dataset_dir() is not None:
        dialog.data_edit.setText(str(sample_dataset_dir()))
    dialog.start()
    wait(app, lambda: not dialog.running())
    settle(app)
    dialog.adjustSize()
    dialog.grab().save(str(out))
    dialog.reject()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--per-class", type=int, default=800)
    parser.add_argument("--epochs", type=int, default=10, help="the most epochs (of fine-tuning)")
    parser.add_argument("--time-limit", type=int, default=3, help="minutes (the Train tab's time limit)")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots")
    parser.add_argument("--scale", type=float, default=None,
                        help="as on a 1920x1080 laptop screen at this scale (e.g. 1.5 for Windows' 150 %%): "
                             "the window keeps the size the app gives it there (give --out a folder of its own)")
    parser.add_argument("--only", choices=["inbox"], default=None, help="make only this screenshot")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.scale:  # Qt reads both when the application starts
        screen = Path(tempfile.mkdtemp(prefix="catdog-screen-")) / "screen.json"
        screen.write_text('{"screens": [{"name": "laptop", "x": 0, "y": 0, "width": 1920, "height": 1080, '
                          '"logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}')
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={screen}"
        os.environ["QT_SCALE_FACTOR"] = f"{args.scale:g}"

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from catdog_desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    work = Path(tempfile.mkdtemp(prefix="catdog-shots-"))
    dataset, extra = make_subset(args.data, args.per_class if not args.only else 0, work)
    window = MainWindow(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    if not args.scale:
        window.resize(1180, 800)
    window.show()
    wait(app, lambda: window.tf_ready)
    if args.only == "inbox":
        inbox_shot(app, window, args.data, work, args.out)
        window.close()
        return 0
    # The classify panel first, with the built-in model that is active at start.
    wait(app, lambda: window.session.classifier is not None)
    window.classify_paths(extra[:1])
    wait(app, lambda: len(window.classify_panel.results()) == 1)
    app.processEvents()
    window.grab().save(str(args.out / "classify.png"))

    (work / "notes.txt").write_text("not a picture")
    window.classify_paths(extra + [str(work / "notes.txt")])
    wait(app, lambda: len(window.classify_panel.results()) == len(extra) + 1)
    settle(app)
    window.grab().save(str(args.out / "classify_many.png"))
    shoot_folder(app, window, work, args.out)
    export_shot(app, window, work, args.out / "export.png")

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from novelty_bench import generated_picture

    import numpy as np

    generated_picture("mixture", np.random.default_rng(4), 400).save(work / "not-a-pet.png")
    window.classify_paths([str(work / "not-a-pet.png")])
    wait(app, lambda: [p.path for p in window.classify_panel.results()] == [str(work / "not-a-pet.png")])
    settle(app)
    window.grab().save(str(args.out / "classify_unsure.png"))

    sys.path.insert(0, str(ROOT / "scripts"))

    # Where the model looked: the first photo again, with its heatmap.
    panel = window.classify_panel
    window.classify_paths(extra[:1])
    wait(app, lambda: [p.path for p in panel.results()] == extra[:1])
    panel.explain_box.setChecked(True)
    wait(app, lambda: panel.explain_note.text().startswith("In red") or not window.jobs.busy("explain"))
    settle(app)
    window.grab().save(str(args.out / "classify_heatmap.png"))
    # The other way: hiding parts (what changes its answer).
    panel.explain_method.setCurrentIndex(panel.explain_method.findData("occlusion"))
    wait(app, lambda: panel.explain_note.text().startswith("In red, the parts whose") or not window.jobs.busy("explain"))
    settle(app)
    window.grab().save(str(args.out / "classify_occlusion.png"))
    panel.explain_method.setCurrentIndex(panel.explain_method.findData("gradcam"))
    panel.explain_box.setChecked(False)

    window.open_dataset(str(dataset))
    wait(app, lambda: window.session.scan is not None)
    window.tabs.setCurrentWidget(window.dataset_panel)
    app.processEvents()
    window.grab().save(str(args.out / "dataset.png"))

    panel = window.training_panel
    panel.epochs.setValue(args.epochs)
    panel.time_limit.setValue(args.time_limit)
    wait(app, lambda: panel.train_button.isEnabled())  # the scan's thread has wound down
    panel.request_training()
    wait(app, lambda: window.is_training())
    wait(app, lambda: not window.is_training())
    for _ in range(20):
        app.processEvents()
        time.sleep(0.05)
    window.grab().save(str(args.out / "training.png"))

    # The Evaluate tab: the training's mistakes as a gallery, then one confusion-matrix cell.
    window.tabs.setCurrentWidget(window.evaluation_panel)
    gallery = window.evaluation_panel.gallery

    def thumbnails_shown() -> bool:
        return all(gallery.model.has_thumbnail(gallery.model.item(r).path)
                   for r in range(min(8, gallery.model.rowCount())))

    settle(app)
    wait(app, thumbnails_shown, timeout=60)
    window.grab().save(str(args.out / "evaluate.png"))
    window.evaluation_panel.show_cell(0, 0)
    settle(app)
    wait(app, thumbnails_shown, timeout=60)
    window.grab().save(str(args.out / "evaluate_cell.png"))

    # The report on the trained model, as a browser shows it (when Chromium is installed).
    window.session.use_trained()
    report_path = work / "report.html"
    window.reports.export(str(report_path))
    wait(app, lambda: report_path.exists() and not window.jobs.busy("report"))
    from render_report import find_browser, render

    if find_browser():
        render(report_path, args.out / "report.png", 1200, 3000)
    else:
        print("no Chromium: report.png not made (apt-get install chromium)")

    inbox_shot(app, window, args.data, work, args.out)
    print(f"screenshots in {args.out}; first prediction took {window.classify_panel.first_result_seconds:.3f} s")
    window.session.discard_unsaved()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
