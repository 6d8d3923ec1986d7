"""train(config, data, reporter): decode, build, fit, keep the best epoch, evaluate on held-out data.

The reporter is a plain Python object (no Qt): the CLI prints from it, the app's QThread worker
turns its calls into signals. ``should_stop()`` is checked after every batch.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math

import keras

from ..model import calibration
from ..data import pipeline
from ..config import TrainingConfig
from ..data.dataset import DatasetScan
from ..errors import CancelledError
from ..evaluate.evaluation import EvaluationResult, evaluate_model
from .events import PhaseEvent, Reporter
from ..model.network import make_model
from .schedule import Pace
from . import fit, starting_point
from .fit import ProgressCallback, TrainingResult, check_decoded, class_weights, compile_model, unchecked_note

log = logging.getLogger(__name__)



def train(config: TrainingConfig, data: DatasetScan, reporter: Reporter | None = None,
          strategy=None, start_from=None) -> TrainingResult:
    """Train a new model on ``data`` and evaluate it on held-out pictures.

    Raises :class:`~catdog_desktop.core.errors.DatasetError` for an unusable dataset,
    ``ValueError`` for impossible settings and
    :class:`~catdog_desktop.core.errors.CancelledError` if stopped while reading pictures.
    A stop during fitting returns normally with the best epoch so far. With
    ``config.time_limit_minutes``, the learning rate decays over the time and training ends
    with the last epoch that fits (see :mod:`.schedule`).
    ``strategy`` (a ``tf.distribute.Strategy``) trains on several GPUs when given.
    ``start_from`` (a :class:`.starting_point.StartingPoint`): the network starts from a saved model's
    weights instead of fresh ones (use :func:`.continued.continue_training`, which also keeps the
    held-out pictures honest and compares the two models).
    """
    reporter = reporter or Reporter()
    config.validate()
    data.raise_for_errors()
    if config.backbone != "none":
        from .pretrained import train_pretrained

        return train_pretrained(config, data, reporter, start_from)
    num_classes = len(data.class_names)
    size = config.image_size

    start = fit._clock()

    def reading(done: int, total: int, message: str) -> None:
        reporter.on_stage(PhaseEvent(done, total, message, "reading"))

    train_set = pipeline.decode_split(data.train, size, reading, reporter.should_stop, "training pictures")
    val_set = pipeline.decode_split(data.validation, size, reading, reporter.should_stop, "validation pictures")
    eval_name = data.evaluation_name
    eval_set = val_set
    if eval_name == "test":
        eval_set = pipeline.decode_split(data.test, size, reading, reporter.should_stop, "test pictures")
    decode_seconds = fit._clock() - start
    skipped = train_set.skipped + val_set.skipped + (eval_set.skipped if eval_set is not val_set else [])
    check_decoded(train_set, val_set, data.class_names)
    read_end = fit._clock()

    keras.backend.clear_session()
    gc.collect()
    keras.utils.set_random_seed(config.seed)

    batches = math.ceil(len(train_set) / config.batch_size)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = make_model(config, num_classes)
        if start_from is not None:
            starting_point.start_network(model, start_from, list(data.class_names))
        compile_model(model, config, num_classes)

    train_ds = pipeline.make_dataset(train_set.x, train_set.y, num_classes, config.batch_size, True, config.seed)
    val_ds = pipeline.make_dataset(val_set.x, val_set.y, num_classes, max(config.batch_size, 64), False)
    # The time limit counts from the start of reading the pictures (``start``), and so does the pace.
    pace = Pace(config.learning_rate, batches, config.epochs, config.time_limit_minutes * 60 or None)
    progress = ProgressCallback(reporter, pace, config.batch_size, len(train_set), start)
    callbacks: list = [progress]
    early = None
    if config.early_stopping:
        early = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=config.patience)
        callbacks.append(early)
    weights = class_weights(train_set.y, num_classes)
    if weights:
        log.info("class weights: %s", weights)

    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=callbacks,
              class_weight=weights, shuffle=False, verbose=0)  # the dataset shuffles itself
    train_seconds = fit._clock() - read_end  # building the model included
    if progress.stopped_by_user and progress.best_epoch == 0:
        raise CancelledError("Training was stopped before the first epoch ended; no model was made.")
    notes = []
    if progress.best_weights is not None:
        model.set_weights(progress.best_weights)
    elif progress.partial_first_epoch:  # no complete epoch: the weights at the limit beat no model
        notes.append(first_pass_note(len(train_set), progress.partial_first_epoch, config.time_limit_minutes))
    progress.best_weights = None

    if progress.stopped_by_user and reporter.should_skip_check():
        evaluation = EvaluationResult.unchecked(eval_name, data.class_names)
        notes.append(unchecked_note(eval_name))
    else:
        evaluation = evaluate_model(model, eval_set.x, eval_set.y, data.class_names, eval_set.paths, eval_name)
    calibrated = calibrate_model(model, train_set.x, train_set.y, val_set.x, val_set.y, num_classes, config.seed)
    stopped_early = bool(early is not None and early.stopped_epoch > 0 and not progress.cut_short)
    log.info("trained %d epochs in %.1f s; best epoch %d; %s accuracy %.4f",
             len(progress.history), train_seconds, progress.best_epoch, eval_name, evaluation.accuracy)
    summary = data.summary(trained_record=True)
    summary["skipped"] = len(data.skipped) + len(skipped)
    return TrainingResult(
        model=model, class_names=list(data.class_names), config=config, history=progress.history,
        best_epoch=progress.best_epoch, stopped_by_user=progress.stopped_by_user,
        stopped_early=stopped_early, evaluation=evaluation, dataset_summary=summary,
        skipped=skipped, decode_seconds=decode_seconds, train_seconds=train_seconds,
        stopped_by_time_limit=progress.stopped_by_time_limit, notes=notes, calibration=calibrated,
    )


def calibrate_model(model, train_x, train_y, val_x, val_y, num_classes: int, seed: int) -> dict | None:
    """The "not sure" threshold and "none of these" summary of a trained model, from its own outputs
    on the validation pictures (and its features of the training pictures); None if that fails
    (logged: the model is still good, it only lacks the two marks)."""
    from ..classify.classifier import Classifier

    try:
        size = int(model.input_shape[1])
        classifier = Classifier(model, [str(i) for i in range(num_classes)], size)
        return calibration.calibrate_with(classifier.probabilities_and_features, train_x, train_y, val_x, val_y,
                                          num_classes, calibration.feature_layer(model), seed)
    except Exception:  # noqa: BLE001 - an optional extra must never cost the user the trained model
        log.warning("calibration failed; the model will not say 'not sure' by itself", exc_info=True)
        return None


def first_pass_note(pictures: int, epoch_seconds: float, limit_minutes: float) -> str:
    """What the user reads when the time limit stopped the very first pass over the pictures."""
    limit = f"{limit_minutes:g}-minute" if limit_minutes >= 1 else f"{round(limit_minutes * 60)}-second"
    return (f"One pass over {pictures:,} pictures takes about {_duration(epoch_seconds)}, longer than your "
            f"{limit} limit: the model was stopped part-way through its first pass.")


def _duration(seconds: float) -> str:
    return f"{round(seconds)} seconds" if seconds < 120 else f"{round(seconds / 60)} minutes"
