"""Training that starts from a pretrained network (the app's default), in three stages:

1. **Features once.** The frozen backbone (:mod:`.backbone`) turns every training picture and its
   mirror image, and every validation picture, into features, a chunk of pictures at a time
   (:mod:`.features`: streamed, cached on disk by file content, so training again on the same
   folder skips the pictures already seen).
2. **The classifier** (dropout + one dense layer) is trained on those features: seconds, with
   an epoch's figures reported as usual.
3. **Fine-tuning**, when the time limit leaves room and the dataset is large enough to profit:
   the backbone's last blocks are trained with the classifier at a low learning rate. The blocks
   before them never change, so their output (the activations where the last blocks begin) was
   computed and cached in stage 1 with the features, and each fine-tuning step runs only the
   last blocks: a fraction of the network's cost (README has the figures). The augmentation is
   the mirror image. An epoch is kept only if it beats the best so far, so fine-tuning can never
   make the model worse on the validation pictures.

All of it runs inside the time limit, reports through the same :class:`~.events.Reporter`
and stops on the same request as the from-scratch training. The model that comes out is one
end-to-end Keras model taking raw 0..255 RGB pixels (the scaling a layer inside it), saved,
loaded and used exactly like a from-scratch one.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import time

import keras
import numpy as np
from keras import layers

from ..config import MIN_FINE_TUNE_PICTURES
from ..model import backbone as backbones
from ..model import calibration
from ..data import pipeline
from ..config import TrainingConfig
from ..data.dataset import DatasetScan, Split
from ..errors import CancelledError
from ..classify.classifier import probabilities_from_outputs
from ..evaluate.evaluation import evaluate_probabilities
from . import few, starting_point
from .fit import ProgressCallback, TrainingResult, check_decoded, class_weights, compile_model, unchecked_note
from .events import EpochEvent, PhaseEvent
from ..model.engine import CONVERT_FROM
from ..model.features import (FeatureCache, backbone_identity, backbone_namespace, compute_features,
                              default_cache_dir)
from .schedule import Pace

log = logging.getLogger(__name__)

#: Fine-tuning's peak learning rate, as a share of ``config.learning_rate`` (the classifier's):
#: the pretrained weights are to be adjusted, not overwritten.
FINE_TUNE_RATE_SHARE = 0.01
#: A fine-tuning step on one view of a picture costs about this many of the whole backbone's
#: forward passes on TensorFlow (forward and backward through the last blocks only); used only to
#: decide whether two epochs still fit in the time limit. Measured on 2026-12-07, 2-core AMD EPYC
#: with AVX2 only: 58 s an epoch of 11,200 views against 93 forward passes/s, 0.48. (0.8, measured
#: earlier on an AVX-512 machine, left fine-tuning out of every 5-minute training here: 97.1-97.9 %
#: held-out accuracy instead of 98.9 %.) An epoch that turns out longer is cut by the time limit,
#: still scored, and kept only if it is better.
FINE_TUNE_STEP_COST = 0.5
#: Running the fine-tuned blocks forward on one picture's cached activations, in the same units
#: (measured the same day: 14 s for 4,400 pictures at 93 passes/s, 0.30).
TOP_FORWARD_COST = 0.3
#: Fine-tuning holds the activations of every training picture's views in memory: not more than this.
FINE_TUNE_MAX_BYTES = 1_500_000_000
#: Batch size of the classifier on features (each step is tiny; larger batches waste less time).
HEAD_BATCH = 64
#: The classifier trains for at least this many steps (more epochs on a small dataset): a
#: hundred pictures a class make 5 batches an epoch, and 30 epochs of them left it unsettled.
MIN_HEAD_STEPS = 400
#: Converting the trained model for the fast runtime before the final check (about 5 s on 2 cores).
CONVERT_SECONDS = 8.0
#: Pictures decoded and predicted together in the final evaluation.
EVAL_CHUNK = 128

_clock = time.perf_counter


def train_pretrained(config: TrainingConfig, data: DatasetScan, reporter, start_from=None):
    """:func:`~.train.train` for ``config.backbone`` != "none" (same arguments, TrainingResult, errors).

    ``start_from`` (a :class:`.starting_point.StartingPoint`): the backbone gets the old model's last
    blocks and the classifier its weights (:mod:`.starting_point`); the features are then those of the
    old model's backbone, cached under a name of their own when its last blocks were fine-tuned."""
    spec = backbones.spec(config.backbone)
    size = config.image_size
    num_classes = len(data.class_names)
    start = _clock()
    time_limit = config.time_limit_minutes * 60 or None
    notes: list[str] = []
    stage_seconds: dict[str, float] = {}

    # Few pictures (core.training.few): every one trains, and the accuracy is cross-validated.
    every = few.uses_every_picture(config, data, start_from)
    if every:
        data = few.every_picture(data, config)

    keras.backend.clear_session()
    gc.collect()
    keras.utils.set_random_seed(config.seed)
    backbone = backbones.make_backbone(config.backbone, size)
    tuned_digest = (starting_point.load_backbone(backbone, start_from, spec.fine_tune_from)
                    if start_from is not None else None)
    bottom, top = backbones.split(backbone, config.backbone)
    mid_shape = tuple(top.input.shape[1:])
    views = 2 if config.augmentation else 1
    obstacle = _fine_tune_size_obstacle(config, data, mid_shape, views, every)
    if obstacle:
        notes.append(obstacle)
    fine_tune = config.fine_tune and obstacle is None
    stage_seconds["setup"] = _clock() - start

    # --- 1. features (and, for fine-tuning, the activations where the last blocks begin) ---
    features_start = _clock()
    namespace = backbone_namespace(config.backbone, size)
    folder = default_cache_dir()
    # The blocks before the cut are always the shipped ones: their output is shared by every model.
    pooled_namespace = namespace + (f"-tuned-{tuned_digest}" if tuned_digest else "")
    caches = [FeatureCache(folder, pooled_namespace, (spec.feature_dim,))]
    if fine_tune:
        caches.append(FeatureCache(folder, f"{namespace}-{spec.fine_tune_from}", mid_shape))
    extract = _feature_function(bottom, size, with_mid=fine_tune, name=config.backbone, tuned=tuned_digest)
    total = len(data.train) + len(data.validation)
    offset = 0

    def progress(done: int, _total: int) -> None:
        reporter.on_stage(PhaseEvent(offset + done, total, "Computing features", "features"))

    train_feats = compute_features(extract, data.train.paths, data.train.labels, size, caches,
                                   mirror=views == 2, progress=progress, should_stop=reporter.should_stop)
    offset = len(data.train)
    val_feats = compute_features(extract, data.validation.paths, data.validation.labels, size, caches,
                                 mirror=False, progress=progress, should_stop=reporter.should_stop)
    stage_seconds["features"] = _clock() - features_start
    computed = train_feats.computed + val_feats.computed
    cached = len(train_feats) + len(val_feats) - computed
    # Forward passes a second (mirror images included), for deciding whether fine-tuning fits.
    forward_rate = ((views * train_feats.computed + val_feats.computed) / stage_seconds["features"]
                    if computed >= 64 else None)
    skipped = train_feats.skipped + val_feats.skipped
    check_decoded(train_feats, None if every else val_feats, data.class_names)
    log.info("features of %d pictures in %.1f s (%d computed, %d from the cache)", total,
             stage_seconds["features"], computed, cached)

    # --- 2. the classifier on the features ---
    head_start = _clock()
    dropout, dense = _classifier_layers(config, num_classes)
    features_in = keras.Input(shape=(spec.feature_dim,), name="features")
    head = keras.Model(features_in, dense(dropout(features_in)), name="classifier")
    if start_from is not None:
        starting_point.start_classifier(dense, start_from, list(data.class_names))
    cross_validation = None
    if every:
        fit, cross_validation = _fit_every_picture(dense, train_feats, data.class_names, config, reporter, start)
    else:
        fit = _fit_stage(head, config, reporter, start, time_limit, stage="classifier", first_epoch=0, best=None,
                         x=train_feats.features.reshape(-1, spec.feature_dim), y=np.repeat(train_feats.labels, views),
                         val=(val_feats.features[:, 0], val_feats.labels), batch_size=HEAD_BATCH,
                         epochs=config.head_epochs, min_steps=MIN_HEAD_STEPS, early_stopping=False)
    if fit.stopped_by_user and fit.best_epoch == 0:
        raise CancelledError("Training was stopped before the first epoch ended; no model was made.")
    stage_seconds["classifier"] = _clock() - head_start
    history, best = list(fit.history), fit

    # --- 3. fine-tuning the last blocks on their cached input ---
    if fine_tune and not fit.stopped_by_user:
        forward_rate = forward_rate or _time_forward_passes(extract, size)
        # Fine-tuning steps run on TensorFlow (they need gradients): their cost is counted in its passes.
        tf_rate = _time_forward_passes(extract.run_tensorflow, size) if extract.fast else forward_rate
        # The final check on the held-out pictures (one forward pass each, after converting the new
        # model when there are enough of them) comes out of the limit too.
        check_seconds = len(data.evaluation_split) / forward_rate + (
            CONVERT_SECONDS if extract.fast and len(data.evaluation_split) >= CONVERT_FROM else 0.0)
        # ... and so does calibrating "not sure" and "none of these" after fine-tuning: the tuned
        # blocks run again on the cached activations of the validation pictures and a sample of the
        # training ones.
        sampled = len(calibration.subsample(train_feats.labels)) + len(val_feats)
        check_seconds += sampled * TOP_FORWARD_COST / tf_rate
        ft_limit = time_limit - check_seconds if time_limit else None
        reason = _fine_tune_time_obstacle(data, views, tf_rate, ft_limit, _clock() - start)
        if reason:
            notes.append(reason)
        else:
            ft_start = _clock()
            tuned = keras.Model(top.input, dense(dropout(top.output)), name="fine_tuning")
            backbones.set_fine_tuning(backbone, config.backbone, True)
            try:
                fit = _fit_stage(
                    tuned, dataclasses.replace(config, learning_rate=config.learning_rate * FINE_TUNE_RATE_SHARE),
                    reporter, start, ft_limit, stage="fine-tuning", first_epoch=len(history), best=best,
                    x=train_feats.mid.reshape(-1, *mid_shape), y=np.repeat(train_feats.labels, views),
                    val=(val_feats.mid[:, 0], val_feats.labels), batch_size=config.batch_size,
                    epochs=config.epochs, min_steps=0, early_stopping=config.early_stopping)
            finally:
                backbones.set_fine_tuning(backbone, config.backbone, False)
            history += fit.history
            stage_seconds["fine-tuning"] = _clock() - ft_start
            if fit.history and fit.best_epoch <= best.best_epoch:
                notes.append("Fine-tuning did not beat the classifier alone on the validation pictures, "
                             "so the model without it is kept.")
    calibration_start = _clock()
    marks = "Preparing “not sure” and “none of these”"
    reporter.on_stage(PhaseEvent(0, 2, marks, "calibration"))
    pooled = _pooled_for_calibration(train_feats, val_feats, top if "fine-tuning" in stage_seconds else None,
                                     config.seed)
    calibration_seconds = _clock() - calibration_start
    del train_feats, val_feats
    train_seconds = _clock() - head_start - calibration_seconds
    model = _end_to_end(config, backbone, dropout, dense)
    reporter.on_stage(PhaseEvent(1, 2, marks, "calibration"))
    calibration_start = _clock()
    calibrated = _calibrate(head, model, pooled, num_classes, config.seed, cross_validation)
    reporter.on_stage(PhaseEvent(2, 2, marks, "calibration"))
    # "not sure" and "none of these" (core.model.calibration); not a stage the user waits for by name
    stage_seconds["calibration"] = calibration_seconds + _clock() - calibration_start

    # --- evaluation on held-out pictures, by the model as it is saved ---
    eval_start = _clock()
    if cross_validation is not None and data.evaluation_name != "test":
        evaluation, eval_skipped = cross_validation, []  # no held-out pictures: the estimate is the figure
    else:
        evaluation, eval_skipped = _evaluate(model, data.evaluation_split, data.class_names, size,
                                             data.evaluation_name, reporter)
    if cross_validation is not None:
        notes.append(few.sentence(cross_validation, len(data.train)))
    stage_seconds["evaluation"] = _clock() - eval_start
    if not evaluation.checked:
        notes.append(unchecked_note(data.evaluation_name))
    skipped += [s for s in eval_skipped if s not in skipped]
    log.info("pretrained training: %d epochs, best %d, %s accuracy %.4f; stages %s", len(history), fit.best_epoch,
             data.evaluation_name, evaluation.accuracy, {k: round(v, 1) for k, v in stage_seconds.items()})
    summary = data.summary(trained_record=True)
    summary["skipped"] = len(data.skipped) + len(skipped)
    return TrainingResult(
        model=model, class_names=list(data.class_names), config=config, history=history,
        best_epoch=fit.best_epoch, stopped_by_user=fit.stopped_by_user, stopped_early=fit.stopped_early,
        evaluation=evaluation, dataset_summary=summary, skipped=skipped,
        decode_seconds=stage_seconds["features"], train_seconds=train_seconds,
        stopped_by_time_limit=fit.stopped_by_time_limit, stage_seconds=stage_seconds,
        features_computed=computed, features_cached=cached, notes=notes, calibration=calibrated,
        cross_validation=cross_validation,
        backbone={"name": spec.name, "weights_file": spec.weights_file,
                  "weights_sha256": backbones.weights_sha256(spec.name)},
    )


