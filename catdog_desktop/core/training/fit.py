"""What both trainings share (the from-scratch ``train`` and ``pretrained``): the result they
return, class weights, compiling a model, the Keras callback that reports progress, handles Stop
and the time limit and keeps the best epoch, and the checks and notes both make. Public inside the
package, so neither training reaches into the other's private names.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from ..config import TrainingConfig
from ..data.dataset import IMBALANCE_RATIO
from ..errors import DatasetError
from ..evaluate.evaluation import EvaluationResult
from ..model import calibration
from .events import BatchEvent, EpochEvent, Reporter
from .schedule import WARMUP_START, Pace

log = logging.getLogger(__name__)

#: Seconds, for progress figures and the time limit: the one clock of a from-scratch training (train
#: reads it here too), a name of its own so tests can simulate time.
_clock = time.perf_counter


@dataclass
class TrainingResult:
    model: keras.Model
    class_names: list[str]
    config: TrainingConfig
    history: list[dict]
    best_epoch: int                   # 1-based; 0 if no epoch completed
    stopped_by_user: bool
    stopped_early: bool
    evaluation: EvaluationResult
    dataset_summary: dict
    skipped: list[tuple[str, str]] = field(default_factory=list)
    decode_seconds: float = 0.0
    train_seconds: float = 0.0
    stopped_by_time_limit: bool = False
    #: Seconds each stage took (pretrained: "features", "classifier", "fine-tuning"), and the
    #: pictures the backbone computed vs. found in the feature cache.
    stage_seconds: dict[str, float] = field(default_factory=dict)
    features_computed: int = 0
    features_cached: int = 0
    #: Things the user should know about how it went, as sentences (e.g. why fine-tuning was skipped).
    notes: list[str] = field(default_factory=list)
    #: The pretrained network it started from: name and the weights file's sha256 (None: from scratch).
    backbone: dict | None = None
    #: When to say "not sure" and "none of these" (core.model.calibration), from the validation pictures.
    calibration: dict | None = None
    #: Trained on from a saved model (core.training.continued): its file's name, and both models'
    #: accuracy on the same held-out pictures (a continued.Comparison; None when not scored).
    continued_from: str | None = None
    comparison: object = None
    #: Every picture trained the model (core.training.few): its accuracy estimated by cross-validation
    #: (an EvaluationResult with ``folds``; also ``evaluation`` when there is no test folder).
    cross_validation: EvaluationResult | None = None

    def metadata(self) -> dict:
        """What a saved bundle records about this training."""
        return {
            "class_names": list(self.class_names),
            "image_size": self.config.image_size,
            "config": self.config.to_dict(),
            "history": self.history,
            "best_epoch": self.best_epoch,
            "stopped_by_user": self.stopped_by_user,
            "stopped_early": self.stopped_early,
            "stopped_by_time_limit": self.stopped_by_time_limit,
            "evaluation": self.evaluation.to_dict(include_mistakes=False) if self.evaluation.checked else None,
            "dataset": self.dataset_summary,
            "decode_seconds": round(self.decode_seconds, 2),
            "train_seconds": round(self.train_seconds, 2),
            "stage_seconds": {k: round(v, 2) for k, v in self.stage_seconds.items()},
            "notes": list(self.notes),
            "backbone": self.backbone,
            **({calibration.METADATA_KEY: self.calibration} if self.calibration else {}),
            **({"cross_validation": self.cross_validation.to_dict(include_mistakes=False)}
               if self.cross_validation is not None and self.cross_validation.checked else {}),
            **({"continued_from": {"model": self.continued_from,
                                   "comparison": self.comparison.to_dict() if self.comparison else None}}
               if self.continued_from else {}),
        }


def class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float] | None:
    """Balanced class weights when the classes are imbalanced, else None."""
    counts = np.bincount(labels, minlength=num_classes).astype(float)
    nonzero = counts[counts > 0]
    if len(nonzero) < 2 or nonzero.max() / nonzero.min() <= IMBALANCE_RATIO:
        return None
    total = counts.sum()
    return {i: float(total / (num_classes * c)) if c else 0.0 for i, c in enumerate(counts)}


def compile_model(model: keras.Model, config: TrainingConfig, num_classes: int) -> None:
    """AdamW and the loss (label smoothing). The optimizer starts at the warm-up's first rate; during
    :func:`train` the progress callback sets the rate before every step from a :class:`Pace`
    (a model fitted without that callback keeps the starting rate)."""
    optimizer = keras.optimizers.AdamW(learning_rate=config.learning_rate * WARMUP_START,
                                       weight_decay=config.weight_decay)
    if num_classes == 2:
        loss = keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing)
        metric = keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        metric = keras.metrics.CategoricalAccuracy(name="accuracy")
    model.compile(optimizer=optimizer, loss=loss, metrics=[metric])


class ProgressCallback(keras.callbacks.Callback):
    """Turns Keras callbacks into Reporter calls, sets the learning rate before every step (its
    :class:`Pace`), handles stop requests and the time limit, keeps the best weights."""

    def __init__(self, reporter: Reporter, pace: Pace, batch_size: int, n_train: int, origin: float,
                 first_epoch: int = 0, stage: str = ""):
        super().__init__()
        # A training in stages (pretrained: classifier, then fine-tuning) numbers its epochs on:
        # this stage's first epoch is ``first_epoch + 1``; ``stage`` names it in the history.
        self.first_epoch = first_epoch
        self.stage = stage
        # All times count from ``origin``, the start of reading the pictures, as the time limit does:
        # reading, building the model and fit()'s own set-up come out of the limit too.
        self.origin = origin
        self.reporter = reporter
        self.pace = pace
        self.epochs = first_epoch + pace.max_epochs  # planned in all; re-estimated after each epoch with a time limit
        self.batches = pace.steps_per_epoch
        self.batch_size = batch_size
        self.n_train = n_train
        self.stopped_by_user = False
        self.stopped_by_time_limit = False
        self.cut_short = False  # the running epoch was interrupted: its figures and weights don't count
        #: The time limit stopped this stage's first epoch part-way: seconds one epoch was projected
        #: to take (None: it did not happen).
        self.partial_first_epoch: float | None = None
        self.batch_done = 0
        self.history: list[dict] = []
        self.best_epoch = 0
        self.best_key: tuple[float, float] | None = None
        self.best_weights = None

    def on_train_begin(self, logs=None):
        now = _clock() - self.origin
        log.info("the first epoch begins %.1f s after training started", now)
        if not self.pace.fit_began(now):
            log.info("time limit spent before the first epoch: training one epoch")
            self.stopped_by_time_limit = True
            self.epochs = self.first_epoch + self.pace.max_epochs

    def seed_best(self, key: tuple[float, float], weights, epoch: int) -> None:
        """Start from an earlier stage's best: this stage's epochs are kept only if they beat it."""
        self.best_key, self.best_weights, self.best_epoch = key, weights, epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_index = epoch
        self.epoch_start = _clock()

    def on_train_batch_begin(self, batch, logs=None):
        step = self.epoch_index * self.batches + batch
        self.model.optimizer.learning_rate = self.pace.learning_rate(step, _clock() - self.origin)

    def _check_stop(self, training: bool) -> None:
        if not self.cut_short:
            if self.reporter.should_stop():
                self.stopped_by_user = self.cut_short = True
                log.info("stop requested")
            elif training and self.pace.overrun(_clock() - self.origin):
                # (not during validation: the epoch's training is done, so it may as well count)
                self.stopped_by_time_limit = self.cut_short = True
                if not self.pace.epoch_seconds:
                    spent = max(_clock() - self.epoch_start, 1e-9)
                    self.partial_first_epoch = (self.pace.first_epoch_estimate
                                                or spent * self.batches / max(self.batch_done, 1))
                log.info("time limit overrun: this epoch is cut short")
        if self.cut_short:
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        now = _clock()
        self.batch_done = batch + 1
        self.pace.first_epoch_batch_ended(batch + 1, now - self.origin)
        if not self.pace.first_epoch_fits():
            self.epochs = self.first_epoch + 1  # this one will be the only one
        seen = min((batch + 1) * self.batch_size, self.n_train)
        spent = max(now - self.epoch_start, 1e-9)
        rate = seen / spent
        self.reporter.on_batch_end(BatchEvent(
            epoch=self.first_epoch + len(self.history) + 1, epochs=self.epochs, batch=batch + 1, batches=self.batches,
            loss=float(logs.get("loss", math.nan)), accuracy=float(logs.get("accuracy", math.nan)),
            images_per_second=rate, elapsed=now - self.origin,
            epoch_eta=(self.n_train - seen) / rate if rate > 0 else 0.0, phase=self.stage or "train",
        ))
        self._check_stop(training=True)

    def on_test_batch_end(self, batch, logs=None):
        # A stop request also cuts the validation pass short; that epoch is then not counted.
        self._check_stop(training=False)
        if self.cut_short:
            self.model.stop_evaluating = True
            self.model.stop_training = True  # else fit() would start another epoch first

    def on_epoch_end(self, epoch, logs=None):
        if self.cut_short:
            return  # a partial epoch: its figures would mislead, and its weights are not "best"
        logs = logs or {}
        now = _clock()
        train_seconds = now - self.epoch_start
        elapsed = now - self.origin
        self.pace.epoch_ended(elapsed)
        number = self.first_epoch + epoch + 1
        entry = {
            "epoch": number,
            "loss": float(logs.get("loss", math.nan)),
            "accuracy": float(logs.get("accuracy", math.nan)),
            "val_loss": float(logs.get("val_loss", math.nan)),
            "val_accuracy": float(logs.get("val_accuracy", math.nan)),
            "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "seconds": round(train_seconds, 3),
        }
        if self.stage:
            entry["stage"] = self.stage
        key = (entry["val_accuracy"], -entry["val_loss"])
        is_best = self.best_key is None or key > self.best_key
        if is_best:
            self.best_key = key
            self.best_epoch = number
            self.best_weights = self.model.get_weights()
        self.history.append(entry)
        if epoch + 1 >= self.pace.max_epochs:
            self.model.stop_training = True  # fewer than fit() was asked for (see on_train_begin)
        elif not self.pace.next_epoch_fits(elapsed):
            self.stopped_by_time_limit = True
            self.model.stop_training = True
            log.info("time limit: epoch %d is the last one that fits", epoch + 1)
        self.epochs = self.first_epoch + self.pace.planned_epochs(elapsed)  # ``number`` when this is the last one
        self.reporter.on_epoch_end(EpochEvent(
            epoch=number, epochs=self.epochs, loss=entry["loss"], accuracy=entry["accuracy"],
            val_loss=entry["val_loss"], val_accuracy=entry["val_accuracy"],
            images_per_second=self.n_train / max(train_seconds, 1e-9), elapsed=elapsed,
            epoch_seconds=train_seconds, learning_rate=entry["learning_rate"], is_best=is_best,
            phase=self.stage or "train",
        ))


def unchecked_note(split: str) -> str:
    """What the user reads when a second Stop skipped the check of the kept model."""
    return (f"The model was not checked on the {split} pictures: you pressed Stop again to skip the check, "
            f"so how often it is right is not known. The Evaluate tab can check it on a folder.")


def check_decoded(train_set, val_set, class_names: list[str]) -> None:
    if len(train_set) == 0:
        raise DatasetError("None of the training pictures could be read.")
    present = set(train_set.y.tolist())
    missing = [name for i, name in enumerate(class_names) if i not in present]
    if missing:
        raise DatasetError(f"No readable training pictures for: {', '.join(missing)}.")
    if val_set is not None and len(val_set) == 0:  # (None: every picture trains, none is held out)
        raise DatasetError("None of the validation pictures could be read.")
