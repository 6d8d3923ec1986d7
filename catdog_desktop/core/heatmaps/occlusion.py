"""Where the model looked, by hiding parts of the picture (occlusion sensitivity, Zeiler & Fergus,
2014): a patch of the picture's own average colour is laid over each place in turn, the model
classifies every copy, and a place is as red as hiding it lowers the model's confidence in the
class. Confidence is measured as log-odds, log(p / (1 - p)): the logit for a two-class model, as
Grad-CAM scores a class; on probabilities a change from 99.99 % to 99.9 % would hardly show.

Grad-CAM (core.heatmaps.gradcam) shows which places of the last convolutional block the answer was added
up from; for the models here that is exact, but each place reads a whole neighbourhood of pixels.
Where a class depends on *where* something is (a bright square on the left or on the right),
the network decides from the places beside the object that see it on one side and open
background on the other, and Grad-CAM shows those: beside the square, never on it. Hiding parts
asks a different question, "which part, if it were not there, would change the answer", and
lands on the square itself (tests/core/test_gradcam.py states the rates). It works for any model,
with or without convolutions, and classifies GRID * GRID + 1 copies of the picture (0.27 s for the
pretrained network at 160 px on 2 cores, ``benchmarks/gradcam_bench.py``).

Patches at the picture's sides are cut off by it (so hiding there hides less); the patches of the
right and lower halves mirror those of the left and upper ones, so a mirrored picture gives the
mirrored heat.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import CancelledError

#: Places per side: the patch's centre moves over a GRID x GRID grid (the heat's resolution,
#: like an 8x8 last convolutional block).
GRID = 8
#: The patch's side as a share of the picture's side (a third: patches overlap, so a small object
#: is hidden whole by at least one of them).
PATCH_SHARE = 1 / 3
#: Copies classified in one model call.
CHUNK = 33

#: Probabilities are kept this far from 0 and 1 before the logarithm (a float32 probability of a
#: very sure model can be exactly 1.0, or a hidden part can make a class impossible).
_FLOOR = 1e-12


def heatmap(classifier, pixels, class_index: int | None = None, should_stop=None) -> np.ndarray:
    """Heat of one picture: float32 ``(s, s)`` in [0, 1], s = ``classifier.image_size``; zero
    everywhere when hiding no part lowers the class. ``pixels``: uint8 (s, s, 3).
    ``class_index``: the class to explain (default: the predicted one)."""
    return heatmaps(classifier, np.asarray(pixels)[None], None if class_index is None else [class_index],
                    should_stop)[0]


def heatmaps(classifier, pixels: np.ndarray, class_indices=None, should_stop=None) -> np.ndarray:
    """Heat of a batch: float32 (n, s, s). ``class_indices``: one per picture (default: the
    predicted classes). ``should_stop()`` is asked between model calls (raises CancelledError)."""
    pixels = np.asarray(pixels)
    size = classifier.image_size
    if pixels.ndim != 4 or pixels.shape[1:] != (size, size, 3):
        raise ValueError(f"Expected pictures of shape (n, {size}, {size}, 3), got {pixels.shape}.")
    if class_indices is None:
        class_indices = np.argmax(classifier.probabilities(pixels), axis=1) if len(pixels) else []
    classes = np.asarray(class_indices, dtype=np.int64).reshape(-1)
    if len(classes) != len(pixels):
        raise ValueError("One class index per picture is needed.")
    count = len(classifier.class_names)
    if len(classes) and (classes.min() < 0 or classes.max() >= count):
        raise ValueError(f"Class index out of range: the model has {count} classes.")
    boxes = patch_boxes(size)
    heat = np.zeros((len(pixels), size, size), np.float32)
    for n, (picture, index) in enumerate(zip(pixels, classes)):
        copies = hidden_copies(picture, boxes)
        scores = []
        for start in range(0, len(copies), CHUNK):
            if should_stop is not None and should_stop():
                raise CancelledError("Stopped.")
            scores.append(classifier.probabilities(copies[start:start + CHUNK])[:, index].astype(np.float64))
        scores = log_odds(np.concatenate(scores))
        drops = np.maximum(scores[0] - scores[1:], 0.0).reshape(GRID, GRID).astype(np.float32)
        heat[n] = _stretch(drops, size)
    return heat


def log_odds(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p kept within [_FLOOR, 1 - _FLOOR]."""
    p = np.clip(np.asarray(p, np.float64), _FLOOR, 1.0 - _FLOOR)
    return np.log(p) - np.log1p(-p)


def patch_boxes(size: int) -> list[tuple[int, int, int, int]]:
    """(top, left, bottom, right) of each patch, row by row: centred on a GRID x GRID grid of
    cell centres, clipped to the picture."""
    patch = max(1, round(size * PATCH_SHARE))
    centres = [(j + 0.5) * size / GRID for j in range(GRID)]
    starts = [math.floor(c - patch / 2 + 0.5) for c in centres[:(GRID + 1) // 2]]
    # The other half mirrors the first, so a mirrored picture meets mirrored patches.
    starts += [size - patch - start for start in reversed(starts[:GRID // 2])]
    return [(max(t, 0), max(l, 0), min(t + patch, size), min(l + patch, size)) for t in starts for l in starts]


def hidden_copies(picture: np.ndarray, boxes) -> np.ndarray:
    """float32 (1 + len(boxes), s, s, 3): the picture itself, then one copy per box with the box
    filled with the picture's average colour."""
    picture = np.asarray(picture, np.float32)
    fill = picture.reshape(-1, 3).mean(axis=0)
    copies = np.repeat(picture[None], len(boxes) + 1, axis=0)
    for k, (top, left, bottom, right) in enumerate(boxes, start=1):
        copies[k, top:bottom, left:right] = fill
    return copies


def _stretch(grid: np.ndarray, size: int) -> np.ndarray:
    """The GRID x GRID drops as (size, size) in [0, 1]: bilinear between cell centres (the same
    alignment as Grad-CAM's map), then divided by the largest (as Grad-CAM's)."""
    from PIL import Image

    if float(grid.max()) <= 0.0:
        return np.zeros((size, size), np.float32)
    stretched = np.asarray(Image.fromarray(grid.astype(np.float32), mode="F").resize(
        (size, size), Image.Resampling.BILINEAR), np.float32)
    stretched = np.maximum(stretched, 0.0)
    return (stretched / stretched.max()).astype(np.float32)