def _pooled_for_calibration(train_feats, val_feats, top, seed: int):
    """(training features of a subsample, their labels, validation features, their labels) as the
    saved model computes them: the cached features, or, after fine-tuning changed the last blocks,
    those blocks run again on their cached input (view 0: the pictures, not their mirror images)."""
    keep = calibration.subsample(train_feats.labels, seed=seed)

    def pooled(feature_set, rows):
        if top is None:
            return feature_set.features[rows, 0].astype(np.float32)
        return np.concatenate([top.predict(feature_set.mid[rows[s:s + EVAL_CHUNK], 0].astype(np.float32), verbose=0)
                               for s in range(0, len(rows), EVAL_CHUNK)]) if len(rows) else np.zeros((0, 1))

    try:
        return (pooled(train_feats, keep), train_feats.labels[keep],
                pooled(val_feats, np.arange(len(val_feats))), val_feats.labels)
    except Exception:  # noqa: BLE001 - see _calibrate
        log.warning("features for calibration failed", exc_info=True)
        return None


def _calibrate(head, model, pooled, num_classes: int, seed: int, cross_validation=None) -> dict | None:
    """The "not sure" threshold and "none of these" summary (core.model.calibration) from the classifier's
    outputs on the validation features, or, when every picture trained it, the cross-validated answers
    (``cross_validation``, core.training.few); None if that fails (logged; the model is kept regardless)."""
    if pooled is None:
        return None
    train_x, train_y, val_x, val_y = pooled
    try:
        source = "validation"
        if cross_validation is not None:
            if not cross_validation.checked:
                return None
            names = cross_validation.class_names
            val_probs = np.array([[r.probabilities[c] for c in names] for r in cross_validation.results])
            val_y = np.array([names.index(r.true_class) for r in cross_validation.results])
            source = calibration.CROSS_VALIDATED
        else:
            val_probs = probabilities_from_outputs(head.predict(val_x, batch_size=256, verbose=0))
        return calibration.calibrate(train_x, train_y, val_x, val_probs, val_y, num_classes,
                                     calibration.feature_layer(model), seed, source=source)
    except Exception:  # noqa: BLE001 - an optional extra must never cost the user the trained model
        log.warning("calibration failed; the model will not say 'not sure' by itself", exc_info=True)
        return None


