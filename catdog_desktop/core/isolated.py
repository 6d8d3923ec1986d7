"""Train in a child process, so that each training gives all its memory back when it ends.

TensorFlow keeps 20-60 MB per ``fit()`` that it never frees, even after the model is gone and
``clear_session()`` ran (tensorflow#61791, keras#20552; measured here: +31 MB per Quick-preset
training, +300 MB over ten). An app where people train again and again would grow without
bound. A child process per training ends that, and brings two more things: an out-of-memory
kill ends the training, not the app, and a stop request that the training cannot honour in
time still ends it.

The child runs :func:`catdog_desktop.core.training.train` unchanged and sends its reports
back through a queue (plain dataclasses); the trained model comes back as a ``.keras`` file in
a private temporary folder, loaded with ``safe_mode=True`` like any other model. Importing
this module imports neither TensorFlow nor Qt.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import tempfile
import time

from . import errors

log = logging.getLogger(__name__)

#: Seconds the child gets to stop after a stop request before it is terminated.
STOP_GRACE_SECONDS = 30.0
#: How often the parent looks at the stop flag while waiting for reports (seconds).
POLL_SECONDS = 0.05


def train_in_subprocess(config, data, reporter=None):
    """Like :func:`training.train` (same arguments, result and exceptions), in a child process.

    Raises :class:`~catdog_desktop.core.errors.CancelledError` when stopped before the first
    epoch ended, the same :class:`~catdog_desktop.core.errors.CatdogError` subclass the
    training raised, or :class:`~catdog_desktop.core.errors.CatdogError` with a readable
    message for anything else, including the child being killed (e.g. out of memory).
    """
    from .training import Reporter, TrainingResult

    reporter = reporter or Reporter()
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads or locks
    events = context.Queue()
    stop = context.Event()
    folder = tempfile.mkdtemp(prefix="catdog-training-")
    model_path = os.path.join(folder, "model.keras")
    process = context.Process(target=_child, args=(config, data, events, stop, model_path),
                              name="catdog-training", daemon=True)
    process.start()
    started = False       # has the child reported anything yet?
    stop_asked_at = None
    grace = 2.0           # seconds the child gets to finish on its own once we leave
    try:
        while True:
            if stop_asked_at is None and reporter.should_stop():
                stop.set()
                stop_asked_at = time.monotonic()
                if not started:  # still starting up: nothing to keep, end it now
                    grace = 0.0
                    raise errors.CancelledError("Training was stopped before it began; no model was made.")
            if stop_asked_at is not None and time.monotonic() - stop_asked_at > STOP_GRACE_SECONDS:
                raise errors.CancelledError("Training did not stop in time and was ended; no model was kept.")
            try:
                kind, payload = events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not process.is_alive():
                    _raise_for_exit(process.exitcode)
                continue
            started = True
            if kind == "stage":
                reporter.on_stage(*payload)
            elif kind == "batch":
                reporter.on_batch_end(payload)
            elif kind == "epoch":
                reporter.on_epoch_end(payload)
            elif kind == "error":
                error_class, message = payload
                cls = getattr(errors, error_class, None)
                if not (isinstance(cls, type) and issubclass(cls, errors.CatdogError)):
                    cls = errors.CatdogError
                raise cls(message)
            elif kind == "done":
                from .storage import load_bundle

                fields = payload
                model = load_bundle(model_path).model
                return TrainingResult(model=model, **fields)
    finally:
        if process.is_alive() and grace:
            stop.set()
            process.join(grace)
        if process.is_alive():
            process.terminate()
            process.join(5.0)
        events.close()
        events.join_thread()
        shutil.rmtree(folder, ignore_errors=True)


def _raise_for_exit(code) -> None:
    if code is not None and -code == getattr(__import__("signal"), "SIGKILL", 9):
        raise errors.CatdogError(
            "The training was ended by the system, which usually means the computer ran out of "
            "memory: try a smaller image size or batch size, or close other programs."
        )
    raise errors.CatdogError(f"The training process stopped unexpectedly (exit code {code}); "
                             "the app's log has the details.")


def _child(config, data, events, stop, model_path) -> None:
    """The child process: train, save the model for the parent, report everything."""
    from . import storage, training

    class QueueReporter(training.Reporter):
        def on_stage(self, done, total, message):
            events.put(("stage", (done, total, message)))

        def on_batch_end(self, info):
            events.put(("batch", info))

        def on_epoch_end(self, info):
            events.put(("epoch", info))

        def should_stop(self):
            return stop.is_set()

    try:
        result = training.train(config, data, QueueReporter())
        storage.save_bundle(result.model, result.metadata(), model_path)
        fields = {name: getattr(result, name) for name in result.__dataclass_fields__ if name != "model"}
        events.put(("done", fields))
    except errors.CatdogError as exc:
        events.put(("error", (type(exc).__name__, str(exc))))
    except Exception as exc:  # noqa: BLE001 - becomes a readable message in the parent
        logging.getLogger(__name__).exception("training failed")
        events.put(("error", ("CatdogError", errors.describe(exc))))
    finally:
        events.close()
        events.join_thread()  # everything is delivered before the process ends
