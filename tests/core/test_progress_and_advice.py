"""What the app says while a training runs and after it ends (core.training.progress, core.training.advice)."""

from types import SimpleNamespace

from catdog_desktop.core.training.advice import advice, cache_sentence, stage_times
from catdog_desktop.core.training.events import BatchEvent, EpochEvent, PhaseEvent
from catdog_desktop.core.training.progress import RunProgress


def batch(epoch, epochs, batch_, batches=10, phase="train", eta=9.0, elapsed=10.0):
    return BatchEvent(epoch=epoch, epochs=epochs, batch=batch_, batches=batches, loss=0.5, accuracy=0.8,
                      images_per_second=100, elapsed=elapsed, epoch_eta=eta, phase=phase)


def epoch(number, epochs, phase, seconds=10.0):
    return EpochEvent(epoch=number, epochs=epochs, loss=0.5, accuracy=0.8, val_loss=0.5, val_accuracy=0.8,
                      images_per_second=100, elapsed=20, epoch_seconds=seconds, learning_rate=1e-3, is_best=True,
                      phase=phase)


def test_a_pretrained_training_is_told_stage_by_stage():
    run = RunProgress(time_limit_seconds=15 * 60, clock=lambda: 0.0)
    assert run.view(PhaseEvent(3200, 8000, "Computing features", "features")).bar == "Computing features 3,200 / 8,000"
    assert run.view(batch(5, 30, 1, phase="classifier")).bar == "Training the classifier: epoch 5 of at most 30"
    run.view(epoch(5, 30, "classifier"))
    assert run.view(batch(6, 30, 1, phase="classifier")).bar == "Training the classifier: epoch 6 of about 30"
    run.view(epoch(30, 30, "classifier"))
    # Fine-tuning numbers its epochs on from the classifier's 30, but counts its own.
    first = run.view(batch(31, 36, 1, phase="fine-tuning"))
    assert first.bar == "Fine-tuning: epoch 1 of at most 6"
    run.view(epoch(31, 36, "fine-tuning"))
    second = run.view(batch(32, 36, 5, phase="fine-tuning"))
    assert second.bar == "Fine-tuning: epoch 2 of about 6" and "left for fine-tuning" in second.detail
    assert second.bar == "Fine-tuning: epoch 2 of about 6" and "left for fine-tuning" in second.detail
    checking = run.view(PhaseEvent(128, 200, "Checking the model on the test pictures", "evaluation"))
    assert checking.bar == "Checking the model on the test pictures 128 / 200"


def test_a_pretrained_trainings_bar_fills_once_over_the_whole_run():
    now = [0.0]
    run = RunProgress(time_limit_seconds=600, clock=lambda: now[0])
    run.starting()
    shown = []

    def show(event):
        view = run.view(event)
        if view is not None:
            assert view.total == 1000
            shown.append(view.done)
        return view

    show(PhaseEvent(0, 8000, "Computing features", "features"))
    now[0] = 60
    half = show(PhaseEvent(4000, 8000, "Computing features", "features"))
    assert shown[-1] == round(1000 * 0.55 / 2) and "at most 9 min 00 s left in all" in half.detail
    show(PhaseEvent(8000, 8000, "Computing features", "features"))
    now[0] = 130
    for e in range(1, 31):
        show(batch(e, 30, 10, phase="classifier"))
        run.view(epoch(e, 30, "classifier"))
    assert shown[-1] == 650
    # Fine-tuning planned to fill the limit: the time used takes over when it is further along,
    # up to fine-tuning's own end (the limit also holds the check on the test pictures).
    now[0] = 500
    show(batch(31, 36, 5, phase="fine-tuning"))
    assert shown[-1] == round(1000 * 500 / 600 * 0.97)
    now[0] = 590
    show(batch(32, 36, 5, phase="fine-tuning"))
    assert shown[-1] == 850
    show(PhaseEvent(10, 200, "Checking the model on 200 test pictures…", "evaluation"))
    assert shown == sorted(shown) and shown[-1] < 1000  # never back, never "done" before it is


