"""Training in a child process (core.training.isolated): same results, same errors, memory given back."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from catdog_desktop.core import errors
from catdog_desktop.core.training import isolated
from catdog_desktop.core.training import train as training
from catdog_desktop.core.config import TrainingConfig
from catdog_desktop.core.data.dataset import scan_dataset
from helpers import TINY
from synthetic import write_class_folders


class Recorder(training.Reporter):
    def __init__(self, stop_after_batches=None, on_first_batch=None):
        self.events = []
        self.stop_after_batches = stop_after_batches
        self.on_first_batch = on_first_batch

    def on_stage(self, event):
        self.events.append(("stage", event.message))

    def on_batch_end(self, info):
        if self.on_first_batch and not any(kind == "batch" for kind, _ in self.events):
            self.on_first_batch()
        self.events.append(("batch", info.batch))

    def on_epoch_end(self, info):
        self.events.append(("epoch", info.epoch))

    def should_stop(self):
        batches = sum(1 for kind, _ in self.events if kind == "batch")
        return self.stop_after_batches is not None and batches >= self.stop_after_batches


def test_training_in_a_child_process_reports_and_returns_a_working_model(pets_dir):
    scan = scan_dataset(pets_dir)
    reporter = Recorder()
    result = isolated.train_in_subprocess(TrainingConfig(**TINY), scan, reporter)
    kinds = [kind for kind, _ in reporter.events]
    assert kinds[0] == "stage" and "batch" in kinds and kinds.count("epoch") == TINY["epochs"]
    assert len(result.history) == TINY["epochs"] and result.evaluation.accuracy >= 0.9
    assert result.class_names == ["cats", "dogs"] and result.config.image_size == TINY["image_size"]
    probabilities = result.model(np.zeros((2, 32, 32, 3), np.float32)).numpy()
    assert probabilities.shape == (2, 1) and np.all((probabilities >= 0) & (probabilities <= 1))
    assert not [p for p in multiprocessing.active_children() if p.name == "catdog-training"]


def test_a_second_stop_reaches_the_child_and_skips_the_check(pets_dir):
    class StopTwice(Recorder):
        def should_skip_check(self):
            return self.should_stop()

    reporter = StopTwice(stop_after_batches=7)  # 5 batches an epoch: in the second one
    result = isolated.train_in_subprocess(TrainingConfig(**{**TINY, "epochs": 50}), scan_dataset(pets_dir), reporter)
    assert result.stopped_by_user and result.best_epoch == 1 and not result.evaluation.checked
    assert any("not checked on the validation pictures" in note for note in result.notes)
    assert ("stage", isolated.HANDOVER) in reporter.events  # the model's way back to the app is told too
    assert result.model(np.zeros((1, 32, 32, 3), np.float32)).shape == (1, 1)


def test_an_error_in_the_child_comes_back_as_the_same_exception(tmp_path):
    write_class_folders(tmp_path / "pets", ["cats", "dogs"], 10)
    scan = scan_dataset(tmp_path / "pets")
    (tmp_path / "pets").rename(tmp_path / "gone")
    with pytest.raises(errors.DatasetError, match="None of the training pictures could be read"):
        isolated.train_in_subprocess(TrainingConfig(**TINY), scan)


def test_a_stop_before_the_first_epoch_ends_is_a_cancel(pets_dir):
    scan = scan_dataset(pets_dir)
    many_batches = TrainingConfig(**{**TINY, "epochs": 50, "batch_size": 2})  # 40 per epoch
    with pytest.raises(errors.CancelledError):
        isolated.train_in_subprocess(many_batches, scan, Recorder(stop_after_batches=1))


def test_abandoning_ends_the_child_at_once(pets_dir):
    scan = scan_dataset(pets_dir)
    reporter = Recorder()
    reporter.should_abandon = lambda: any(kind == "batch" for kind, _ in reporter.events)
    started = time.monotonic()
    with pytest.raises(errors.CancelledError, match="abandoned"):
        isolated.train_in_subprocess(TrainingConfig(**{**TINY, "epochs": 500}), scan, reporter)
    assert not [p for p in multiprocessing.active_children() if p.name == "catdog-training"]
    assert time.monotonic() - started < 120


def test_the_child_ends_when_the_app_dies(pets_dir, tmp_path):
    app = (
        "import sys\n"
        "from catdog_desktop.core.training import isolated, train as training\n"
        "from catdog_desktop.core.config import TrainingConfig\n"
        "from catdog_desktop.core.data.dataset import scan_dataset\n"
        "class Say(training.Reporter):\n"
        "    def on_batch_end(self, info):\n"
        "        import multiprocessing\n"
        "        print([p.pid for p in multiprocessing.active_children()][0], flush=True)\n"
        "if __name__ == '__main__':\n"
        f"    isolated.train_in_subprocess(TrainingConfig(**{dict(TINY, epochs=500)!r}), scan_dataset({str(pets_dir)!r}), Say())\n"
    )
    (tmp_path / "app.py").write_text(app)
    assert_child_ends_with_app(tmp_path / "app.py")


def test_a_silent_child_ends_when_the_app_dies(tmp_path):
    # While importing TensorFlow, evaluating or saving, the child sends nothing, so a broken pipe
    # cannot tell it the app is gone: the parent-death watch must.
    app = (
        "import multiprocessing, time\n"
        "from catdog_desktop.core.training import isolated\n"
        "def silent():\n"
        "    isolated._exit_with_parent()\n"
        "    time.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    child = multiprocessing.get_context('spawn').Process(target=silent)\n"
        "    child.start()\n"
        "    time.sleep(1)\n"
        "    print(child.pid, flush=True)\n"
        "    time.sleep(120)\n"
    )
    (tmp_path / "app.py").write_text(app)
    assert_child_ends_with_app(tmp_path / "app.py")


def assert_child_ends_with_app(script):
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = None
    try:
        child = int(proc.stdout.readline())
        proc.kill()  # the app crashes or is killed
        proc.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and pid_alive(child):
            time.sleep(0.1)
        assert not pid_alive(child)
    finally:
        proc.kill()
        if child is not None and pid_alive(child):
            os.kill(child, signal.SIGKILL)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) counts as ended
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_a_child_killed_by_the_system_is_a_readable_error(pets_dir):
    scan = scan_dataset(pets_dir)

    def kill_child():
        for child in multiprocessing.active_children():
            if child.name == "catdog-training":
                os.kill(child.pid, signal.SIGKILL)

    with pytest.raises(errors.CatdogError, match="ran out of memory"):
        isolated.train_in_subprocess(TrainingConfig(**{**TINY, "epochs": 50}), scan, Recorder(on_first_batch=kill_child))


@pytest.mark.parametrize("exc, words", [
    (MemoryError(), "Not enough memory"),
    (RuntimeError("OOM when allocating tensor with shape[64,64,512,512]"), "Not enough memory"),
    (ValueError("a bug\nmore lines"), "Something went wrong: ValueError: a bug"),
    (errors.DatasetError("The folder is empty."), "The folder is empty."),
])
def test_exceptions_become_one_readable_line(exc, words):
    text = errors.describe(exc)
    assert text.startswith(words) and "\n" not in text
