"""The learning-rate schedule and the time limit (core.training.schedule), with a simulated clock."""

import math

import numpy as np
import pytest

from catdog_desktop.core.training.schedule import FLOOR, Pace


def test_without_a_time_limit_it_is_keras_cosine_decay_with_warmup():
    import keras

    peak, steps, epochs = 2e-3, 7, 12
    total = steps * epochs
    warmup = max(1, min(steps, total // 10))
    reference = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak * 0.05, decay_steps=total - warmup, alpha=FLOOR,
        warmup_target=peak, warmup_steps=warmup)
    pace = Pace(peak, steps, epochs)
    ours = [pace.learning_rate(step, elapsed=step * 1000.0) for step in range(total)]  # time plays no part
    theirs = [float(keras.ops.convert_to_numpy(reference(step))) for step in range(total)]
    assert np.allclose(ours, theirs, rtol=1e-5)


def simulate(pace: Pace, seconds_per_step: float, max_steps: int = 100_000):
    """Run steps and epochs as fit() would, with each step taking ``seconds_per_step``."""
    rates, elapsed, epochs = [], 0.0, 0
    for epoch in range(pace.max_epochs):
        for batch in range(pace.steps_per_epoch):
            rates.append(pace.learning_rate(epoch * pace.steps_per_epoch + batch, elapsed))
            elapsed += seconds_per_step
            if pace.overrun(elapsed):
                return rates, elapsed, epochs, "cut"
        epochs += 1
        pace.epoch_ended(elapsed)
        if epochs < pace.max_epochs and not pace.next_epoch_fits(elapsed):
            return rates, elapsed, epochs, "time"
    return rates, elapsed, epochs, "epochs"


@pytest.mark.parametrize("limit, epochs_that_fit", [(900, 9), (950, 9), (999, 9), (1000, 10)])
def test_a_slow_computer_still_anneals_within_the_time_limit(limit, epochs_that_fit):
    # 30 epochs of 100 steps at 1 s a step would take 3,000 s. The decay aims at the end of the
    # last epoch that fits, not at the limit, which may be most of an epoch later.
    pace = Pace(1e-3, steps_per_epoch=100, max_epochs=30, time_limit=limit)
    rates, elapsed, epochs, why = simulate(pace, seconds_per_step=1.0)
    assert why == "time" and epochs == epochs_that_fit and elapsed <= limit
    assert max(rates) == pytest.approx(1e-3, rel=0.02)           # the warm-up reached the peak
    assert rates[-1] < 0.05 * 1e-3                                # and the decay reached the floor
    after_warmup = rates[rates.index(max(rates)):]
    assert all(b <= a for a, b in zip(after_warmup, after_warmup[1:]))
    # A fixed-epoch schedule cut at the same moment would still be near its peak:
    fixed = Pace(1e-3, steps_per_epoch=100, max_epochs=30)
    cut = [fixed.learning_rate(step, 0.0) for step in range(len(rates))]
    assert cut[-1] > 0.7 * 1e-3


def test_a_fast_computer_runs_all_epochs_and_the_limit_changes_nothing():
    limited = Pace(1e-3, steps_per_epoch=50, max_epochs=10, time_limit=900)
    rates, elapsed, epochs, why = simulate(limited, seconds_per_step=0.1)
    plain = Pace(1e-3, steps_per_epoch=50, max_epochs=10)
    assert why == "epochs" and epochs == 10 and elapsed == pytest.approx(50)
    assert rates == [plain.learning_rate(s, 0.0) for s in range(len(rates))]


def test_planned_epochs_follow_the_measured_epoch_time():
    pace = Pace(1e-3, steps_per_epoch=10, max_epochs=100, time_limit=120)
    assert pace.planned_epochs(0.0) == 100                        # nothing measured yet
    pace.epoch_ended(15.0)                                        # the first epoch also traces the graph
    pace.epoch_ended(25.0)
    assert pace.planned_epochs(25.0) == 2 + int(95 // 10)         # 10 s epochs from now on
    assert pace.next_epoch_fits(25.0)
    assert not pace.next_epoch_fits(111.0)


def test_a_later_epoch_is_cut_only_when_the_limit_is_long_past():
    pace = Pace(1e-3, steps_per_epoch=10, max_epochs=5, time_limit=60)
    pace.epoch_ended(50.0)
    assert not pace.overrun(60 * 1.1 + 29)
    assert pace.overrun(60 * 1.1 + 31)
    assert not Pace(1e-3, 10, 5).overrun(math.inf)                # no limit: never


@pytest.mark.parametrize("seconds_per_batch, cut_at", [(0.5, None), (0.8, None), (3.0, 19)])
def test_the_first_epoch_is_stopped_at_the_limit_when_its_first_batches_say_it_cannot_fit(
        seconds_per_batch, cut_at):
    pace = Pace(1e-3, steps_per_epoch=100, max_epochs=5, time_limit=60)
    pace.fit_began(0.0)
    for batch in range(1, 101):
        elapsed = 5.0 + batch * seconds_per_batch  # the first batch also builds the graph
        pace.first_epoch_batch_ended(batch, elapsed)
        if pace.overrun(elapsed):
            break
    if cut_at is None:  # 55 s, or 85 s: within the 10 % + 30 s an epoch may run over
        assert batch == 100 and pace.first_epoch_fits()
    else:  # 305 s projected after 11 batches: stopped when the limit is reached, not at the tolerance
        assert not pace.first_epoch_fits() and pace.first_epoch_estimate == pytest.approx(305.0)
        assert elapsed == pytest.approx(5.0 + cut_at * 3.0) and elapsed >= 60


def test_the_rate_never_rises_when_the_computer_speeds_up():
    pace = Pace(1e-3, steps_per_epoch=100, max_epochs=50, time_limit=1000)
    rates, elapsed = [], 0.0
    for epoch in range(6):
        seconds_per_step = 1.0 if epoch < 3 else 0.25             # a busy start, then a quiet machine
        for batch in range(100):
            rates.append(pace.learning_rate(epoch * 100 + batch, elapsed))
            elapsed += seconds_per_step
        pace.epoch_ended(elapsed)
    after_warmup = rates[rates.index(max(rates)):]
    assert all(b <= a for a, b in zip(after_warmup, after_warmup[1:]))
    assert pace.planned_epochs(elapsed) > 10                      # and more epochs are now planned


def test_warm_up_time_counts_from_the_end_of_the_first_step():
    # The first step also traces the graph (here 20 s, a fifth of a 100-second limit).
    pace = Pace(1e-3, steps_per_epoch=1000, max_epochs=5, time_limit=100)
    assert pace.learning_rate(0, 0.0) == pytest.approx(0.05e-3)
    second = pace.learning_rate(1, 20.0)
    assert second < 0.1e-3                                         # not the peak in one jump


def test_the_set_up_before_the_first_epoch_is_not_part_of_it():
    # Times count from the start of reading the pictures; the first epoch from when fit() began.
    pace = Pace(1e-3, steps_per_epoch=10, max_epochs=100, time_limit=900.0)
    assert pace.fit_began(300.0)
    pace.epoch_ended(330.0)                              # a 30-s epoch after 300 s of reading and set-up
    assert pace.epoch_seconds == [30.0]
    assert pace.planned_epochs(330.0) == 1 + 570 // 30   # not 1 + 570 // 330
    spent = Pace(1e-3, steps_per_epoch=10, max_epochs=100, time_limit=900.0)
    assert not spent.fit_began(901.0)                    # nothing left: one epoch on its own schedule
    assert spent.max_epochs == 1 and spent.time_limit is None and spent.total_steps == 10