def test_the_bar_skips_a_skipped_stage_without_going_back():
    run = RunProgress(clock=lambda: 0.0)  # no time limit: the stages' shares alone
    run.view(PhaseEvent(100, 100, "Computing features", "features"))
    assert run.view(batch(30, 30, 10, phase="classifier")).done == 650
    # No fine-tuning (too few pictures): checking follows at once, from its own share on.
    assert run.view(PhaseEvent(1, 100, "Checking the model", "evaluation")).done == round(1000 * (0.89 + 0.08 / 100))


def test_time_left_is_estimated_from_the_first_epochs_batches_and_stopping_is_said():
    run = RunProgress()
    view = run.view(batch(1, 10, 5, eta=50.0, elapsed=60))  # the first report: no pace measured yet
    assert view.bar == "Epoch 1 of 10" and (view.done, view.total) == (5, 100) and "left" not in view.detail
    view = run.view(batch(1, 10, 7, eta=30.0, elapsed=80))  # 2 batches in 20 s: 100 s an epoch
    assert "about 15 min 30 s left in all" in view.detail   # 30 s + 9 epochs of 100 s
    assert run.stop_requested().bar == "Stopping…"
    assert run.view(batch(1, 10, 6)).bar == "Stopping…"     # until the training ends


def said_left(view) -> float:
    """The seconds of "about 1 min 20 s left" in a view's detail."""
    import re

    found = re.search(r"about (?:(\d+) min )?(\d+) s left", view.detail)
    assert found, view.detail
    return int(found.group(1) or 0) * 60 + int(found.group(2))


def test_the_time_left_does_not_spike_when_an_epoch_starts_slowly():
    """Issue 28: "about 47 min 52 s left" at the start of an epoch whose first batch waited (the
    shuffle buffer filling): 10 epochs of 10 s, and the third's first batch reports 2,870 s to go."""
    run = RunProgress()
    for number in (1, 2):
        for b in (2, 5, 9):
            run.view(batch(number, 10, b, elapsed=10 * (number - 1) + b, eta=10 - b))
        run.view(epoch(number, 10, "train", seconds=10.0))
    before = said_left(run.view(batch(2, 10, 10, elapsed=20, eta=0)))
    slow_start = run.view(batch(3, 10, 1, elapsed=25, eta=2870.0))
    assert said_left(slow_start) <= before * 1.25 + 2
    assert 60 <= said_left(slow_start) <= 90  # 8 epochs of 10 s less what is done


def test_the_time_left_rises_gently_and_waits_for_a_measured_pace():
    run = RunProgress()
    assert "left" not in run.view(batch(1, 10, 1, elapsed=30, eta=900)).detail  # the first batch's set-up: no figure
    said = [said_left(run.view(batch(1, 10, 2, elapsed=31, eta=8)))]
    assert said[0] == 8 + 9 * 10  # one second a batch
    for b, t in ((3, 36), (4, 41), (5, 46)):  # then five seconds a batch: the estimate rises, step by step
        said.append(said_left(run.view(batch(1, 10, b, elapsed=t, eta=5 * (10 - b)))))
    assert all(later <= earlier * 1.25 + 2 for earlier, later in zip(said, said[1:]))
    assert said[-1] > said[0]


