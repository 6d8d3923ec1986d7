"""What a training reports while it runs, as small dataclasses defined once.

The same objects travel unchanged from :func:`~catdog_desktop.core.training.train` through the
child process's pipe (:mod:`.isolated`), the worker thread and a Qt signal to whoever shows them
(the Training panel, the CLI, the benchmark). A :class:`Reporter` receives them. Imports nothing
heavy: the UI uses these names before TensorFlow has loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PhaseEvent:
    """Progress of a phase that is not an epoch: ``done`` of ``total`` (total 0: no figure). ``phase``
    is a short machine name: "reading" the pictures; for a pretrained training "features" (the
    backbone's, computed once), "calibration" (the "not sure" marks) and "evaluation" (the trained
    model on the held-out pictures); "handover" (a child process handing the model to the app)."""

    done: int
    total: int
    message: str
    phase: str = "reading"


@dataclass
class BatchEvent:
    """After each training batch."""

    epoch: int              # 1-based
    epochs: int             # epochs planned in all (fewer than configured when a time limit comes first)
    batch: int              # 1-based, within the epoch
    batches: int
    loss: float
    accuracy: float
    images_per_second: float
    elapsed: float          # seconds since training started (reading the pictures included)
    epoch_eta: float        # seconds left in this epoch's training pass
    #: As EpochEvent.phase: a batch of a fine-tuning epoch says so before its epoch ends.
    phase: str = "train"


@dataclass
class EpochEvent:
    """After each complete epoch, with validation figures."""

    epoch: int              # 1-based
    epochs: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    images_per_second: float
    elapsed: float
    epoch_seconds: float
    learning_rate: float
    is_best: bool
    #: "train" from scratch; a pretrained training's "classifier" epochs, then its "fine-tuning" ones.
    phase: str = "train"


@dataclass
class FinishedEvent:
    """The last message of a training in a child process: the result's fields but the model
    (which comes back as a file)."""

    result: dict = field(default_factory=dict)


@dataclass
class ErrorEvent:
    """The last message of a failed training in a child process: the exception's class name
    (one of :mod:`.errors`) and its user sentence."""

    error_class: str
    message: str


class Reporter:
    """Receives a training's progress. Override what you need; all methods are optional."""

    def on_stage(self, event: PhaseEvent) -> None:
        """Preparation progress (reading pictures)."""

    def on_batch_end(self, event: BatchEvent) -> None:
        """After each training batch."""

    def on_epoch_end(self, event: EpochEvent) -> None:
        """After each complete epoch, with validation figures."""

    def should_stop(self) -> bool:
        """Return True to stop at the next batch (the best epoch so far is kept)."""
        return False

    def should_skip_check(self) -> bool:
        """Return True (after a stop) to skip checking the kept model on the held-out pictures: the
        result is then unchecked (Stop pressed a second time)."""
        return False

    def on_event(self, event) -> None:
        """Hand any progress event to the method for its kind (for code that forwards events)."""
        if isinstance(event, BatchEvent):
            self.on_batch_end(event)
        elif isinstance(event, EpochEvent):
            self.on_epoch_end(event)
        elif isinstance(event, PhaseEvent):
            self.on_stage(event)
        else:
            raise TypeError(f"not a progress event: {event!r}")
