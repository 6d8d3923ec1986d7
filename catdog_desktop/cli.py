"""Headless commands: ``train``, ``evaluate``, ``predict``, ``export``, ``explain``, ``report``, ``sort``,
``undo-sort``, ``inbox``, ``label``, ``update-classes``, ``features``.

    catdog-desktop-cli train DATA_DIR --out MODEL.keras [--epochs N ...]
    catdog-desktop-cli evaluate MODEL.keras DATA_DIR [--mistakes N]
    catdog-desktop-cli predict MODEL.keras|MODEL.tflite|MODEL.onnx IMAGE_OR_FOLDER... [--threshold P] [--csv OUT.csv]
        [--fast [--data DATA_DIR]]
    catdog-desktop-cli export MODEL.keras --format tflite --out PATH [--data DATA_DIR] [--force]
    catdog-desktop-cli check-labels DATA_DIR [--model MODEL.keras]
    catdog-desktop-cli explain MODEL.keras IMAGE --out heatmap.png
    catdog-desktop-cli report MODEL.keras [DATA_DIR] --out report.html
    catdog-desktop-cli sort MODEL.keras SOURCE_DIR --to TARGET [--move] [--threshold P] [--csv OUT.csv] [--fast]
    catdog-desktop-cli undo-sort TARGET
    catdog-desktop-cli inbox INBOX --data DATASET [--model MODEL.keras] [--top N] [--json | --csv OUT.csv]
    catdog-desktop-cli label PICTURE CLASS --data DATASET [--new-class]
    catdog-desktop-cli label --undo --data DATASET
    catdog-desktop-cli label --accept-above P --inbox INBOX --data DATASET [--model MODEL.keras] [--dry-run]
    catdog-desktop-cli update-classes MODEL.keras --data DATASET --out NEW.keras [--force]
    catdog-desktop-cli features DATA_DIR [--cluster local[:N]|tcp://HOST:8786|SCHEDULER.json]

``predict``, ``sort`` and ``check-labels`` take ``--cluster`` too (core.cluster, docs/cluster.md).

``--json`` prints one JSON object per command. Bad input ends with a one-line message and a
non-zero exit code, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

from .core.config import BACKBONE_NAMES, PRESETS, TrainingConfig, preset
from .core.errors import CancelledError, CatdogError
from .core.training.events import BatchEvent, EpochEvent, PhaseEvent, Reporter
from .core.app.jobs import EXPLAIN_METHODS
from .core.safe_text import ESCAPE_ERRORS

log = logging.getLogger("catdog_desktop.cli")

EXIT_OK, EXIT_ERROR, EXIT_SOME_FAILED, EXIT_INTERRUPTED = 0, 2, 3, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="catdog-desktop-cli", description="Train, evaluate and use image classifiers.")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on a dataset folder")
    t.add_argument("data_dir", help="folder with one sub-folder per class, or with train/test folders")
    t.add_argument("--out", required=True, help="where to save the model (.keras)")
    t.add_argument("--preset", choices=sorted(PRESETS), default="default")
    t.add_argument("--from", dest="start_from", metavar="MODEL", default=None,
                   help="train on from this saved model (.keras, never changed): the new model starts from "
                        "its weights, its settings are the defaults, and both are compared on the same "
                        "held-out pictures")
    t.add_argument("--backbone", choices=[*BACKBONE_NAMES, "none"], default=None,
                   help="start from a network pretrained on ImageNet (mobilenet_v2, the default), or "
                        "'none' to train a small network from scratch (for pictures unlike photos)")
    t.add_argument("--no-fine-tune", dest="fine_tune", action="store_false", default=None,
                   help="pretrained: train only the classifier on the network's features")
    defaults = TrainingConfig()
    for name, kind, help_text in [
        ("epochs", int, "number of passes over the training pictures (at most; pretrained: of fine-tuning)"),
        ("time_limit_minutes", float, "finish within about this many minutes; the learning rate is "
                                      "planned to fit (0: no limit)"),
        ("batch_size", int, "pictures per training step"),
        ("image_size", int, "pixels per side of the pictures (the network works at half that with "
                            "--stem-stride 2)"),
        ("learning_rate", float, "peak learning rate"),
        ("validation_split", float, "share held out for validation when there is no validation folder"),
        ("blocks", int, "from scratch: convolutional blocks"),
        ("base_filters", int, "from scratch: filters in the first block"),
        ("stem_stride", int, "from scratch: stride of the first convolution (2: the network works at half the image size)"),
        ("head_epochs", int, "pretrained: epochs of the classifier on the network's features"),
        ("cross_validate_below", int, "pretrained, no validation folder: when the smallest class has fewer "
                                      "pictures than this, every picture trains and the accuracy is estimated "
                                      "by cross-validation (0: always hold out a validation share)"),
        ("dropout", float, "dropout before the classifier"),
        ("patience", int, "epochs without improvement before early stopping"),
        ("seed", int, "random seed"),
    ]:
        t.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None,
                       help=f"{help_text} (default {getattr(defaults, name)})")
    t.add_argument("--no-augmentation", dest="augmentation", action="store_false", default=None)
    t.add_argument("--no-early-stopping", dest="early_stopping", action="store_false", default=None)
    t.add_argument("--multi-gpu", action="store_true",
                   help="from scratch (--backbone none): train with tf.distribute.MirroredStrategy over all GPUs")
    t.add_argument("--isolated", action="store_true",
                   help="train in a child process, as the app does (all its memory is given back when it ends)")

    e = sub.add_parser("evaluate", help="score a model on held-out pictures")
    e.add_argument("model")
    e.add_argument("data_dir")
    e.add_argument("--strict", action="store_true",
                   help="fail (exit 2) when the folder has classes the model does not know, instead of "
                        "leaving their pictures out")
    e.add_argument("--mistakes", type=_non_negative, metavar="N", default=None,
                   help="list the N wrong answers the model was surest of, with their paths (likeliest "
                        "label errors first; with --json the mistakes list is cut to N)")

    p = sub.add_parser("predict", help="classify pictures or folders of pictures")
    p.add_argument("model", help="a .keras model, or a .tflite or .onnx export (SavedModel folders are for TF "
                                 "Serving and are not opened: loading one runs the code in it)")
    p.add_argument("paths", nargs="+")
    p.add_argument("--threshold", type=float, default=None,
                   help="say 'not sure' when the model is less sure than this (0-1; default: the threshold "
                        "recorded from the model's validation pictures, if any; exports carry it too). "
                        "'None of these' is answered for .keras models only")
    p.add_argument("--csv", metavar="OUT.csv",
                   help="also write one row per file (path, class, confidence, each class's probability, error)")
    p.add_argument("--force", action="store_true", help="replace the CSV file if it exists")
    _add_fast_options(p)
    _add_cluster_option(p)

    s = sub.add_parser("sort", help="classify a folder and copy (or move) its pictures into a folder per class")
    s.add_argument("model")
    s.add_argument("sources", nargs="+", metavar="SOURCE_DIR", help="folder(s) (or pictures) to sort")
    s.add_argument("--to", dest="target", required=True, metavar="TARGET",
                   help="folder that receives one sub-folder per class (made if missing; outside SOURCE_DIR)")
    s.add_argument("--move", action="store_true",
                   help="move the files instead of copying them (undo with: undo-sort TARGET)")
    s.add_argument("--threshold", type=float, default=None, metavar="P",
                   help="pictures whose top probability is under P (0-1) go to uncertain/ (default: the threshold "
                        "recorded from the model's validation pictures, if any); so do pictures that look like "
                        "none of the classes")
    s.add_argument("--csv", metavar="OUT.csv",
                   help="also write the predictions as CSV, before sorting: its paths are where the pictures "
                        "were (each went to TARGET/<class>/ or TARGET/uncertain/)")
    s.add_argument("--force", action="store_true", help="replace the CSV file if it exists")
    _add_fast_options(s)
    _add_cluster_option(s)

    u = sub.add_parser("undo-sort", help="undo the last sort into TARGET (moved files go back, copies are removed)")
    u.add_argument("target")

    i = sub.add_parser("inbox", help="list the pictures of an unlabelled folder in the order to label them, with "
                                     "the model's suggestion and why each comes where it does")
    i.add_argument("inbox", help="folder of unlabelled pictures (any depth)")
    i.add_argument("--data", required=True, metavar="DATASET",
                   help="the dataset folder (one sub-folder per class) that labelled pictures go to")
    i.add_argument("--model", default=None, metavar="MODEL.keras",
                   help="suggest with this model (default: a classifier trained in a second on the labelled "
                        "pictures of DATASET, once two classes have some; before that, no suggestion)")
    i.add_argument("--top", type=_non_negative, default=None, metavar="N", help="list the first N only")
    i.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="print one JSON object: {source, classes, suggestions: [{path, rank, suggestion, "
                        "probability, probabilities, reason, ...}], skipped}")
    i.add_argument("--csv", metavar="OUT.csv", help="also write the list as CSV (rank, path, suggestion, "
                                                     "probability, reason)")
    i.add_argument("--force", action="store_true", help="replace the CSV file if it exists")

    la = sub.add_parser("label", help="move a picture into a class folder of the dataset (undo: label --undo)")
    la.add_argument("picture", nargs="?", help="the picture to label")
    la.add_argument("class_name", nargs="?", metavar="CLASS", help="its class (the folder DATASET/CLASS)")
    la.add_argument("--data", required=True, metavar="DATASET", help="the dataset folder (one sub-folder per class)")
    la.add_argument("--new-class", action="store_true", help="make CLASS a new class (its folder is made)")
    la.add_argument("--undo", action="store_true",
                    help="undo the last labelling (one picture, or one --accept-above): back where they were")
    la.add_argument("--accept-above", type=float, default=None, metavar="P",
                    help="label every picture of --inbox whose suggestion is at least P sure (0-1) with it, in one "
                         "step that one --undo takes back")
    la.add_argument("--inbox", default=None, help="with --accept-above: the folder of unlabelled pictures")
    la.add_argument("--model", default=None, metavar="MODEL.keras",
                    help="with --accept-above: suggest with this model (default: as the inbox command)")
    la.add_argument("--dry-run", action="store_true", help="with --accept-above: say how many and which, move nothing")
    la.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object")

    g = sub.add_parser("update-classes",
                       help="save the model with its classifier trained again for the dataset's class folders as they "
                            "are now: a class added, removed or merged (seconds: cached features)")
    g.add_argument("model", help="the .keras model in use (never changed)")
    g.add_argument("--data", required=True, metavar="DATASET",
                   help="the dataset folder: one sub-folder per class, each with a few pictures")
    g.add_argument("--out", required=True, metavar="NEW.keras", help="where to save the updated model")
    g.add_argument("--force", action="store_true", help="replace --out if it exists")
    g.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="print one JSON object: {path, class_names, gained, lost, changes, counts, accuracy, ...}")

    c = sub.add_parser("check-labels", help="list pictures whose folder (label) is likely wrong")
    c.add_argument("data_dir")
    c.add_argument("--model", default=None,
                   help="use this model's own features (e.g. a from-scratch model for pictures unlike photos); "
                        "default: the bundled pretrained network")
    c.add_argument("--top", type=_non_negative, default=None, metavar="N",
                   help="list at most N (default: all; 0 prints only the summary)")
    c.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="print a JSON list of {path, label, suggested, score}")
    _add_cluster_option(c)

    f = sub.add_parser("features", help="compute the features a training and a label check need into the feature "
                                        "cache, once (on a Dask cluster's workers with --cluster)")
    f.add_argument("data_dir", help="folder with one sub-folder per class, or with train/test folders")
    f.add_argument("--image-size", type=int, default=None,
                   help="the image size the training will use (default: the training's default)")
    _add_cluster_option(f)

    from .core.export.exporter import PARITY_LIMIT
    from .core.export.formats import FORMATS

    x = sub.add_parser("export", help="export a model for other programs and check that it agrees",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Formats:\n" + "\n".join(f"  {k:20} {f.title}: {f.explanation}"
                                                             for k, f in FORMATS.items()))
    x.add_argument("model", help="the .keras model to export")
    x.add_argument("--format", required=True, choices=list(FORMATS), dest="fmt")
    x.add_argument("--out", required=True, help="the file to write (a folder for savedmodel)")
    x.add_argument("--data", help="folder with one sub-folder per class: the export is checked on its held-out "
                                  "pictures (default: the folder the model was trained on, if it is still "
                                  "there, else generated pictures)")
    x.add_argument("--parity-limit", type=int, default=PARITY_LIMIT,
                   help=f"check on at most this many pictures (default {PARITY_LIMIT})")
    x.add_argument("--force", action="store_true", help="replace the files if they exist")

    x = sub.add_parser("explain", help="show where the model looked in a picture (a heatmap, as PNG)")
    x.add_argument("model")
    x.add_argument("image")
    x.add_argument("--method", choices=EXPLAIN_METHODS, default="gradcam",
                   help="gradcam (default): the places of the last convolutional block the answer was added up "
                        "from; occlusion: the parts whose hiding changes the answer (slower, any model)")
    x.add_argument("--out", required=True, help="where to write the picture with its heatmap (.png)")
    x.add_argument("--class", dest="class_name", default=None,
                   help="the class to explain (default: the one the model chose)")
    x.add_argument("--force", action="store_true", help="replace --out if it exists")

    r = sub.add_parser("report", help="write a self-contained HTML report on a model")
    r.add_argument("model")
    r.add_argument("data_dir", nargs="?", default=None,
                   help="pictures to check the model on (its mistakes, likely label errors); without it the "
                        "evaluation recorded in the model is shown")
    r.add_argument("--out", required=True, help="the HTML file to write")
    r.add_argument("--force", action="store_true", help="replace --out if it exists")
    r.add_argument("--mistakes", type=_non_negative, default=None, metavar="N",
                   help="mistakes shown with their heatmaps (default 12)")
    r.add_argument("--no-label-check", dest="label_check", action="store_false",
                   help="leave out the likely label errors (they need the backbone's features of every picture)")
    return parser


def _add_fast_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fast", action="store_true",
                        help="use the model's int8 version (several times faster) if it gives the same answer on at "
                             "least 99 %% of the held-out pictures; made and checked once per model (up to a "
                             "minute), then kept. Says on stderr which model runs, and why")
    parser.add_argument("--data", metavar="DIR",
                        help="with --fast: the folder of labelled pictures (one sub-folder per class) to calibrate "
                             "and check the int8 version on (default: the folder the model was trained on)")


def _add_cluster_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", metavar="WHERE", default=None,
                        help="run the heavy part on a Dask cluster: local (a worker per core), local:N, a "
                             "scheduler's address (tcp://host:8786) or its scheduler file (.json); needs "
                             'pip install "catdog-desktop[cluster]" here and on the workers (docs/cluster.md)')


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()  # frozen: a training's child process (see app.main); else nothing
    args = build_parser().parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 is printed as \xNN, not a failure
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=ESCAPE_ERRORS)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
                "export": cmd_export, "check-labels": cmd_check_labels, "explain": cmd_explain,
                "report": cmd_report, "sort": cmd_sort, "undo-sort": cmd_undo_sort,
                "inbox": cmd_inbox, "label": cmd_label, "update-classes": cmd_update_classes,
                "features": cmd_features}[args.command](args)
    except (CatdogError, ValueError) as exc:
        _fail(args, str(exc))
        return EXIT_INTERRUPTED if isinstance(exc, CancelledError) else EXIT_ERROR
    except KeyboardInterrupt:
        _fail(args, "interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug or an environment problem: one line, details with --debug
        if args.debug:
            raise
        _fail(args, f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)")
        return EXIT_ERROR


def _fail(args, message: str) -> None:
    if args.json:
        print(json.dumps({"error": message}))
    else:
        print(f"error: {message}", file=sys.stderr)


def _explicit_settings(args) -> dict:
    """The training settings given on the command line (those left out are None)."""
    return {k: v for k, v in vars(args).items() if k in TrainingConfig.__dataclass_fields__ and v is not None}


def _config_from_args(args) -> TrainingConfig:
    config = preset(args.preset, **_explicit_settings(args))
    config.validate()
    return config


class _TextReporter(Reporter):
    """Prints a progress bar per epoch to stderr (stdout stays clean for --json)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.stream = sys.stderr
        self.last_draw = 0.0

    def on_stage(self, event: PhaseEvent):
        if not self.quiet:
            self._draw(f"{event.message}: {event.done}/{event.total}", event.done == event.total)

    def on_batch_end(self, info: BatchEvent):
        now = time.monotonic()
        if self.quiet or (now - self.last_draw < 0.2 and info.batch != info.batches):
            return
        self.last_draw = now
        width = 30
        filled = int(width * info.batch / info.batches)
        bar = "#" * filled + "-" * (width - filled)
        self._draw(f"epoch {info.epoch}/{info.epochs} [{bar}] {info.batch}/{info.batches} "
                   f"loss {info.loss:.3f} acc {info.accuracy:.3f} {info.images_per_second:.0f} img/s "
                   f"ETA {info.epoch_eta:.0f}s", False)

    def on_epoch_end(self, info: EpochEvent):
        if not self.quiet:
            star = " *best" if info.is_best else ""
            self._draw(f"epoch {info.epoch}/{info.epochs}: loss {info.loss:.3f} acc {info.accuracy:.3f} "
                       f"val_loss {info.val_loss:.3f} val_acc {info.val_accuracy:.3f} "
                       f"({info.epoch_seconds:.0f}s, {info.images_per_second:.0f} img/s){star}", True)

    def _draw(self, text, final):
        end = "\n" if final else ""
        if self.stream is not None and self.stream.isatty():
            self.stream.write("\r\x1b[2K" + text + end)
        elif final:
            self.stream.write(text + "\n")
        if self.stream is not None:
            self.stream.flush()


