"""The charts: the training chart keeps up with fast trainings without freezing the window; the
confusion matrix draws any class name as it is."""

import pytest

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


def test_the_confusion_matrix_draws_class_names_with_dollars_as_they_are(qtbot):
    """matplotlib reads text between dollars as maths: "$cats$" came out as an italic "cats", and
    "50%$#$" raised on every redraw of the chart."""
    from matplotlib.text import Text

    from hostile import DOLLAR_CLASSES

    chart = chart_module.ConfusionChart()
    qtbot.addWidget(chart)
    chart.show_matrix(DOLLAR_CLASSES, [[3, 1], [0, 4]], clickable=True)
    chart.draw()  # what draw_idle does on the next paint; it raised here
    renderer = chart.figure.canvas.get_renderer()
    for label, name in zip(chart.ax.get_xticklabels(), DOLLAR_CLASSES):
        as_text = Text(text=name, fontproperties=label.get_fontproperties(), parse_math=False, figure=chart.figure)
        assert label.get_window_extent(renderer).width == pytest.approx(as_text.get_window_extent(renderer).width)