@dataclasses.dataclass
class _StageResult:
    history: list[dict]
    best_epoch: int           # over all stages so far
    best_key: tuple | None
    stopped_by_user: bool
    stopped_by_time_limit: bool
    stopped_early: bool


def _fit_every_picture(dense, train_feats, class_names, config, reporter, origin):
    """The classifier fitted on every picture and its mirror image with a fixed schedule (core.training.few),
    put into ``dense``, and its accuracy estimated by cross-validation: (a _StageResult of one "epoch"
    whose validation figures are the estimate's, the estimate: an EvaluationResult)."""
    message = "Training the classifier on every picture, then cross-validating it:"
    k = len(class_names)
    folds = few.folds_for(train_feats.labels, k)
    reporter.on_stage(PhaseEvent(0, folds + 1, message, "classifier"))
    started = _clock()
    fitted = few.fit(train_feats.features, train_feats.labels, k, config.seed)
    few.set_dense(dense, fitted)
    seconds = _clock() - started
    reporter.on_stage(PhaseEvent(1, folds + 1, message, "classifier"))
    estimate = few.cross_validate(train_feats.features, train_feats.labels, train_feats.paths, class_names,
                                  config.seed, reporter.should_stop,
                                  lambda fold: reporter.on_stage(PhaseEvent(1 + fold, folds + 1, message, "classifier")))
    own = evaluate_probabilities(few.probabilities(fitted, train_feats.features[:, 0]), train_feats.labels,
                                 class_names)
    entry = {"epoch": 1, "loss": own.loss, "accuracy": own.accuracy,
             "val_loss": estimate.loss if estimate.checked else math.nan,
             "val_accuracy": estimate.accuracy if estimate.checked else math.nan,
             "learning_rate": few.STEP_SIZE, "seconds": round(seconds, 3), "stage": "classifier"}
    elapsed = _clock() - origin
    reporter.on_epoch_end(EpochEvent(
        epoch=1, epochs=1, loss=entry["loss"], accuracy=entry["accuracy"], val_loss=entry["val_loss"],
        val_accuracy=entry["val_accuracy"], images_per_second=len(train_feats) / max(seconds, 1e-9),
        elapsed=elapsed, epoch_seconds=seconds, learning_rate=entry["learning_rate"], is_best=True,
        phase="classifier"))
    result = _StageResult(history=[entry], best_epoch=1, best_key=None, stopped_by_user=reporter.should_stop(),
                          stopped_by_time_limit=False, stopped_early=False)
    return result, estimate


