"""Train in a child process, so that each training gives all its memory back when it ends.

TensorFlow keeps 20-60 MB per ``fit()`` that it never frees, even after the model is gone and
``clear_session()`` ran (tensorflow#61791, keras#20552; measured here: +31 MB per Quick-preset
training, +318 MB over ten). An app where people train again and again would grow without
bound. A child process per training ends that, and an out-of-memory kill ends the training,
not the app.

The child runs :func:`catdog_desktop.core.training.train` unchanged and sends its reports
back through a one-way pipe (the dataclasses of :mod:`.events`, as they are); the trained model comes back as a ``.keras``
file in a private temporary folder, loaded with ``safe_mode=True`` like any other model.
The stop flag is a lock-free shared byte, so a child killed at any moment cannot leave a
lock held; the child exits by itself if the app dies. Importing this module imports neither
TensorFlow nor Qt.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
from multiprocessing.connection import wait

from .. import errors
from .events import ErrorEvent, FinishedEvent, PhaseEvent, Reporter

log = logging.getLogger(__name__)

#: How often the parent looks at the stop flags while waiting for reports (seconds).
POLL_SECONDS = 0.05
#: Values of the shared stop flag: run; stop (keep the best epoch); stop and skip the final check.
RUN, STOP, SKIP_CHECK = 0, 1, 2
#: Said while the trained model travels from the child to the app (saved there, loaded here).
HANDOVER = "Handing the trained model to the app…"


def train_in_subprocess(config, data, reporter=None, start_from: str | None = None):
    """Like :func:`training.train` (same arguments, result and exceptions), in a child process;
    with ``start_from`` (a saved model's path, only read) like :func:`.continued.continue_training`.

    ``reporter.should_stop()`` stops at the next batch and keeps the best epoch, as in-process;
    ``reporter.should_skip_check()`` after it skips the kept model's check, as in-process.
    If the reporter has ``should_abandon()`` and it returns True (the app is closing), the child
    is ended at once and nothing is kept.

    Raises :class:`~catdog_desktop.core.errors.CancelledError` when stopped before the first
    epoch ended (or abandoned), the same :class:`~catdog_desktop.core.errors.CatdogError`
    subclass the training raised, or :class:`~catdog_desktop.core.errors.CatdogError` with a
    readable message for anything else, including the child being killed (e.g. out of memory).
    """
    from .train import TrainingResult

    reporter = reporter or Reporter()
    if reporter.should_stop():
        raise errors.CancelledError("Training was stopped before it began; no model was made.")
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads or locks
    folder = tempfile.mkdtemp(prefix="catdog-training-")
    process = None
    reader = writer = None
    stop_sent = False
    try:
        reader, writer = context.Pipe(duplex=False)
        flag = context.RawValue("b", RUN)
        model_path = os.path.join(folder, "model.keras")
        process = context.Process(
            target=_child, args=(config, data, writer, flag, model_path, logging.getLogger().getEffectiveLevel(),
                                start_from),
            name="catdog-training", daemon=True)
        process.start()
        writer.close()  # only the child writes: if it dies, the reader sees the end of the pipe
        started = False
        while True:
            abandon = getattr(reporter, "should_abandon", None)
            if abandon is not None and abandon():
                raise errors.CancelledError("Training was abandoned; no model was kept.")
            if not stop_sent and reporter.should_stop():
                flag.value = STOP
                stop_sent = True
                if not started:  # still starting up: nothing to keep, end it now
                    raise errors.CancelledError("Training was stopped before it began; no model was made.")
            if stop_sent and flag.value == STOP and reporter.should_skip_check():
                flag.value = SKIP_CHECK
            ready = wait([reader, process.sentinel], POLL_SECONDS)
            if not ready:
                continue
            try:
                event = reader.recv()
            except (EOFError, OSError):  # the child is gone and everything it sent was read
                process.join(5.0)
                _raise_for_exit(process.exitcode)
            started = True
            if isinstance(event, ErrorEvent):
                cls = getattr(errors, event.error_class, None)
                if not (isinstance(cls, type) and issubclass(cls, errors.CatdogError)):
                    cls = errors.CatdogError
                raise cls(event.message)
            if isinstance(event, FinishedEvent):
                from ..model.storage import load_bundle

                reporter.on_event(PhaseEvent(1, 2, HANDOVER, "handover"))

                model = load_bundle(model_path).model
                return TrainingResult(model=model, **event.result)
            reporter.on_event(event)
    finally:
        if process is not None and process.is_alive():
            process.terminate()  # done, failed or abandoned: nothing more to wait for
            process.join(5.0)
            if process.is_alive():
                process.kill()
                process.join(5.0)
        for conn in (reader, writer):
            if conn is not None:
                conn.close()
        shutil.rmtree(folder, ignore_errors=True)


def _raise_for_exit(code) -> None:
    if code is not None and code == -getattr(signal, "SIGKILL", 9):
        raise errors.CatdogError(
            "The training was ended by the system, which usually means the computer ran out of "
            "memory: try a smaller image size or batch size, or close other programs."
        )
    how = "did not exit" if code is None else f"stopped unexpectedly (exit code {code})"
    raise errors.CatdogError(f"The training process {how}. Try again; if it happens again, start "
                             "catdog-desktop from a terminal to see why.")


def _child(config, data, writer, flag, model_path, log_level, start_from=None) -> None:
    """The child process: train, save the model for the parent, report everything."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s [training]: %(message)s")
    _exit_with_parent()
    from ..model import storage
    from . import train as training

    def send(message) -> None:
        try:
            writer.send(message)
        except (BrokenPipeError, ConnectionResetError):
            os._exit(1)  # the app is gone: nobody to train for

    class PipeReporter(Reporter):
        """Sends every event to the parent as it is."""

        def on_stage(self, event):
            send(event)

        on_batch_end = on_epoch_end = on_stage

        def should_stop(self):
            return flag.value >= STOP

        def should_skip_check(self):
            return flag.value == SKIP_CHECK

    try:
        if start_from is not None:
            from .continued import continue_training

            result = continue_training(config, data, storage.load_bundle(start_from), PipeReporter())
        else:
            result = training.train(config, data, PipeReporter())
        send(PhaseEvent(0, 2, HANDOVER, "handover"))
        try:
            storage.save_bundle(result.model, result.metadata(), model_path)
        except errors.ModelFileError as exc:
            raise errors.CatdogError(f"The trained model could not be handed back to the app: the temporary "
                                     f"folder is not usable ({exc}).") from None
        fields = {name: getattr(result, name) for name in result.__dataclass_fields__ if name != "model"}
        send(FinishedEvent(fields))
    except errors.CatdogError as exc:
        send(ErrorEvent(type(exc).__name__, str(exc)))
    except Exception as exc:  # noqa: BLE001 - becomes a readable message in the parent
        logging.getLogger(__name__).exception("training failed")
        send(ErrorEvent("CatdogError", errors.describe(exc)))
    finally:
        writer.close()


def _exit_with_parent() -> None:
    """End this process as soon as the parent dies (crash, kill), rather than train for nobody."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch():
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
