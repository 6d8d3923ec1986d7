#!/usr/bin/env python
""""None of these": how many non-cat/dog pictures a calibrated model flags, at how many false alarms
(run by hand; not part of the test suite).

    python benchmarks/novelty_bench.py [--model MODEL.keras] [--data ../shared/data/catsdogs/train]
        [--generated 300] [--out results.jsonl]

The model (default: the built-in one) must carry a novelty summary: trained by this version of
the app, or given one by ``scripts/calibrate_model.py``. In-distribution pictures are the ones
the built-in model never saw: the 1,000 test photos of ``scripts/train_default_model.py``'s
split of ``--data`` (``--heldout DIR`` names another folder of held-out pictures instead).
Out-of-distribution pictures are ``--generated`` varied pictures made here (textures, noise,
stripes, checkerboards, shapes, gradients, text, and mixtures) plus every PNG/JPEG of at least
8 KB shipped by installed packages (matplotlib's sample_data, icons and documentation images
under site-packages and /usr/share; names containing "cat" or "dog" left out). Nothing is
downloaded.

Prints ONE JSON line: the detection rate and false-alarm rate at the model's own calibrated
threshold (recorded by core.model.calibration from held-out distances), the detection rate at
exactly 5 % false alarms on the held-out photos, the AUROC, the same for the "not sure"
baseline (the top probability, which is what a plain classifier offers), per-kind detection,
and the CPU (``--limit N`` uses N pictures of each side: a quick check that it runs).
"""

from __future__ import annotations

import argparse
import os
import site
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from train_bench import DEFAULT_ROOT, build_split_tree, cpu_info, emit  # noqa: E402

KINDS = ("noise", "smooth noise", "stripes", "checkerboard", "shapes", "gradient", "text", "mixture")
WORDS = "invoice total receipt meeting agenda chapter report figure table summary update notes".split()


