"""Time from process start to a visible main window, and until TensorFlow is ready.

    python benchmarks/startup_bench.py [--runs 5]

Each run is a fresh offscreen process. Prints one JSON line with medians (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import time, sys
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication
from catdog_desktop.ui.main_window import MainWindow
app = QApplication([])
w = MainWindow(default_model=None)
w.show(); app.processEvents()
shown = time.perf_counter() - t0
while not w.tf_ready:
    app.processEvents(); time.sleep(0.01)
ready = time.perf_counter() - t0
w.close()
print(shown, ready)
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TF_CPP_MIN_LOG_LEVEL": "2"}
    shown, ready = [], []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, check=True)
        a, b = map(float, out.stdout.split()[-2:])
        shown.append(a)
        ready.append(b)
    print(json.dumps({"window_shown_seconds_median": round(statistics.median(shown), 3),
                      "window_shown_seconds": [round(x, 3) for x in shown],
                      "tensorflow_ready_seconds_median": round(statistics.median(ready), 2),
                      "loadavg": os.getloadavg()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
