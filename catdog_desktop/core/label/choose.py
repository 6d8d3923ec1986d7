"""Which inbox picture to label next, and why: uncertainty first, spread across the pile.

Plain NumPy on arrays the caller computed (core.label.inbox): the pictures' features (the
model's feature layer, or the pretrained backbone's without a model), the model's probabilities
(None without a model), its "none of these" flags, and the features of the pictures already
labelled (None when unknown).

* **Uncertainty**: one minus the margin between the two likeliest classes (a picture the model
  puts at 52 % / 48 % comes before one at 90 % / 10 %); a picture the model calls "none of these"
  counts as at least :data:`UNFAMILIAR_PRIORITY` uncertain. The margin, rather than the entropy,
  because it is what the reason shown beside the picture says.
* **Spread**: pictures are taken greedily; a picture whose features are close (cosine, after
  centring the features on the pile's mean, so that two different photos are at most about 0.5
  alike and near-identical shots near 1) to one already chosen or already labelled loses
  priority, nine tenths of it from :data:`NEAR_IDENTICAL` on: ten near-identical shots of the
  same cat come up once among the uncertain pictures, the other nine after them (still before
  the pictures the model is sure of). Being unlike everything labelled or chosen adds a little
  (:data:`SPREAD_WEIGHT`), which orders the pictures the model is sure of, least familiar first.
* **Without a model**: spread only: the first picture is the pile's most typical one (nearest its
  mean), then each next is the one farthest from everything labelled or chosen so far (k-centre
  greedy), so that the first few labels cover the pile.

Greedy choice costs one pass over the pile per picture chosen: the first :data:`GREEDY_PICKS`
are chosen so, the rest follow in order of their priority against those.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np

from .head import blas_threads

#: Cosine similarity (centred features) from which a picture counts as another shot of the same thing.
NEAR_IDENTICAL = 0.9
#: From this similarity on a picture starts to lose priority (linearly, up to MAX_PENALTY at NEAR_IDENTICAL).
SIMILAR_FROM = 0.5
#: The share of its priority a near-identical shot loses: a tenth is kept, so that a second shot of
#: a picture the model is torn about still comes before the pictures it is sure of.
MAX_PENALTY = 0.9
#: A picture the model calls "none of these" is at least this uncertain (a margin of 25 points).
UNFAMILIAR_PRIORITY = 0.75
#: Margins under this are "torn between" two classes; answers under SURE are "not sure".
TORN_MARGIN = 0.3
SURE = 0.9
#: How much being unlike everything labelled or chosen adds to a picture's priority (at most; the
#: uncertainty adds up to 1): it orders the pictures the model is sure of, the least familiar first.
SPREAD_WEIGHT = 0.05
#: "Unlike anything labelled so far": a picture whose nearest labelled picture is at most this
#: similar (cosine, centred) and among the least similar tenth (UNLIKE_SHARE) of the inbox. Measured on
#: MobileNetV2 features of 81 photos against 10 labelled: similarities 0 to 0.52, median 0.19; two
#: different photos are at most about 0.5 alike, a copy 1.0.
UNLIKE_SIMILARITY = 0.3
UNLIKE_SHARE = 0.1
#: Pictures chosen one at a time; the rest are ordered by their priority against these.
GREEDY_PICKS = 200


@dataclass
class Suggestion:
    """One inbox picture in the order to label them. Plain data (crosses threads, prints as JSON)."""

    path: str
    rank: int                       # 1 = label this first
    reason: str                     # one line: why it comes here
    suggestion: str | None = None   # the model's class (None without a model)
    probability: float | None = None  # the model's probability of that class
    probabilities: dict[str, float] = field(default_factory=dict)
    unfamiliar: bool = False        # the model says "none of these"
    priority: float = 0.0           # what it was ranked by (higher first)
    size: int = -1                  # the file as it was shown: labelling checks it has not changed since
    mtime_ns: int = -1

    def to_dict(self) -> dict:
        return asdict(self)


def centred_unit(features: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Rows minus ``mean``, scaled to unit length (float32): dot products are cosine similarities."""
    x = np.asarray(features, np.float32) - mean
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def rank(paths: list[str], features: np.ndarray, probabilities: np.ndarray | None = None,
         class_names: list[str] | None = None, unfamiliar: np.ndarray | None = None,
         labelled: np.ndarray | None = None, top: int | None = None) -> list[Suggestion]:
    """The inbox pictures ``paths`` in the order to label them (the first ``top``; all if None),
    each with its reason and the model's suggestion. ``features`` (n, d) and ``labelled`` (m, d)
    live in the same space; ``probabilities`` (n, k) follow ``class_names``."""
    with blas_threads():
        return _rank(paths, features, probabilities, class_names, unfamiliar, labelled, top)


