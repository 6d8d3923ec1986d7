"""Make the small sample dataset that ships with the app (catdog_desktop/resources/sample/).

    python scripts/make_sample_dataset.py   # after scripts/train_default_model.py made the split

Takes 100 photos per class from the TEST part of the default model's split (made by
scripts/train_default_model.py), so the shipped model never trained on them, and stores them
at most 200 px on a side (a few kB each).
"""

import argparse
import random
import shutil
import tempfile
from pathlib import Path

from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--split-dir", type=Path, default=Path(tempfile.gettempdir()) / "catdog-bench-split")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "catdog_desktop" / "resources" / "sample")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    for folder in sorted((args.split_dir / "test").iterdir()):
        files = sorted(folder.iterdir())
        random.Random(f"sample-{folder.name}").shuffle(files)
        (args.out / folder.name).mkdir(parents=True)
        for f in files[: args.per_class]:
            with Image.open(f) as img:
                img = ImageOps.exif_transpose(img).convert("RGB")
                img.thumbnail((200, 200))
                img.save(args.out / folder.name / f.name, quality=85, optimize=True)
    total = sum(p.stat().st_size for p in args.out.rglob("*.jpg"))
    print(f"{args.out}: {total / 1e6:.1f} MB")