def cmd_train(args) -> int:
    from .core.data.dataset import scan_dataset, split_method_of

    from .core.model import storage

    bundle = None
    if args.start_from:
        from .core.training import continued, starting_point

        bundle = storage.load_bundle(args.start_from)
        config = starting_point.config_for(starting_point.starting_point(bundle), _explicit_settings(args))
    else:
        config = _config_from_args(args)
    if args.multi_gpu and config.backbone != "none":
        raise CatdogError("--multi-gpu trains the from-scratch network: add --backbone none "
                          "(the pretrained training uses one device).")
    if args.multi_gpu and args.isolated:
        raise CatdogError("--multi-gpu trains in this process: leave out --isolated.")
    out = storage.check_save_path(args.out)  # before training, not after it
    if bundle is not None and out.exists() and out.samefile(bundle.path):
        raise CatdogError(f"--out is the model you train on from ({out.name}): choose another file, so that "
                          "the model you start from stays as it is.")
    # Continuing: the old model's share and seed (its defaults), and its way of splitting.
    scan = scan_dataset(args.data_dir, validation_split=config.validation_split, seed=config.seed,
                        split_method=split_method_of((bundle.metadata.get("dataset") if bundle else None)))
    if not args.json:
        _print_scan(scan)
    scan.raise_for_errors()
    from .core.training import train as training

    strategy = None
    if args.multi_gpu:
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
    if args.isolated:
        from .core.training.isolated import train_in_subprocess

        result = train_in_subprocess(config, scan, _TextReporter(args.json),
                                     start_from=str(bundle.path) if bundle is not None else None)
    elif bundle is not None:
        result = continued.continue_training(config, scan, bundle, _TextReporter(args.json), strategy=strategy)
    else:
        result = training.train(config, scan, _TextReporter(args.json), strategy=strategy)
    path = _save_or_rescue(result, out)
    ev = result.evaluation
    if args.json:
        print(json.dumps({
            "model": str(path), "epochs_run": len(result.history), "best_epoch": result.best_epoch,
            "stopped_by_time_limit": result.stopped_by_time_limit,
            "train_seconds": round(result.train_seconds, 1), "decode_seconds": round(result.decode_seconds, 1),
            "stage_seconds": {k: round(v, 1) for k, v in result.stage_seconds.items()},
            "features_computed": result.features_computed, "features_cached": result.features_cached,
            "notes": result.notes,
            "skipped": [{"path": p, "reason": r} for p, r in scan.skipped + result.skipped],
            "evaluation": ev.to_dict(include_mistakes=False),
            **({"cross_validation": result.cross_validation.to_dict(include_mistakes=False)}
               if result.cross_validation is not None else {}),
            **({"continued_from": result.continued_from,
                "comparison": result.comparison.to_dict() if result.comparison else None} if bundle else {}),
        }))
    else:
        for p, r in result.skipped:
            print(f"skipped {p}: {r}", file=sys.stderr)
        for note in result.notes:
            print(note, file=sys.stderr)
        kept = (f"best epoch {result.best_epoch} of {len(result.history)}" if result.history
                else "stopped part-way through the first pass")
        if ev.folds:  # every picture trained it (core.training.few)
            kept = "trained on every picture"
        print(f"accuracy {ev.accuracy:.2%} {ev.where()}" if ev.folds else
              f"{ev.split} accuracy {ev.accuracy:.2%} on {ev.count} pictures", end=" ")
        print(f"({kept}, {result.train_seconds / 60:.1f} min"
              f"{', time limit reached' if result.stopped_by_time_limit else ''})")
        estimate = result.cross_validation
        if estimate is not None and estimate is not ev and estimate.checked:
            print(f"accuracy {estimate.accuracy:.2%} {estimate.where()} (trained on every training picture)")
        if result.comparison:
            print(result.comparison.sentence())
        print(f"saved {path}")
    return EXIT_OK


