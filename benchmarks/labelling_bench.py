"""Labels saved by the inbox's choice of pictures (issue 25, item 5), and the retrain's time.

    python benchmarks/labelling_bench.py [--photos ../shared/data/catsdogs/train] [--quick] [--out FILE]
    python benchmarks/labelling_bench.py --only retrain     # the retrain's time alone

A simulated user labels truthfully (the oracle: the photo's own class folder) through the app's
own code path, core.label.inbox.InboxSession without a model: the pretrained backbone's features
(the training's cache, computed once here for every photo of the split), ``retrain`` after each
round of 10 labels (core.label.head.train_head, the cross-checked estimate included, as the app
calls it), ``suggestions`` ranked by core.label.choose.rank, and ``label`` moving each picture into
its class folder. The photos are symlinks in a temporary inbox and dataset folder; nothing under
``--photos`` is moved or written.

* **split** (fixed seed): a pool of ``--pool`` photos (3,000) offered for labelling, and every
  other photo of ``--photos`` (5,000 of the shared 8,000) for **test**, never offered.
* **methods**: "model" labels the first 10 suggestions of each round; "random" labels 10 pool
  pictures drawn uniformly. Both start from the same 5 labelled photos a class (drawn from the
  pool by the seed) and go on to 200 labels; 3 seeds change the start and the random draws. Random
  goes on past 200 (up to 1,000) until it reaches 97 %, so that the ratio there is a number rather
  than a bound.
* **figures**: test accuracy of the retrained head after each round (the curve: median of the
  seeds), the labels each method needs to reach 95 / 96.5 / 97 / 97.5 % (the first count at
  which the median curve does; per seed too), the ratio at 97 % (target: at most 0.5).
* **retrain**: an inbox session whose dataset holds 2,000 labelled pool photos (cached features)
  and whose inbox holds the other 1,000: ``retrain`` (target: at most 3 s on 2 cores) and
  ``suggestions`` over the inbox, median of 3 each, with the load average.

Prints progress on stderr and ONE JSON line at the end (appended to ``--out``), with the CPU.
``--quick`` checks the script end to end with tiny counts (the figures then mean nothing).
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# The shared photos as the other benchmarks take them; the CPU and the JSON line as they print them.
from runtime_bench import DEFAULT_PHOTOS
from train_bench import cpu_info, emit

SPLIT_SEED = 25
TARGETS = (0.95, 0.965, 0.97, 0.975)
RATIO_AT = 0.97
METHODS = ("model", "random")

FULL = {"pool": 3000, "test": None, "start": 5, "round": 10, "labels": 200, "random_labels": 1000,
        "seeds": 3, "retrain_labelled": 2000, "retrain_inbox": 1000, "runs": 3}
QUICK = {"pool": 120, "test": 60, "start": 5, "round": 10, "labels": 40, "random_labels": 60,
         "seeds": 1, "retrain_labelled": 60, "retrain_inbox": 40, "runs": 1}


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load() -> str:
    """The `uptime` line (the load averages: other work on the shared machine slows every figure)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


# ----------------------------------------------------------------------------- photos


