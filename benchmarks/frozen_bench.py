"""The self-contained build beside the pip install: time to the window, first classification, sizes.

    python packaging/build.py && python benchmarks/frozen_bench.py [--runs 5]

Each launch is a fresh offscreen process timed from just before it is started until the app logs
"main window shown" (its first showEvent; --debug), as benchmarks/startup_bench.py times the pip
install from the command. The pip install runs as `python -m catdog_desktop`, this checkout's
code. First classification: the CLI's `predict` of one sample photo with the built-in model, the
whole command (start-up, TensorFlow, model, inference engine). Prints one JSON line (seconds, MB).
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

REPO = Path(__file__).resolve().parents[1]
FROZEN = REPO / "dist" / "catdog-desktop"


def window_shown(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen([*command, "--debug"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if "main window shown" in line:
                return time.perf_counter() - started
        raise RuntimeError("the app ended without showing its window")
    finally:
        proc.terminate()
        proc.wait(30)


def classify(command: list[str], env: dict) -> float:
    resources = REPO / "catdog_desktop" / "resources"
    photo = sorted((resources / "sample" / "dogs").iterdir())[0]
    started = time.perf_counter()
    subprocess.run([*command, "predict", str(resources / "default-model.keras"), str(photo)],
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def megabytes(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return round(sum(p.stat().st_size for p in files) / 1e6, 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    launchers = {"frozen": ([str(FROZEN / "catdog-desktop")], [str(FROZEN / "catdog-desktop-cli")]),
                 "pip": ([sys.executable, "-m", "catdog_desktop"], [sys.executable, "-m", "catdog_desktop.cli"])}
    result = {"cpu": cpu_info()}
    for name, (gui, cli) in launchers.items():
        shown = [window_shown(gui, env) for _ in range(args.runs)]
        result[name] = {"window_shown_from_command_seconds_median": round(statistics.median(shown), 3),
                        "window_shown_from_command_seconds": [round(s, 3) for s in shown],
                        "first_classification_seconds": round(classify(cli, env), 2)}
    result["frozen"]["unpacked_mb"] = megabytes(FROZEN)
    result["tarballs_mb"] = {p.name: megabytes(p) for p in sorted((REPO / "dist").glob("catdog-desktop*.*"))}
    result["loadavg"] = os.getloadavg()[0]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