def _save_or_rescue(result, out: Path) -> Path:
    """Save the trained model to ``out``; if that fails now (the disk filled up during training),
    save it in the temporary folder and end with an error that says where, rather than lose it."""
    from .core.model import storage

    try:
        return storage.save_bundle(result.model, result.metadata(), out)
    except CatdogError as exc:
        rescue = Path(tempfile.gettempdir()) / f"{out.stem}-rescued-{time.strftime('%Y%m%d-%H%M%S')}.keras"
        try:
            rescued = storage.save_bundle(result.model, result.metadata(), rescue)
        except CatdogError as second:
            raise CatdogError(f"{exc} The trained model could not be saved elsewhere either: {second}") from None
        raise CatdogError(f"{exc} The trained model was saved to {rescued} instead: move it where you want it.") from None


def cmd_evaluate(args) -> int:
    from .core.evaluate.evaluation import evaluate_folder

    classifier = _open_model(args.model)
    scored = evaluate_folder(classifier, args.data_dir, strict=args.strict)
    ev = scored.evaluation
    mistakes = ev.mistakes if args.mistakes is None else ev.mistakes[:args.mistakes]
    if args.json:
        data = ev.to_dict(include_results=False)
        data["mistakes"] = [{**m, "confidence": m["probabilities"][m["predicted_class"]]}
                            for m in data["mistakes"][:len(mistakes)]]
        data["skipped"] = [{"path": p, "reason": r} for p, r in scored.skipped]
        data["left_out"] = scored.left_out
        print(json.dumps(data))
        return EXIT_OK
    print(f"{ev.split} pictures: {ev.count}   accuracy {ev.accuracy:.2%}   loss {ev.loss:.4f}")
    if scored.left_out:
        print(scored.left_out_sentence(classifier.class_names))
    width = max(len(n) for n in ev.class_names)
    print(" " * (width + 2) + "  ".join(f"{n:>{width}}" for n in ev.class_names) + "   (predicted)")
    for name_i, row in zip(ev.class_names, ev.confusion):
        print(f"{name_i:>{width}}  " + "  ".join(f"{v:>{width}}" for v in row))
    for c in ev.per_class:
        print(f"{c.name:>{width}}: precision {c.precision:.2%} recall {c.recall_text(2)} F1 {c.f1:.3f} ({c.support})")
    if args.mistakes is not None:
        print(f"{len(mistakes)} of {len(ev.mistakes)} mistakes, most confident first "
              "(true class, predicted class, probability, file):")
        for m in mistakes:
            print(f"{m.true_class}\t{m.predicted_class}\t{m.confidence:.1%}\t{m.path}")
    for p, r in scored.skipped:
        print(f"skipped {p}: {r}", file=sys.stderr)
    return EXIT_OK


