"""Background work for the UI: QObject workers moved to QThreads.

A worker runs a plain function (catdog_desktop.core.app.jobs) off the GUI thread. The function gets
a :class:`Task` to report progress, yield partial results and check for a stop request; it raises
CancelledError when stopped before it has a result. :class:`JobRunner` runs the newest job of
each kind and drops what superseded ones still send. Signals carry plain
Python data and follow superqt's vocabulary: ``progress``, ``yielded``, ``returned``,
``errored``, ``aborted`` and ``finished`` (always last; ``returned`` never follows an abort).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

log = logging.getLogger(__name__)


class Task:
    """What a background function sees: progress reporting and the stop flag."""

    def __init__(self, worker: "Worker"):
        self._worker = worker
        self._stop = threading.Event()
        self._stop_again = threading.Event()
        self._abandon = threading.Event()

    def progress(self, done: int, total: int, message: str = "") -> None:
        self._worker.progress.emit((done, total, message))

    def yielded(self, value) -> None:
        self._worker.yielded.emit(value)

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        if self._stop.is_set():
            self._stop_again.set()
        self._stop.set()

    def stopped_again(self) -> bool:
        """Stop was asked for a second time (a training then skips checking its kept model)."""
        return self._stop_again.is_set()

    def abandon(self) -> None:
        """Stop, and keep nothing: the result is no longer wanted (the window is closing)."""
        self._abandon.set()
        self._stop.set()

    def should_abandon(self) -> bool:
        return self._abandon.is_set()


class Worker(QObject):
    """Runs ``fn(task, *args)`` in a thread; see the module docstring for its signals."""

    progress = Signal(object)   # (done, total, message)
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(str)       # a sentence for the user
    aborted = Signal()
    finished = Signal()

    def __init__(self, fn: Callable, *args, name: str = "work"):
        super().__init__()
        self.fn = fn
        self.args = args
        self.name = name
        self.task = Task(self)

    def stop(self) -> None:
        """Ask the function to stop at its next check. Thread-safe."""
        self.task.stop()

    def abandon(self) -> None:
        """Ask the function to stop as soon as it can, keeping nothing. Thread-safe."""
        self.task.abandon()

    @Slot()
    def run(self) -> None:
        from ..core.errors import CancelledError, CatdogError, describe

        try:
            result = self.fn(self.task, *self.args)
        except CancelledError:
            self.aborted.emit()
        except CatdogError as exc:
            log.info("%s: %s", self.name, exc)
            self.errored.emit(str(exc))
        except Exception as exc:  # anything else is a bug or an environment problem: say so
            log.exception("%s failed", self.name)
            self.errored.emit(describe(exc))
        else:
            self.returned.emit(result)
        finally:
            self.finished.emit()


class WorkerThreads(QObject):
    """Gives each worker a QThread of its own and keeps both until the worker finishes; stops them
    all on shutdown."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._running: dict[Worker, QThread] = {}

    def start(self, worker: Worker) -> Worker:
        thread = QThread(self)
        thread.setObjectName(worker.name)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Direct: quit() is thread-safe, and must work while the GUI thread waits in shutdown().
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        # A bound slot (not a lambda): it then runs in the GUI thread, where this pool lives.
        thread.finished.connect(self._on_thread_finished)
        self._running[worker] = thread
        thread.start()
        return worker

    @Slot()
    def _on_thread_finished(self) -> None:
        for worker, thread in list(self._running.items()):
            if thread is self.sender():
                self._forget(worker)

    def _forget(self, worker: Worker) -> None:
        thread = self._running.pop(worker, None)
        if thread is not None:
            thread.wait()
            thread.deleteLater()
        worker.deleteLater()

    def threads(self) -> list[QThread]:
        return list(self._running.values())

    def running(self, name: str | None = None) -> list[Worker]:
        return [w for w, t in self._running.items() if t.isRunning() and (name is None or w.name == name)]

    def shutdown(self, timeout_s: float = 60.0) -> bool:
        """Abandon every worker (its result is not wanted) and wait for its thread; True if all
        ended in time."""
        for worker in list(self._running):
            worker.abandon()
        deadline = time.monotonic() + timeout_s
        ok = True
        for worker, thread in list(self._running.items()):
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            if thread.wait(remaining):
                self._forget(worker)
            else:
                # Left running (and referenced) rather than blocking the close for ever.
                log.warning("worker %s did not stop in time", worker.name)
                ok = False
        return ok


