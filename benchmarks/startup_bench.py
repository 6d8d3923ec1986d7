"""Time from the command to a visible main window, and until TensorFlow is ready.

    python benchmarks/startup_bench.py [--runs 10]

Each run is a fresh offscreen process, timed from just before it is started (so Python's own
start-up and every import count, as when a user launches the app), and, separately, from the
first line of the child's code. Prints one JSON line with medians (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_bench import cpu_info  # noqa: E402

CHILD = r"""
import time, sys
t0_wall = time.time()
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication
from catdog_desktop.ui.main_window import MainWindow
app = QApplication([])
w = MainWindow(default_model=sys.argv[1] if len(sys.argv) > 1 else None)
w.show(); app.processEvents()
shown = time.perf_counter() - t0
while not w.tf_ready:
    app.processEvents(); time.sleep(0.01)
ready = time.perf_counter() - t0
w.close()
print(shown, ready, t0_wall + shown, t0_wall + ready)
"""


def measure(runs: int, env: dict | None = None, default_model: str | None = None) -> dict:
    """``runs`` fresh launches (offscreen), with ``env`` added to the environment and the window
    given ``default_model`` (None: no model, as this script's own runs): medians in seconds."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    shown, ready, from_command = [], [], []
    for _ in range(runs):
        started = time.time()
        out = subprocess.run([sys.executable, "-c", CHILD, *([default_model] if default_model else [])],
                             capture_output=True, text=True, env=env, check=True)
        a, b, shown_at, _ = map(float, out.stdout.split()[-4:])
        shown.append(a)
        ready.append(b)
        from_command.append(shown_at - started)
    return {"window_shown_from_command_seconds_median": round(statistics.median(from_command), 3),
            "window_shown_from_command_seconds": [round(x, 3) for x in from_command],
            "window_shown_seconds_median": round(statistics.median(shown), 3),
            "window_shown_seconds": [round(x, 3) for x in shown],
            "tensorflow_ready_seconds_median": round(statistics.median(ready), 2)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps({"cpu": cpu_info(), **measure(args.runs), "loadavg": os.getloadavg()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
