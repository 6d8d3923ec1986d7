"""Classifying a whole folder: end-to-end images/s against the model's own batch forward rate, and
peak memory for a small and a large folder.

    python benchmarks/batch_bench.py --model builtin --counts 1000 20000
    python benchmarks/batch_bench.py --backbone none --counts 1000 20000
    python benchmarks/batch_bench.py --model builtin --counts 1000 --photos ../shared/data/catsdogs/train

Folders of N 500-px JPEGs are made once and kept under /tmp/catdog-batch-bench (1,000 distinct
pictures, generated or drawn from --photos and scaled to 500 px; larger folders repeat them as hard
links, so the disk holds 1,000 files' bytes). Each N is measured in a fresh child process, so its
peak RSS (ru_maxrss) is comparable across N. In the child, ``--repeats`` times in turn:
  * forward: Classifier.probabilities on pre-decoded pixels, ``--forward-batch-size`` at a time,
    over min(N, 1000) pictures: what the model alone can do, one batch after another; and the
    same with ``--streams`` batches of ``--batch-size`` at once, as predict_paths gives them;
  * end to end: Classifier.predict_paths over the N files (listing excluded, decoding included).
Prints one JSON line: CPU, model, and per N the medians, their ratio, and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CACHE = Path(tempfile.gettempdir()) / "catdog-batch-bench"
DISTINCT = 1000
SIDE = 500


def base_pictures(photos: Path | None) -> Path:
    """DISTINCT 500-px JPEGs (made once): generated, or ``photos`` scaled to 500 px on the long side."""
    import numpy as np
    from PIL import Image

    folder = CACHE / (f"base-{photos.resolve().name}" if photos else "base-generated")
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    if photos:
        sources = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[:DISTINCT]
        for i, src in enumerate(sources):
            with Image.open(src) as img:
                img = img.convert("RGB")
                img.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS) if max(img.size) > SIDE else None
                img.save(folder / f"{i:05d}.jpg", quality=90)
    else:
        rng = np.random.default_rng(0)
        for i in range(DISTINCT):
            # Smooth colour fields with shapes and sensor-like noise: decodes like a photo, not a flat card.
            height = int(rng.integers(330, SIDE + 1))
            low = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((SIDE, height), Image.Resampling.BICUBIC)
            pixels = np.asarray(low, dtype=np.float32)
            yy, xx = np.mgrid[:height, :SIDE]
            for _ in range(4):
                cy, cx, r = rng.integers(0, height), rng.integers(0, SIDE), rng.integers(20, 120)
                pixels[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
            pixels += rng.normal(0, 12, pixels.shape)
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{i:05d}.jpg", quality=90)
    done.touch()
    return folder


def folder_of(count: int, photos: Path | None) -> Path:
    """A folder of ``count`` JPEGs (hard links to the distinct ones, cycled)."""
    base = base_pictures(photos)
    distinct = sorted(base.glob("*.jpg"))
    folder = CACHE / f"{base.name}-{count}"
    done = folder / ".complete"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i in range(count):
        src = distinct[i % len(distinct)]
        try:
            os.link(src, folder / f"{i:06d}.jpg")
        except OSError:
            shutil.copyfile(src, folder / f"{i:06d}.jpg")
    done.touch()
    return folder


def model_file(args) -> Path:
    """The model to measure: the built-in one, or one with the default settings for ``--backbone``
    (untrained: weights do not change the speed), saved as the app saves models."""
    from catdog_desktop.paths import default_model_path

    if args.model == "builtin":
        return default_model_path()
    if args.model:
        return Path(args.model)
    from catdog_desktop.core.model import storage
    from catdog_desktop.core.config import preset
    from catdog_desktop.core.model.network import make_model
    from catdog_desktop.core.training.pretrained import make_pretrained_model

    config = preset("default", backbone=args.backbone)
    model = make_model(config, 2) if config.backbone == "none" else make_pretrained_model(config, 2)
    path = CACHE / f"untrained-{config.backbone}-{config.image_size}.keras"
    CACHE.mkdir(parents=True, exist_ok=True)
    storage.save_bundle(model, {"class_names": ["cats", "dogs"]}, path)
    return path


def child(args) -> dict:
    """Measure one folder in this (fresh) process."""
    import numpy as np

    from catdog_desktop.core.data.dataset import scan_images
    from catdog_desktop.core.data.images import load_pixels
    from catdog_desktop.core.classify.classifier import PREDICT_BATCH, Classifier

    clf = Classifier.load(args.model_path).warm_up()
    files, _ = scan_images([args.folder])
    sample = np.stack([load_pixels(p, clf.image_size) for p in files[:256]])
    forward_count = min(len(files), 1000)
    batch_size = args.batch_size or PREDICT_BATCH
    clf.predict_paths(files[:batch_size], batch_size=batch_size)  # warm-up of the batch path
    from concurrent.futures import ThreadPoolExecutor

    streams = args.streams or clf.model_streams
    # The model's own rate is measured at --forward-batch-size (64: its best on 2 cores, 32 is slower).
    batches = [np.arange(start, min(start + args.forward_batch_size, forward_count)) % len(sample)
               for start in range(0, forward_count, args.forward_batch_size)]
    stream_batches = [np.arange(start, min(start + batch_size, forward_count)) % len(sample)
                      for start in range(0, forward_count, batch_size)]
    # Peak memory of classifying the folder alone, before the forward measurements (a batch of 64
    # needs more than the app's two of 32) raise the high-water mark.
    first = time.perf_counter(), time.process_time()
    results = clf.predict_paths(files, batch_size=batch_size, streams=streams)
    end_to_end = [len(results) / (time.perf_counter() - first[0])]
    end_to_end_cpu = [(time.process_time() - first[1]) / len(results) * 1000]
    classifying_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    forward, forward_streams, forward_cpu = [], [], []
    for repeat in range(args.repeats):
        started, cpu = time.perf_counter(), time.process_time()
        for idx in batches:  # the model's own rate: one batch after another
            clf.probabilities(sample[idx])
        forward.append(forward_count / (time.perf_counter() - started))
        forward_cpu.append((time.process_time() - cpu) / forward_count * 1000)
        started = time.perf_counter()
        with ThreadPoolExecutor(streams) as pool:  # the model given `streams` batches at once, as predict_paths does
            list(pool.map(lambda idx: clf.probabilities(sample[idx]), stream_batches))
        forward_streams.append(forward_count / (time.perf_counter() - started))
        if repeat == 0:
            continue  # the first end-to-end run came first, above
        started, cpu = time.perf_counter(), time.process_time()
        results = clf.predict_paths(files, batch_size=batch_size, streams=streams)
        end_to_end.append(len(results) / (time.perf_counter() - started))
        end_to_end_cpu.append((time.process_time() - cpu) / len(results) * 1000)
    fwd, e2e = statistics.median(forward), statistics.median(end_to_end)
    fwd_cpu, e2e_cpu = statistics.median(forward_cpu), statistics.median(end_to_end_cpu)
    return {
        "files": len(files), "image_size": clf.image_size, "batch_size": batch_size,
        "forward_batch_size": args.forward_batch_size,
        "forward_images_per_second": round(fwd, 1), "forward_runs": [round(r, 1) for r in forward],
        "end_to_end_images_per_second": round(e2e, 1), "end_to_end_runs": [round(r, 1) for r in end_to_end],
        "ratio": round(e2e / fwd, 3),
        # predict_paths gives the model `streams` batches at once, which fills the cores better
        # than one call after another; the forward rate measured that way, and end to end against it:
        "streams": streams, "forward_streams_images_per_second": round(statistics.median(forward_streams), 1),
        "forward_streams_runs": [round(r, 1) for r in forward_streams],
        "ratio_to_forward_streams": round(e2e / statistics.median(forward_streams), 3),
        # CPU time per picture (all threads): on a machine whose cores are all busy, the end-to-end
        # rate cannot beat forward_cpu / end_to_end_cpu of the forward rate; decoding is the difference.
        "forward_cpu_ms_per_image": round(fwd_cpu, 2), "end_to_end_cpu_ms_per_image": round(e2e_cpu, 2),
        "cpu_ratio": round(fwd_cpu / e2e_cpu, 3),
        "peak_rss_mb": round(classifying_rss, 1),
        "peak_rss_mb_with_forward_measurements": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "unreadable": sum(not r.ok for r in results),
        "loadavg": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="'builtin', or a .keras file (default: untrained, see --backbone)")
    parser.add_argument("--backbone", default="none", help="without --model: 'none' (from scratch) or mobilenet_v2")
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--streams", type=int, default=0, help="batches with the model at once (default: the app's)")
    parser.add_argument("--batch-size", type=int, default=0, help="predict_paths' batch (default: the app's)")
    parser.add_argument("--forward-batch-size", type=int, default=64, help="batch of the model's own forward rate")
    parser.add_argument("--photos", type=Path, help="draw the 1,000 distinct pictures from these JPEGs")
    parser.add_argument("--out", help="also append the JSON line to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--model-path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0

    from train_bench import cpu_info, emit

    model_path = model_file(args)
    runs = {}
    for count in args.counts:
        folder = folder_of(count, args.photos)
        proc = subprocess.run([sys.executable, __file__, "--child", "--folder", str(folder), "--model-path", str(model_path),
                               "--repeats", str(args.repeats), "--batch-size", str(args.batch_size),
                               "--forward-batch-size", str(args.forward_batch_size),
                               "--streams", str(args.streams)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        runs[str(count)] = json.loads(proc.stdout.strip().splitlines()[-1])
    emit({"benchmark": "batch_classify", "cpu": cpu_info(),
          "model": args.model or f"default settings (backbone {args.backbone}), untrained",
          "pictures": f"{'--photos ' + str(args.photos) if args.photos else 'generated'}, {SIDE} px JPEG",
          "repeats": args.repeats, "runs": runs}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