def cmd_predict(args) -> int:
    from .core.classify.results import check_csv_path

    if args.csv:
        check_csv_path(args.csv, args.force)  # before the work, not after it
    classifier, results, skipped, decision = _classify(args, args.paths)
    predictions = results.predictions[:len(results) - len(skipped)]
    failures = skipped + [(p.path, p.error) for p in predictions if not p.ok]
    good = [p for p in predictions if p.ok]
    if args.json:
        print(json.dumps({
            "predictions": [{"path": p.path, "class": p.class_name, "probability": p.probability,
                             "probabilities": p.probabilities, "not_sure": p.uncertain,
                             "none_of_these": p.unfamiliar, "doubt": p.doubt} for p in good],
            "threshold": classifier.confidence_threshold,
            "errors": [{"path": p, "reason": r} for p, r in failures],
            **_fast_json(decision),
        }))
    else:
        for p in good:
            print(f"{p.path}\t{verdict(p, classifier.class_names)}\t{_probabilities_text(p.probabilities)}")
        for path, reason in failures:
            print(f"{path}: {reason}", file=sys.stderr)
    if not good and not failures:
        raise CatdogError("No pictures found.")
    if args.csv:
        written = results.write_csv(args.csv, force=args.force)
        if not args.json:
            print(f"wrote {written} ({len(results)} rows)", file=sys.stderr)
    return EXIT_SOME_FAILED if failures else EXIT_OK


