"""Export a model to every format and measure each: size, parity with the app's model, accuracy,
export time and single-picture latency in its own runtime.

    python benchmarks/export_bench.py --data DATA_DIR [--model MODEL.keras] [--limit 1000]

Without --model, the built-in model (paths.default_model_path()). --data: class sub-folders (held-out
photos: its test folder, or all its pictures); without it the check uses generated pictures
(agreement only, no accuracy). Prints one JSON line: per format {size_mb, agreement,
max_difference, accuracy, app_accuracy, passed, export_seconds, latency_ms} plus the Keras
model's own single-picture latency, the pictures used and the CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def latency_ms(classifier, picture, runs: int) -> float:
    """Median time of one picture's probabilities (model call only: decoding is the same for all)."""
    classifier.probabilities(picture)  # warm-up: graph tracing, interpreter allocation
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        classifier.probabilities(picture)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--limit", type=int, default=1000, help="pictures checked at most")
    parser.add_argument("--formats", default="all", help="comma-separated keys of core.export.exporter.FORMATS")
    parser.add_argument("--runs", type=int, default=30, help="single-picture calls timed per runtime")
    parser.add_argument("--json-out", help="also append the JSON line to this file")
    args = parser.parse_args()

    from train_bench import cpu_info, emit

    from catdog_desktop.core.export import exporter as export
    from catdog_desktop.core.export.runtimes import open_new_export
    from catdog_desktop.core.classify.classifier import Classifier
    from catdog_desktop.paths import default_model_path

    model_path = args.model or default_model_path()
    if model_path is None:
        parser.error("no --model given and this installation has no built-in model")
    classifier = Classifier.load(model_path)
    started = time.perf_counter()
    pictures = (export.pictures_from_folder(args.data, classifier, limit=args.limit) if args.data
                else export.generated_pictures(classifier.image_size, count=min(args.limit, 256)))
    read_seconds = time.perf_counter() - started
    one = pictures.pixels[:1]
    formats = list(export.FORMATS) if args.formats == "all" else args.formats.split(",")
    results = {}
    with tempfile.TemporaryDirectory(prefix="catdog-export-bench-") as work:
        for fmt in formats:
            started = time.perf_counter()
            try:
                result = export.export_model(classifier, fmt, Path(work) / f"model-{fmt}", parity=pictures)
            except Exception as exc:  # noqa: BLE001 - one format failing must not hide the others
                results[fmt] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            seconds = time.perf_counter() - started
            # open_new_export: the SavedModel just made opens too (predict refuses SavedModels)
            exported = open_new_export(result.path, result.path, {"class_names": classifier.class_names,
                                                                   "image_size": classifier.image_size})
            results[fmt] = {
                "size_mb": round(result.size_bytes / 1e6, 3), "agreement": result.agreement,
                "max_difference": result.max_difference, "accuracy": result.accuracy,
                "app_accuracy": result.app_accuracy, "passed": result.passed,
                "export_seconds": round(seconds, 1), "latency_ms": latency_ms(exported, one, args.runs),
                "runtime": result.runtime,
            }
            print(f"{fmt}: {results[fmt]}", file=sys.stderr, flush=True)
    emit({
        "benchmark": "export", "model": str(model_path), "model_size_mb": round(Path(model_path).stat().st_size / 1e6, 3),
        "image_size": classifier.image_size, "pictures": len(pictures.pixels), "parity_source": pictures.source,
        "read_seconds": round(read_seconds, 1), "keras_latency_ms": latency_ms(classifier.warm_up(), one, args.runs),
        "formats": results, "cpu": cpu_info(),
    }, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
