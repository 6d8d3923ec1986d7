"""Tiny generated datasets a CNN separates in an epoch or two (no files checked in)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: One colour per class; shapes and noise vary inside a class so the net must generalise a bit.
CLASS_COLOURS = [(220, 60, 40), (40, 90, 220), (40, 200, 60), (230, 210, 40)]


def synthetic_image(label: int, rng: np.random.Generator, size: int = 48) -> Image.Image:
    base = np.array(CLASS_COLOURS[label], dtype=np.float64)
    img = rng.normal(0, 25, (size, size, 3)) + base * rng.uniform(0.7, 1.1)
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
    r = rng.integers(size // 8, size // 4)
    mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    img[mask] = 255 - base
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def write_class_folders(root: Path, classes: list[str], per_class: int, seed: int = 0,
                        size: int = 48, ext: str = ".png") -> Path:
    """root/<class>/<n>.png for each class."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            synthetic_image(label, rng, size).save(folder / f"{name}_{i:03d}{ext}")
    return root
