#!/usr/bin/env python
"""Memory over repeated trainings in one process, as when a user trains again and again
(run by hand; not part of the test suite).

    python benchmarks/repeat_bench.py [--data FOLDER] [--runs 10] [--preset quick] [--set key=value ...]
                                      [--in-process]

``--data`` defaults to the sample dataset that ships with the app. Each run trains a new
model with the same settings, then drops it, as the app does when a new training replaces
the last one. By default each training runs in a child process, as in the app
(core.training.isolated); ``--in-process`` calls ``train()`` directly, which shows TensorFlow's
per-training leak. Prints ONE JSON line: resident memory (MB) before the first run and after
each run, the growth per run after the first, peak RSS, and seconds per run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train_bench import parse_value  # noqa: E402

from catdog_desktop.core.training import isolated
from catdog_desktop.core.training import train as training  # noqa: E402
from catdog_desktop.core.config import preset  # noqa: E402
from catdog_desktop.core.data.dataset import scan_dataset  # noqa: E402
from catdog_desktop.paths import sample_dataset_dir  # noqa: E402


def rss_mb() -> float:
    """Current resident memory (Linux); elsewhere the peak, which still shows growth."""
    gc.collect()
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="dataset folder (default: the bundled sample dataset)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--in-process", action="store_true", help="call train() here instead of in a child process")
    args = ap.parse_args(argv)

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = parse_value(value)
    config = preset(args.preset, **overrides)
    scan = scan_dataset(args.data or sample_dataset_dir(), config.validation_split, config.seed)
    scan.raise_for_errors()

    import tensorflow as tf  # noqa: F401  - loaded before the baseline, as in the app after warm-up

    baseline = rss_mb()
    after, seconds, accuracy = [], [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        result = training.train(config, scan) if args.in_process else isolated.train_in_subprocess(config, scan)
        seconds.append(time.perf_counter() - started)
        accuracy.append(round(result.evaluation.accuracy, 4))
        del result  # the app drops the last model when a new one replaces it
        after.append(round(rss_mb(), 1))
    growth = [b - a for a, b in zip(after, after[1:])]
    print(json.dumps({
        "runs": args.runs, "in_process": args.in_process, "config": config.to_dict(), "pictures": len(scan.train) + len(scan.validation),
        "rss_mb_baseline": round(baseline, 1), "rss_mb_after_each": after,
        "growth_mb_per_run_after_first": round(statistics.median(growth), 1) if growth else None,
        "growth_mb_total_after_first": round(after[-1] - after[0], 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "seconds_per_run_median": round(statistics.median(seconds), 1),
        "accuracy_each": accuracy,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
