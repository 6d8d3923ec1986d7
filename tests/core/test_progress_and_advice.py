"""What the app says while a training runs and after it ends (core.progress, core.advice)."""

from types import SimpleNamespace

from catdog_desktop.core.advice import advice, cache_sentence, stage_times
from catdog_desktop.core.events import BatchEvent, EpochEvent, PhaseEvent
from catdog_desktop.core.progress import RunProgress


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
    # Fine-tuning planned to fill the limit: the time used takes over when it is further along.
    now[0] = 560
    show(batch(31, 36, 5, phase="fine-tuning"))
    assert shown[-1] == round(1000 * 560 / 600)
    show(PhaseEvent(10, 200, "Checking the model on the test pictures", "evaluation"))
    assert shown == sorted(shown) and shown[-1] < 1000  # never back, never "done" before it is


def test_the_bar_skips_a_skipped_stage_without_going_back():
    run = RunProgress(clock=lambda: 0.0)  # no time limit: the stages' shares alone
    run.view(PhaseEvent(100, 100, "Computing features", "features"))
    assert run.view(batch(30, 30, 10, phase="classifier")).done == 650
    # No fine-tuning (too few pictures): checking follows at once, from its own share on.
    assert run.view(PhaseEvent(1, 100, "Checking the model", "evaluation")).done == 950


def test_time_left_is_estimated_from_the_first_epochs_batches_and_stopping_is_said():
    run = RunProgress()
    view = run.view(batch(1, 10, 5, eta=50.0))  # 5 of 10 batches, 50 s to go: 100 s an epoch
    assert view.bar == "Epoch 1 of 10" and (view.done, view.total) == (5, 100)
    assert "about 15 min 50 s left in all" in view.detail   # 50 s + 9 epochs of 100 s
    assert run.stop_requested().bar == "Stopping…"
    assert run.view(batch(1, 10, 6)).bar == "Stopping…"     # until the training ends


def result(accuracy=0.7, train_counts=(40, 40), history_acc=(0.99, 0.70), time_limited=False, **extra):
    history = [{"epoch": 1, "accuracy": history_acc[0], "val_accuracy": history_acc[1]}]
    return SimpleNamespace(evaluation=SimpleNamespace(accuracy=accuracy), history=history, best_epoch=1,
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


def test_stage_times_and_the_feature_cache_are_told_in_words():
    done = result(stage_seconds={"setup": 1, "features": 12.2, "classifier": 8, "fine-tuning": 130},
                  features_cached=3000, features_computed=100)
    assert stage_times(done) == "Time: features 12 s · classifier 8 s · fine-tuning 2 min 10 s."
    assert cache_sentence(done) == "3,000 of 3,100 pictures' features were reused from an earlier training."
    assert cache_sentence(result(features_cached=0, features_computed=80)) == ""
    assert cache_sentence(result(features_cached=100, features_computed=0)) == (
        "All 100 pictures' features were reused from an earlier training.")
    assert stage_times(result(stage_seconds={})) == ""
