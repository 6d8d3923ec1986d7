"""The inference engine against TensorFlow (issue 24, item 5; the training is train_bench.py's).

    python benchmarks/runtime_bench.py [--photos ../shared/data/catsdogs/train] [--quick] [--out FILE]

Every figure comes with its baseline measured in the same run (TensorFlow as the app ran before
the engine) and their ratio; medians of ``--runs`` (3) runs; the CPU and its flags printed. Parts,
each in a fresh process so memory and environment variables are its own:

* **forward**: forward passes/s of the built-in model (catdog_desktop/resources/default-model.keras,
  with its "none of these" features output as the app runs it) and of the backbone's features (the
  training's feature pass, core.training.pretrained, as the default settings compute it), in batches
  of 32 and one picture at a time, on TensorFlow (today), ONNX Runtime through the engine
  (core.model.engine: converted and parity-checked here, the conversion timed), the TFLite
  interpreter (XNNPACK, 2 threads) and TFLite full-integer int8 (both converted from a SavedModel
  as core.export.exporter does, int8 calibrated on training photos; kept under /tmp between runs).
  The runtimes take turns within each run. TensorFlow again with ``ONEDNN_MAX_CPU_ISA=AVX2`` in a
  process of its own (it must be set before TensorFlow is imported).
* **folder**, once on the engine and once with ``CATDOG_DESKTOP_ENGINE=tensorflow``: images/s of
  ``Classifier.predict_paths`` over 1,000 500-px JPEGs (batch_bench.py's, drawn from ``--photos``)
  and over 200 phone-size photos (4032x3024 JPEG, EXIF Orientation 6, made once under /tmp), after a
  warm-up run; the peak memory (ru_maxrss) of those folder jobs; one dropped photo, decode + model
  (ms, median of 30, predict_bench.py's measurement); a "hiding parts" heatmap (ms). The engine's
  process loads the conversion the forward part cached (it says so, and how long loading took).
* **start-up**: startup_bench.py's window-on-screen time, with the built-in model, on each path.

Conversions go to a fresh cache folder (``CATDOG_DESKTOP_CACHE_DIR``), never the user's, removed at the end.
Prints ONE JSON line (and appends it to ``--out``), and a table with the issue's targets on stderr.
``--quick`` checks the script end to end with tiny counts (the figures then mean nothing).
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
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_bench import CACHE, base_pictures  # noqa: E402
from train_bench import cpu_info, emit  # noqa: E402

DEFAULT_PHOTOS = ROOT.parent / "shared" / "data" / "catsdogs" / "train"
#: The runtimes of the forward part, in the order they take turns; TensorFlow is the baseline.
RUNTIMES = ("tensorflow", "onnxruntime", "tflite", "tflite_int8")
BASELINE = "tensorflow"
PHONE_SIZE = (4032, 3024)
#: EXIF Orientation 6: the stored picture is to be turned 90 degrees clockwise to be shown upright.
ROTATE_CLOCKWISE = 6
TFLITE_THREADS = 2

FULL = {"runs": 3, "seconds": 3.0, "folder": 1000, "phone": 200, "single": 30, "heatmap": 10,
        "startup": 3, "calibration": 100, "check": 256}
QUICK = {"runs": 1, "seconds": 0.2, "folder": 50, "phone": 4, "single": 3, "heatmap": 1,
         "startup": 1, "calibration": 8, "check": 8}


# ----------------------------------------------------------------------------- pictures


def photo_files(photos: Path) -> list[Path]:
    return sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))


def spread(files: list[Path], count: int, offset: int = 0) -> list[Path]:
    """``count`` files spread evenly over ``files`` (every class), starting ``offset`` in."""
    step = max(1, len(files) // max(count, 1))
    return [files[(offset + i * step) % len(files)] for i in range(count)]


def phone_photos(photos: Path, count: int) -> Path:
    """``count`` phone-size JPEGs (made once): photos scaled up to fill 3024x4032 upright, with a
    sensor's noise (so they decode like photos, not flat fields), stored on their side as a phone
    stores them, 4032x3024 with EXIF Orientation 6."""
    import numpy as np
    from PIL import Image, ImageOps

    folder = CACHE / f"phone-{PHONE_SIZE[0]}x{PHONE_SIZE[1]}-{photos.resolve().name}-{count}"
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    upright = (PHONE_SIZE[1], PHONE_SIZE[0])
    for i, src in enumerate(spread(photo_files(photos), count, offset=3)):
        with Image.open(src) as img:
            big = ImageOps.fit(img.convert("RGB"), upright, Image.Resampling.BICUBIC)
        pixels = np.asarray(big, np.int16) + rng.normal(0, 4, (upright[1], upright[0], 1)).astype(np.int16)
        stored = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[0x0112] = ROTATE_CLOCKWISE
        stored.save(folder / f"IMG_{i:04d}.jpg", quality=90, exif=exif)
    done.touch()
    return folder


def decoded(files: list[Path], size: int):
    import numpy as np

    from catdog_desktop.core.data.images import load_pixels

    return np.stack([load_pixels(p, size) for p in files]).astype(np.float32)


# ----------------------------------------------------------------------------- forward passes


class Lite:
    """A TFLite model's forward pass (float32 pixels in, its outputs out) on the interpreter
    TensorFlow ships, with XNNPACK (its default for these operators) and 2 threads; one
    interpreter per batch size."""

    def __init__(self, content: bytes, threads: int = TFLITE_THREADS):
        self.content, self.threads, self.by_batch = content, threads, {}

    def __call__(self, pixels):
        interpreter = self.by_batch.get(len(pixels))
        if interpreter is None:
            import tensorflow as tf

            with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated" (TF 2.21)
                warnings.simplefilter("ignore")
                interpreter = tf.lite.Interpreter(model_content=self.content, num_threads=self.threads)
            interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(pixels.shape))
            interpreter.allocate_tensors()
            self.by_batch[len(pixels)] = interpreter
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], pixels)
        interpreter.invoke()
        return [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]


def tflite_model(keras_model, key: str, kind: str, calibration, note: dict):
    """``keras_model`` converted to TFLite as core.export.exporter converts it (``kind``: "tflite"
    or "tflite-int8", calibrated on ``calibration``), kept under CACHE by ``key``."""
    import tensorflow as tf

    from catdog_desktop.core.export import exporter

    path = CACHE / "tflite" / f"{key}-{kind}-{len(calibration)}-tf{tf.__version__}.tflite"
    if path.is_file():
        note[kind.replace("-", "_")] = "cached from an earlier run"
        return Lite(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pictures = exporter.ParityPictures(calibration[:0], None, "benchmark", calibration=calibration)
    exporter._convert_tflite(keras_model, exporter._format(kind), path.with_suffix(".part"), pictures)
    os.replace(path.with_suffix(".part"), path)
    note[kind.replace("-", "_")] = f"converted in {time.perf_counter() - started:.1f} s"
    return Lite(path.read_bytes())


def ready(engine) -> str:
    """Put ``engine`` on ONNX Runtime: its cached conversion, else converted (and checked) now;
    says which, and how long it took."""
    started = time.perf_counter()
    engine.prefer(0)  # loads a cached conversion, never converts
    if engine.fast:
        return f"the cached conversion, loaded in {time.perf_counter() - started:.2f} s"
    started = time.perf_counter()
    if engine.convert():
        return (f"converted and checked in {time.perf_counter() - started:.1f} s "
                f"(largest difference {engine.parity_difference:.2g})")
    return f"not used: {engine.fallback_reason or 'the engine is not available'}"


def rate(run, pixels, batch: int, seconds: float) -> tuple[float, float]:
    """(pictures/s, CPU ms a picture, all threads) of ``run`` on batches of ``batch`` for about
    ``seconds`` (one call first, untimed). CPU time says more than the rate on a busy machine."""
    x = pixels[:batch]
    run(x)
    calls, started, cpu = 0, time.perf_counter(), time.process_time()
    while calls < 2 or time.perf_counter() - started < seconds:
        run(x)
        calls += 1
    return calls * batch / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / (calls * batch)


def in_batches(run, pixels, batch: int = 32) -> list:
    """``run``'s outputs for many pictures, ``batch`` at a time, joined."""
    import numpy as np

    parts = [run(pixels[start:start + batch]) for start in range(0, len(pixels), batch)]
    return [np.concatenate([part[k] for part in parts]) for k in range(len(parts[0]))]