def _fit_stage(model, config, reporter, origin, time_limit, stage, first_epoch, best, x, y, val, batch_size,
               epochs, min_steps, early_stopping) -> _StageResult:
    """Fit ``model`` on in-memory arrays with the app's progress, stop, schedule and best-epoch
    rules; ``best`` (an earlier stage's result) must be beaten for an epoch to be kept. The
    model ends with the best weights (the earlier stage's when none beat them)."""
    k = 2 if model.output_shape[-1] == 1 else model.output_shape[-1]
    compile_model(model, config, k)
    batches = math.ceil(len(x) / batch_size)
    epochs = max(epochs, math.ceil(min_steps / batches))
    pace = Pace(config.learning_rate, batches, epochs, time_limit)
    progress = ProgressCallback(reporter, pace, batch_size, len(x), origin,
                                          first_epoch=first_epoch, stage=stage)
    if best is not None:
        progress.seed_best(best.best_key, model.get_weights(), best.best_epoch)
    callbacks = [progress]
    early = None
    if early_stopping:
        early = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=config.patience)
        callbacks.append(early)
    train_ds = pipeline.make_dataset(x, y, k, batch_size, True, config.seed)
    val_ds = pipeline.make_dataset(val[0], val[1], k, max(batch_size, 64), False)
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks,
              class_weight=class_weights(y, k), shuffle=False, verbose=0)
    if progress.best_weights is not None:
        model.set_weights(progress.best_weights)
    return _StageResult(
        history=progress.history, best_epoch=progress.best_epoch, best_key=progress.best_key,
        stopped_by_user=progress.stopped_by_user,
        stopped_by_time_limit=progress.stopped_by_time_limit,
        stopped_early=bool(early is not None and early.stopped_epoch > 0 and not progress.cut_short),
    )


