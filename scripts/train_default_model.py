"""Train the cats-vs-dogs model that ships with the app (catdog_desktop/resources/default-model.keras).

    python scripts/train_default_model.py --data ../shared/data/catsdogs/train

Reproducible: the photos are split by a fixed seed into train (3,500 per class) and test
(500 per class, never trained on nor used to pick the epoch); 10 % of train validates and picks
the best epoch. The model starts from the MobileNetV2 ImageNet weights that ship with the app
(the app's default training, with longer fine-tuning). The bundle's metadata records the
command, the settings and the accuracy on the test photos.
The sample dataset that ships with the app is drawn from the same test photos.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from train_bench import DEFAULT_ROOT, SPLIT_SEED, build_split_tree  # noqa: E402

from catdog_desktop.core.model import storage
from catdog_desktop.core.training import train as training  # noqa: E402
from catdog_desktop.core.config import preset  # noqa: E402
from catdog_desktop.core.data.dataset import scan_dataset  # noqa: E402

#: The settings of the shipped model: the app's pretrained default (MobileNetV2, fine-tuned), with
#: no time limit and more fine-tuning epochs than fit in the app's default time.
SHIPPED = dict(backbone="mobilenet_v2", epochs=12, time_limit_minutes=0, early_stopping=False,
               validation_split=0.1)


class Budget(training.Reporter):
    def __init__(self, minutes: float):
        self.deadline = time.monotonic() + minutes * 60

    def on_stage(self, event):
        if event.done == event.total:
            print(f"{event.message}: {event.total}", flush=True)

    def on_epoch_end(self, info):
        print(f"epoch {info.epoch}/{info.epochs} val_acc {info.val_accuracy:.4f} val_loss {info.val_loss:.4f} "
              f"{info.epoch_seconds:.0f}s {info.images_per_second:.0f} img/s{' *' if info.is_best else ''}", flush=True)

    def should_stop(self):
        return time.monotonic() > self.deadline


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split-dir", type=Path, default=Path(DEFAULT_ROOT))
    parser.add_argument("--minutes", type=float, default=88.0, help="stop after this long (best epoch kept)")
    parser.add_argument("--out", type=Path, default=ROOT / "catdog_desktop" / "resources" / "default-model.keras")
    args = parser.parse_args()

    split = build_split_tree(args.data, args.split_dir, test_per_class=500)
    config = preset("default", **SHIPPED)
    scan = scan_dataset(split, validation_split=config.validation_split, seed=config.seed)
    scan.raise_for_errors()
    started = time.monotonic()
    result = training.train(config, scan, Budget(args.minutes))
    metadata = result.metadata()
    metadata["provenance"] = {
        "command": "python scripts/train_default_model.py --data ../shared/data/catsdogs/train",
        "source": "the original project's 8,000 training photos (4,000 cats, 4,000 dogs)",
        "split": f"seeded ({SPLIT_SEED}): 3,500 per class train ({config.validation_split:.0%} of it validation), "
                 "500 per class test",
        "test_accuracy": result.evaluation.accuracy,
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    path = storage.save_bundle(result.model, metadata, args.out)
    print(f"test accuracy {result.evaluation.accuracy:.4f} on {result.evaluation.count} photos; "
          f"best epoch {result.best_epoch}; {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