def generated_picture(kind: str, rng: np.random.Generator, size: int = 256) -> Image.Image:
    """One synthetic non-pet picture of ``kind``."""
    colour = lambda: tuple(int(c) for c in rng.integers(0, 256, 3))  # noqa: E731
    if kind == "noise":
        return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    if kind == "smooth noise":
        small = rng.integers(0, 256, (int(rng.integers(3, 12)),) * 2 + (3,), dtype=np.uint8)
        return Image.fromarray(small).resize((size, size), Image.BICUBIC)
    if kind == "stripes":
        yy, xx = np.mgrid[:size, :size]
        angle, period = rng.uniform(0, np.pi), rng.uniform(6, 40)
        wave = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) > 0)[..., None]
        return Image.fromarray(np.where(wave, colour(), colour()).astype(np.uint8))
    if kind == "checkerboard":
        cell = int(rng.integers(8, 64))
        yy, xx = np.mgrid[:size, :size]
        board = (((yy // cell) + (xx // cell)) % 2 == 0)[..., None]
        return Image.fromarray(np.where(board, colour(), colour()).astype(np.uint8))
    if kind == "gradient":
        yy, xx = np.mgrid[:size, :size] / size
        t = np.hypot(yy - rng.uniform(), xx - rng.uniform()) if rng.uniform() < 0.5 else (yy if rng.uniform() < 0.5 else xx)
        t = np.clip(t, 0, 1)[..., None]
        a, b = np.array(colour()), np.array(colour())
        return Image.fromarray((a * (1 - t) + b * t).astype(np.uint8))
    image = Image.new("RGB", (size, size), colour())
    draw = ImageDraw.Draw(image)
    if kind in ("shapes", "mixture"):
        for _ in range(int(rng.integers(2, 12))):
            box = sorted(rng.integers(0, size, 2).tolist()), sorted(rng.integers(0, size, 2).tolist())
            xy = [box[0][0], box[1][0], box[0][1] + 4, box[1][1] + 4]
            shape = rng.integers(3)
            if shape == 0:
                draw.rectangle(xy, fill=colour())
            elif shape == 1:
                draw.ellipse(xy, fill=colour())
            else:
                draw.polygon([tuple(rng.integers(0, size, 2).tolist()) for _ in range(int(rng.integers(3, 7)))],
                             fill=colour())
    if kind in ("text", "mixture"):
        for line in range(int(rng.integers(3, 12))):
            text = " ".join(rng.choice(WORDS, int(rng.integers(1, 5))))
            draw.text((int(rng.integers(0, size // 3)), 8 + line * int(rng.integers(14, 24))), text,
                      fill=colour(), font_size=int(rng.integers(10, 28)))
    if kind == "mixture":
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 2))))
    return image


def package_pictures(limit: int = 150) -> list[str]:
    """PNG/JPEG pictures (>= 8 KB) shipped by installed packages: none downloaded, no cats or dogs."""
    roots = [Path(p) for p in site.getsitepackages() + ["/usr/share"] if Path(p).is_dir()]
    found = []
    for root in roots:
        for pattern in ("*.png", "*.jpg", "*.jpeg"):
            for path in root.rglob(pattern):
                name = str(path).lower()
                if "catdog" in name or "cat" in path.stem.lower() or "dog" in path.stem.lower():
                    continue
                try:
                    if path.stat().st_size >= 8192:
                        found.append(str(path))
                except OSError:
                    continue
    found = sorted(set(found))
    rng = np.random.default_rng(0)
    return sorted(rng.choice(found, min(limit, len(found)), replace=False).tolist()) if found else []


def scores(classifier, paths: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(novelty distance, top probability, the paths that could be read) of each picture."""
    from catdog_desktop.core.data.pipeline import decode_paths

    dist, conf, kept_paths = [], [], []
    for start in range(0, len(paths), 128):
        chunk = paths[start:start + 128]
        pixels, kept, _ = decode_paths(chunk, classifier.image_size)
        if not kept:
            continue
        probs, features = classifier.probabilities_and_features(pixels)  # already only the readable ones
        dist.append(classifier.novelty.distances(features))
        conf.append(probs.max(axis=1))
        kept_paths += [chunk[i] for i in kept]
    return np.concatenate(dist), np.concatenate(conf), kept_paths


def auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Probability that a positive scores higher than a negative (ties count half)."""
    both = np.concatenate([negatives, positives])
    ranks = np.argsort(np.argsort(both, kind="stable"), kind="stable") + 1.0
    # average ranks of ties
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, ranks)
    ranks = (sums / counts)[inverse]
    n_pos, n_neg = len(positives), len(negatives)
    return float((ranks[n_neg:].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def either_mark(confidence_threshold, distance_threshold, inside, outside) -> dict:
    """Detection and false alarms of "not sure" or "none of these" together (None without a threshold)."""
    if confidence_threshold is None:
        return {"either_mark_detection": None, "either_mark_false_alarms": None}

    def flagged(d, c):
        return float(np.mean((d > distance_threshold) | (c < confidence_threshold)))

    return {"either_mark_detection": round(flagged(*outside), 4), "either_mark_false_alarms": round(flagged(*inside), 4)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=ROOT / "catdog_desktop" / "resources" / "default-model.keras")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/catsdogs/train"),
                        help="the photos scripts/train_default_model.py split (its test photos are used)")
    parser.add_argument("--heldout", type=Path, default=None, help="a folder of held-out in-distribution pictures")
    parser.add_argument("--generated", type=int, default=300)
    parser.add_argument("--limit", type=int, default=0, help="use at most this many pictures of each side")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    from catdog_desktop.core.data.dataset import scan_images
    from catdog_desktop.core.classify.classifier import Classifier

    classifier = Classifier.load(args.model)
    if classifier.novelty is None:
        raise SystemExit(f"{args.model} has no novelty summary: run scripts/calibrate_model.py on it first.")
    heldout_dir = args.heldout or build_split_tree(args.data, Path(DEFAULT_ROOT), test_per_class=500) / "test"
    heldout, _ = scan_images([str(heldout_dir)])
    work = Path(tempfile.mkdtemp(prefix="novelty-bench-"))
    rng = np.random.default_rng(20261201)
    generated = []
    for i in range(args.generated):
        kind = KINDS[i % len(KINDS)]
        path = work / f"{kind.replace(' ', '_')}_{i:04d}.png"
        generated_picture(kind, rng).save(path)
        generated.append(str(path))
    shipped = package_pictures()
    if args.limit:  # a seeded sample of each side (held-out photos of every class, not the first class only)
        pick = np.random.default_rng(0)
        heldout = sorted(pick.choice(heldout, min(args.limit, len(heldout)), replace=False).tolist())
        generated, shipped = generated[:args.limit], shipped[:max(1, args.limit // 4)]

    started = time.perf_counter()
    d_in, c_in, _ = scores(classifier, heldout)
    d_gen, c_gen, gen_paths = scores(classifier, generated)
    d_pkg, c_pkg, pkg_paths = (scores(classifier, shipped) if shipped else (np.zeros(0), np.zeros(0), []))
    seconds = time.perf_counter() - started
    d_out, c_out = np.concatenate([d_gen, d_pkg]), np.concatenate([c_gen, c_pkg])

    threshold = classifier.novelty.threshold
    at_five = float(np.quantile(d_in, 0.95))
    conf_at_five = float(np.quantile(c_in, 0.05))
    kinds = {}
    for kind in KINDS:
        rows = [i for i, p in enumerate(gen_paths) if Path(p).name.startswith(kind.replace(" ", "_"))]
        if rows:
            kinds[kind] = round(float(np.mean(d_gen[rows] > threshold)), 4)
    if len(d_pkg):
        kinds["package pictures"] = round(float(np.mean(d_pkg > threshold)), 4)
    emit({
        "benchmark": "novelty", "model": str(args.model), "cpu": cpu_info(),
        "heldout_pictures": int(len(d_in)), "generated_pictures": int(len(d_gen)), "package_pictures": int(len(d_pkg)),
        "calibrated_threshold": threshold,
        "detection_at_calibrated_threshold": round(float(np.mean(d_out > threshold)), 4),
        "false_alarms_at_calibrated_threshold": round(float(np.mean(d_in > threshold)), 4),
        "detection_at_5pct_false_alarms": round(float(np.mean(d_out > at_five)), 4),
        "auroc": round(auroc(d_in, d_out), 4),
        "baseline_top_probability_detection_at_5pct_false_alarms": round(float(np.mean(c_out < conf_at_five)), 4),
        "baseline_top_probability_auroc": round(auroc(-c_in, -c_out), 4),
        "detection_by_kind": kinds,
        # What the Classify tab shows: either mark, at the model's recorded thresholds.
        "recorded_confidence_threshold": classifier.recorded_threshold,
        **either_mark(classifier.recorded_threshold, threshold, (d_in, c_in), (d_out, c_out)),
        "seconds_scoring": round(seconds, 1),
        "centres": int(classifier.novelty.centres.shape[0]),
    }, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