def test_the_last_stages_move_the_bar_on_instead_of_sitting_near_the_end():
    """Issue 28: the bar sat at 95 % for 16 s (the "not sure" marks) and at 99 % "at most 1 s left"
    while the model was checked and handed over. With a 5-minute limit nearly used by fine-tuning:"""
    now = [0.0]
    run = RunProgress(time_limit_seconds=300, clock=lambda: now[0])
    run.starting()
    run.view(PhaseEvent(100, 100, "Computing features", "features"))
    run.view(batch(30, 30, 10, phase="classifier"))
    now[0] = 280
    bars = [run.view(batch(31, 32, 10, phase="fine-tuning"))]
    for done in (0, 1, 2):
        bars.append(run.view(PhaseEvent(done, 2, "Preparing “not sure” and “none of these”", "calibration")))
    now[0] = 285
    bars.append(run.view(PhaseEvent(0, 2000, "Checking the model on 2,000 test pictures…", "evaluation")))
    now[0] = 295
    bars.append(run.view(PhaseEvent(1000, 2000, "Checking the model on 2,000 test pictures…", "evaluation")))
    assert "about 10 s left" in bars[-1].detail  # its own pace, not "at most 1 s left in all"
    bars.append(run.view(PhaseEvent(0, 0, "Handing the trained model to the app…", "handover")))
    assert bars[-1].bar == "Handing the trained model to the app…"
    filled = [v.done for v in bars]
    assert all(v.total == 1000 for v in bars) and filled == sorted(filled)
    assert filled[0] <= 850 and filled[3] > filled[0] and filled[5] > filled[3] and filled[6] >= 970


def test_after_stop_the_kept_models_check_is_said_with_its_own_progress():
    run = RunProgress(time_limit_seconds=300, clock=lambda: 0.0)
    run.view(batch(31, 36, 5, phase="fine-tuning"))
    assert run.stop_requested().bar == "Stopping…"
    assert run.view(PhaseEvent(1, 2, "Preparing “not sure” and “none of these”", "calibration")).bar == "Stopping…"
    checking = run.view(PhaseEvent(128, 2000, "Checking the kept model on 2,000 test pictures…", "evaluation"))
    assert checking.bar == "Checking the kept model on 2,000 test pictures… 128 / 2,000"
    assert (checking.done, checking.total) == (128, 2000) and "Press Stop again to skip the check" in checking.detail
    skipping = run.skip_requested()
    assert skipping.bar == "Skipping the check…" and "unchecked" in skipping.detail
    assert run.view(PhaseEvent(256, 2000, "Checking the kept model on 2,000 test pictures…", "evaluation")).bar == (
        "Skipping the check…")  # a report already on its way


def result(accuracy=0.7, train_counts=(40, 40), history_acc=(0.99, 0.70), time_limited=False, **extra):
    history = [{"epoch": 1, "accuracy": history_acc[0], "val_accuracy": history_acc[1]}]
    return SimpleNamespace(evaluation=SimpleNamespace(accuracy=accuracy, checked=True), history=history, best_epoch=1,
                           dataset_summary={"class_names": ["cats", "dogs"], "train_counts": list(train_counts)},
                           stopped_by_time_limit=time_limited, **extra)


def test_a_weak_result_gets_at_most_two_suggestions_from_its_facts():
    said = advice(result(train_counts=(12, 40), time_limited=True))
    assert len(said) == 2
    assert said[0].startswith("There are only 12 training pictures of “cats”")
    assert "more varied pictures" in said[1]
    assert advice(result(train_counts=(400, 400), history_acc=(0.75, 0.70), time_limited=True)) == [
        "It was still improving when the time ran out: a longer time limit would help."]
    assert advice(result(accuracy=0.95, train_counts=(10, 10))) == []  # a good result needs no advice
    unchecked = result(accuracy=0.0, train_counts=(12, 40))
    unchecked.evaluation.checked = False  # Stop pressed twice: no score to call weak
    assert advice(unchecked) == []


def test_stage_times_and_the_feature_cache_are_told_in_words():
    done = result(stage_seconds={"setup": 1, "features": 12.2, "classifier": 8, "fine-tuning": 130},
                  features_cached=3000, features_computed=100)
    assert stage_times(done) == "Time: features 12 s · classifier 8 s · fine-tuning 2 min 10 s."
    assert cache_sentence(done) == "3,000 of 3,100 pictures' features were reused from an earlier training."
    assert cache_sentence(result(features_cached=0, features_computed=80)) == ""
    assert cache_sentence(result(features_cached=100, features_computed=0)) == (
        "All 100 pictures' features were reused from an earlier training.")
    assert stage_times(result(stage_seconds={})) == ""
