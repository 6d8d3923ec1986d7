#!/usr/bin/env python
"""Training speed and accuracy benchmark (run by hand; not part of the test suite).

    python benchmarks/train_bench.py --data /work/shared/data/catsdogs/train \
        [--set key=value ...] [--minutes N] [--out results.jsonl] [--gui]

The app's defaults train with a 15-minute time limit (``--set time_limit_minutes=45`` for
another; the learning rate is planned to fit it). ``--minutes`` is a plain cut on top of that,
for comparing against a schedule that does not know the time.

``--data`` is a class-folder dataset (``cats/``, ``dogs/``). The benchmark builds (once) a
symlinked copy with a fixed, seeded split into ``train/`` and ``test/`` (``--test-per-class``
photos per class go to test) under ``--bench-root``; the app's scanner then holds out its
seeded 20 % of ``train/`` for validation (epoch selection, tuning) and the final figures come
from ``test/``, which nothing ever trains on or tunes on.

It prints ONE JSON line (and appends it to ``--out`` if given) with: scan and decode seconds,
seconds per epoch (first epoch, with graph tracing, reported separately), training images/s,
training FLOPs per image and achieved GFLOP/s, epochs and minutes, validation accuracy (best
and last epoch), test accuracy (plain and with horizontal-flip TTA), peak RSS, and, measured
in the same process, the original notebook CNN (64 px, batch 32, one epoch from in-memory
NumPy arrays) so that speeds also come as ratios; plus one epoch of our model through the real
tf.data pipeline vs fed from in-memory tensors. ``--gui`` runs the training through the app's
QThread worker (offscreen Qt) instead of calling ``train()`` directly, to compare the two.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import resource
import statistics
import tempfile
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

DEFAULT_ROOT = os.path.join(tempfile.gettempdir(), "catdog-bench-split")  # symlinks only
SPLIT_SEED = 20240501


# --------------------------------------------------------------------------- dataset


def build_split_tree(source: Path, root: Path, test_per_class: int, seed: int = SPLIT_SEED) -> Path:
    """``root/{train,test}/<class>/`` symlinks to ``source/<class>/*``, split by a seeded shuffle.

    Idempotent: an existing tree built from the same source, seed and size is reused; anything
    else is an error (delete the folder to rebuild), so results stay comparable.
    """
    stamp = {"source": str(source.resolve()), "seed": seed, "test_per_class": test_per_class}
    marker = root / "split.json"
    if marker.exists():
        if json.loads(marker.read_text()) != stamp:
            raise SystemExit(f"{root} was built from other settings ({marker.read_text()}); remove it to rebuild.")
        return root
    classes = sorted(d.name for d in source.iterdir() if d.is_dir() and not d.name.startswith("."))
    for name in classes:
        files = sorted(f.name for f in (source / name).iterdir() if f.is_file() and not f.name.startswith("."))
        random.Random(f"{seed}-{name}").shuffle(files)
        if len(files) <= test_per_class:
            raise SystemExit(f"class {name}: only {len(files)} files, cannot hold out {test_per_class}")
        for part, chosen in (("test", files[:test_per_class]), ("train", files[test_per_class:])):
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for f in chosen:
                link = folder / f
                if not link.is_symlink():
                    link.symlink_to((source / name / f).resolve())
    marker.write_text(json.dumps(stamp))
    return root


class CachedDecode:
    """Wraps ``pipeline.decode_split`` so each split is decoded once per process and timed."""

    def __init__(self, pipeline):
        self.original = pipeline.decode_split
        self.cache: dict = {}
        self.seconds: dict[str, float] = {}

    def __call__(self, split, size, progress=None, should_stop=None, what="pictures"):
        key = (tuple(split.paths), size)
        if key not in self.cache:
            start = time.perf_counter()
            self.cache[key] = self.original(split, size, progress, should_stop, what)
            self.seconds[f"{what}@{size}"] = time.perf_counter() - start
        return self.cache[key]


def emit(out: dict, path: str | None) -> None:
    """Print the result as one JSON line, and append it to ``path`` when given."""
    line = json.dumps(out)
    print(line, flush=True)
    if path:
        with open(path, "a") as fh:
            fh.write(line + "\n")


def cpu_info() -> dict:
    """The CPU the figures were measured on: model name, the vector/bfloat16 flags that decide
    TensorFlow's speed, and a cap on oneDNN's instruction set if one was set."""
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")
    return {"model": model, "cores": os.cpu_count(), "flags": [f for f in wanted if f in flags],
            "bfloat16_hardware": bool({"avx512_bf16", "amx_bf16"} & flags),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "")}


def build_subset_tree(split_root: Path, root: Path, per_class: int, seed: int = SPLIT_SEED) -> Path:
    """``root/{train,test}``: ``per_class`` training photos a class drawn (seeded) from
    ``split_root/train``, and the same ``split_root/test`` (symlinks)."""
    for part in ("train", "test"):
        for folder in sorted((split_root / part).iterdir()):
            files = sorted(folder.iterdir())
            if part == "train":
                random.Random(f"{seed}-subset-{folder.name}").shuffle(files)
                files = files[:per_class]
            target = root / part / folder.name
            target.mkdir(parents=True, exist_ok=True)
            for f in files:
                link = target / f.name
                if not link.is_symlink():
                    link.symlink_to(f.resolve())
    return root


# --------------------------------------------------------------------------- reference CNN


def notebook_cnn(size: int = 64):
    """The original notebook's CNN (reconstruction): 3 conv/pool stages, Flatten, Dense 128."""
    import keras
    from keras import layers

    inputs = keras.Input((size, size, 3))
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(128, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs, name="notebook_cnn")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def bench_notebook_cnn(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> dict:
    """One epoch of the notebook CNN at 64 px, batch 32, from in-memory (rescaled) NumPy arrays."""
    import keras

    from catdog_desktop.core.model.network import training_flops_per_image

    keras.backend.clear_session()
    keras.utils.set_random_seed(1)
    xt = (x_train.astype("float32") / 255.0)
    yt = y_train.astype("float32")
    model = notebook_cnn(x_train.shape[1])
    model.train_on_batch(xt[:32], yt[:32])  # trace the training step outside the timing
    start = time.perf_counter()
    model.fit(xt, yt, batch_size=32, epochs=1, shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    val_acc = float(model.evaluate(x_val.astype("float32") / 255.0, y_val.astype("float32"), verbose=0)[1])
    flops = training_flops_per_image(model)
    ips = len(xt) / seconds
    return {"epoch_seconds": round(seconds, 2), "images_per_second": round(ips, 1),
            "flops_per_image": flops, "gflops_per_second": round(flops * ips / 1e9, 2),
            "val_accuracy_1_epoch": round(val_acc, 4)}


# --------------------------------------------------------------------------- feed check


def bench_feed(config, x: np.ndarray, y: np.ndarray, num_classes: int, n_images: int, repeats: int = 3) -> dict:
    """Epoch time through pipeline.make_dataset vs in-memory tensors, same model (median of repeats)."""
    import keras
    import tensorflow as tf

    from catdog_desktop.core.data import pipeline
    from catdog_desktop.core.model.network import make_model
    from catdog_desktop.core.training.train import compile_model

    n = min(n_images, len(x)) // config.batch_size * config.batch_size
    x, y = x[:n], y[:n]

    def fresh():
        keras.backend.clear_session()
        keras.utils.set_random_seed(config.seed)
        model = make_model(config, num_classes)
        compile_model(model, config, num_classes)
        return model

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.last = time.perf_counter() - self.t0

    # One model, its training step traced once; then epochs through the real pipeline and
    # through pre-sliced in-memory tensors alternate (the machine may be shared: medians).
    model = fresh()
    ds = pipeline.make_dataset(x, y, num_classes, config.batch_size, True, config.seed)
    targets = pipeline.encode_labels(y, num_classes)
    order = np.random.default_rng(0).permutation(n)
    batches = [(tf.constant(x[order[i:i + config.batch_size]]), tf.constant(targets[order[i:i + config.batch_size]]))
               for i in range(0, n, config.batch_size)]
    model.fit(ds, epochs=1, verbose=0)
    pipe, mem = [], []
    for _ in range(repeats):
        timer = Timer()
        model.fit(ds, epochs=1, verbose=0, callbacks=[timer])
        pipe.append(timer.last)
        start = time.perf_counter()
        for xb, yb in batches:
            model.train_on_batch(xb, yb)
        mem.append(time.perf_counter() - start)
    pipeline_seconds, memory_seconds = statistics.median(pipe), statistics.median(mem)
    ratios = [p / m for p, m in zip(pipe, mem)]
    return {"images": n, "pipeline_epoch_seconds": round(pipeline_seconds, 2),
            "in_memory_epoch_seconds": round(memory_seconds, 2),
            "pipeline_over_in_memory": round(pipeline_seconds / memory_seconds, 3),
            "pairwise_ratios": [round(r, 3) for r in ratios], "repeats": repeats}


# --------------------------------------------------------------------------- main


def train_through_gui(cfg, scan, reporter):
    """Run one training the way the app does: core.app.jobs.train_model in a Worker on a QThread (which
    trains in a child process, core.training.isolated), progress arriving as queued signals on the GUI
    thread. Same reporter figures as train()."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QObject, Slot
    from PySide6.QtWidgets import QApplication

    from catdog_desktop.core.app import jobs
    from catdog_desktop.ui.workers import Worker, WorkerThreads

    app = QApplication.instance() or QApplication([])

    class Receiver(QObject):
        result = None
        error = None

        @Slot(object)
        def on_event(self, event):
            reporter.on_event(event)
            if reporter.should_stop():
                worker.stop()

        @Slot(object)
        def on_returned(self, value):
            self.result = value

        @Slot(str)
        def on_error(self, message):
            self.error = message

        @Slot()
        def on_aborted(self):
            self.error = "stopped before the first epoch ended"

    receiver = Receiver()
    pool = WorkerThreads()
    worker = Worker(jobs.train_model, cfg, scan, name="train")
    worker.yielded.connect(receiver.on_event)
    worker.returned.connect(receiver.on_returned)
    worker.errored.connect(receiver.on_error)
    worker.aborted.connect(receiver.on_aborted)
    pool.start(worker)
    while receiver.result is None and receiver.error is None:
        app.processEvents()
        time.sleep(0.005)
    pool.shutdown()
    if receiver.error:
        raise SystemExit(f"training failed: {receiver.error}")
    return receiver.result


def parse_value(text: str):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="class-folder dataset (e.g. .../catsdogs/train)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a TrainingConfig field")
    ap.add_argument("--preset", default="default", help="start from this preset (config.PRESETS)")
    ap.add_argument("--minutes", type=float, default=None,
                    help="cut training after this many minutes, whatever the schedule (see time_limit_minutes)")
    ap.add_argument("--bench-root", default=DEFAULT_ROOT, help="where the train/test symlink tree is built")
    ap.add_argument("--test-per-class", type=int, default=500)
    ap.add_argument("--split-seed", type=int, default=1337,
                    help="seed of the validation split (fixed, so runs with other --set seed=... compare)")
    ap.add_argument("--out", default=None, help="append the JSON line to this file")
    ap.add_argument("--label", default="", help="free text stored with the result")
    ap.add_argument("--no-reference", action="store_true", help="skip the notebook CNN epoch")
    ap.add_argument("--no-feed-check", action="store_true", help="skip the pipeline vs in-memory epoch")
    ap.add_argument("--feed-images", type=int, default=2048, help="images in the pipeline vs in-memory epoch")
    ap.add_argument("--threads", type=int, default=0, help="TF intra/inter-op threads (0: TF default)")
    ap.add_argument("--gui", action="store_true",
                    help="train through the app's QThread worker (offscreen Qt) instead of calling train()")
    ap.add_argument("--backbone", default=None, help="mobilenet_v2 (pretrained, the default) or none (from scratch)")
    ap.add_argument("--train-per-class", type=int, default=0,
                    help="pretrained: train on only this many photos a class (the test photos stay the same)")
    ap.add_argument("--warm", action="store_true",
                    help="pretrained: train twice with one feature cache and report both feature stages")
    args = ap.parse_args(argv)

    import tensorflow as tf
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    from catdog_desktop.core import config as config_mod
    from catdog_desktop.core.data import dataset
    from catdog_desktop.core.evaluate import evaluation
    from catdog_desktop.core.data import pipeline
    from catdog_desktop.core.training import train as training
    from catdog_desktop.core.model.network import training_flops_per_image

    overrides = {}
    fields = {f.name: f for f in dataclasses.fields(config_mod.TrainingConfig)}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in fields:
            ap.error(f"unknown TrainingConfig field {key!r}; fields: {', '.join(fields)}")
        overrides[key] = parse_value(value)
    if args.backbone:
        overrides["backbone"] = args.backbone
    cfg = config_mod.preset(args.preset, **overrides)
    cfg.validate()

    root = build_split_tree(Path(args.data), Path(args.bench_root), args.test_per_class)
    if cfg.backbone != "none":
        return bench_pretrained(args, cfg, root)
    t0 = time.perf_counter()
    scan = dataset.scan_dataset(root, cfg.validation_split, args.split_seed)
    scan_seconds = time.perf_counter() - t0
    scan.raise_for_errors()
    assert scan.evaluation_name == "test", "the benchmark needs a test folder"
    num_classes = len(scan.class_names)

    decoder = CachedDecode(pipeline)
    pipeline.decode_split = decoder  # train() then reuses the pixels decoded (and timed) here
    t0 = time.perf_counter()
    train_set = decoder(scan.train, cfg.image_size, what="training pictures")
    val_set = decoder(scan.validation, cfg.image_size, what="validation pictures")
    test_set = decoder(scan.test, cfg.image_size, what="test pictures")
    decode_seconds = time.perf_counter() - t0
    n_decoded = len(train_set) + len(val_set) + len(test_set)

    out: dict = {"label": args.label, "config": cfg.to_dict(), "minutes_budget": args.minutes, "split_seed": args.split_seed,
                 "counts": {"train": len(train_set), "validation": len(val_set), "test": len(test_set)},
                 "scan_seconds": round(scan_seconds, 2), "decode_seconds": round(decode_seconds, 2),
                 "decoded_images": n_decoded, "decode_images_per_second": round(n_decoded / decode_seconds, 1),
                 "cpu_count": os.cpu_count(), "loadavg_start": os.getloadavg()[0]}

    if not args.no_reference:
        if cfg.image_size == 64:
            rx, ry, vx, vy = train_set.x, train_set.y, val_set.x, val_set.y
        else:
            t1 = time.perf_counter()
            rtrain = decoder.original(scan.train, 64)
            rval = decoder.original(scan.validation, 64)
            out["reference_decode_seconds"] = round(time.perf_counter() - t1, 2)
            rx, ry, vx, vy = rtrain.x, rtrain.y, rval.x, rval.y
        out["reference"] = bench_notebook_cnn(rx, ry, vx, vy)

    if not args.no_feed_check:
        out["feed"] = bench_feed(cfg, train_set.x, train_set.y, num_classes, args.feed_images)

    class BenchReporter(training.Reporter):
        def __init__(self, budget_seconds):
            self.budget = budget_seconds
            self.start = time.perf_counter()
            self.epochs: list[dict] = []
            self.train_rate = math.nan
            self.stop_time = None

        def on_batch_end(self, info):
            self.train_rate = info.images_per_second  # training pass only (no validation)

        def on_epoch_end(self, info):
            self.epochs.append({"epoch": info.epoch, "seconds": round(info.epoch_seconds, 2),
                                "train_images_per_second": round(self.train_rate, 1),
                                "loss": round(info.loss, 4), "accuracy": round(info.accuracy, 4),
                                "val_accuracy": round(info.val_accuracy, 4), "val_loss": round(info.val_loss, 4),
                                "elapsed": round(info.elapsed, 1)})
            print(json.dumps({"progress": self.epochs[-1]}), file=sys.stderr, flush=True)

        def should_stop(self):
            if self.budget is not None and time.perf_counter() - self.start > self.budget:
                self.stop_time = self.stop_time or time.perf_counter()
                return True
            return False

    reporter = BenchReporter(args.minutes * 60 if args.minutes else None)
    t0 = time.perf_counter()
    result = train_through_gui(cfg, scan, reporter) if args.gui else training.train(cfg, scan, reporter)
    wall = time.perf_counter() - t0
    out["mode"] = "gui worker (QThread, offscreen)" if args.gui else "core train()"

    model = result.model
    flops = training_flops_per_image(model)
    epochs = reporter.epochs
    steady = [e["seconds"] for e in epochs[1:]] or [e["seconds"] for e in epochs]
    rates = [e["train_images_per_second"] for e in epochs[1:]] or [e["train_images_per_second"] for e in epochs]
    s_epoch = statistics.median(steady) if steady else math.nan
    ips = statistics.median(rates) if rates else math.nan
    val_accs = [e["val_accuracy"] for e in epochs]
    val_tta = evaluation.evaluate_model(model, val_set.x, val_set.y, scan.class_names, flip_tta=True).accuracy
    test_tta = evaluation.evaluate_model(model, test_set.x, test_set.y, scan.class_names, flip_tta=True).accuracy
    out.update({
        "first_epoch_seconds": epochs[0]["seconds"] if epochs else None,
        "seconds_per_epoch": round(s_epoch, 2),
        "train_images_per_second": round(ips, 1),
        "flops_per_image": flops,
        "gflops_per_second": round(flops * ips / 1e9, 2),
        "params": int(model.count_params()),
        "epochs_run": len(epochs),
        "stopped_by_budget": result.stopped_by_user,
        "stopped_by_time_limit": result.stopped_by_time_limit,
        "stopped_early": result.stopped_early,
        "train_minutes": round(result.train_seconds / 60, 2),
        "train_call_minutes": round(wall / 60, 2),
        "best_epoch": result.best_epoch,
        "val_accuracy_best": max(val_accs) if val_accs else None,
        "val_accuracy_last": val_accs[-1] if val_accs else None,
        "val_accuracy_best_tta": round(val_tta, 4),
        "test_accuracy": round(result.evaluation.accuracy, 4),
        "test_accuracy_tta": round(test_tta, 4),
        "test_loss": round(result.evaluation.loss, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # --gui trains in a child process, as the app does (core.training.isolated): its peak is here
        "peak_rss_training_process_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "loadavg_end": os.getloadavg()[0],
        "history": epochs,
    })
    ref = out.get("reference")
    if ref:
        out["vs_reference"] = {
            "images_per_second_ratio": round(ips / ref["images_per_second"], 3),
            "epoch_seconds_ratio": round(s_epoch / ref["epoch_seconds"], 3),
            "gflops_per_second_ratio": round(out["gflops_per_second"] / ref["gflops_per_second"], 3),
            "flops_per_image_ratio": round(flops / ref["flops_per_image"], 3),
        }
    emit(out, args.out)
    keras.backend.clear_session()
    return 0


def bench_pretrained(args, cfg, root: Path) -> int:
    """The pretrained training as the app runs it, timed from the start of reading the pictures
    (the features stage streams them: nothing is decoded beforehand), each stage on its own."""
    import keras

    from catdog_desktop.core.data import dataset
    from catdog_desktop.core.evaluate import evaluation
    from catdog_desktop.core.model import features
    from catdog_desktop.core.data import pipeline
    from catdog_desktop.core.training import train as training

    if args.train_per_class:
        root = build_subset_tree(root, Path(tempfile.mkdtemp(prefix="catdog-bench-subset-")), args.train_per_class)
    cache_dir = tempfile.mkdtemp(prefix="catdog-bench-features-")  # a cold cache, unless --warm's second run
    os.environ[features.CACHE_ENV] = cache_dir
    out: dict = {"label": args.label, "cpu": cpu_info(), "config": cfg.to_dict(), "split_seed": args.split_seed,
                 "loadavg_start": os.getloadavg()[0]}
    t0 = time.perf_counter()
    scan = dataset.scan_dataset(root, cfg.validation_split, args.split_seed)
    out["scan_seconds"] = round(time.perf_counter() - t0, 2)
    scan.raise_for_errors()
    assert scan.evaluation_name == "test", "the benchmark needs a test folder"
    out["counts"] = {"train": len(scan.train), "validation": len(scan.validation), "test": len(scan.test)}

    if not args.no_reference:  # the machine's speed during this run, comparable across runs and days
        t1 = time.perf_counter()
        rtrain = pipeline.decode_split(scan.train, 64)
        rval = pipeline.decode_split(scan.validation, 64)
        out["reference_decode_seconds"] = round(time.perf_counter() - t1, 2)
        out["reference"] = bench_notebook_cnn(rtrain.x, rtrain.y, rval.x, rval.y)
        del rtrain, rval

    class Stages(training.Reporter):
        def __init__(self):
            self.epochs: list[dict] = []

        def on_epoch_end(self, info):
            self.epochs.append({"epoch": info.epoch, "phase": info.phase, "seconds": round(info.epoch_seconds, 2),
                                "val_accuracy": round(info.val_accuracy, 4), "elapsed": round(info.elapsed, 1)})
            print(json.dumps({"progress": self.epochs[-1]}), file=sys.stderr, flush=True)

    runs = []
    for _ in range(2 if args.warm else 1):
        reporter = Stages()
        t0 = time.perf_counter()
        result = train_through_gui(cfg, scan, reporter) if args.gui else training.train(cfg, scan, reporter)
        wall = time.perf_counter() - t0
        n_views = (2 if cfg.augmentation else 1) * len(scan.train) + len(scan.validation)
        stages = {k: round(v, 2) for k, v in result.stage_seconds.items()}
        runs.append({
            "minutes": round(wall / 60, 2), "stage_seconds": stages,
            "features_computed": result.features_computed, "features_cached": result.features_cached,
            "feature_pictures_per_second": round((len(scan.train) + len(scan.validation)) / stages["features"], 1),
            "backbone_forward_passes_per_second": round(n_views / stages["features"], 1)
            if result.features_computed else None,
            "classifier_epochs": sum(e["phase"] == "classifier" for e in reporter.epochs),
            "fine_tuning_epochs": sum(e["phase"] == "fine-tuning" for e in reporter.epochs),
            "fine_tuning_seconds_per_epoch": round(statistics.median(
                [e["seconds"] for e in reporter.epochs if e["phase"] == "fine-tuning"]), 1)
            if any(e["phase"] == "fine-tuning" for e in reporter.epochs) else None,
            "best_epoch": result.best_epoch, "notes": result.notes,
            "val_accuracy_best": max(e["val_accuracy"] for e in reporter.epochs),
            "test_accuracy": round(result.evaluation.accuracy, 4),
            "stopped_by_time_limit": result.stopped_by_time_limit,
        })
    out.update(runs[0])
    if args.warm:
        out["warm"] = runs[1]
        out["warm_feature_stage_speedup"] = round(runs[0]["stage_seconds"]["features"]
                                                  / max(runs[1]["stage_seconds"]["features"], 1e-9), 1)
    test_set = pipeline.decode_split(scan.test, cfg.image_size)
    out["test_accuracy_tta"] = round(evaluation.evaluate_model(
        result.model, test_set.x, test_set.y, scan.class_names, flip_tta=True).accuracy, 4)
    out.update({
        "mode": "gui worker (QThread, offscreen)" if args.gui else "core train()",
        "precision": "float32",  # the pretrained path always computes in float32
        "model_params": int(result.model.count_params()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_training_process_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "loadavg_end": os.getloadavg()[0],
    })
    emit(out, args.out)
    keras.backend.clear_session()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
