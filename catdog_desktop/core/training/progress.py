"""What a running training's progress says, in words: the bar's text and fill, and the line
under it. Qt-free, so the wording and the time-left arithmetic are tested without a window;
the Training panel only shows what :class:`RunProgress` returns.

A pretrained training runs in stages (features, classifier, fine-tuning, then the "not sure"
marks, checking and handing the model over); its epochs are numbered on across stages, but each
stage is told in its own terms ("Fine-tuning: epoch 2 of about 6"), while the bar fills once over
the whole run: each stage over its usual share of the run (:data:`STAGE_SHARES`), or, in the
stages the time limit governs, by the time used of the time limit when that is further along,
and never backwards.

The time left is smoothed: no figure until a pace has been measured (between two reports of the
same epoch, so the first batch's set-up and an epoch's start-up do not count), then a moving
average that may fall quickly but never rises by more than :data:`MAX_RISE` at a time.
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
    "calibration": "So that the model can say “not sure” and “looks like none of these”.",
    "evaluation": "",
    "handover": "",
}
#: Phases whose done/total are steps, not pictures: the bar says their name only.
UNCOUNTED = ("calibration", "handover")
#: A pretrained run's stages and their usual share of its time. Measured on 8,000 + 2,000 photos
#: in 5 minutes: features dominate on a first run, fine-tuning fills what the time limit leaves,
#: then the "not sure" marks (16 s), the check on the test pictures (20-40 s) and the hand-over
#: of the model to the app (about 10 s) follow. A stage that is skipped leaves its share to the next.
STAGE_SHARES = {"features": (0.0, 0.55), "classifier": (0.55, 0.65), "fine-tuning": (0.65, 0.85),
                "calibration": (0.85, 0.89), "evaluation": (0.89, 0.97), "handover": (0.97, 1.0)}
#: The stages that run inside the time limit: there the time used of it may move the bar on (the
#: limit ends with the check on the test pictures; the bar's share of that is ``TIME_LIMIT_END``).
TIME_LIMITED = ("features", "classifier", "fine-tuning")
TIME_LIMIT_END = STAGE_SHARES["evaluation"][1]
#: The whole-run bar of a pretrained training counts in thousandths.
RUN_STEPS = 1000
#: Weight of each new measurement in the time left's moving average.
SMOOTHING = 0.3
#: The time left never rises above this times what was said before (less the time since), plus
#: :data:`RISE_SECONDS`: a slow batch is not a slower training.
MAX_RISE = 1.25
RISE_SECONDS = 2.0
#: Reports further apart than this start the average afresh (what was said before tells little).
FRESH_AFTER_SECONDS = 30.0
STOPPING = "Stopping…"
STOPPING_DETAIL = "Stopping after this batch; the best epoch so far is kept…"
CHECKING_DETAIL = ("You stopped the training: the best epoch is kept, and checked now. Press Stop again to "
                   "skip the check (the model is then kept unchecked).")
SKIPPING = "Skipping the check…"
SKIPPING_DETAIL = "The kept model is handed over unchecked…"


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
        self.skipping = False                             # Stop pressed again: the check is skipped
        self._first_epoch: dict[str, int] = {}          # the run's epoch number where each stage began
        self._epoch_seconds: dict[str, list[float]] = {}
        self._last_epoch = 0                              # the last epoch that ended, of any stage
        self._last_batch: BatchEvent | None = None
        self._batch_seconds: dict[str, float] = {}        # per stage: seconds a batch, averaged
        self._said: tuple[str, float, float] | None = None  # (stage, seconds left said, when)
        self._phase_began: dict[str, tuple[float, int]] = {}  # a phase's (clock, done) when first seen

    def starting(self) -> ProgressView:
        self._started = self._clock()
        return ProgressView(0, 0, "Starting…", "Reading the pictures…")

    def stop_requested(self) -> ProgressView:
        """Stop was pressed: say so until the training ends (or its kept model is checked)."""
        self.stopping = True
        return ProgressView(0, 0, STOPPING, STOPPING_DETAIL)

    def skip_requested(self) -> ProgressView:
        """Stop was pressed again: the kept model is not checked on the test pictures."""
        self.stopping = self.skipping = True
        return ProgressView(0, 0, SKIPPING, SKIPPING_DETAIL)

    def view(self, event) -> ProgressView | None:
        """How to show ``event`` (None: nothing changes on screen, e.g. an epoch ended)."""
        if isinstance(event, EpochEvent):
            self._epoch_seconds.setdefault(event.phase, []).append(event.epoch_seconds)
            self._last_epoch = event.epoch
            return None
        if isinstance(event, PhaseEvent) and self.stopping and event.phase in ("evaluation", "handover"):
            return self._after_stop(event)
        if self.stopping:
            return ProgressView(0, 0, STOPPING, STOPPING_DETAIL)
        if isinstance(event, PhaseEvent):
            return self._phase(event)
        if isinstance(event, BatchEvent):
            return self._batch(event)
        return None

    def _after_stop(self, event: PhaseEvent) -> ProgressView:
        """After Stop: the kept model's check (with its own progress), then its hand-over."""
        if event.phase == "handover" or self.skipping:
            return ProgressView(0, 0, event.message if event.phase == "handover" else SKIPPING,
                                "" if event.phase == "handover" else SKIPPING_DETAIL)
        view = ProgressView(min(event.done, event.total), max(event.total, 1),
                            f"{event.message} {event.done:,} / {event.total:,}", CHECKING_DETAIL)
        left = self._phase_seconds_left(event)
        if left is not None:
            view.detail = f"About {format_seconds(left)} left. {CHECKING_DETAIL}"
        return view

    def _phase(self, event: PhaseEvent) -> ProgressView:
        total = max(event.total, 1)
        counted = event.total and event.phase not in UNCOUNTED
        bar = f"{event.message} {event.done:,} / {event.total:,}" if counted else event.message
        view = ProgressView(min(event.done, total), total, bar, PHASE_DETAILS.get(event.phase, ""))
        if event.phase not in TIME_LIMITED + UNCOUNTED:
            left = self._phase_seconds_left(event)
            if left is not None:
                view.detail = " · ".join(p for p in (f"about {format_seconds(left)} left", view.detail) if p)
        return self._over_the_run(view, event.phase, min(event.done, total) / total)

    def _phase_seconds_left(self, event: PhaseEvent) -> float | None:
        """A phase's time left at its pace so far (None until part of it is done)."""
        now = self._clock()
        began, done_then = self._phase_began.setdefault(event.phase, (now, event.done))
        if event.done <= done_then or now <= began or event.total <= event.done:
            return None
        left = (now - began) / (event.done - done_then) * (event.total - event.done)
        return left if left >= 1 else None  # not "about 0 s left"

    def _over_the_run(self, view: ProgressView, phase: str, stage_fraction: float) -> ProgressView:
        """For a pretrained run's stages: the bar over the whole run instead of this stage."""
        if phase not in STAGE_SHARES:
            return view
        start, end = STAGE_SHARES[phase]
        fraction = start + (end - start) * stage_fraction
        elapsed = self._clock() - self._started
        if self.time_limit and phase in TIME_LIMITED:
            # The limit ends with the check on the test pictures; a stage inside it ends at its share.
            fraction = max(fraction, min(elapsed / self.time_limit * TIME_LIMIT_END, end))
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
        """Seconds left in this stage, smoothed (see the module docstring): the epochs still planned
        at the pace of the epochs that ended, or before one has, at the pace of this one's batches
        measured between reports; never past the time limit. None until a pace is known."""
        timed = self._epoch_seconds.get(event.phase)
        pace = self._measure_batch_pace(event)
        if timed:
            per_epoch = sum(timed[-3:]) / len(timed[-3:])  # the last few: epochs speed up as caches warm
            this_epoch = per_epoch * (event.batches - event.batch) / event.batches
        elif pace is not None:
            per_epoch, this_epoch = pace * event.batches, pace * (event.batches - event.batch)
        else:
            return None
        remaining = this_epoch + per_epoch * max(event.epochs - event.epoch, 0)
        if self.time_limit:
            remaining = min(remaining, max(self.time_limit - event.elapsed, this_epoch))
        return self._smoothed(event.phase, remaining, event.elapsed)

    def _measure_batch_pace(self, event: BatchEvent) -> float | None:
        """Seconds a batch in this stage, from the batches between this report and the last one of
        the same epoch (averaged); None before two such reports."""
        last, self._last_batch = self._last_batch, event
        if (last is not None and (last.phase, last.epoch) == (event.phase, event.epoch)
                and event.batch > last.batch and event.elapsed > last.elapsed):
            measured = (event.elapsed - last.elapsed) / (event.batch - last.batch)
            known = self._batch_seconds.get(event.phase)
            self._batch_seconds[event.phase] = measured if known is None else known + SMOOTHING * (measured - known)
        return self._batch_seconds.get(event.phase)

    def _smoothed(self, stage: str, estimate: float, now: float) -> float:
        """``estimate`` averaged with what was said before in this stage, rising by at most MAX_RISE."""
        if self._said is not None and self._said[0] == stage and now - self._said[2] <= FRESH_AFTER_SECONDS:
            before = max(self._said[1] - (now - self._said[2]), 0.0)
            estimate = before + SMOOTHING * (estimate - before)
            estimate = min(estimate, before * MAX_RISE + RISE_SECONDS)
        self._said = (stage, estimate, now)
        return estimate