def split_photos(photos: Path, pool: int, test: int | None) -> tuple[dict[str, str], list[str], list[str]]:
    """(class of each photo, pool, test): the pool has ``pool`` photos, as many of each class; the
    test has ``test`` (default: all the others). Fixed seed: every run the same split."""
    rng = random.Random(SPLIT_SEED)
    truth: dict[str, str] = {}
    pool_paths: list[str] = []
    test_paths: list[str] = []
    classes = sorted(p.name for p in photos.iterdir() if p.is_dir())
    for name in classes:
        files = sorted(str(p) for p in (photos / name).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        rng.shuffle(files)
        share = pool // len(classes)
        pool_paths += files[:share]
        test_paths += files[share:] if test is None else files[share:share + test // len(classes)]
        truth.update({os.path.basename(f): name for f in files})
    if len(truth) != sum(len(list((photos / c).iterdir())) for c in classes):
        raise SystemExit("error: two photos share a file name: the oracle goes by file name")
    return truth, pool_paths, test_paths


def features_of(paths: list[str]) -> np.ndarray:
    """The backbone's features of ``paths``, as an inbox without a model computes them (cached)."""
    from catdog_desktop.core.evaluate.label_errors import feature_source
    from catdog_desktop.core.model.features import compute_features

    extractor, cache, size, _words = feature_source(None, None)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 15 or done == total:
            last[0] = time.monotonic()
            say(f"features {done}/{total}")

    found = compute_features(extractor, paths, [0] * len(paths), size, [cache], mirror=False, progress=progress)
    if found.skipped:
        raise SystemExit(f"error: {len(found.skipped)} photos could not be read, e.g. {found.skipped[0]}")
    say(f"features: {found.computed} computed, {len(paths) - found.computed} from the cache")
    return found.features[:, 0].astype(np.float32)


def link_folders(root: Path, inbox: list[str], labelled: list[str], truth: dict[str, str]) -> tuple[Path, Path]:
    """``root/inbox`` (symlinks to ``inbox``) and ``root/data/<class>`` (symlinks to ``labelled``)."""
    inbox_dir, data_dir = root / "inbox", root / "data"
    inbox_dir.mkdir(parents=True)
    for name in sorted(set(truth.values())):
        (data_dir / name).mkdir(parents=True)
    for path in inbox:
        os.symlink(path, inbox_dir / os.path.basename(path))
    for path in labelled:
        name = os.path.basename(path)
        os.symlink(path, data_dir / truth[name] / name)
    return inbox_dir, data_dir


# ----------------------------------------------------------------------------- the simulated user


def accuracy(head, test_x: np.ndarray, test_y: np.ndarray) -> float:
    index = {name: k for k, name in enumerate(head.class_names)}
    truth = np.asarray([index.get(name, -1) for name in test_y])
    return float((head.probabilities(test_x).argmax(axis=1) == truth).mean())


def simulate(method: str, seed: int, pool: list[str], truth: dict[str, str], test_x, test_y, settings: dict,
             work: Path) -> dict:
    """One labelling session: the curve (labels -> test accuracy) and the time each step took."""
    from catdog_desktop.core.label.inbox import InboxSession

    rng = random.Random(seed)
    by_class: dict[str, list[str]] = {}
    for path in pool:
        by_class.setdefault(truth[os.path.basename(path)], []).append(path)
    start = [p for name in sorted(by_class) for p in rng.sample(by_class[name], settings["start"])]
    rest = [p for p in pool if p not in set(start)]
    inbox, data = link_folders(work / f"{method}-{seed}", rest, start, truth)
    session = InboxSession(inbox, data)
    session.prepare(labelled=True)
    limit = settings["labels"] if method == "model" else settings["random_labels"]
    curve: dict[int, float] = {}
    retrain_s, rank_s = [], []
    while True:
        began = time.perf_counter()
        head = session.retrain()
        retrain_s.append(time.perf_counter() - began)
        labels = head.trained_on
        curve[labels] = accuracy(head, test_x, test_y)
        reached = method == "random" and labels >= settings["labels"] and curve[labels] >= RATIO_AT
        if labels >= limit or reached or not session.pictures:
            break
        if method == "model":
            began = time.perf_counter()
            shown = session.suggestions(top=settings["round"])
            rank_s.append(time.perf_counter() - began)
            picks = [(s.path, s) for s in shown]
        else:
            picks = [(p, None) for p in rng.sample(sorted(session.pictures), min(settings["round"], len(session.pictures)))]
        for path, suggestion in picks:
            session.label(path, truth[os.path.basename(path)], suggestion)
    say(f"{method} seed {seed}: " + ", ".join(f"{n}:{a:.1%}" for n, a in curve.items() if n % 50 == 0 or n == labels))
    return {"curve": curve, "retrain_s": statistics.median(retrain_s),
            "rank_s": statistics.median(rank_s) if rank_s else None}


def first_reaching(curve: dict[int, float], target: float) -> int | None:
    return next((n for n, a in sorted(curve.items()) if a >= target - 1e-12), None)


def median_curve(curves: list[dict[int, float]]) -> dict[int, float]:
    """The median of the seeds at every label count (a random run that stopped counts as its last
    accuracy from then on: it stopped because it had reached 97 %)."""
    counts = sorted(set().union(*curves))
    out = {}
    for n in counts:
        values = []
        for curve in curves:
            upto = [k for k in curve if k <= n]
            values.append(curve[max(upto)] if upto else None)
        if None not in values:
            out[n] = statistics.median(values)
    return out


# ----------------------------------------------------------------------------- the retrain's time


def time_retrain(pool: list[str], truth: dict[str, str], settings: dict, work: Path) -> dict:
    """retrain and suggestions of a session with ``retrain_labelled`` labelled pictures (cached)."""
    from catdog_desktop.core.label.inbox import InboxSession

    by_class: dict[str, list[str]] = {}
    for path in pool:
        by_class.setdefault(truth[os.path.basename(path)], []).append(path)
    share = settings["retrain_labelled"] // len(by_class)
    labelled = [p for name in sorted(by_class) for p in by_class[name][:share]]
    others = [p for p in pool if p not in set(labelled)][:settings["retrain_inbox"]]
    inbox, data = link_folders(work / "retrain", others, labelled, truth)
    session = InboxSession(inbox, data)
    session.prepare(labelled=True)
    runs = []
    for _ in range(settings["runs"]):
        began = time.perf_counter()
        head = session.retrain()
        retrain = time.perf_counter() - began
        began = time.perf_counter()
        session.suggestions()
        ranked = time.perf_counter() - began
        runs.append({"retrain_s": round(retrain, 3), "fit_s": round(head.seconds, 3),
                     "suggestions_s": round(ranked, 3), "uptime": load()})
        say(f"retrain on {head.trained_on}: {retrain:.2f} s (fit {head.seconds:.2f} s, cross-checked "
            f"{head.accuracy:.1%}); suggestions over {len(session.pictures)}: {ranked:.2f} s; {runs[-1]['uptime']}")
    return {"labelled": head.trained_on, "inbox": len(session.pictures), "runs": runs,
            "retrain_s_median": statistics.median(r["retrain_s"] for r in runs),
            "fit_s_median": statistics.median(r["fit_s"] for r in runs),
            "suggestions_s_median": statistics.median(r["suggestions_s"] for r in runs),
            "cross_checked_accuracy": round(head.accuracy, 4) if head.accuracy is not None else None}


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="class folders of labelled photos")
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the script, figures mean nothing")
    parser.add_argument("--out", help="append the JSON line to this file")
    parser.add_argument("--skip-retrain", action="store_true", help="leave out the retrain's timing")
    parser.add_argument("--only", choices=(*METHODS, "retrain"), help="simulate one method only, or only time the retrain")
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    out: dict = {"benchmark": "labelling", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                 "cpu": cpu_info(), "uptime_start": load(), "settings": settings, "photos": str(args.photos)}
    say(out["uptime_start"])
    truth, pool, test = split_photos(args.photos, settings["pool"], settings["test"])
    out["pool"], out["test"] = len(pool), len(test)
    began = time.perf_counter()
    features_of(pool)
    test_x = features_of(test if args.only != "retrain" else [])
    test_y = [truth[os.path.basename(p)] for p in test]
    out["features_s"] = round(time.perf_counter() - began, 1)

    work = Path(tempfile.mkdtemp(prefix="labelling-bench-"))
    try:
        runs: dict[str, list[dict]] = {m: [] for m in METHODS if args.only in (None, m)}
        for seed in range(1, settings["seeds"] + 1):
            for method, done in runs.items():
                done.append(simulate(method, seed, pool, truth, test_x, test_y, settings, work))
        results = {}
        for method, per_seed in runs.items():
            curves = [r["curve"] for r in per_seed]
            median = median_curve(curves)
            results[method] = {
                "curve_median": {n: round(a, 4) for n, a in median.items()},
                "curves": [{n: round(a, 4) for n, a in c.items()} for c in curves],
                "labels_to": {f"{t:.1%}": first_reaching(median, t) for t in TARGETS},
                "labels_to_per_seed": {f"{t:.1%}": [first_reaching(c, t) for c in curves] for t in TARGETS},
                "retrain_s_median": round(statistics.median(r["retrain_s"] for r in per_seed), 3),
                "rank_s_median": (round(statistics.median(r["rank_s"] for r in per_seed if r["rank_s"] is not None), 3)
                                  if any(r["rank_s"] is not None for r in per_seed) else None),
            }
        out["methods"] = results
        if len(results) == 2:
            model_n = results["model"]["labels_to"][f"{RATIO_AT:.1%}"]
            random_n = results["random"]["labels_to"][f"{RATIO_AT:.1%}"]
            out["ratio_at_97"] = round(model_n / random_n, 3) if model_n and random_n else None
            if model_n and not random_n:  # random never got there: the ratio is below this bound
                most = max(n for c in results["random"]["curves"] for n in map(int, c))
                out["ratio_at_97_below"] = round(model_n / most, 3)
        if not args.skip_retrain:
            out["retrain"] = time_retrain(pool, truth, settings, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = out.get("ratio_at_97") or out.get("ratio_at_97_below")
    out["targets"] = {"ratio_at_97_at_most_0.5": ratio is not None and ratio <= 0.5,
                      "retrain_at_most_3_s": "retrain" in out and out["retrain"]["retrain_s_median"] <= 3.0}
    out["uptime_end"] = load()
    report(out)
    emit(out, args.out)
    return 0


def report(out: dict) -> None:
    """The curve and the targets, as a table on stderr."""
    methods = out.get("methods", {})
    counts = sorted(set().union(*(m["curve_median"] for m in methods.values()))) if methods else []
    print("labels  " + "  ".join(f"{m:>7}" for m in methods), file=sys.stderr)
    for n in (n for n in counts if n <= out["settings"]["labels"]):
        cells = [f"{methods[m]['curve_median'][n]:7.1%}" if n in methods[m]["curve_median"] else " " * 7 for m in methods]
        print(f"{n:6d}  " + "  ".join(cells), file=sys.stderr)
    for target in TARGETS:
        key = f"{target:.1%}"
        print(f"to {key}: " + ", ".join(f"{m} {methods[m]['labels_to'][key]}" for m in methods), file=sys.stderr)
    if "ratio_at_97" in out:
        print(f"ratio at 97 %: {out['ratio_at_97']} (target <= 0.5)"
              + (f"; below {out['ratio_at_97_below']}" if "ratio_at_97_below" in out else ""), file=sys.stderr)
    if "retrain" in out:
        print(f"retrain on {out['retrain']['labelled']}: {out['retrain']['retrain_s_median']} s (target <= 3 s)",
              file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