def _feature_function(bottom, size: int, with_mid: bool, name: str, tuned: str | None = None):
    """0..255 float32 pixels (n, size, size, 3) -> [features (n, dim)] (and the activations where
    fine-tuning begins, with ``with_mid``): an inference engine (core.model.engine) for any n,
    ONNX Runtime once converted (the conversion is cached per backbone, size and outputs, and
    ``tuned``: the digest of last blocks another training fine-tuned, core.training.starting_point)."""
    from ..model.engine import Engine

    scale = backbones.preprocessing_layer()

    def forward(x):
        mid, pooled = bottom(scale(x), training=False)
        return (pooled, mid) if with_mid else (pooled,)

    identity = (backbone_identity(name) + ("+mid" if with_mid else "")
                + (f"|tuned-{tuned}" if tuned else ""))
    return Engine(forward, size, identity, f"the {backbones.spec(name).label} backbone", probabilities_first=False)


def _end_to_end(config: TrainingConfig, backbone, dropout, dense) -> keras.Model:
    """Raw pixels -> scaling -> backbone -> classifier: the model that is evaluated and saved,
    made of the trained layers themselves."""
    size = config.image_size
    inputs = keras.Input(shape=(size, size, 3), name="image")
    x = backbones.preprocessing_layer()(inputs)
    x = backbone(x, training=False)
    return keras.Model(inputs, dense(dropout(x)), name=f"catdog_{config.backbone}")


def make_pretrained_model(config: TrainingConfig, num_classes: int) -> keras.Model:
    """The saved model's architecture with an untrained classifier (for measuring its speed)."""
    dropout, dense = _classifier_layers(config, num_classes)
    return _end_to_end(config, backbones.make_backbone(config.backbone, config.image_size), dropout, dense)


