"""A Dask cluster of two single-threaded workers (``--cluster local:2``) against one process on
the same 2,000 photos and the same 2 cores: the features a training needs, and classifying.

    python benchmarks/cluster_bench.py [--photos ../shared/data/catsdogs/train] [--pictures 2000] [--runs 3]

Each run is the whole command, as a user types it (``catdog-desktop-cli features DIR`` and
``predict default-model.keras DIR --json``, with and without ``--cluster local:2``), timed from
start to exit: Python's start-up, TensorFlow's import, the cluster's start and the workers' model
loading all count. Every run starts from an empty feature cache; the converted models (ONNX
Runtime, core.model.engine) are copied in warm, as a user's second job finds them (the first
conversion, a few seconds, is timed separately). Runs alternate between the two ways, so a
change of machine load hits both alike. Parity: the features of both ways (each picture and its
mirror image) and the probabilities. Prints one JSON line: medians of the runs, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_bench import cpu_info  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "catdog_desktop" / "resources" / "default-model.keras"


def photo_folder(source: Path, pictures: int, root: Path) -> Path:
    """``root/{cats,dogs}``: the first pictures/2 photos of each class (symlinks, in name order)."""
    classes = sorted(p for p in source.iterdir() if p.is_dir())
    for folder in classes:
        target = root / folder.name
        target.mkdir(parents=True)
        for photo in sorted(folder.iterdir())[:pictures // len(classes)]:
            (target / photo.name).symlink_to(photo.resolve())
    return root


def run(command: list[str], cache: Path) -> tuple[float, str]:
    env = {**os.environ, "CATDOG_DESKTOP_CACHE_DIR": str(cache), "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "catdog_desktop.cli", "--json", *command], env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{command} failed: {done.stdout[-500:]} {done.stderr[-1500:]}")
    return seconds, done.stdout


def fresh_cache(work: Path, name: str, engines: Path | None) -> Path:
    cache = work / name
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir()
    if engines is not None and engines.is_dir():
        shutil.copytree(engines, cache / "engines")
    return cache


def cached_features(cache: Path) -> dict[bytes, np.ndarray]:
    found = {}
    for shard in cache.glob("*/*.npz"):
        with np.load(shard, allow_pickle=False) as data:
            found.update({k.tobytes(): v for k, v in zip(data["keys"], data["features"])})
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", default=str(REPO.parent / "shared" / "data" / "catsdogs" / "train"))
    parser.add_argument("--pictures", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    data = photo_folder(Path(args.photos), args.pictures, work / "photos")
    cluster = ["--cluster", f"local:{args.workers}"]

    # The conversions, made once (timed: a user's first job pays this), then copied into each run's cache.
    warm = fresh_cache(work, "warm", None)
    first_features, _ = run(["features", str(data)], warm)
    first_predict, _ = run(["predict", str(MODEL), str(data)], warm)
    engines = warm / "engines"

    times: dict[str, list[float]] = {"features_one_process": [], "features_cluster": [],
                                     "classify_one_process": [], "classify_cluster": []}
    outputs: dict[str, str] = {}
    for r in range(args.runs):
        for way, extra in (("one_process", []), ("cluster", cluster)):
            cache = fresh_cache(work, f"features-{way}-{r}", engines)
            seconds, out = run(["features", str(data), *extra], cache)
            times[f"features_{way}"].append(seconds)
            report = json.loads(out)
            assert report["computed"] == args.pictures, report
            if r == 0:
                outputs[f"features_{way}"] = str(cache)
            cache = fresh_cache(work, f"predict-{way}-{r}", engines)
            seconds, out = run(["predict", str(MODEL), str(data), *extra], cache)
            times[f"classify_{way}"].append(seconds)
            outputs[f"classify_{way}"] = out

    one, spread = (cached_features(Path(outputs[f"features_{w}"])) for w in ("one_process", "cluster"))
    assert one.keys() == spread.keys() and len(one) == 2 * args.pictures
    feature_diff = max(float(np.abs(one[k].astype(np.float32) - spread[k].astype(np.float32)).max()) for k in one)
    features_equal = all(np.array_equal(one[k], spread[k]) for k in one)
    a, b = (json.loads(outputs[f"classify_{w}"])["predictions"] for w in ("one_process", "cluster"))
    assert [p["path"] for p in a] == [p["path"] for p in b] and len(a) == args.pictures
    probability_diff = max(abs(p["probabilities"][c] - q["probabilities"][c]) for p, q in zip(a, b)
                           for c in p["probabilities"])
    same_answers = all(p["class"] == q["class"] for p, q in zip(a, b))

    medians = {k: round(statistics.median(v), 2) for k, v in times.items()}
    per_thousand = {k: round(v / args.pictures * 1000, 2) for k, v in medians.items()}
    print(json.dumps({
        "cpu": cpu_info(), "pictures": args.pictures, "workers": args.workers, "runs": args.runs,
        "seconds_median": medians, "seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "seconds_per_1000_pictures": per_thousand,
        "cluster_over_one_process": {
            "features": round(medians["features_cluster"] / medians["features_one_process"], 3),
            "classify": round(medians["classify_cluster"] / medians["classify_one_process"], 3)},
        "first_job_with_conversion_seconds": {"features": round(first_features, 2), "classify": round(first_predict, 2)},
        "parity": {"features_equal": features_equal, "features_max_difference": feature_diff,
                   "probabilities_within_1e-6": probability_diff <= 1e-6,
                   "probabilities_max_difference": probability_diff, "same_classes": same_answers},
        "loadavg": os.getloadavg()[0],
    }))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
