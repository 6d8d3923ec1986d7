"""Prediction speed: one dropped photo (latency) and a folder of photos (throughput).

    python benchmarks/predict_bench.py --data ../shared/data/catsdogs/train [--model MODEL.keras]

Without --model, a model with the app's default settings is built (weights do not change the
speed). Prints one JSON line: single-photo latency median (decode + model call, and model
call alone, ms) and end-to-end images/s for --count photos (decode included).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def time_single_photo(classifier, photo: Path, repeats: int) -> tuple[list[float], list[float]]:
    """One dropped photo, ``repeats`` times after a warm-up call (which traces the model): ms of
    decode + model (``predict_path``), and ms of the model call alone on its decoded pixels."""
    from catdog_desktop.core.data.images import load_pixels

    classifier.predict_path(photo)
    single, model_only = [], []
    pixels = load_pixels(photo, classifier.image_size)
    for _ in range(repeats):
        t = time.perf_counter()
        classifier.predict_path(photo)
        single.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        classifier.probabilities(pixels)
        model_only.append((time.perf_counter() - t) * 1000)
    return single, model_only


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--backbone", default=None,
                        help="without --model: the app's default model type, or 'none' for from scratch")
    args = parser.parse_args()

    from catdog_desktop.core.model import storage
    from catdog_desktop.core.config import preset
    from catdog_desktop.core.classify.classifier import Classifier
    from catdog_desktop.core.model.network import make_model
    from catdog_desktop.core.training.pretrained import make_pretrained_model
    from train_bench import cpu_info

    model_path = args.model
    if model_path is None:
        config = preset("default", **({"backbone": args.backbone} if args.backbone else {}))
        model = make_model(config, 2) if config.backbone == "none" else make_pretrained_model(config, 2)
        model_path = Path(tempfile.mkdtemp()) / "bench.keras"
        storage.save_bundle(model, {"class_names": ["cats", "dogs"]}, model_path)
    started = time.perf_counter()
    clf = Classifier.load(model_path)
    load_seconds = time.perf_counter() - started
    photos = sorted(p for p in args.data.rglob("*.jpg"))
    big = max(photos[:200], key=lambda p: p.stat().st_size)  # a large (about 500 px) JPEG
    single, model_only = time_single_photo(clf, big, args.repeats)
    folder = photos[: args.count]
    clf.predict_paths(folder[:64])  # warm-up of the batch path
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        results = clf.predict_paths(folder)
        runs.append(len(results) / (time.perf_counter() - t))
    print(json.dumps({
        "cpu": cpu_info(),
        "model": str(args.model or f"default settings ({config.backbone}), untrained"),
        "image_size": clf.image_size,
        "model_load_seconds": round(load_seconds, 2),
        "single_photo": str(big.name),
        "single_ms_median": round(statistics.median(single), 1),
        "single_model_call_ms_median": round(statistics.median(model_only), 1),
        "folder_images": len(folder),
        "folder_images_per_second_median": round(statistics.median(runs), 1),
        "folder_runs": [round(r, 1) for r in runs],
        "loadavg": os.getloadavg()[0],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
