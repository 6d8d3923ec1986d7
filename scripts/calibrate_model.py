"""Add the "not sure" threshold and the "none of these" summary to an existing model file,
without training it again (core/model/calibration.py says what they are).

    python scripts/calibrate_model.py MODEL.keras --data DATA_DIR
    python scripts/calibrate_model.py catdog_desktop/resources/default-model.keras \
        --data ../shared/data/catsdogs/train --default-model-split

Only the model's own validation pictures are used to calibrate (and a subsample of its training
pictures for the summary): the folder is split again with the seed and share recorded in the
model, and the script refuses a folder whose split does not match the recorded counts (its
validation pictures would then include pictures the model trained on). Test pictures are never
used. ``--default-model-split`` rebuilds the split of ``scripts/train_default_model.py`` from the
photos it started from (the 1,000 test photos it held out stay out). The model file is rewritten
atomically with only its metadata changed; everything else in it is kept byte for byte.
Prints one JSON line with what was recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from catdog_desktop.core.model import calibration
from catdog_desktop.core.model import storage  # noqa: E402
from catdog_desktop.core.data.dataset import in_record, scan_dataset, split_method_of, trained_record
from catdog_desktop.core.errors import CatdogError  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="the folder the model was trained on")
    parser.add_argument("--default-model-split", action="store_true",
                        help="--data is the photos scripts/train_default_model.py started from: rebuild its split")
    args = parser.parse_args(argv)
    try:
        summary = calibrate_file(args.model, args.data, args.default_model_split)
    except (CatdogError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


def calibrate_file(model_path: Path, data: Path, default_model_split: bool = False) -> dict:
    metadata = storage.read_metadata(model_path)
    trained_on = metadata.get("dataset") or {}
    seed, share = trained_on.get("seed", 1337), trained_on.get("validation_split", 0.2)
    if default_model_split:
        from train_bench import DEFAULT_ROOT, build_split_tree

        data = build_split_tree(data, Path(DEFAULT_ROOT), test_per_class=500)
    scan = scan_dataset(data, validation_split=share, seed=seed, split_method=split_method_of(trained_on))
    scan.raise_for_errors()
    names = metadata.get("class_names")
    if names and list(names) != scan.class_names:
        raise CatdogError(f"The folder's classes ({', '.join(scan.class_names)}) are not the model's ({', '.join(names)}).")
    counts = (scan.train.counts(len(scan.class_names)), scan.validation.counts(len(scan.class_names)))
    recorded = (trained_on.get("train_counts"), trained_on.get("validation_counts"))
    if None not in recorded and tuple(map(list, recorded)) != counts:
        raise CatdogError(f"This is not the split the model was trained on (training/validation pictures per class "
                          f"{counts[0]}/{counts[1]} here, {recorded[0]}/{recorded[1]} recorded): its validation "
                          "pictures would include pictures it trained on.")
    record = trained_record(trained_on)
    if record is not None:  # the same counts are not the same pictures: check each by its content
        trained_again = [p for p in scan.validation.paths if in_record(record, scan.content_digests.get(p))]
        if trained_again:
            raise CatdogError(f"{len(trained_again)} of the validation pictures here are pictures the model trained on "
                              f"(e.g. {trained_again[0]}): the folder has changed since it was trained.")
    from catdog_desktop.core.classify.classifier import Classifier

    classifier = Classifier.load(model_path)
    started = time.monotonic()
    result = calibration.calibrate_classifier(
        classifier, scan.train.paths, scan.train.labels, scan.validation.paths, scan.validation.labels, seed,
        progress=lambda done, total: print(f"pictures {done}/{total}", file=sys.stderr, flush=True))
    result["added_by"] = "scripts/calibrate_model.py (after training; the model unchanged)"
    metadata[calibration.METADATA_KEY] = result
    storage.update_metadata(model_path, metadata)
    threshold = result["confidence_threshold"]
    novelty = result.get("novelty") or {}
    return {"model": str(model_path), "seconds": round(time.monotonic() - started, 1),
            "confidence_threshold": threshold.get("value"), "threshold_detail": threshold,
            "novelty_threshold": novelty.get("threshold"), "novelty_centres": novelty.get("count"),
            "validation_pictures": len(scan.validation), "metadata_bytes": len(json.dumps(metadata))}


if __name__ == "__main__":
    sys.exit(main())