def _classifier_layers(config: TrainingConfig, num_classes: int):
    """Dropout and the output layer: sigmoid for two classes, softmax for more (as from scratch)."""
    dense = (layers.Dense(1, activation="sigmoid", name="predictions") if num_classes == 2 else
             layers.Dense(num_classes, activation="softmax", name="predictions"))
    return layers.Dropout(config.dropout, name="dropout"), dense


def _fine_tune_size_obstacle(config, data, mid_shape, views, every: bool = False) -> str | None:
    """Why this dataset should not be fine-tuned (a sentence for the user), or None."""
    if not config.fine_tune:
        return None
    n_train = len(data.train)
    if every and n_train >= MIN_FINE_TUNE_PICTURES:
        return (f"Fine-tuning was skipped: with fewer than {config.cross_validate_below} pictures in a class, every "
                "picture trains the classifier and none is left to tell whether fine-tuning helps.")
    if n_train < MIN_FINE_TUNE_PICTURES:
        return (f"Fine-tuning was skipped: with {n_train} training pictures (fewer than "
                f"{MIN_FINE_TUNE_PICTURES}) the classifier alone is as accurate, and much faster.")
    needed = (n_train * views + len(data.validation)) * int(np.prod(mid_shape)) * 2
    if needed > FINE_TUNE_MAX_BYTES:
        return (f"Fine-tuning was skipped: for {n_train} training pictures it would need "
                f"{needed / 1e9:.1f} GB of memory; a smaller image size fits.")
    return None


def _time_forward_passes(extract, size: int) -> float:
    """The backbone's forward passes a second, timed on one batch (when every feature came from the
    cache, the features stage measured nothing)."""
    probe = np.zeros((32, size, size, 3), np.float32)
    extract(probe)
    fastest = math.inf
    for _ in range(3):  # the fastest of three: one timing right after the graph was traced ran 30 % slow
        t = _clock()
        extract(probe)
        fastest = min(fastest, _clock() - t)
    return 32 / max(fastest, 1e-6)


def _fine_tune_time_obstacle(data, views, forward_rate, time_limit, elapsed) -> str | None:
    """Why fine-tuning does not fit in the time left (a sentence for the user), or None."""
    if time_limit is None:
        return None
    epoch_seconds = len(data.train) * views * FINE_TUNE_STEP_COST / forward_rate
    if time_limit - elapsed < 2 * epoch_seconds:
        return (f"Fine-tuning was skipped: one pass over the pictures would take about "
                f"{epoch_seconds / 60:.1f} minutes and the time limit leaves "
                f"{max(0.0, time_limit - elapsed) / 60:.1f}. A longer time limit lets it run.")
    return None


def _evaluate(model, split: Split, class_names: list[str], size: int, name: str, reporter):
    """Score ``model`` on ``split`` as the app classifies (threads decode, one compiled graph
    predicts a batch at a time: memory stays small however many pictures there are).

    A stop does not end it (the model is made, and its score is owed); after a stop, Stop pressed
    again (``reporter.should_skip_check()``) does: the result is then unchecked."""
    from ..evaluate.evaluation import EvaluationResult
    from ..classify.classifier import Classifier

    classifier = Classifier(model, class_names, size)
    message = f"Checking the {'kept ' if reporter.should_stop() else ''}model on {len(split):,} {name} pictures…"
    reporter.on_stage(PhaseEvent(0, len(split), message, "evaluation"))

    def on_result(index: int, _prediction) -> None:
        if (index + 1) % EVAL_CHUNK == 0 or index + 1 == len(split):
            reporter.on_stage(PhaseEvent(index + 1, len(split), message, "evaluation"))

    def skip() -> bool:
        return reporter.should_stop() and reporter.should_skip_check()

    # The app's own batches (two of 32 at the model at once), not EVAL_CHUNK: two of 128 would
    # add about a gigabyte to the training's peak.
    predictions = [] if skip() else classifier.predict_paths(split.paths, on_result=on_result, should_stop=skip)
    if skip():
        return EvaluationResult.unchecked(name, class_names), []
    good = [i for i, p in enumerate(predictions) if p.ok]
    probabilities = (np.array([[predictions[i].probabilities[c] for c in class_names] for i in good])
                     if good else np.zeros((0, len(class_names))))
    skipped = [(p.path, p.error) for p in predictions if not p.ok]
    result = evaluate_probabilities(probabilities, np.asarray([split.labels[i] for i in good]), class_names,
                                    [split.paths[i] for i in good], name)
    return result, skipped
