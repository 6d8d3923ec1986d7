"""Progress events (core.training.events): one kind of object from the training to whoever shows it."""

import pickle

import pytest

from catdog_desktop.core.training.events import BatchEvent, EpochEvent, PhaseEvent, Reporter


def test_on_event_hands_each_event_to_the_method_for_its_kind():
    received = []

    class Recorder(Reporter):
        def on_stage(self, event):
            received.append(("stage", event.phase))

        def on_batch_end(self, event):
            received.append(("batch", event.batch))

        def on_epoch_end(self, event):
            received.append(("epoch", event.phase))

    events = [PhaseEvent(1, 2, "Reading training pictures"),
              BatchEvent(epoch=1, epochs=3, batch=4, batches=9, loss=0.7, accuracy=0.5, images_per_second=10,
                         elapsed=1.0, epoch_eta=2.0),
              EpochEvent(epoch=1, epochs=3, loss=0.6, accuracy=0.6, val_loss=0.6, val_accuracy=0.6,
                         images_per_second=10, elapsed=3.0, epoch_seconds=2.0, learning_rate=1e-3, is_best=True)]
    reporter = Recorder()
    for event in events:
        reporter.on_event(pickle.loads(pickle.dumps(event)))  # as they cross the child's pipe
    assert received == [("stage", "reading"), ("batch", 4), ("epoch", "train")]
    with pytest.raises(TypeError):
        reporter.on_event(("batch", events[1]))  # the tuples of old are not events
