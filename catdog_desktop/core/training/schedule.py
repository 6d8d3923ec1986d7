"""The learning-rate schedule and the time limit, in plain Python (no Keras, no Qt).

A person can say "train for at most 15 minutes" instead of guessing a number of epochs. The
schedule then has to fit the time, not the epochs: a warm-up, then a cosine decay that reaches
its floor when whichever runs out first, the epochs or the time, runs out. A fixed-epoch
schedule cut by a clock stops while the learning rate is still high, and the last epochs, the
ones that settle the weights, never happen. (Measured once each on a busy machine: a 24-epoch
schedule cut at 15 minutes after 13 epochs reached 82.0 %, and this schedule, ending on its own
after 14 epochs in 15 minutes, 81.9 %: what it buys is ending on time with the rate at its floor,
not accuracy that the time does not allow.)

Without a time limit this is exactly Keras' ``CosineDecay`` with a linear warm-up (the schedule
the app used before). With one, the training also stops at the end of the last epoch that fits;
an epoch that overruns badly (the computer got much slower) is cut, and the best epoch is kept.
The first epoch is timed from its first batches: when it cannot end within the limit (20,000
pictures and a 1-minute limit: the first epoch alone took 169 s), it is stopped at the limit and
its weights so far are the model, which beats both no model and a limit overrun threefold.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

#: The learning rate starts the warm-up at this share of the peak ...
WARMUP_START = 0.05
#: ... and the cosine ends at this share of it.
FLOOR = 0.02
#: With a time limit, the warm-up lasts at most this share of it.
WARMUP_TIME_SHARE = 0.1
#: An epoch is cut short only when the time limit is overrun by this share plus ``OVERRUN_SECONDS``.
OVERRUN_SHARE = 0.1
OVERRUN_SECONDS = 30.0
#: The first epoch's duration is projected once this many batches after its first one have run
#: (the first also builds the graph), or this share of the epoch if that comes sooner.
FIRST_EPOCH_SAMPLE_BATCHES = 10
FIRST_EPOCH_SAMPLE_SHARE = 0.05


@dataclass
class Pace:
    """Learning rate per step, and when to stop, for ``max_epochs`` and an optional time limit.

    All times are seconds since the time limit began (the start of reading the pictures). Call
    :meth:`fit_began` before the first epoch, :meth:`learning_rate` before each step and
    :meth:`epoch_ended` after each epoch (validation included).
    """

    peak_learning_rate: float
    steps_per_epoch: int
    max_epochs: int
    time_limit: float | None = None
    epoch_seconds: list[float] = field(default_factory=list, init=False)  # each epoch's, validation included
    _warm_at: float | None = field(default=None, init=False, repr=False)  # when the warm-up ended
    _warm_step: int = field(default=0, init=False, repr=False)
    _steps_from: float | None = field(default=None, init=False, repr=False)
    _progress: float = field(default=0.0, init=False, repr=False)
    _last_epoch_end: float = field(default=0.0, init=False, repr=False)
    #: The first epoch's training time as projected from its first batches (None: not yet).
    first_epoch_estimate: float | None = field(default=None, init=False)
    _first_batch_end: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.total_steps = max(1, self.steps_per_epoch * self.max_epochs)
        self.warmup_steps = max(1, min(self.steps_per_epoch, self.total_steps // 10))
        # The time the decay aims at: the limit at first, then the predicted end of the last
        # epoch that fits (training stops there, up to an epoch before the limit).
        self._decay_end = self.time_limit

    def fit_began(self, elapsed: float) -> bool:
        """The first epoch starts now, ``elapsed`` seconds in: reading the pictures, building the model
        and fit()'s set-up are not part of its duration. Returns False when they used up the whole
        time limit: then one epoch runs on its own schedule, as one epoch beats no model at all."""
        self._last_epoch_end = elapsed
        if self.time_limit is None or elapsed < self.time_limit:
            return True
        self.max_epochs, self.time_limit = 1, None
        self.__post_init__()
        return False

    def learning_rate(self, step: int, elapsed: float) -> float:
        """The rate for global step ``step`` (0-based), ``elapsed`` seconds into training."""
        peak = self.peak_learning_rate
        if step == 0:
            return peak * WARMUP_START
        if self._steps_from is None:
            self._steps_from = elapsed  # the first step also traced the graph: time the warm-up from here
        if self._warm_at is None:
            warm = step / self.warmup_steps
            if self.time_limit is not None:
                warm = max(warm, (elapsed - self._steps_from) / (WARMUP_TIME_SHARE * self.time_limit))
            if warm < 1.0:
                return peak * (WARMUP_START + (1.0 - WARMUP_START) * warm)
            self._warm_at = elapsed
            self._warm_step = step
        progress = (step - self._warm_step) / max(1, self.total_steps - self._warm_step)
        if self._decay_end is not None:
            span = self._decay_end - self._warm_at
            progress = max(progress, (elapsed - self._warm_at) / span if span > 0 else 1.0)
        # A computer that speeds up again moves the predicted end later: the rate must not rise.
        self._progress = max(self._progress, min(progress, 1.0))
        return peak * (FLOOR + (1.0 - FLOOR) * 0.5 * (1.0 + math.cos(math.pi * self._progress)))

    def epoch_ended(self, elapsed: float) -> None:
        """Record how long the epoch that just ended took, validation included."""
        self.epoch_seconds.append(elapsed - self._last_epoch_end)
        self._last_epoch_end = elapsed
        if self.time_limit is None:
            return
        planned = self.planned_epochs(elapsed)
        if planned < self.max_epochs:  # the time, not the epochs, ends it
            more = planned - len(self.epoch_seconds)
            self._decay_end = min(self.time_limit, elapsed + more * self._typical_epoch())
        else:  # (again) the epochs end first: the steps lead the decay
            self._decay_end = self.time_limit

    def _typical_epoch(self) -> float:
        # The first epoch also traces the graph (often 1.3x longer): leave it out once others exist.
        recent = self.epoch_seconds[1:][-3:] or self.epoch_seconds
        return statistics.median(recent)

    def next_epoch_fits(self, elapsed: float) -> bool:
        """True if another epoch ends within the time limit (always True without one)."""
        if self.time_limit is None or not self.epoch_seconds:
            return True
        return self.planned_epochs(elapsed) > len(self.epoch_seconds)

    def planned_epochs(self, elapsed: float) -> int:
        """How many epochs will run in all: ``max_epochs``, or fewer if the time limit comes first."""
        done = len(self.epoch_seconds)
        if self.time_limit is None or not self.epoch_seconds:
            return self.max_epochs
        more = int(max(0.0, self.time_limit - elapsed) // max(self._typical_epoch(), 1e-9))
        return max(done, min(self.max_epochs, done + more))

    def first_epoch_batch_ended(self, batches: int, elapsed: float) -> None:
        """During the first epoch, after each of its batches (``batches`` done so far): projects the
        epoch's duration from the batches after the first one, which also built the graph."""
        if self.epoch_seconds or self.time_limit is None:
            return
        if batches == 1 or self._first_batch_end is None:
            self._first_batch_end = elapsed
            return
        sample = max(1, min(FIRST_EPOCH_SAMPLE_BATCHES, math.ceil(FIRST_EPOCH_SAMPLE_SHARE * self.steps_per_epoch)))
        if batches - 1 >= sample:
            per_batch = (elapsed - self._first_batch_end) / (batches - 1)
            self.first_epoch_estimate = (self._first_batch_end - self._last_epoch_end
                                         + per_batch * (self.steps_per_epoch - 1))

    def first_epoch_fits(self) -> bool:
        """False once the first epoch is projected to end past the limit (and its tolerance)."""
        return (self.time_limit is None or self.first_epoch_estimate is None
                or self._last_epoch_end + self.first_epoch_estimate <= self._overrun_bound())

    def overrun(self, elapsed: float) -> bool:
        """True when an epoch must be cut short: the limit is long past, or, for the first epoch,
        reached when that epoch cannot end in time (its weights so far are then the model)."""
        if self.time_limit is None:
            return False
        if not self.epoch_seconds:
            return elapsed >= self.time_limit and (not self.first_epoch_fits() or elapsed > self._overrun_bound())
        return elapsed > self._overrun_bound()

    def _overrun_bound(self) -> float:
        return self.time_limit * (1.0 + OVERRUN_SHARE) + OVERRUN_SECONDS