def agreement(ours, theirs) -> dict:
    """How far ``theirs`` (a list of arrays) is from TensorFlow's ``ours``: the largest difference
    relative to each output's size (as the engine's parity check), and the top class's agreement."""
    import numpy as np

    worst = 0.0
    for a in ours:
        b = next((t for t in theirs if t.shape == a.shape), None)
        if b is None:
            return {"max_difference": None}
        scale = max(1.0, float(np.abs(a).max(initial=0.0)))
        worst = max(worst, float(np.abs(a.astype(np.float64) - b).max(initial=0.0)) / scale)
    out = {"max_difference": float(f"{worst:.3g}")}
    if ours[0].ndim == 2 and ours[0].shape[1] <= 10:  # probabilities: the answer itself
        b = next(t for t in theirs if t.shape == ours[0].shape)
        out["top_class_agreement"] = round(float((ours[0].argmax(1) == b.argmax(1)).mean()), 4)
    return out


def subjects(args):
    """{name: (engine, keras model computing the same outputs, cache key)} for the forward part."""
    import keras

    from catdog_desktop.core.classify.classifier import Classifier
    from catdog_desktop.core.config import preset
    from catdog_desktop.core.model import backbone as backbones
    from catdog_desktop.core.model import calibration
    from catdog_desktop.core.training.pretrained import _feature_function

    classifier = Classifier.load(args.model)
    novelty = classifier.novelty
    model = calibration.feature_model(classifier.model, novelty.layer) if novelty is not None else classifier.model
    config = preset("default")
    size, name = config.image_size, config.backbone
    bottom, _ = backbones.split(backbones.make_backbone(name, size), name)
    features = _feature_function(bottom, size, with_mid=config.fine_tune, name=name)
    inputs = keras.Input((size, size, 3))
    mid, pooled = bottom(backbones.preprocessing_layer()(inputs), training=False)
    features_model = keras.Model(inputs, [pooled, mid] if config.fine_tune else [pooled])
    features_key = f"{name}-{backbones.weights_sha256(name)[:16]}-{size}{'-mid' if config.fine_tune else ''}"
    return {"model": (classifier.engine, model, f"model-{classifier.digest[:16]}", classifier.image_size),
            "features": (features, features_model, features_key, size)}


