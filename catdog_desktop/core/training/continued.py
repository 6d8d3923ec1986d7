"""Training on from a saved model: the new model starts from the old one's weights
(:mod:`.starting_point`), on the dataset folder as it is now (more pictures, perhaps a class more
or less), and is compared with the old one on the same held-out pictures so the user can choose
which to keep.

Pretrained, the features the classifier trains on are those of the old model's backbone (cached
under a name of their own when its last blocks were fine-tuned), and fine-tuning goes on from its
blocks. Which pictures are held out is decided by
:func:`catdog_desktop.core.data.holdout.split_for_continuing`: no picture the old model trained on
is a validation or test picture of the new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import TrainingConfig
from .starting_point import check_config, class_notes, starting_point


@dataclass
class Comparison:
    """The old and the new model on the same held-out pictures (plain data for the app and CLI)."""

    split: str                      # "test" or "validation"
    count: int                      # pictures both models were scored on
    before: float                   # the old model's accuracy on them
    after: float                    # the new model's
    old_model: str                  # its file's name
    #: Held-out pictures of classes the old model does not know, {class: pictures}: not compared.
    left_out: dict[str, int] = field(default_factory=dict)

    def sentence(self) -> str:
        text = (f"Before: {self.before:.1%}, after: {self.after:.1%} on the same {self.count:,} {self.split} "
                f"pictures ({self.old_model} then the new model).")
        if self.left_out:
            text += (f" Pictures of classes {self.old_model} does not know are not compared: "
                     + ", ".join(f"{name} ({n})" for name, n in self.left_out.items()) + ".")
        return text

    def to_dict(self) -> dict:
        return {"split": self.split, "count": self.count, "before": self.before, "after": self.after,
                "old_model": self.old_model, "left_out": dict(self.left_out)}


def continue_training(config: TrainingConfig, data, bundle, reporter=None, strategy=None):
    """Train on ``data`` from the loaded model ``bundle`` (core.model.storage.ModelBundle, never
    written to): a :class:`~.fit.TrainingResult` whose ``comparison`` scores the old and the new
    model on the same held-out pictures. ``config`` must build the old model's network
    (:func:`config_for`). Raises as :func:`~.train.train`, and :class:`CatdogError` for a model
    that cannot be continued."""
    from ..data.dataset import TRAINED_PICTURES
    from ..data.holdout import known_classes_only, split_for_continuing, trained_by_either
    from .events import Reporter
    from .train import train

    reporter = reporter or Reporter()
    point = starting_point(bundle)
    check_config(config, point)
    data.raise_for_errors()
    data, notes = split_for_continuing(data, point.metadata, point.name)
    notes += class_notes(point, list(data.class_names))
    compared, left_out = known_classes_only(data.evaluation_split, list(data.class_names), point.class_names)
    before = _correct_answers(bundle, compared, data.class_names, point.name, reporter)
    result = train(config, data, reporter, strategy=strategy, start_from=point)
    result.notes = notes + result.notes
    result.dataset_summary[TRAINED_PICTURES] = trained_by_either(data, point.metadata)
    result.continued_from = point.name
    after = {r.path: r.correct for r in result.evaluation.results}
    both = [path for path in before if path in after]
    if result.evaluation.checked and both:
        result.comparison = Comparison(
            split=data.evaluation_name, count=len(both), before=sum(before[p] for p in both) / len(both),
            after=sum(after[p] for p in both) / len(both), old_model=point.name, left_out=left_out)
    return result


def _correct_answers(bundle, split, class_names: list[str], name: str, reporter) -> dict[str, bool]:
    """{path: whether the old model's answer is the folder's class} for the readable pictures of ``split``."""
    from ..classify.classifier import Classifier
    from .events import PhaseEvent

    message = f"Checking {name} on {len(split):,} held-out pictures…"
    reporter.on_stage(PhaseEvent(0, len(split), message, "reading"))
    classifier = Classifier(bundle.model, bundle.class_names, bundle.image_size, bundle.metadata)

    def on_result(index: int, _prediction) -> None:
        if (index + 1) % 128 == 0 or index + 1 == len(split):
            reporter.on_stage(PhaseEvent(index + 1, len(split), message, "reading"))

    predictions = classifier.predict_paths(split.paths, on_result=on_result, should_stop=reporter.should_stop)
    if reporter.should_stop():
        from ..errors import CancelledError

        raise CancelledError("Training was stopped before it began; no model was made.")
    return {p.path: p.class_name == class_names[label] for p, label in zip(predictions, split.labels) if p.ok}
