"""Few labels, used well (issue 25, item 6): the held-out path against training on every picture.

From the shared photos (``--photos``: ``cats/`` and ``dogs/``), fixed by ``--split-seed``:
``--test`` photos a class are the TEST pictures (never trained on), the next ``--pool`` a class the
TUNING pool, the next ``--pool`` the FINAL pool (disjoint). For each size (pictures a class) and
seed, that many pictures a class are drawn from a pool and the classifier is trained on their
MobileNetV2 features (the training's own extractor and feature cache, 160 px, each picture and
its mirror image) in two ways:

* **old**: a fifth of each class held out for validation, the Keras classifier trained as
  core/training/pretrained.py does (at least 400 steps), the best epoch picked on the validation
  pictures;
* **new**: every picture trains the classifier of core/training/few.py (fixed schedule, no pick),
  and its accuracy is estimated by cross-validation (``cv``).

Both are scored on the TEST pictures (``test``). Choices were made on the tuning pool only
(``--grid`` prints the grid of L2 penalty, steps and mirror images tried there); the final pool
reports. Medians of 3 seeds; one JSON line with the CPU and the load.

    python benchmarks/few_labels_bench.py --pool final
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_bench import cpu_info, emit  # noqa: E402

PHOTOS = Path("/work/shared/data/catsdogs/train")


def pools(photos: Path, test: int, pool: int, seed: int) -> dict[str, list[tuple[str, int]]]:
    """{"test", "tuning", "final"}: disjoint (path, label) lists, ``test`` / ``pool`` photos a class."""
    out: dict[str, list[tuple[str, int]]] = {"test": [], "tuning": [], "final": []}
    for label, folder in enumerate(sorted(p for p in photos.iterdir() if p.is_dir())):
        files = sorted(str(p) for p in folder.iterdir())
        random.Random(f"{seed}-{folder.name}").shuffle(files)
        out["test"] += [(f, label) for f in files[:test]]
        out["tuning"] += [(f, label) for f in files[test:test + pool]]
        out["final"] += [(f, label) for f in files[test + pool:test + 2 * pool]]
    return out


def features(items: list[tuple[str, int]], size: int):
    """The training's features (core.training.pretrained's extractor and cache) of each picture and its mirror."""
    from catdog_desktop.core.model import backbone as backbones
    from catdog_desktop.core.model.features import FEATURE_VERSION, FeatureCache, compute_features, default_cache_dir
    from catdog_desktop.core.training.pretrained import _feature_function

    name = "mobilenet_v2"
    spec = backbones.spec(name)
    bottom, _ = backbones.split(backbones.make_backbone(name, size), name)
    namespace = f"{spec.name}-{backbones.weights_sha256(spec.name)[:16]}-{size}px-v{FEATURE_VERSION}"
    cache = FeatureCache(default_cache_dir(), namespace, (spec.feature_dim,))
    extract = _feature_function(bottom, size, with_mid=False, name=name)
    return compute_features(extract, [p for p, _ in items], [y for _, y in items], size, [cache], mirror=True)


def draw(labels, per_class: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == j), per_class, replace=False)
                                   for j in np.unique(labels)]))


def old_path(x, y, test_x, test_y, seed: int) -> float:
    """Held-out accuracy of today's path below fine-tuning's size: a fifth held out, best epoch picked on it."""
    import keras
    import numpy as np

    from catdog_desktop.core.classify.classifier import probabilities_from_outputs
    from catdog_desktop.core.config import TrainingConfig
    from catdog_desktop.core.training import pretrained
    from catdog_desktop.core.training.events import Reporter

    config = TrainingConfig()
    rng = np.random.default_rng(seed + 100)
    val = np.zeros(len(y), bool)
    for j in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == j))
        val[rows[:min(max(int(round(len(rows) * config.validation_split)), 1), len(rows) - 1)]] = True
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    dropout, dense = pretrained._classifier_layers(config, 2)
    inputs = keras.Input(shape=(x.shape[-1],))
    head = keras.Model(inputs, dense(dropout(inputs)))
    pretrained._fit_stage(head, config, Reporter(), time.perf_counter(), None, stage="classifier", first_epoch=0,
                          best=None, x=x[~val].reshape(-1, x.shape[-1]), y=np.repeat(y[~val], x.shape[1]),
                          val=(x[val, 0], y[val]), batch_size=pretrained.HEAD_BATCH, epochs=config.head_epochs,
                          min_steps=pretrained.MIN_HEAD_STEPS, early_stopping=False)
    probs = probabilities_from_outputs(head.predict(test_x, batch_size=256, verbose=0))
    return float((probs.argmax(axis=1) == test_y).mean())


def new_path(x, y, test_x, test_y, seed: int, paths) -> tuple[float, float]:
    """(held-out accuracy, cross-validated estimate) of training on every picture (core.training.few)."""
    from catdog_desktop.core.training import few

    fitted = few.fit(x, y, 2, seed)
    accuracy = float((few.probabilities(fitted, test_x).argmax(axis=1) == test_y).mean())
    return accuracy, few.cross_validate(x, y, paths, ["cats", "dogs"], seed).accuracy


def grid(x_pool, y_pool, test_x, test_y, sizes, seeds) -> list[dict]:
    """The tuning pool's grid: L2 penalty x full-batch steps x mirror images (rows: test accuracy medians)."""
    import numpy as np

    from catdog_desktop.core.evaluate.label_errors import fit_softmax, softmax

    rows = []
    for mirror in (True, False):
        for steps in (100, 300):
            for l2 in (1e-3, 1e-2, 3e-2, 1e-1, 3e-1):
                row = {"mirror": mirror, "steps": steps, "l2": l2}
                for n in sizes:
                    accs = []
                    for seed in seeds:
                        pick = draw(y_pool, n, seed)
                        x = x_pool[pick] if mirror else x_pool[pick][:, :1]
                        w, b, m, s = fit_softmax(x.reshape(-1, x.shape[-1]).astype(np.float32),
                                                 np.repeat(y_pool[pick], x.shape[1]), 2, seed, steps=steps, l2=l2)
                        accs.append(float((softmax(((test_x - m) / s) @ w + b).argmax(1) == test_y).mean()))
                    row[str(n)] = round(100 * statistics.median(accs), 2)
                rows.append(row)
                print(row, file=sys.stderr, flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--pool", choices=("tuning", "final"), default="final")
    parser.add_argument("--sizes", default="5,10,30,100", help="pictures a class, comma-separated")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--test", type=int, default=500, help="test photos a class")
    parser.add_argument("--pool-size", type=int, default=400, help="photos a class in each pool")
    parser.add_argument("--split-seed", type=int, default=2025)
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--grid", action="store_true", help="the tuning grid instead of old vs new")
    parser.add_argument("--out", help="also append the JSON line to this file")
    args = parser.parse_args()
    import numpy as np

    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = list(range(args.seeds))
    chosen = pools(args.photos, args.test, args.pool_size, args.split_seed)
    test = features(chosen["test"], args.image_size)
    pool = features(chosen[args.pool], args.image_size)
    test_x, test_y = test.features[:, 0].astype(np.float32), test.labels
    y_pool = pool.labels.astype(np.int64)
    result = {"benchmark": "few_labels", "cpu": cpu_info(), "load": os.getloadavg(), "pool": args.pool,
              "test_pictures": len(test), "pool_pictures": len(pool), "image_size": args.image_size,
              "seeds": len(seeds)}
    if args.grid:
        result["grid"] = grid(pool.features, y_pool, test_x, test_y, sizes, seeds)
    else:
        rows = []
        for n in sizes:
            old, new, cv, seconds = [], [], [], []
            for seed in seeds:
                pick = draw(y_pool, n, seed)
                x, y = pool.features[pick], y_pool[pick]
                old.append(old_path(x, y, test_x, test_y, seed))
                started = time.perf_counter()
                held, estimate = new_path(x, y, test_x, test_y, seed, [pool.paths[i] for i in pick])
                seconds.append(time.perf_counter() - started)
                new.append(held)
                cv.append(estimate)
            row = {"per_class": n, "old_test": round(100 * statistics.median(old), 2),
                   "new_test": round(100 * statistics.median(new), 2), "new_cv": round(100 * statistics.median(cv), 2),
                   "old_each": [round(100 * a, 1) for a in old], "new_each": [round(100 * a, 1) for a in new],
                   "cv_each": [round(100 * a, 1) for a in cv],
                   "new_seconds_median": round(statistics.median(seconds), 2)}
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
        result["rows"] = rows
        result["load_after"] = os.getloadavg()
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