def forward_part(args) -> dict:
    """Forward passes/s of each runtime on both subjects (this process: TensorFlow imported here)."""
    q = QUICK if args.quick else FULL
    files = photo_files(args.photos)
    tensorflow_only = args.part == "forward-tensorflow"
    out: dict = {"cpu": cpu_info(), "subjects": {}}
    for subject, (engine, keras_model, key, size) in subjects(args).items():
        timing = decoded(spread(files, 32, offset=1), size)
        runs = {BASELINE: engine.run_tensorflow}
        notes: dict = {}
        if not tensorflow_only:
            notes["onnxruntime"] = ready(engine)
            if engine.fast:
                runs["onnxruntime"] = engine.run
            calibration_files = spread(files, q["calibration"], offset=2)
            calibration_pictures = decoded(calibration_files, size)
            runs["tflite"] = tflite_model(keras_model, key, "tflite", calibration_pictures[:0], notes)
            runs["tflite_int8"] = tflite_model(keras_model, key, "tflite-int8", calibration_pictures, notes)
        measured: dict = {}
        for batch in (32, 1):
            rates: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
            for _ in range(q["runs"]):
                for name, run in runs.items():  # in turns: a busier moment of the machine hits all alike
                    rates[name].append(rate(run, timing, batch, q["seconds"]))
            measured[f"batch_{batch}"] = {
                name: {"median": round(statistics.median(r for r, _ in v), 1), "runs": [round(r, 1) for r, _ in v],
                       "cpu_ms_per_picture": round(statistics.median(c for _, c in v), 2)}
                for name, v in rates.items()}
        agreements, checked = {}, 0
        if not tensorflow_only:  # on other photos than int8's calibration ones
            check_files = [f for f in spread(files, q["check"] + q["calibration"], offset=5)
                           if f not in set(calibration_files)][:q["check"]]
            check = decoded(check_files, size)
            reference = in_batches(engine.run_tensorflow, check)
            agreements = {name: agreement(reference, in_batches(run, check)) for name, run in runs.items()
                          if name != BASELINE}
            checked = len(check)
        out["subjects"][subject] = {"image_size": size, "forward": measured, "conversions": notes,
                                    "agreement_with_tensorflow": agreements, "pictures_checked": checked}
    out["loadavg_end"] = os.getloadavg()[0]
    return out


# ----------------------------------------------------------------------------- folder, photo, heatmap


