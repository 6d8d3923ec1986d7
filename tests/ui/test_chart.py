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

def drawn_chart(qtbot, epochs, fine_tune_from=None):
    """A HistoryChart 700 px wide after ``epochs`` epochs of high accuracy, drawn."""
    chart = chart_module.HistoryChart()
    qtbot.addWidget(chart)
    chart.resize(700, 300)
    chart.show()
    for epoch in range(1, epochs + 1):
        phase = "fine-tuning" if fine_tune_from is not None and epoch >= fine_tune_from else "train"
        chart.add_epoch(epoch, {"loss": 0.3 / epoch, "val_loss": 0.3 / epoch, "accuracy": 0.90 + epoch / 200,
                                "val_accuracy": 0.93 + epoch / 300}, is_best=epoch == epochs, phase=phase)
    chart.draw()
    return chart


def test_the_accuracy_axis_zooms_to_the_curves_instead_of_squashing_them_into_0_to_1(qtbot):
    chart = drawn_chart(qtbot, 8)
    bottom, top = chart.ax_acc.get_ylim()
    lowest, highest = 0.905, 0.93 + 8 / 300
    assert bottom <= lowest and highest <= top <= 1.01 and top - bottom < 0.1  # the points fill the axis


def test_the_fine_tuning_label_stays_inside_the_plot_even_when_it_starts_at_the_last_epoch(qtbot):
    chart = drawn_chart(qtbot, 8, fine_tune_from=8)
    renderer = chart.figure.canvas.get_renderer()
    for ax, label in zip((chart.ax_loss, chart.ax_acc), chart.fine_tune_labels):
        assert label.get_visible()
        text, box = label.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.x0 - 0.5 <= text.x0 and text.x1 <= box.x1 + 0.5, (text, box)
