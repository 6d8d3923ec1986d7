"""The training chart keeps up with fast trainings without freezing the window."""

from catdog_desktop.ui import chart as chart_module


def test_a_burst_of_epochs_is_drawn_a_few_times_not_once_per_event(qtbot, monkeypatch):
    """A pretrained classifier sends ~30 epochs in seconds; a drawing costs ~0.1 s, so drawing
    each one kept the GUI thread busy. The data is current at once; the drawing follows."""
    monkeypatch.setattr(chart_module, "REDRAW_INTERVAL_MS", 50)
    chart = chart_module.HistoryChart()
    qtbot.addWidget(chart)
    draws = []
    monkeypatch.setattr(chart, "draw_idle", lambda: draws.append(len(chart.data["loss"][0])))
    chart._redraw.timeout.disconnect()
    chart._redraw.timeout.connect(chart.draw_idle)
    for epoch in range(1, 41):
        chart.add_epoch(epoch, {"loss": 1 / epoch, "val_loss": 1 / epoch, "accuracy": 0.9, "val_accuracy": 0.9})
        chart.add_batch(epoch, 1, 1, 1 / epoch)
    assert chart.points("loss") == 40 and draws == []  # nothing drawn inside the burst
    qtbot.waitUntil(lambda: draws == [40], timeout=2000)  # then once, with every epoch in it
    chart.add_epoch(41, {"loss": 0.01})
    qtbot.waitUntil(lambda: draws == [40, 41], timeout=2000)
