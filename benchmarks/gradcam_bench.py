"""Heatmap and report speed: the first Grad-CAM heatmap (tracing the gradient graph), then one
heatmap of a photo each way (Grad-CAM; hiding parts, core.heatmaps.occlusion, and its ratio to Grad-CAM
measured in the same run), for each model type at its default size; and the report on a folder.

    python benchmarks/gradcam_bench.py [--data catdog_desktop/resources/sample] [--repeats 20]
        [--model MODEL.keras] [--report]

Without --model, models with the app's default settings are built (weights do not change the
speed): pretrained (MobileNetV2, 160 px) and from scratch (96 px). ``--report`` also times
``core.report`` (collect + render) on --data with the pretrained model, label check included.
Prints one JSON line.
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
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def time_heatmaps(classifier, photo: Path, repeats: int) -> dict:
    from catdog_desktop.core.heatmaps import gradcam
    from catdog_desktop.core.app import jobs
    from catdog_desktop.core.heatmaps import occlusion
    from catdog_desktop.core.data.images import load_pixels

    pixels = load_pixels(photo, classifier.image_size)
    classifier.warm_up()  # the prediction graph is traced apart from the gradient graph timed here
    started = time.perf_counter()
    gradcam.heatmap(classifier, pixels, 0)
    first = time.perf_counter() - started
    heat_only, job, hidden, hidden_job = [], [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        gradcam.heatmap(classifier, pixels, 0)
        heat_only.append(time.perf_counter() - t)
        t = time.perf_counter()
        jobs.explain(None, classifier, str(photo))  # decode, predict, heatmap, overlay at preview size
        job.append(time.perf_counter() - t)
        t = time.perf_counter()
        occlusion.heatmap(classifier, pixels, 0)
        hidden.append(time.perf_counter() - t)
        t = time.perf_counter()
        jobs.explain(None, classifier, str(photo), None, "occlusion")
        hidden_job.append(time.perf_counter() - t)
    ms = {name: 1000 * statistics.median(times) for name, times in
          (("gradcam", heat_only), ("job", job), ("occlusion", hidden), ("occlusion_job", hidden_job))}
    return {"image_size": classifier.image_size, "first_heatmap_s": round(first, 2),
            "heatmap_ms_median": round(ms["gradcam"], 1), "explain_job_ms_median": round(ms["job"], 1),
            "occlusion_pictures_classified": occlusion.GRID ** 2 + 1,
            "occlusion_ms_median": round(ms["occlusion"], 1), "occlusion_job_ms_median": round(ms["occlusion_job"], 1),
            "occlusion_vs_gradcam": round(ms["occlusion"] / ms["gradcam"], 1)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT / "catdog_desktop" / "resources" / "sample")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--out", default=None, help="also append the JSON line to this file")
    args = parser.parse_args()

    from catdog_desktop.core.model import storage
    from catdog_desktop.core.config import preset
    from catdog_desktop.core.classify.classifier import Classifier
    from catdog_desktop.core.model.network import make_model
    from catdog_desktop.core.training.pretrained import make_pretrained_model
    from train_bench import cpu_info, emit

    photos = sorted(p for p in args.data.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    photo = max(photos[:200], key=lambda p: p.stat().st_size)
    folder = Path(tempfile.mkdtemp(prefix="gradcam-bench-"))
    models = {}
    if args.model:
        models["given"] = Classifier.load(args.model)
    else:
        for backbone in ("mobilenet_v2", "none"):
            config = preset("default", backbone=backbone)
            model = make_model(config, 2) if backbone == "none" else make_pretrained_model(config, 2)
            path = storage.save_bundle(model, {"class_names": ["cats", "dogs"], "config": config.to_dict()},
                                       folder / f"{backbone}.keras")
            models[backbone] = Classifier.load(path)
    out = {"benchmark": "gradcam", "cpu": cpu_info(), "photo": photo.name, "repeats": args.repeats,
           "models": {name: time_heatmaps(clf, photo, args.repeats) for name, clf in models.items()}}
    if args.report:
        from catdog_desktop.core.report.collect import collect
        from catdog_desktop.core.report.html import render
        from catdog_desktop.core.data.dataset import scan_dataset

        classifier = models.get("mobilenet_v2") or next(iter(models.values()))
        started = time.perf_counter()
        data = collect(classifier, scan_dataset(args.data))
        text = render(data)
        out["report"] = {"pictures": sum(data.dataset.get("train_counts") or []) + sum(data.dataset.get("validation_counts") or []),
                         "seconds": round(time.perf_counter() - started, 1), "bytes": len(text.encode("utf-8")),
                         "mistakes_shown": len(data.mistakes),
                         "label_check": "ran" if data.label_check is not None else data.label_note}
    emit(out, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