#: The signals of a :class:`Worker`, in the order a :class:`JobRunner` accepts handlers for them.
OUTCOMES = ("progress", "yielded", "returned", "errored", "aborted", "finished")


class JobRunner(QObject):
    """Runs the newest job of each kind. Starting a job of kind K asks the previous K job to stop,
    and whatever that job still sends (results, errors, finished) is dropped: handlers only ever
    hear from the newest job of their kind, so callers need no bookkeeping of which job is which.

    Handlers are plain callables, called in the GUI thread (through a relay object whose slots
    receive the worker's queued signals).
    """

    def __init__(self, threads: WorkerThreads, parent: QObject | None = None):
        super().__init__(parent)
        self.threads = threads
        self._latest: dict[str, Worker] = {}
        self._relays: set[_Relay] = set()

    def start(self, kind: str, fn: Callable, *args, **handlers: Callable) -> Worker:
        """Run ``fn(task, *args)`` as the newest ``kind`` job. ``handlers``: any of progress,
        yielded, returned, errored, aborted, finished (see :class:`Worker`)."""
        unknown = set(handlers) - set(OUTCOMES)
        if unknown:
            raise TypeError(f"no such worker signal: {', '.join(sorted(unknown))}")
        self.stop(kind)
        worker = Worker(fn, *args, name=kind)
        relay = _Relay(self, worker, handlers)
        self._relays.add(relay)
        self._latest[kind] = worker
        return self.threads.start(worker)

    def busy(self, kind: str) -> bool:
        """True until the newest ``kind`` job has finished."""
        return kind in self._latest

    def stop(self, kind: str) -> None:
        """Ask the newest ``kind`` job to stop (it may still return what it has: a training does)."""
        worker = self._latest.get(kind)
        if worker is not None:
            worker.stop()

    def drop_all(self) -> None:
        """From now on nothing any running job sends is handled (the window is closing)."""
        self._latest.clear()

    def _is_current(self, worker: Worker) -> bool:
        return self._latest.get(worker.name) is worker

    def _finished(self, relay: "_Relay") -> None:
        if self._is_current(relay.worker):
            del self._latest[relay.worker.name]
        self._relays.discard(relay)
        relay.deleteLater()


class _Relay(QObject):
    """Receives one worker's signals in the GUI thread and passes them on while it is current."""

    def __init__(self, runner: JobRunner, worker: Worker, handlers: dict[str, Callable]):
        super().__init__(runner)
        self.runner = runner
        self.worker = worker
        self.handlers = handlers
        worker.progress.connect(self._on_progress)
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.aborted.connect(self._on_aborted)
        worker.finished.connect(self._on_finished)

    def _pass(self, outcome: str, *args) -> None:
        handler = self.handlers.get(outcome)
        if handler is not None and self.runner._is_current(self.worker):
            handler(*args)

    @Slot(object)
    def _on_progress(self, value) -> None:
        self._pass("progress", value)

    @Slot(object)
    def _on_yielded(self, value) -> None:
        self._pass("yielded", value)

    @Slot(object)
    def _on_returned(self, value) -> None:
        self._pass("returned", value)

    @Slot(str)
    def _on_errored(self, message: str) -> None:
        self._pass("errored", message)

    @Slot()
    def _on_aborted(self) -> None:
        self._pass("aborted")

    @Slot()
    def _on_finished(self) -> None:
        try:
            self._pass("finished")
        finally:
            self.runner._finished(self)
