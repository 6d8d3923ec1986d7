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


def square_side_image(label: int, rng: np.random.Generator, size: int = 32) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A noisy grey picture with one bright square near its left edge (label 0) or right edge
    (label 1): the square's side decides the class. Returns (uint8 (size, size, 3), the square's
    box (top, left, bottom, right), bottom/right exclusive)."""
    img = rng.normal(rng.uniform(60, 120), 25, (size, size, 3))
    side = int(rng.integers(size // 4, size // 3 + 1))
    margin = int(rng.integers(1, size // 8 + 1))
    left = margin if label == 0 else size - margin - side
    top = int(rng.integers(1, size - side))
    img[top:top + side, left:left + side] = rng.uniform(220, 255)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img, (top, left, top + side, left + side)


def square_side_arrays(count: int, seed: int = 0, size: int = 32):
    """``count`` pictures of :func:`square_side_image`, alternating labels: (x, y, boxes)."""
    rng = np.random.default_rng(seed)
    made = [square_side_image(i % 2, rng, size) for i in range(count)]
    x = np.stack([img for img, _ in made])
    return x, np.arange(count) % 2, [box for _, box in made]


def square_presence_arrays(count: int, seed: int = 0, size: int = 32, side: int = 8):
    """Noisy grey pictures, every second one with a bright ``side``-pixel square anywhere (label 1;
    label 0: no square): (x, y, boxes), the boxes as in :func:`square_side_image` (for label 0 the
    box where the square would have been)."""
    rng = np.random.default_rng(seed)
    xs, boxes = [], []
    for i in range(count):
        img = rng.normal(rng.uniform(60, 120), 25, (size, size, 3))
        top, left = (int(v) for v in rng.integers(0, size - side, 2))
        if i % 2:
            img[top:top + side, left:left + side] = rng.uniform(220, 255)
        xs.append(np.clip(img, 0, 255).astype(np.uint8))
        boxes.append((top, left, top + side, left + side))
    return np.stack(xs), np.arange(count) % 2, boxes


def decoy_square_arrays(count: int, seed: int = 0, size: int = 32):
    """Like :func:`square_side_arrays`, but the square that decides is reddish, and an equally bright
    bluish square lies on a random side as a decoy (on the other side when there is no room):
    (x, y, boxes of the red squares, boxes of the blue ones)."""
    rng = np.random.default_rng(seed)

    def place(at_left: bool):
        side = int(rng.integers(size // 4, size // 3 + 1))
        margin = int(rng.integers(1, size // 8 + 1))
        left = margin if at_left else size - margin - side
        top = int(rng.integers(1, size - side))
        return top, left, top + side, left + side

    def apart(a, b) -> bool:  # a pixel of background at least between them
        return a[0] > b[2] or b[0] > a[2] or a[1] > b[3] or b[1] > a[3]

    xs, reds, blues = [], [], []
    for i in range(count):
        label = i % 2
        img = rng.normal(rng.uniform(60, 120), 25, (size, size, 3))
        red = place(label == 0)
        blue = next((b for b in (place(bool(rng.integers(0, 2))) for _ in range(20)) if apart(red, b)), None)
        blue = blue or place(label == 1)
        for (top, left, bottom, right), colour in ((red, (1.0, 0.25, 0.25)), (blue, (0.25, 0.25, 1.0))):
            img[top:bottom, left:right] = np.array(colour) * rng.uniform(200, 240)
        xs.append(np.clip(img, 0, 255).astype(np.uint8))
        reds.append(red)
        blues.append(blue)
    return np.stack(xs), np.arange(count) % 2, reds, blues
