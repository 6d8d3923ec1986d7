"""What the user should read about a finished training, in sentences: what would help after a
weak result, how long each stage took, what came from the feature cache. Qt-free and tested
without a window; the Training panel only shows these sentences.

The advice is drawn only from facts the result holds (pictures per class, the training and
validation accuracy of the kept epoch, why it stopped), and says at most two things: a beginner
acts on one suggestion, not on a list.
"""

from __future__ import annotations

from .progress import format_seconds
from ..wording import count

#: Below this held-out accuracy a result counts as weak and gets advice.
WEAK_ACCURACY = 0.85
#: Fewer training pictures than this in a class: "add pictures" comes first.
FEW_PICTURES = 100
#: Training accuracy this much above validation accuracy (at the kept epoch): the model learnt its
#: pictures by heart; more variety helps.
BIG_GAP = 0.15
MAX_ADVICE = 2

STAGE_NAMES = {"features": "features", "classifier": "classifier", "fine-tuning": "fine-tuning"}


def advice(result) -> list[str]:
    """Up to two sentences on what would most likely help (core.training.train.TrainingResult). Only a
    weak result gets "add pictures" or "more variety"; "train longer" is said whenever the time
    limit cut off a model that was still improving, as it is true of any result."""
    found: list[str] = []
    if result.evaluation.checked and result.evaluation.accuracy < WEAK_ACCURACY:
        summary = result.dataset_summary or {}
        counts = dict(zip(summary.get("class_names", []), summary.get("train_counts", [])))
        if counts and min(counts.values()) < FEW_PICTURES:
            name, fewest = min(counts.items(), key=lambda kv: kv[1])
            found.append(f"There are only {count(fewest, 'training picture')} of “{name}”: adding pictures "
                         f"(a few hundred per class) would help most.")
        best = next((h for h in result.history if h.get("epoch") == result.best_epoch), None)
        if best is not None and best.get("accuracy", 0.0) - best.get("val_accuracy", 0.0) > BIG_GAP:
            found.append(f"The model is right {best['accuracy']:.0%} of the time on its training pictures but "
                         f"{best['val_accuracy']:.0%} on new ones: more varied pictures (other backgrounds, "
                         f"angles, light) would help.")
    if result.stopped_by_time_limit and result.history and result.best_epoch == result.history[-1].get("epoch"):
        found.append("It was still improving when the time ran out: a longer time limit would help.")
    return found[:MAX_ADVICE]


def stage_times(result) -> str:
    """"Features 12 s · classifier 8 s · fine-tuning 2 min 10 s" (pretrained), or "" (from scratch)."""
    parts = [f"{STAGE_NAMES[k]} {format_seconds(v)}" for k, v in result.stage_seconds.items() if k in STAGE_NAMES]
    if not parts:
        return ""
    return "Time: " + " · ".join(parts) + "."


def cache_sentence(result) -> str:
    """Whether the pictures' features came from an earlier training ("" when none did)."""
    reused = result.features_cached
    if not reused:
        return ""
    total = reused + result.features_computed
    if not result.features_computed:
        return f"All {count(total, 'picture')}' features were reused from an earlier training."
    return f"{reused:,} of {count(total, 'picture')}' features were reused from an earlier training."
