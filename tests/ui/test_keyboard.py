"""Everything the mouse does has a keyboard path: Tab leaves every table, the platform's shortcuts
switch tabs, the results table sorts from a menu, Enter opens a picture, the arrow keys walk the
confusion matrix."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QTableView

from test_evaluation_panel import made_up_evaluation, shown_paths, tab as evaluate_tab  # noqa: F401 - a fixture
from test_results_table import tab  # noqa: F401 - a fixture
from synthetic import write_class_folders

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


def test_tab_leaves_every_table_of_the_window(qtbot, window):
    tables = window.findChildren(QTableView)
    assert len(tables) >= 4  # dataset, per-class after training, per-class on Evaluate, results
    assert [t for t in tables if t.tabKeyNavigation()] == []
    table = window.dataset_panel.table
    window.tabs.setCurrentWidget(window.dataset_panel)
    table.setVisible(True)
    table.setRowCount(2)
    window.activateWindow()
    table.setFocus()
    qtbot.waitUntil(table.hasFocus)
    qtbot.keyClick(table, Qt.Key.Key_Tab)
    assert not table.hasFocus()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Backtab, SHIFT)
    assert table.hasFocus()


def test_ctrl_tab_and_ctrl_page_keys_switch_tabs_wherever_the_focus_is(qtbot, window):
    window.tabs.setCurrentIndex(0)
    window.activateWindow()
    window.dataset_panel.choose_button.setFocus()
    qtbot.waitUntil(window.dataset_panel.choose_button.hasFocus)
    for key, modifiers, index in [(Qt.Key.Key_Tab, CTRL, 1), (Qt.Key.Key_PageDown, CTRL, 2),
                                  (Qt.Key.Key_PageUp, CTRL, 1), (Qt.Key.Key_Backtab, CTRL | SHIFT, 0),
                                  (Qt.Key.Key_Backtab, CTRL | SHIFT, 4), (Qt.Key.Key_Tab, CTRL, 0)]:
        qtbot.keyClick(QApplication.focusWidget() or window, key, modifiers)
        assert window.tabs.currentIndex() == index, (key, modifiers)
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    assert [a.text() for a in menu.actions()][:2] == ["&Next tab", "&Previous tab"]


def test_results_sort_from_the_keyboard_and_enter_opens_a_picture(qtbot, tab, monkeypatch):  # noqa: F811
    from PySide6.QtGui import QDesktopServices

    panel = tab.panel
    panel.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # by file name, Z to A
    button = panel.sort_by_button
    assert button.isEnabled() and button.focusPolicy() & Qt.FocusPolicy.TabFocus
    button.menu().aboutToShow.emit()
    names = [a.text() for a in button.menu().actions()]
    assert "Confidence, lowest first" in names and "File, A to Z" in names and "cats, highest first" in names
    next(a for a in button.menu().actions() if a.text() == "File, A to Z").trigger()
    files = [panel.cell_text(r, 1) for r in range(18)]
    assert files == sorted(files)
    assert panel.table.horizontalHeader().sortIndicatorSection() == 1  # the header shows it too

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    panel.activateWindow()
    panel.table.setFocus()
    panel.table.setCurrentIndex(panel.proxy.index(2, 1))
    qtbot.keyClick(panel.table, Qt.Key.Key_Return)
    assert [p.rsplit("/", 1)[1] for p in opened] == [files[2]]


def test_arrow_keys_walk_the_confusion_matrix_and_enter_opens_a_gallery_picture(qtbot, evaluate_tab, tmp_path):  # noqa: F811
    tab = evaluate_tab
    folder = write_class_folders(tmp_path / "pets", ["birds", "cats", "dogs"], 8)
    _, ev = made_up_evaluation(folder)
    tab.panel.show_evaluation(ev, "made up", ev.class_names)
    chart = tab.panel.confusion_chart
    assert chart.focusPolicy() & Qt.FocusPolicy.TabFocus
    chart.setFocus()
    qtbot.keyClick(chart, Qt.Key.Key_Right)        # from no cell: the first, then one to the right
    qtbot.keyClick(chart, Qt.Key.Key_Right)
    qtbot.keyClick(chart, Qt.Key.Key_Down)
    assert tab.panel.cell == (1, 1)
    expected = {r.path for r in ev.results if r.true_class == "cats" and r.predicted_class == "cats"}
    assert set(shown_paths(tab.panel)) == expected
    for _ in range(5):
        qtbot.keyClick(chart, Qt.Key.Key_Down)     # stops at the edge
    assert tab.panel.cell == (2, 1)

    qtbot.keyClick(chart, Qt.Key.Key_Up)
    assert tab.panel.cell == (1, 1) and set(shown_paths(tab.panel)) == expected and expected
    view = tab.panel.gallery.view
    view.setFocus()
    view.setCurrentIndex(tab.panel.gallery.model.index(0))
    qtbot.keyClick(view, Qt.Key.Key_Return)
    [dialog] = tab.controller.dialogs
    assert dialog.item.path == tab.panel.gallery.model.item(0).path
    dialog.close()