def _rank(paths, features, probabilities, class_names, unfamiliar, labelled, top) -> list[Suggestion]:
    n = len(paths)
    if n == 0:
        return []
    features = np.asarray(features, np.float32).reshape(n, -1)
    both = features if labelled is None or not len(labelled) else np.concatenate([features, labelled])
    mean = both.mean(axis=0)
    x = centred_unit(features, mean)
    spread = np.linalg.norm(features - mean, axis=1)  # how far from the pile's mean (the most typical: least)
    known = centred_unit(labelled, mean) if labelled is not None and len(labelled) else np.zeros((0, x.shape[1]), np.float32)
    # Similarity of each picture to the nearest labelled one (-1: none labelled yet).
    nearest_labelled = (known @ x.T).max(axis=0) if len(known) else np.full(n, -1.0, np.float32)
    if probabilities is not None:
        probabilities = np.asarray(probabilities, np.float64)
        ordered = np.sort(probabilities, axis=1)
        margin = ordered[:, -1] - (ordered[:, -2] if probabilities.shape[1] > 1 else 0.0)
        base = 1.0 - margin
        if unfamiliar is not None:
            base = np.where(unfamiliar, np.maximum(base, UNFAMILIAR_PRIORITY), base)
    else:
        base = None
    wanted = n if top is None else max(0, min(int(top), n))
    chosen: list[int] = []
    duplicate_of: dict[int, int] = {}
    nearest_chosen = np.full(n, -1.0, np.float32)   # similarity to the nearest chosen picture
    nearest_index = np.full(n, -1, np.int64)
    picked_at = np.zeros(n)   # each picture's priority when it was chosen
    taken = np.zeros(n, bool)
    for step in range(min(wanted, GREEDY_PICKS)):
        priority = _priority(base, spread, nearest_labelled, nearest_chosen, step)
        priority[taken] = -np.inf
        pick = int(np.argmax(priority))
        if nearest_chosen[pick] >= NEAR_IDENTICAL:
            duplicate_of[pick] = int(nearest_index[pick])
        chosen.append(pick)
        picked_at[pick] = priority[pick]
        taken[pick] = True
        similarity = x @ x[pick]
        closer = similarity > nearest_chosen
        nearest_chosen[closer] = similarity[closer]
        nearest_index[closer] = pick
    if len(chosen) < wanted:
        priority = _priority(base, spread, nearest_labelled, nearest_chosen, len(chosen))
        rest = [i for i in np.argsort(-priority, kind="stable") if not taken[i]][:wanted - len(chosen)]
        for i in rest:
            if nearest_chosen[i] >= NEAR_IDENTICAL:
                duplicate_of[int(i)] = int(nearest_index[i])
        chosen += [int(i) for i in rest]
        picked_at[rest] = priority[rest]
    unlike_below = min(UNLIKE_SIMILARITY, float(np.quantile(nearest_labelled, UNLIKE_SHARE)))
    return [_suggestion(paths, i, r + 1, probabilities, class_names, unfamiliar, nearest_labelled, unlike_below,
                        duplicate_of.get(i), round(float(picked_at[i]), 6))
            for r, i in enumerate(chosen)]


def _priority(base, spread, nearest_labelled, nearest_chosen, step: int) -> np.ndarray:
    """Each picture's priority now, given the pictures chosen so far."""
    if base is not None:
        nearest = np.maximum(nearest_chosen, nearest_labelled)
        penalty = np.clip((nearest - SIMILAR_FROM) / (NEAR_IDENTICAL - SIMILAR_FROM), 0.0, 1.0)
        return base * (1.0 - MAX_PENALTY * penalty) + SPREAD_WEIGHT * (1.0 - nearest) / 2
    nearest = np.maximum(nearest_chosen, nearest_labelled)
    if step == 0 and nearest.max(initial=-1.0) < -0.5:  # nothing labelled or chosen: the most typical first
        return -spread
    return 1.0 - nearest  # k-centre greedy: the farthest from everything labelled or chosen


def _percent(p: float) -> str:
    return f"{p * 100:.0f} %"


def _suggestion(paths, i, position, probabilities, class_names, unfamiliar, nearest_labelled, unlike_below,
                duplicate, priority) -> Suggestion:
    path = paths[i]
    try:
        info = os.stat(path)
        size, mtime = info.st_size, info.st_mtime_ns
    except OSError:
        size, mtime = -1, -1
    far = -1.0 < nearest_labelled[i] <= unlike_below
    like = (f"; much like {os.path.basename(paths[duplicate])}, higher up" if duplicate is not None else "")
    if probabilities is None:
        if nearest_labelled[i] <= -1.0:
            reason = "typical of the pile" if position == 1 else "unlike the pictures above it"
        else:
            reason = "unlike anything labelled so far" if far else "unlike the pictures above it"
        return Suggestion(path=path, rank=position, reason=reason + like, priority=priority, size=size, mtime_ns=mtime)
    names = class_names or [str(k) for k in range(probabilities.shape[1])]
    row = probabilities[i]
    order = np.argsort(-row, kind="stable")
    first, second = int(order[0]), int(order[1]) if len(order) > 1 else int(order[0])
    odd = bool(unfamiliar[i]) if unfamiliar is not None else False
    if odd:
        reason = f"looks like none of the classes the model knows (closest: {names[first]}, {_percent(row[first])})"
    elif row[first] - row[second] < TORN_MARGIN and first != second:
        reason = (f"the model is torn between {names[first]} ({_percent(row[first])}) "
                  f"and {names[second]} ({_percent(row[second])})")
    elif row[first] < SURE:
        reason = f"the model is not sure: {names[first]} ({_percent(row[first])})"
    elif far:
        reason = f"unlike anything labelled so far; the model says {names[first]} ({_percent(row[first])})"
    else:
        reason = f"the model is fairly sure: {names[first]} ({_percent(row[first])})"
    return Suggestion(path=path, rank=position, reason=reason + like, suggestion=names[first],
                      probability=round(float(row[first]), 6),
                      probabilities={n: round(float(p), 6) for n, p in zip(names, row)}, unfamiliar=odd,
                      priority=priority, size=size, mtime_ns=mtime)
