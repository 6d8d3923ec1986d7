"""Updating a model's classes (issue 25, item 3; core.label.grow) on real photos.

    python benchmarks/grow_bench.py [--photos ../shared/data/catsdogs/train] [--per-class 1000] [--out FILE]

The built-in model (catdog_desktop/resources/default-model.keras, pretrained, cats and dogs) is
updated for a dataset of ``--per-class`` photos a class (links to ``--photos``), as
``update-classes`` does: once with an empty feature cache (every photo goes through the model once),
then ``--runs`` (3) times more, each a fresh session reading the disk cache (the figure the user
waits for when a class is added later). Then the saved model: the largest difference between its
probabilities and the head's on the features of photos it never saw, whether ONNX Runtime runs it
(converted and checked by core.model.engine), and the accuracy of both models on ``--held-out``
photos never labelled. Only two classes of real photos are at hand, so the classes stay the same
here (tests/core/test_grow.py adds, removes and merges classes on generated pictures).

The feature cache is a fresh folder (``CATDOG_DESKTOP_CACHE_DIR``), removed at the end. Prints ONE
JSON line with the CPU and the load (and appends it to ``--out``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
CACHE_ROOT = tempfile.mkdtemp(prefix="grow-bench-cache-")
os.environ["CATDOG_DESKTOP_CACHE_DIR"] = CACHE_ROOT
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_bench import cpu_info, emit  # noqa: E402

MODEL = ROOT / "catdog_desktop" / "resources" / "default-model.keras"


def dataset(photos: Path, folder: Path, per_class: int, held_out: int) -> dict[str, list[str]]:
    """folder/{cats,dogs}: links to the first ``per_class`` photos of each class; returns the next
    ``held_out`` of each (never labelled) by class."""
    unseen = {}
    for name in ("cats", "dogs"):
        files = sorted((photos / name).iterdir(), key=lambda p: p.name)
        (folder / name).mkdir(parents=True)
        for src in files[:per_class]:
            os.symlink(src, folder / name / src.name)
        unseen[name] = [str(p) for p in files[per_class:per_class + held_out]]
    return unseen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default=str(ROOT.parent / "shared" / "data" / "catsdogs" / "train"))
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--held-out", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import numpy as np

    from catdog_desktop.core.classify.classifier import Classifier
    from catdog_desktop.core.data.images import load_pixels
    from catdog_desktop.core.label.inbox import InboxSession
    from catdog_desktop.core.model.engine import ONNX_RUNTIME

    work = Path(tempfile.mkdtemp(prefix="grow-bench-"))
    out: dict = {"benchmark": "grow", "cpu": cpu_info(), "per_class": args.per_class,
                 "loadavg_start": os.getloadavg()[0]}
    try:
        unseen = dataset(Path(args.photos), work / "data", args.per_class, args.held_out)
        model = Classifier.load(MODEL)

        def update(name: str):
            started = time.perf_counter()
            session = InboxSession(None, work / "data", model)
            updated = session.save_model(work / name, force=True)
            return time.perf_counter() - started, updated, session

        cold, updated, session = update("cold.keras")
        out["cold"] = {"seconds": round(cold, 1), "features_computed": updated.computed,
                       "head_seconds": round(session.head.seconds, 2)}
        warm = [update(f"warm{i}.keras") for i in range(args.runs)]
        out["warm"] = {"seconds_median": round(statistics.median(w[0] for w in warm), 2),
                       "seconds": [round(w[0], 2) for w in warm],
                       "features_computed": [w[1].computed for w in warm],
                       "features_cached": warm[0][1].cached,
                       "head_seconds": [round(w[2].head.seconds, 2) for w in warm],
                       "cross_checked_accuracy": warm[0][1].accuracy}
        updated, session = warm[0][1], warm[0][2]

        grown = Classifier.load(updated.path)
        paths = unseen["cats"] + unseen["dogs"]
        labels = np.array([0] * len(unseen["cats"]) + [1] * len(unseen["dogs"]))
        pixels = np.stack([load_pixels(p, grown.image_size) for p in paths])
        _, features = model.probabilities_and_features(pixels[:16])
        out["parity_with_head"] = float(np.abs(grown.probabilities(pixels[:16])
                                               - session.head.probabilities(features)).max())
        grown.engine.prefer(10 ** 6)
        out["runtime"] = grown.engine.runtime
        out["onnx_parity_share_of_tolerance"] = getattr(grown.engine, "parity_difference", None)
        out["held_out"] = {
            "pictures": len(paths),
            "built_in_model": float((model.probabilities(pixels).argmax(axis=1) == labels).mean()),
            "updated_model": float((grown.probabilities(pixels).argmax(axis=1) == labels).mean()),
        }
        assert out["runtime"] == ONNX_RUNTIME, "the updated model did not convert for ONNX Runtime"
    finally:
        out["loadavg_end"] = os.getloadavg()[0]
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(CACHE_ROOT, ignore_errors=True)
    emit(out, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
