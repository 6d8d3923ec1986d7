"""JobRunner (ui.workers): the newest job of a kind is the only one anybody hears from."""

import threading

import pytest

from catdog_desktop.core.errors import CatdogError
from catdog_desktop.ui.workers import JobRunner, WorkerThreads


@pytest.fixture
def runner(qtbot):
    threads = WorkerThreads()
    yield JobRunner(threads)
    assert threads.shutdown(10)


def test_a_superseded_job_is_asked_to_stop_and_what_it_still_sends_is_dropped(qtbot, runner):
    gate, heard, asked_to_stop = threading.Event(), [], []

    def slow(task, label):
        task.yielded(f"{label} started")
        gate.wait(10)
        asked_to_stop.append((label, task.should_stop()))
        task.yielded(f"{label} late")
        if label == "failing":
            raise CatdogError("too late to matter")
        return label

    handlers = dict(yielded=lambda v: heard.append(("yielded", v)), returned=lambda v: heard.append(("returned", v)),
                    errored=lambda m: heard.append(("errored", m)), finished=lambda: heard.append(("finished",)))
    runner.start("k", slow, "old", **handlers)
    qtbot.waitUntil(lambda: heard == [("yielded", "old started")])
    runner.start("k", slow, "failing", **handlers)
    qtbot.waitUntil(lambda: ("yielded", "failing started") in heard)
    runner.start("k", lambda task: "new", **handlers)
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy("k") and runner.threads.threads() == [], timeout=10_000)
    assert heard == [("yielded", "old started"), ("yielded", "failing started"), ("returned", "new"), ("finished",)]
    assert sorted(asked_to_stop) == [("failing", True), ("old", True)]


def test_jobs_of_different_kinds_do_not_replace_each_other(qtbot, runner):
    results = []
    runner.start("scan", lambda task: "scanned", returned=results.append)
    runner.start("load-model", lambda task: "loaded", returned=results.append)
    assert runner.busy("scan") and runner.busy("load-model")
    qtbot.waitUntil(lambda: not runner.busy("scan") and not runner.busy("load-model"), timeout=10_000)
    assert sorted(results) == ["loaded", "scanned"]


def test_after_drop_all_nothing_is_handled(qtbot, runner):
    gate, results = threading.Event(), []
    runner.start("train", lambda task: gate.wait(10) and "model", returned=results.append,
                 finished=lambda: results.append("finished"))
    runner.drop_all()
    assert not runner.busy("train")
    gate.set()
    qtbot.waitUntil(lambda: runner.threads.threads() == [], timeout=10_000)
    assert results == []


def test_an_unknown_handler_name_is_refused(runner):
    with pytest.raises(TypeError, match="returnd"):
        runner.start("k", lambda task: None, returnd=print)