#: A model with more classes than this has only its TOP_SHOWN likeliest printed per picture (the CSV
#: and --json keep every class): 1,000 classes would print some 16 kB a picture.
ALL_SHOWN_UP_TO = 5
TOP_SHOWN = 3


def _probabilities_text(probabilities: dict[str, float]) -> str:
    """Each class's probability, or the likeliest TOP_SHOWN of many classes, saying so."""
    shown, more = list(probabilities.items()), ""
    if len(shown) > ALL_SHOWN_UP_TO:
        shown = sorted(shown, key=lambda kv: -kv[1])[:TOP_SHOWN]
        more = f"  (top {TOP_SHOWN} of {len(probabilities)} classes)"
    return "  ".join(f"{k} {v:.1%}" for k, v in shown) + more


def _classify(args, paths):
    """Classify files and folders with the model in ``args.model`` ("not sure" under ``args.threshold``
    when given; with ``args.fast`` its int8 version where that gives the same answers), a progress line on
    stderr. Returns (the classifier, BatchResults with the files that are not pictures last, those files
    as (path, reason), the --fast decision or None)."""
    from .core.classify.results import BatchResults
    from .core.data.dataset import scan_images
    from .core.classify.classifier import Prediction

    threshold = getattr(args, "threshold", None)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        hint = f" (for {threshold:g} % give {threshold / 100:g})" if 1 < threshold <= 100 else " (e.g. 0.8)"
        raise CatdogError(f"--threshold {threshold:g} is not a probability: give a number from 0 to 1{hint}.")
    if getattr(args, "cluster", None) and args.fast:
        raise CatdogError("--fast and --cluster do not go together: the cluster's workers run the model itself "
                          "(leave out --fast).")
    data = getattr(args, "data", None)
    if data is not None and not args.fast:
        raise CatdogError("--data names the pictures --fast checks its int8 model on: give --fast too.")
    if data is not None and not os.path.isdir(os.path.expanduser(data)):
        raise CatdogError(f"--data {data} is not a folder: give the folder of labelled pictures (one sub-folder "
                          "per class) to check the fast model on.")
    if getattr(args, "cluster", None) and not args.model.lower().endswith(".keras"):
        raise CatdogError(f"--cluster classifies with .keras models: give the .keras model {os.path.basename(args.model)} "
                          "was exported from (an export's files beside it do not travel to the workers).")
    if getattr(args, "cluster", None):  # the workers load the model: here only what the answers need
        classifier = _model_summary(args.model, threshold) or _open_model(args.model, exports=True)
    else:
        classifier = _open_model(args.model, exports=True)  # a .keras model, or a .tflite or .onnx export
    classifier.threshold_override = threshold  # "not sure" under it (None: the model's recorded threshold)
    decision = None
    if getattr(args, "fast", False):
        classifier, decision = _fast_classifier(args, classifier)
    files, skipped = scan_images(paths)
    progress = _Progress(args.json, "Classifying", len(files))
    if getattr(args, "cluster", None):
        from .core.cluster import jobs

        with _cluster(args) as cluster, _kept_on_interrupt():
            predictions = jobs.predict(cluster, args.model, files, threshold, digest=classifier.digest,
                                       progress=lambda done, _total: progress.step(done))
    else:
        predictions = classifier.predict_paths(files, on_result=lambda i, _p: progress.step(i + 1))
    progress.close()
    results = BatchResults(classifier.class_names, predictions + [Prediction(path=p, error=r) for p, r in skipped])
    return classifier, results, skipped, decision


def _model_summary(path: str, threshold: float | None):
    """A saved model's class names, "not sure" threshold and digest, read without loading it (nor
    TensorFlow): what a cluster's client needs. None when only loading it tells (an export, a
    model from elsewhere)."""
    from types import SimpleNamespace

    from .core.model import calibration, storage
    from .core.model.engine import file_digest

    metadata = storage.read_plain_metadata(path) if path.lower().endswith(".keras") else None
    if metadata is None:
        return None  # loading it says what is wrong, in its own words
    recorded = calibration.recorded_threshold(metadata)
    return SimpleNamespace(class_names=list(metadata["class_names"]), digest=file_digest(path),
                           confidence_threshold=threshold if threshold is not None else recorded)


def _fast_classifier(args, classifier):
    """(the classifier --fast uses, the core.export.fast.FastDecision), which is said on stderr."""
    from .core.export.fast import prepare_fast

    def say(_done: int, _total: int, message: str = "") -> None:
        if not args.json and message != "Done":
            print(f"{message}…", file=sys.stderr)

    decision, chosen = prepare_fast(classifier, args.data, progress=say, how_to_give="give one with --data DIR")
    if not args.json:
        print(decision.sentence(), file=sys.stderr)
    return chosen, decision


def _fast_json(decision) -> dict:
    """--json's "fast" entry: which model classified, and why (nothing without --fast)."""
    return {"fast": decision.to_dict()} if decision is not None else {}


class _Progress:
    """"Classifying 1,200 / 20,000 (410 pictures/s)" redrawn on a terminal's stderr, at most 5 times a second."""

    def __init__(self, quiet: bool, what: str, total: int):
        self.on = not quiet and sys.stderr is not None and sys.stderr.isatty() and total > 1
        self.what, self.total = what, total
        self.started = self.last = time.monotonic()

    def step(self, done: int) -> None:
        now = time.monotonic()
        if self.on and (now - self.last >= 0.2 or done == self.total):
            self.last = now
            rate = done / max(now - self.started, 1e-9)
            sys.stderr.write(f"\r\x1b[2K{self.what} {done:,} / {self.total:,} ({rate:.0f} pictures/s)")
            sys.stderr.flush()

    def close(self) -> None:
        if self.on:
            sys.stderr.write("\n")


