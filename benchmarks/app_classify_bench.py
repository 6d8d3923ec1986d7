"""Classifying a folder in the app against the CLI (issue 28, item 8: the app ran at 58-65
pictures/s where the CLI did about 160 on the same machine).

    python benchmarks/app_classify_bench.py [--count 1000] [--photos ../shared/data/catsdogs/train]

One process, one loaded built-in model, the same folder of ``--count`` 500-px JPEGs (made once by
batch_bench.py's folder maker). Three rounds, alternating which goes first:
  * ``cli``: what ``catdog-desktop-cli predict FOLDER`` does: scan, then Classifier.predict_paths
    with a per-picture progress callback;
  * ``app``: File → Open on the folder in the real window (offscreen): from the request until the
    Classify tab says it is done (rows in the table, the progress bar, the thumbnails of the rows on
    screen the table asks for, the summary).
Prints one JSON line: CPU, the median rates and the app/cli ratio (target: at least 0.8).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_bench import folder_of  # noqa: E402
from train_bench import cpu_info, emit  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--photos", type=Path, help="draw the pictures from these photos (default: generated)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="also append the JSON line to this file")
    args = parser.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from catdog_desktop.core.data.dataset import scan_images
    from catdog_desktop.paths import default_model_path
    from catdog_desktop.ui.main_window import MainWindow

    folder = folder_of(args.count, args.photos)
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, default_model=str(default_model_path()), sample_dataset=None)
    window.resize(1120, 780)
    window.show()

    def wait(condition, seconds=900.0):
        end = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError("timed out")
            app.processEvents()
            time.sleep(0.001)

    wait(lambda: window.session.classifier is not None)
    classifier = window.session.classifier
    panel = window.classify_panel

    def cli_rate() -> float:
        started = time.perf_counter()
        files, _ = scan_images([str(folder)])
        done = []
        classifier.predict_paths(files, on_result=lambda i, _p: done.append(i))
        return len(done) / (time.perf_counter() - started)

    def app_rate() -> float:
        started = time.perf_counter()
        window.classify_paths([str(folder)])
        wait(lambda: panel._finished is not None and not window.jobs.busy("classify"))
        shown = len(panel.results())
        assert shown == args.count, f"{shown} rows shown, {args.count} expected"
        return shown / (time.perf_counter() - started)

    cli_rate()  # warm-up: the batch path compiled, the files in the page cache
    rates: dict[str, list[float]] = {"cli": [], "app": []}
    for round_ in range(args.repeats):
        order = (("cli", cli_rate), ("app", app_rate)) if round_ % 2 == 0 else (("app", app_rate), ("cli", cli_rate))
        for name, measure in order:
            rates[name].append(measure())
    cli, app_ = statistics.median(rates["cli"]), statistics.median(rates["app"])
    emit({"bench": "app_classify", "cpu": cpu_info(), "pictures": args.count,
          "photos": str(args.photos) if args.photos else "generated",
          "cli_images_per_s": round(cli, 1), "app_images_per_s": round(app_, 1),
          "app_over_cli": round(app_ / cli, 3), "runs": {k: [round(v, 1) for v in vs] for k, vs in rates.items()}},
         args.out)
    window.session.discard_unsaved()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