def folder_part(args) -> dict:
    """One path (the engine, or TensorFlow by CATDOG_DESKTOP_ENGINE) in this fresh process."""
    from predict_bench import time_single_photo

    from catdog_desktop.core.classify.classifier import Classifier
    from catdog_desktop.core.data.images import load_pixels
    from catdog_desktop.core.heatmaps import occlusion
    from catdog_desktop.core.model.engine import engine_wanted


    q = QUICK if args.quick else FULL
    started = time.perf_counter()
    classifier = Classifier.load(args.model)
    out: dict = {"model_load_seconds": round(time.perf_counter() - started, 2)}
    engine = classifier.engine
    if engine_wanted():
        out["conversion"] = ready(engine)  # the forward part converted this model: its conversion is cached
    folders = {"folder_500px": sorted(base_pictures(args.photos).glob("*.jpg"))[:q["folder"]],
               "phone_photos": sorted(Path(args.phone).glob("*.jpg"))[:q["phone"]]}
    for name, files in folders.items():
        classifier.predict_paths(files[:64])  # the first, warm run: graphs traced, files in the page cache
        rates = []
        for _ in range(q["runs"]):
            started = time.perf_counter()
            results = classifier.predict_paths(files)
            rates.append(len(results) / (time.perf_counter() - started))
        unreadable = sum(not r.ok for r in results)
        out[name] = {"pictures": len(files), "images_per_second": round(statistics.median(rates), 1),
                     "runs": [round(r, 1) for r in rates], "unreadable": unreadable,
                     "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    out["runtime"] = engine.runtime  # after the jobs: what they ran on
    photo = max(folders["folder_500px"][:200], key=lambda p: p.stat().st_size)
    single, model_only = time_single_photo(classifier, photo, q["single"])
    out["one_photo"] = {"photo": photo.name, "ms": round(statistics.median(single), 2),
                        "model_call_ms": round(statistics.median(model_only), 2), "repeats": len(single)}
    pixels = load_pixels(photo, classifier.image_size)
    occlusion.heatmap(classifier, pixels, 0)  # warm-up: batches of its size
    times = []
    for _ in range(q["heatmap"]):
        started = time.perf_counter()
        occlusion.heatmap(classifier, pixels, 0)
        times.append((time.perf_counter() - started) * 1000)
    out["heatmap"] = {"ms": round(statistics.median(times), 1), "runs": [round(t, 1) for t in times],
                      "pictures_classified": occlusion.GRID ** 2 + 1}
    out["loadavg_end"] = os.getloadavg()[0]
    return out


# ----------------------------------------------------------------------------- orchestration


def child(part: str, args, env: dict | None = None, extra: tuple = ()) -> dict:
    """Run ``part`` in a fresh process (its own memory and environment); its JSON line."""
    command = [sys.executable, __file__, "--part", part, "--model", str(args.model), "--photos", str(args.photos),
               *(["--quick"] if args.quick else []), *extra]
    print(f"runtime_bench: {part} {' '.join(f'{k}={v}' for k, v in (env or {}).items())}", file=sys.stderr, flush=True)
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"runtime_bench: the {part} part failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ratio(value, baseline):
    return round(value / baseline, 2) if value and baseline else None


def summary(result: dict) -> dict:
    """The issue's targets, each with the engine's figure, today's (TensorFlow, this run) and ratio."""
    forward = result["forward"]["subjects"]
    paths = result["paths"]
    engine, tf = paths["engine"], paths["tensorflow"]
    features = forward["features"]["forward"]["batch_32"]
    startup = result["startup"]

    def row(target, value, baseline, met):
        return {"target": target, "value": value, "today": baseline, "ratio": ratio(value, baseline),
                "met": None if value is None else bool(met(value))}

    on_engine = features.get("onnxruntime", {}).get("median")
    window = startup.get("engine", {}).get("window_shown_from_command_seconds_median")
    return {
        "features_forward_passes_per_s": row(">= 2x today", on_engine, features[BASELINE]["median"],
                                             lambda v: v >= 2 * features[BASELINE]["median"]),
        "folder_500px_images_per_s": row(">= 350", engine["folder_500px"]["images_per_second"],
                                         tf["folder_500px"]["images_per_second"], lambda v: v >= 350),
        "one_photo_ms": row("<= 8", engine["one_photo"]["ms"], tf["one_photo"]["ms"], lambda v: v <= 8),
        "heatmap_ms": row("<= 120", engine["heatmap"]["ms"], tf["heatmap"]["ms"], lambda v: v <= 120),
        "window_on_screen_s": row("<= 0.3", window,
                                  startup.get("tensorflow", {}).get("window_shown_from_command_seconds_median"),
                                  lambda v: v <= 0.3),
        "peak_memory_mb": row("not higher than today", engine["phone_photos"]["peak_rss_mb"],
                              tf["phone_photos"]["peak_rss_mb"], lambda v: v <= tf["phone_photos"]["peak_rss_mb"]),
    }


def table(result: dict) -> str:
    """The readable version of ``result`` (for stderr)."""
    lines = [f"CPU: {result['cpu']['model']} ({result['cpu']['cores']} cores, {', '.join(result['cpu']['flags'])})"
             + ("  [--quick: the figures mean nothing]" if result["quick"] else ""),
             "", "forward passes/s       batch  " + "  ".join(f"{n:>12}" for n in (*RUNTIMES, "tf_avx2"))]
    avx2 = result["forward_avx2"]["subjects"]
    for subject, data in result["forward"]["subjects"].items():
        for batch, rates in data["forward"].items():
            base = rates[BASELINE]["median"]
            cells = []
            for name in RUNTIMES:
                value = rates.get(name, {}).get("median")
                cells.append(f"{value:7.1f} {ratio(value, base):>4}x" if value else f"{'-':>12}")
            value = avx2[subject]["forward"][batch][BASELINE]["median"]
            cells.append(f"{value:7.1f} {ratio(value, base):>4}x")
            lines.append(f"{subject:<22} {batch[6:]:>5}  " + "  ".join(f"{c:>12}" for c in cells))
    lines += ["", f"{'target':<32} {'engine':>9} {'today (TF)':>11} {'ratio':>6}  target  met"]
    for name, row in result["targets"].items():
        lines.append(f"{name:<32} {row['value']!s:>9} {row['today']!s:>11} {row['ratio']!s:>6}  "
                     f"{row['target']}  {'-' if row['met'] is None else 'yes' if row['met'] else 'NO'}")
    phone = result["paths"]
    lines.append(f"{'phone photos images/s':<32} {phone['engine']['phone_photos']['images_per_second']!s:>9} "
                 f"{phone['tensorflow']['phone_photos']['images_per_second']!s:>11}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="class folders of JPEG photos")
    parser.add_argument("--model", type=Path, default=ROOT / "catdog_desktop" / "resources" / "default-model.keras")
    parser.add_argument("--quick", action="store_true", help="tiny counts, one run: checks the script only")
    parser.add_argument("--out", help="also append the JSON line to this file")
    parser.add_argument("--part", choices=("forward", "forward-tensorflow", "folder"), help=argparse.SUPPRESS)
    parser.add_argument("--phone", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "folder":
        print(json.dumps(folder_part(args)))
        return 0
    if args.part:
        print(json.dumps(forward_part(args)))
        return 0

    from startup_bench import measure

    q = QUICK if args.quick else FULL
    cache = tempfile.mkdtemp(prefix="catdog-runtime-bench-cache-")  # the conversions of this run only
    # The engine keeps its conversions beside the features' folder (core.model.engine.engines_dir).
    os.environ["CATDOG_DESKTOP_CACHE_DIR"] = os.path.join(cache, "features")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    os.environ.pop("CATDOG_DESKTOP_ENGINE", None)
    os.environ.pop("ONEDNN_MAX_CPU_ISA", None)
    tensorflow = {"CATDOG_DESKTOP_ENGINE": "tensorflow"}
    try:
        phone = phone_photos(args.photos, q["phone"])
        base_pictures(args.photos)
        result = {"benchmark": "runtime", "cpu": cpu_info(), "quick": args.quick, "runs": q["runs"],
                  "model": str(args.model), "photos": str(args.photos), "loadavg_start": os.getloadavg()[0],
                  "forward": child("forward", args),
                  "forward_avx2": child("forward-tensorflow", args, {"ONEDNN_MAX_CPU_ISA": "AVX2"}),
                  "paths": {}}
        for path, env in (("engine", None), ("tensorflow", tensorflow)):
            result["paths"][path] = child("folder", args, env, ("--phone", str(phone)))
        print("runtime_bench: start-up", file=sys.stderr, flush=True)
        result["startup"] = {path: measure(q["startup"], env, str(args.model))
                             for path, env in (("engine", None), ("tensorflow", tensorflow))}
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    result["targets"] = summary(result)
    result["loadavg_end"] = os.getloadavg()[0]
    print(table(result), file=sys.stderr, flush=True)
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