def cmd_sort(args) -> int:
    from .core.classify import sorting
    from .core.classify.results import check_csv_path

    for source in args.sources:  # a typo: one line, before any work and before the target is made
        if not os.path.lexists(os.path.expanduser(source)):
            raise CatdogError(f"{source} does not exist.")
    sorting.check_target(args.target, args.sources)  # before the work, not after it
    if args.csv:
        check_csv_path(args.csv, args.force)
    _classifier, results, _skipped, decision = _classify(args, args.sources)
    if not len(results):
        raise CatdogError("No pictures found.")
    if args.csv:
        # Before sorting: the CSV lists the paths as classified, which a move then changes; and a CSV
        # that cannot be written stops the command before any file has moved.
        written = results.write_csv(args.csv, force=args.force)
        if not args.json:
            print(f"wrote {written} (the pictures' paths before the sort)", file=sys.stderr)
    progress = _Progress(args.json, "Moving" if args.move else "Copying", len(results.readable))
    # "Not sure" was decided while classifying (--threshold, else the model's recorded threshold).
    report = sorting.sort_files(results.predictions, results.class_names, args.target, move=args.move,
                                sources=args.sources,
                                progress=lambda done, _total, _msg: progress.step(done))
    progress.close()
    if args.json:
        print(json.dumps({
            "target": report.target, "mode": "move" if report.move else "copy", "placed": len(report.placed),
            "counts": report.counts, "renamed": report.renamed,
            "unreadable": [{"path": p, "reason": r} for p, r in report.unreadable],
            "failed": [{"path": p, "reason": r} for p, r in report.failed],
            **_fast_json(decision),
        }))
    else:
        print(report.summary())
        for path, reason in report.unreadable:
            print(f"left in place (unreadable): {path}: {reason}", file=sys.stderr)
        for path, reason in report.failed:
            print(f"not {'moved' if report.move else 'copied'}: {path}: {reason}", file=sys.stderr)
        if report.move and report.placed:
            print(f"undo with: catdog-desktop-cli undo-sort {report.target}", file=sys.stderr)
    return EXIT_SOME_FAILED if report.unreadable or report.failed else EXIT_OK


def cmd_undo_sort(args) -> int:
    from .core.classify import sorting

    return _print_undo(args, sorting.undo_last_sort(args.target))


def _print_undo(args, report) -> int:
    """An undo's report (core.classify.sorting.UndoReport) as JSON or sentences; the exit code."""
    if args.json:
        print(json.dumps({"target": report.target, "mode": "move" if report.move else "copy",
                          "restored": [{"from": a, "to": b} for a, b in report.restored],
                          "kept": [{"path": p, "reason": r} for p, r in report.kept],
                          "refused": [{"line": n, "path": p, "reason": r} for n, p, r in report.refused]}))
    else:
        print(report.summary())
        for path, reason in report.kept:
            print(f"left: {path}: {reason}", file=sys.stderr)
        for line in report.refusals():
            print(line, file=sys.stderr)
    return EXIT_SOME_FAILED if report.kept or report.refused else EXIT_OK


