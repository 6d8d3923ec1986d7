#!/usr/bin/env python
"""Memory of the features stage: does a folder of 100,000 photos need little more than its features?

    python benchmarks/features_memory_bench.py [--counts 1000 100000] [--image-size 160]

Generates the photos (small JPEGs of coloured noise, made once under --folder), then for each
count runs the pretrained training's feature stage (core.model.features.compute_features with the
shipped MobileNetV2, each picture and its mirror image, the disk cache off) in a fresh child
process and reports its peak RSS, next to the size of the features it holds. Prints one JSON
line. The input size only changes the speed (the features are 1,280 numbers a view at any
size); a small one keeps the 100,000-photo run to minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def make_photos(folder: Path, count: int, px: int = 96) -> list[str]:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"{i:06d}.jpg"
        if not path.exists():
            noise = rng.integers(0, 256, (px // 8, px // 8, 3), dtype=np.uint8)
            Image.fromarray(noise).resize((px, px)).save(path, quality=80)
        paths.append(str(path))
    return paths


def child(folder: Path, count: int, image_size: int) -> dict:
    from catdog_desktop.core.model import backbone
    from catdog_desktop.core.model.features import FeatureCache, compute_features
    from catdog_desktop.core.training.pretrained import _feature_function

    paths = sorted(str(p) for p in folder.glob("*.jpg"))[:count]
    model = backbone.make_backbone("mobilenet_v2", image_size)
    bottom, _ = backbone.split(model, "mobilenet_v2")
    extract = _feature_function(bottom, image_size, with_mid=False)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    result = compute_features(extract, paths, [0] * len(paths), image_size,
                              [FeatureCache(None, "bench", (1280,))], mirror=True)
    seconds = time.perf_counter() - started
    return {"count": len(result), "seconds": round(seconds, 1),
            "pictures_per_second": round(len(result) / seconds, 1),
            "features_mb": round(result.features.nbytes / 1e6, 1),
            "rss_before_mb": round(base_rss, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "catdog-bench-many")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.folder, args.child, args.image_size)))
        return 0
    from train_bench import cpu_info

    started = time.perf_counter()
    make_photos(args.folder, max(args.counts))
    out = {"cpu": cpu_info(), "image_size": args.image_size,
           "make_photos_seconds": round(time.perf_counter() - started, 1), "runs": []}
    for count in args.counts:
        proc = subprocess.run([sys.executable, __file__, "--child", str(count), "--folder", str(args.folder),
                               "--image-size", str(args.image_size)], capture_output=True, text=True, check=True)
        out["runs"].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    first, last = out["runs"][0], out["runs"][-1]
    out["peak_rss_growth_mb"] = round(last["peak_rss_mb"] - first["peak_rss_mb"], 1)
    out["features_growth_mb"] = round(last["features_mb"] - first["features_mb"], 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
