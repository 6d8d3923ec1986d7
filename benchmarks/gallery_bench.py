"""How fast the Evaluate tab's gallery shows N mistakes (issue 15: "gallery load time for 1,000
mistakes"), offscreen, as the app draws it.

Makes N JPEG files from the bundled sample photos (resized to --width pixels, the size of the
Kaggle cats-vs-dogs photos by default), an evaluation in which all of them are mistakes, and the
Evaluate panel; then measures:

* ``list_shown_s``: from handing the evaluation to the panel until the gallery is painted with N
  items (placeholders where thumbnails are not made yet);
* ``first_screen_s``: until every thumbnail on the first screen is shown;
* ``all_thumbnails_s``: scrolling a screen at a time to the end, each screen waited for until its
  thumbnails are in: until all N are shown;
* ``first_screen_max_gui_stall_ms`` and ``scrolling_max_gui_stall_ms``: the longest the GUI
  thread was busy in one event-loop pass until the first screen was complete (the confusion
  matrix is drawn then too) and while scrolling to the end (what a user feels as stutter; 16 ms
  is one frame at 60 Hz).

Prints one JSON line (see train_bench.emit). Run: ``python benchmarks/gallery_bench.py``; a quick
check: ``--count 60``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_bench import cpu_info, emit  # noqa: E402


def make_pictures(folder: Path, count: int, width: int) -> list[str]:
    from PIL import Image

    from catdog_desktop.paths import sample_dataset_dir

    samples = sorted(Path(sample_dataset_dir()).glob("*/*.jpg"))
    paths = []
    for i in range(count):
        cls = "cats" if i % 2 == 0 else "dogs"
        (folder / cls).mkdir(parents=True, exist_ok=True)
        with Image.open(samples[i % len(samples)]) as img:
            img = img.convert("RGB")
            img = img.resize((width, round(width * img.height / img.width)))
        path = folder / cls / f"picture_{i:05d}.jpg"
        img.save(path, quality=90)
        paths.append(str(path))
    return paths


def made_up_mistakes(paths: list[str]):
    import numpy as np

    from catdog_desktop.core.evaluate.evaluation import evaluate_probabilities

    rng = np.random.default_rng(0)
    labels = np.array([0 if "/cats/" in p else 1 for p in paths])
    wrong = rng.uniform(0.5, 0.999, len(paths))
    probs = np.where(labels[:, None] == 0, np.stack([1 - wrong, wrong], 1), np.stack([wrong, 1 - wrong], 1))
    return evaluate_probabilities(probs, labels, ["cats", "dogs"], paths, "test")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="mistakes in the gallery")
    parser.add_argument("--width", type=int, default=500, help="width of each JPEG in pixels")
    parser.add_argument("--out", help="also append the JSON line to this file")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from catdog_desktop.ui.evaluation_panel import EvaluationPanel
    from catdog_desktop.ui.workers import JobRunner, WorkerThreads

    app = QApplication([])
    work = Path(tempfile.mkdtemp(prefix="gallery-bench-"))
    made = time.perf_counter()
    evaluation = made_up_mistakes(make_pictures(work, args.count, args.width))
    made = time.perf_counter() - made

    threads = WorkerThreads()
    panel = EvaluationPanel(JobRunner(threads))
    panel.install_charts()
    panel.resize(1120, 780)
    panel.show()
    app.processEvents()
    gallery = panel.gallery
    view, model = gallery.view, gallery.model
    stalls = []

    def spin_until(done, timeout=600.0) -> float:
        start = time.perf_counter()
        while not done():
            tick = time.perf_counter()
            app.processEvents()
            stalls.append(time.perf_counter() - tick)
            if time.perf_counter() - start > timeout:
                raise TimeoutError("gallery did not finish")
            time.sleep(0.002)
        return time.perf_counter() - start

    def visible_rows() -> list[int]:
        rect = view.viewport().rect()
        return [r for r in range(model.rowCount()) if view.visualRect(model.index(r)).intersects(rect)]

    def screen_done() -> bool:
        rows = visible_rows()
        return bool(rows) and all(model.has_thumbnail(model.item(r).path) for r in rows)

    started = time.perf_counter()
    panel.show_evaluation(evaluation, "benchmark", ["cats", "dogs"])
    view.viewport().repaint()  # the first paint, as the event loop would do it
    list_shown = time.perf_counter() - started
    screen_rows = len(visible_rows())
    spin_until(screen_done)
    first_screen = time.perf_counter() - started
    first_stalls, stalls[:] = list(stalls), []
    bar = view.verticalScrollBar()
    while True:
        spin_until(screen_done)
        if bar.value() >= bar.maximum():
            break
        bar.setValue(bar.value() + bar.pageStep())
    spin_until(lambda: all(model.has_thumbnail(model.item(r).path) for r in visible_rows()))
    all_thumbnails = time.perf_counter() - started
    shown = sum(model.has_thumbnail(model.item(r).path) for r in range(model.rowCount()))
    threads.shutdown()
    emit({
        "benchmark": "gallery", "cpu": cpu_info(), "mistakes": len(evaluation.mistakes),
        "picture_width": args.width, "items_per_screen": screen_rows, "thumbnails_made": shown,
        "list_shown_s": round(list_shown, 3), "first_screen_s": round(first_screen, 3),
        "all_thumbnails_s": round(all_thumbnails, 2),
        "first_screen_max_gui_stall_ms": round(max(first_stalls, default=0) * 1000, 1),
        "scrolling_max_gui_stall_ms": round(max(stalls) * 1000, 1),
        "scrolling_passes_over_16ms": sum(t > 0.016 for t in stalls), "scrolling_passes": len(stalls),
        "median_gui_pass_ms": round(sorted(stalls)[len(stalls) // 2] * 1000, 2),
        "pictures_written_s": round(made, 1),
    }, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