def _progress_lines(args):
    """``progress(done, total, message)`` printing a line on stderr at most twice a second (and at the end)."""
    last = [0.0]

    def progress(done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if not args.json and total and (done == total or now - last[0] > 0.5):
            last[0] = now
            print(f"{message}: {done}/{total}", file=sys.stderr)

    return progress


def _inbox_session(args, inbox: str):
    """The inbox session of ``inbox`` and ``args.data``, prepared (progress on stderr): suggestions
    from ``args.model``, else from a head trained now on the dataset's labelled pictures when two
    classes have some (said on stderr), else none."""
    from .core.label.inbox import InboxSession

    if args.model is not None and not os.path.exists(os.path.expanduser(args.model)):
        raise CatdogError(f"The model file {args.model} does not exist.")  # before the work, not after it
    session = InboxSession(inbox, args.data, args.model)
    progress = _progress_lines(args)
    session.prepare(progress)
    if args.model is None and len(session.labelled_counts) >= 2:
        session.retrain()
    if not args.json:
        print(f"suggestions from {session.source}", file=sys.stderr)
    return session


def cmd_inbox(args) -> int:
    from .core.classify.results import check_csv_path, write_csv_rows

    if args.csv:
        check_csv_path(args.csv, args.force)  # before the work, not after it
    session = _inbox_session(args, args.inbox)
    suggestions = session.suggestions(args.top)
    if not session.pictures and not session.skipped:
        raise CatdogError(f"There are no pictures in the inbox {args.inbox}.")
    if args.csv:
        written = write_csv_rows(args.csv, [["rank", "path", "suggestion", "probability", "reason"]] + [
            [s.rank, s.path, s.suggestion or "", "" if s.probability is None else f"{s.probability:.6f}", s.reason]
            for s in suggestions], args.force)
        if not args.json:
            print(f"wrote {written} ({len(suggestions)} rows)", file=sys.stderr)
    if args.json:
        print(json.dumps({"source": session.source, "classes": session.class_names,
                          "suggestions": [s.to_dict() for s in suggestions],
                          "skipped": [{"path": p, "reason": r} for p, r in session.skipped]}))
    else:
        for s in suggestions:
            guess = f"{s.suggestion} {s.probability:.0%}" if s.suggestion is not None else "-"
            print(f"{s.rank}\t{s.path}\t{guess}\t{s.reason}")
        for path, reason in session.skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
    return EXIT_OK


def cmd_label(args) -> int:
    from .core.label import moves

    bulk = args.accept_above is not None
    given = [name for name, on in (("--undo", args.undo), ("--accept-above", bulk),
                                   ("PICTURE CLASS", args.picture is not None)) if on]
    if len(given) != 1:
        raise CatdogError("Give one of: PICTURE CLASS, --undo, or --accept-above P --inbox INBOX." if not given
                          else f"Give only one of {' and '.join(given)}.")
    if (args.inbox is not None or args.model is not None or args.dry_run) and not bulk:
        raise CatdogError("--inbox, --model and --dry-run go with --accept-above.")
    if args.undo:
        return _print_undo(args, moves.undo_last_label(args.data))
    if bulk:
        p = args.accept_above
        if not 0.0 <= p <= 1.0:
            hint = f" (for {p:g} % give {p / 100:g})" if 1 < p <= 100 else " (e.g. 0.95)"
            raise CatdogError(f"--accept-above {p:g} is not a probability: give a number from 0 to 1{hint}.")
        if args.inbox is None:
            raise CatdogError("--accept-above needs --inbox INBOX: the folder whose suggestions to accept.")
        session = _inbox_session(args, args.inbox)
        if session.classifier is None and session.head is None:
            raise CatdogError("There is nothing to accept: without --model, suggestions come once the dataset has "
                              "labelled pictures of two classes.")
        plan = session.accept_plan(p)
        if not args.json:
            print(f"{len(plan)} of {len(session.pictures)} pictures are suggested at least {p:.0%} sure"
                  f"{' (nothing moved: --dry-run)' if args.dry_run else ''}.", file=sys.stderr)
        if args.dry_run:
            if args.json:
                print(json.dumps({"would_label": [s.to_dict() for s in plan]}))
            else:
                for s in plan:
                    print(f"{s.path}\t{s.suggestion} {s.probability:.0%}")
            return EXIT_OK
        report = session.accept(plan)
    else:
        if args.class_name is None:
            raise CatdogError("Give the class too: label PICTURE CLASS --data DATASET.")
        if not os.path.lexists(os.path.expanduser(args.picture)):
            raise CatdogError(f"{args.picture} does not exist.")
        report = moves.label_picture(args.picture, args.class_name, args.data, new_class=args.new_class)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print(report.summary())
        for path, reason in report.refused[3:]:
            print(f"not labelled: {path}: {reason}", file=sys.stderr)
        if report.placed:
            print(f"undo with: catdog-desktop-cli label --undo --data {args.data}", file=sys.stderr)
    return EXIT_SOME_FAILED if report.refused else EXIT_OK


def cmd_update_classes(args) -> int:
    from .core.label import grow
    from .core.label.inbox import InboxSession
    from .core.wording import count

    grow.check_model_file(args.model)   # before the work, not after it
    grow.check_dataset(args.data)
    session = InboxSession(None, args.data, _open_model(args.model))
    progress = _progress_lines(args)
    updated = session.save_model(args.out, force=args.force, progress=progress)
    if args.json:
        print(json.dumps(updated.to_dict()))
        return EXIT_OK
    print(f"classes: {', '.join(updated.class_names)} ({'; '.join(updated.changes())})")
    for name, n in updated.counts.items():
        print(f"  {name}: {count(n, 'labelled picture')}")
    print("cross-checked accuracy: " + (f"{updated.accuracy:.1%} (each picture scored by a classifier that did not "
                                        "train on it)" if updated.accuracy is not None
                                        else "not measured (a class has a single picture)"))
    print(f"features: {updated.cached} from the cache, {updated.computed} computed now", file=sys.stderr)
    print(f"saved {updated.path}")
    return EXIT_OK


def cmd_export(args) -> int:
    from .core.export import exporter as export

    if args.parity_limit < 1:
        raise CatdogError("--parity-limit must be at least 1.")
    # Refuse an existing destination before the slow part (loading, reading pictures).
    export.check_destination(args.fmt, args.out, args.force)
    classifier = _open_model(args.model)
    if not args.json:
        print("reading pictures for the check…", file=sys.stderr)
    pictures = export.parity_pictures(classifier, args.data, limit=args.parity_limit)
    if not args.json:
        print(f"checking on {pictures.source}", file=sys.stderr)
    reporter = _TextReporter(args.json)
    result = export.export_model(
        classifier, args.fmt, args.out, parity=pictures, force=args.force,
        progress=lambda done, total, message="": reporter.on_stage(PhaseEvent(done, total, message, "export")))
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        for path in result.files:
            print(f"wrote {path}")
        print(f"size {result.size_bytes / 1e6:.2f} MB")
        print(result.verdict())
    return EXIT_OK if result.passed else EXIT_SOME_FAILED


def cmd_explain(args) -> int:
    import io

    from PIL import Image

    from .core.app import jobs
    from .core.fileops import check_writable, write_file

    out = check_writable(args.out, args.force, "the heatmap")  # before loading anything
    image_format = Image.registered_extensions().get(Path(out).suffix.lower())
    if image_format not in ("PNG", "JPEG", "WEBP", "BMP", "TIFF"):
        raise CatdogError(f"--out {args.out}: end it in .png (or .jpg, .webp, .bmp, .tif) to say what kind of "
                          "picture to write.")
    if Path(args.image).is_dir():
        raise CatdogError(f"{args.image} is a folder: give one picture file to explain.")
    if not Path(args.image).is_file():
        raise CatdogError(f"{args.image} does not exist.")
    classifier = _open_model(args.model)
    index = None
    if args.class_name is not None:
        if args.class_name not in classifier.class_names:
            raise CatdogError(f"The model has no class '{args.class_name}'. Its classes: "
                              f"{', '.join(classifier.class_names)}.")
        index = classifier.class_names.index(args.class_name)
    result = jobs.explain(None, classifier, args.image, index, args.method)
    width, height, rgb = result["overlay_rgb"]
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), rgb).save(buffer, format=image_format)
    written = write_file(buffer.getvalue(), out, overwrite=args.force, what="the heatmap")
    if args.json:
        print(json.dumps({"path": result["path"], "class": result["class_name"],
                          "probability": result["probability"], "method": result["method"], "out": str(written)}))
    else:
        way = "hiding parts" if result["method"] == "occlusion" else "Grad-CAM"
        print(f"{result['path']}: where the model looked for '{result['class_name']}' "
              f"({result['probability']:.1%}; {way}) written to {written}")
    return EXIT_OK


def cmd_report(args) -> int:
    from .core import fileops
    from .core.report.collect import TOP_MISTAKES, collect
    from .core.report.html import render, with_extension, write_report
    from .core.data.holdout import scan_as_recorded

    out = fileops.check_writable(with_extension(args.out), args.force, "the report")  # before the long part
    classifier = _open_model(args.model)
    scan = None
    if args.data_dir is not None:
        scan = scan_as_recorded(args.data_dir, classifier.metadata.get("dataset"))
        if len(scan.class_names) < 1:
            scan.raise_for_errors()
    reporter = _TextReporter(args.json)
    data = collect(classifier, scan, check_labels=args.label_check,
                   top_mistakes=TOP_MISTAKES if args.mistakes is None else args.mistakes,
                   progress=lambda done, total, message: reporter.on_stage(PhaseEvent(done, total, message)))
    written = write_report(render(data), out, overwrite=args.force)
    if args.json:
        print(json.dumps({"out": str(written), "bytes": written.stat().st_size,
                          "mistakes_shown": len(data.mistakes),
                          "label_errors": len(data.label_check.issues) if data.label_check is not None else None,
                          "label_check": data.label_note or "ran"}))
    else:
        print(f"report written to {written} ({written.stat().st_size / 1e6:.1f} MB)")
    return EXIT_OK


