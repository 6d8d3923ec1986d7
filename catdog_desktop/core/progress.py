"""What a running training's progress says, in words: the bar's text and fill, and the line
under it. Qt-free, so the wording and the time-left arithmetic are tested without a window;
the Training panel only shows what :class:`RunProgress` returns.

A pretrained training runs in stages (features, classifier, fine-tuning, checking); its epochs
are numbered on across stages, but each stage is told in its own terms ("Fine-tuning: epoch 2
of about 6"), while the bar fills once over the whole run: each stage over its usual share of the
run (:data:`STAGE_SHARES`), or by the time used of the time limit when that is further along, and
never backwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .events import BatchEvent, EpochEvent, PhaseEvent

#: How each kind of epoch is named in the progress text.
EPOCH_LABELS = {"train": "Epoch", "classifier": "Training the classifier: epoch", "fine-tuning": "Fine-tuning: epoch"}
#: What the time left is the time left of.
TIME_LEFT_OF = {"train": "in all", "classifier": "for the classifier", "fine-tuning": "for fine-tuning"}
PHASE_DETAILS = {
    "reading": "Each picture is read once and kept in memory for all epochs.",
    "features": "The pretrained network looks at each picture once; a later training on the same "
                "pictures reuses its work.",
    "evaluation": "",
}
#: A pretrained run's stages and their usual share of its time (measured: features dominate on
#: a first run, fine-tuning fills what the time limit leaves). A stage that is skipped simply
#: leaves its share to the next one.
STAGE_SHARES = {"features": (0.0, 0.55), "classifier": (0.55, 0.65), "fine-tuning": (0.65, 0.95),
                "evaluation": (0.95, 1.0)}
#: The whole-run bar of a pretrained training counts in thousandths.
RUN_STEPS = 1000
STOPPING = "Stopping…"
STOPPING_DETAIL = "Stopping after this batch; the best epoch so far is kept…"


def format_seconds(seconds: float) -> str:
    """``75`` -> "1 min 15 s"."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class ProgressView:
    """What to show: the bar at ``done`` of ``total`` (total 0: busy, no figure) with ``bar``
    written inside it, and ``detail`` on the line under it."""

    done: int
    total: int
    bar: str
    detail: str


class RunProgress:
    """Follows one training's events; :meth:`view` says how to show each one."""

    def __init__(self, time_limit_seconds: float = 0.0, clock: Callable[[], float] = time.monotonic):
        self.time_limit = time_limit_seconds
        self._clock = clock
        self._started = clock()
        self._run_fraction = 0.0                          # a staged run's bar, never going back
        self.stopping = False
        self._first_epoch: dict[str, int] = {}          # the run's epoch number where each stage began
        self._epoch_seconds: dict[str, list[float]] = {}
        self._last_epoch = 0                              # the last epoch that ended, of any stage

    def starting(self) -> ProgressView:
        self._started = self._clock()
        return ProgressView(0, 0, "Starting…", "Reading the pictures…")

    def stop_requested(self) -> ProgressView:
        """Stop was pressed: say so until the training ends."""
        self.stopping = True
        return ProgressView(0, 0, STOPPING, STOPPING_DETAIL)

    def view(self, event) -> ProgressView | None:
        """How to show ``event`` (None: nothing changes on screen, e.g. an epoch ended)."""
        if isinstance(event, EpochEvent):
            self._epoch_seconds.setdefault(event.phase, []).append(event.epoch_seconds)
            self._last_epoch = event.epoch
            return None
        if self.stopping:
            return ProgressView(0, 0, STOPPING, STOPPING_DETAIL)
        if isinstance(event, PhaseEvent):
            return self._phase(event)
        if isinstance(event, BatchEvent):
            return self._batch(event)
        return None

    def _phase(self, event: PhaseEvent) -> ProgressView:
        total = max(event.total, 1)
        view = ProgressView(min(event.done, total), total, f"{event.message} {event.done:,} / {event.total:,}",
                            PHASE_DETAILS.get(event.phase, ""))
        return self._over_the_run(view, event.phase, min(event.done, total) / total)

    def _over_the_run(self, view: ProgressView, phase: str, stage_fraction: float) -> ProgressView:
        """For a pretrained run's stages: the bar over the whole run instead of this stage."""
        if phase not in STAGE_SHARES:
            return view
        start, end = STAGE_SHARES[phase]
        fraction = start + (end - start) * stage_fraction
        elapsed = self._clock() - self._started
        if self.time_limit:
            fraction = max(fraction, elapsed / self.time_limit)
            left = self.time_limit - elapsed
            if left > 0:
                view.detail = " · ".join(p for p in (view.detail, f"at most {format_seconds(left)} left in all") if p)
        self._run_fraction = max(self._run_fraction, min(fraction, 0.99))
        view.done, view.total = round(self._run_fraction * RUN_STEPS), RUN_STEPS
        return view

    def _batch(self, event: BatchEvent) -> ProgressView:
        phase = event.phase
        first = self._first_epoch.setdefault(phase, self._last_epoch + 1)  # stages follow one another
        number, planned = event.epoch - first + 1, max(event.epochs - first + 1, 1)
        timed = self._epoch_seconds.get(phase)
        # With a time limit the number of epochs is an estimate, refined as each epoch ends.
        of = f"of {planned}"
        if self.time_limit:
            of = f"of about {planned}" if timed else f"of at most {planned}"
        label = f"{EPOCH_LABELS.get(phase, 'Epoch')} {number} {of}"
        parts = [label, f"batch {event.batch} of {event.batches}", f"{event.images_per_second:.0f} pictures/s"]
        left = self.seconds_left(event)
        if left is not None:
            parts.append(f"about {format_seconds(left)} left {TIME_LEFT_OF.get(phase, 'in all')}"
                         + (" (less if it stops early)" if planned > number else ""))
        done = (number - 1) * event.batches + event.batch
        view = ProgressView(done, planned * event.batches, label, " · ".join(parts))
        return self._over_the_run(view, phase, done / (planned * event.batches))

    def seconds_left(self, event: BatchEvent) -> float | None:
        """Seconds left in this stage: the epochs still planned at the pace measured so far (from
        the first epoch's batches until an epoch has ended), never past the time limit."""
        timed = self._epoch_seconds.get(event.phase)
        if timed:
            per_epoch = sum(timed) / len(timed)
        elif 0 < event.batch < event.batches and event.epoch_eta > 0:
            per_epoch = event.epoch_eta * event.batches / (event.batches - event.batch)
        else:
            return None
        remaining = event.epoch_eta + per_epoch * max(event.epochs - event.epoch, 0)
        if self.time_limit:
            remaining = min(remaining, max(self.time_limit - event.elapsed, event.epoch_eta))
        return remaining