def _open_model(path: str, exports: bool = False):
    """The model in ``path`` as a Classifier (``exports``: an exported file too: .tflite, .onnx), its
    notes (e.g. raw scores turned into probabilities) said on stderr."""
    from .core.export.runtimes import load_classifier
    from .core.classify.classifier import Classifier

    classifier = load_classifier(path) if exports else Classifier.load(path)
    for note in classifier.notes:
        print(f"note: {note}", file=sys.stderr)
    return classifier


def verdict(prediction, class_names: list[str]) -> str:
    """The answer in words: the class, or "not sure" / "none of these" with the class it leans to
    (and why, when the picture itself gives no reason to believe any answer)."""
    return prediction.answer(
        f"none of these: looks like none of {', '.join(class_names)} (closest: {prediction.class_name})",
        f"not sure (maybe {prediction.class_name})")


def cmd_check_labels(args) -> int:
    from .core.data.dataset import scan_dataset
    from .core.evaluate.label_errors import check_labels

    if args.model is not None and not os.path.exists(os.path.expanduser(args.model)):
        raise CatdogError(f"The model file {args.model} does not exist.")  # before the scan, not after it
    scan = scan_dataset(args.data_dir)
    if not args.json:
        _print_scan(scan)
    scan.raise_for_errors()
    progress = _progress_lines(args)
    if args.cluster:  # what the workers could not do (pictures they cannot see), the check below does here
        _features_on_cluster(args, [(_every_path(scan), False)], model=args.model)
    result = check_labels(scan, args.model, progress=progress)
    issues = result.issues if args.top is None else result.issues[:args.top]
    if args.json:
        print(json.dumps([{"path": i.path, "label": i.label, "suggested": i.suggested, "score": i.score}
                          for i in issues]))
        return EXIT_OK
    print(f"{len(result.issues)} likely label error(s) among {result.checked} pictures "
          f"({result.method}).")
    for note in result.notes:
        print(note)
    if issues:
        print("score  folder -> likely  picture")
    for i in issues:
        print(f"{i.score:.3f}  {i.label} -> {i.suggested}  {i.path}")
    for path, reason in result.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    return EXIT_OK


def _cluster(args):
    """The cluster ``--cluster`` names, connected and checked (core.cluster.connect), said on stderr."""
    from .core.cluster.connect import connect
    from .core.wording import count

    cluster = connect(args.cluster)
    if not args.json:
        workers = cluster.workers
        print(f"cluster: {cluster.where} ({count(len(workers), 'worker')} now, "
              f"{count(sum(workers.values()), 'thread')} in all)", file=sys.stderr)
    return cluster


def _every_path(scan) -> list[str]:
    splits = [scan.train, scan.validation] + ([scan.test] if scan.test is not None else [])
    return [path for split in splits for path in split.paths]


def _features_on_cluster(args, groups, model=None, size=None):
    """Fill the feature cache on the cluster (the shipped backbone's features, or ``model``'s own)."""
    from .core.cluster import jobs
    from .core.cluster.tasks import ModelFile

    from .core.model.features import default_cache_dir

    folder = default_cache_dir()
    if folder is None:  # before a cluster starts for nothing
        raise CatdogError(jobs.CACHE_OFF)
    pictures = sum(len(paths) for paths, _ in groups)
    if model is None:
        cache, _size = jobs.cache_for(None, None, size, folder)  # the backbone's: known without the cluster
        jobs.check_room(cache, sum(len(paths) * (2 if mirror else 1) for paths, mirror in groups), pictures)
    data = ModelFile.read(model) if model is not None else None
    progress = _Progress(args.json, "Features", pictures)
    with _cluster(args) as cluster, _kept_on_interrupt():
        report = jobs.fill_features(cluster, groups, data, size, progress=lambda done, _t: progress.step(done))
    progress.close()
    return report


@contextlib.contextmanager
def _kept_on_interrupt():
    """Ctrl+C during a cluster job: say that what is done is kept (the cache, the journal)."""
    try:
        yield
    except KeyboardInterrupt:
        raise CancelledError("interrupted: the tasks done are kept; run the same command again to go on.") from None


def cmd_features(args) -> int:
    from .core.cluster import jobs
    from .core.data.dataset import scan_dataset

    if args.image_size is not None:
        TrainingConfig(image_size=args.image_size).validate()  # the training's own sentence, before any work
    scan = scan_dataset(args.data_dir)
    if not args.json:
        _print_scan(scan)
    scan.raise_for_errors()
    # Training and validation pictures with their mirror images (a training's split may differ from
    # this one's: any of them can be a training picture), the test pictures as they are (label checks).
    groups = [(list(scan.train.paths) + list(scan.validation.paths), True)]
    if scan.test is not None and len(scan.test):
        groups.append((list(scan.test.paths), False))
    if args.cluster:
        report = _features_on_cluster(args, groups, size=args.image_size)
    else:
        progress = _Progress(args.json, "Features", sum(len(paths) for paths, _ in groups))
        report = jobs.fill_features_here(groups, args.image_size, progress=lambda done, _t: progress.step(done))
        progress.close()
    skipped = report.skipped + [s for s in scan.skipped if s not in report.skipped]
    if args.json:
        print(json.dumps({"pictures": report.pictures, "computed": report.computed, "cached": report.cached,
                          "skipped": [{"path": p, "reason": r} for p, r in skipped], "where": report.where,
                          "seconds": round(report.seconds, 3), "cache": str(report.folder),
                          "runtimes": report.runtimes}))
    else:
        print(jobs.summary(report))
        note = jobs.fine_tune_note(len(scan.train))
        if note:
            print(note)
        for path, reason in skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
    return EXIT_SOME_FAILED if skipped else EXIT_OK


def _print_scan(scan) -> None:
    n = len(scan.class_names)
    print(f"{scan.root}: {scan.layout}, classes: {', '.join(scan.class_names) or '-'}", file=sys.stderr)
    if n:
        test = f", test {sum(scan.test.counts(n))}" if scan.test is not None else ""
        print(f"  training {len(scan.train)}, validation {len(scan.validation)} ({scan.validation_source}){test}",
              file=sys.stderr)
    for problem in scan.warnings:  # the errors are the command's own one-line failure
        print(f"  {problem.level}: {problem.message}", file=sys.stderr)
    if scan.skipped:
        print(f"  {len(scan.skipped)} file(s) skipped, e.g. {scan.skipped[0][0]}: {scan.skipped[0][1]}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
