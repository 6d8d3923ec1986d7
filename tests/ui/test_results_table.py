"""The Classify tab's table on its own (made-up results, no model): an unreadable file's reason is
shown in full, and Export CSV writes the rows the filter shows and says so."""

from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from catdog_desktop.core.classify.results import ClassifiedRows, read_csv
from catdog_desktop.core.classify.prediction import Prediction
from catdog_desktop.core.app.session import Session
from catdog_desktop.ui.classify_panel import ClassifyPanel
from catdog_desktop.ui.classifying import Classifying
from catdog_desktop.ui.workers import JobRunner, WorkerThreads

LONG_REASON = "it is not a picture: its first bytes say it is a PDF document, not JPEG, PNG, BMP, GIF, WebP or TIFF"


@pytest.fixture
def tab(qtbot, tmp_path):
    """A Classify panel and its controller showing 20 made-up results: 12 cats, 6 dogs, 2 unreadable."""
    threads = WorkerThreads()
    runner = JobRunner(threads)
    panel = ClassifyPanel()
    qtbot.addWidget(panel)
    controller = Classifying(panel, Session(), runner, lambda: None)
    panel.resize(1000, 560)
    panel.show()
    rows = [Prediction(str(tmp_path / f"pic{i:02}.jpg"), "cats" if i < 12 else "dogs", 0.9,
                       {"cats": 0.9, "dogs": 0.1} if i < 12 else {"cats": 0.1, "dogs": 0.9}) for i in range(18)]
    for p in rows:
        open(p.path, "wb").close()  # there to open (its contents are not read here)
    rows += [Prediction(str(tmp_path / "scan.jpg"), error=LONG_REASON),
             Prediction(str(tmp_path / "empty.jpg"), error="the file is empty")]
    panel.begin(len(rows), ["cats", "dogs"])
    panel.add_rows(ClassifiedRows(0, rows, len(rows), len(rows)))
    panel.finish()
    yield SimpleNamespace(panel=panel, controller=controller, jobs=runner)
    threads.shutdown()


def test_an_unreadable_files_reason_is_shown_in_full_not_cut_in_the_class_column(tab):
    panel = tab.panel
    model, view = panel.model, panel.table
    reason = model.reason_column()
    assert not view.isColumnHidden(reason) and model.headerData(reason, Qt.Orientation.Horizontal) == "Why unreadable"
    rows = {panel.cell_text(r, 1): r for r in range(panel.row_count())}
    row = rows["scan.jpg"]
    assert panel.cell_text(row, 2) == "✖ Unreadable"            # short: fits the Class column
    assert panel.cell_text(row, reason) == LONG_REASON           # the reason in a column of its own
    for column in (2, reason):                                   # and whole in a tooltip on both
        assert panel.proxy.data(panel.proxy.index(row, column), Qt.ItemDataRole.ToolTipRole) == LONG_REASON
    assert view.columnWidth(reason) > view.columnWidth(2)
    assert panel.cell_text(rows["pic00.jpg"], reason) == ""


def test_export_csv_writes_the_rows_the_filter_shows_and_says_so(qtbot, tab, tmp_path, monkeypatch):
    panel = tab.panel
    panel.class_filter.setCurrentIndex(panel.class_filter.findData("dogs"))
    assert panel.row_count() == 6
    asked = []

    def save_as(parent, title, suggested, pattern):
        asked.append((title, suggested))
        return str(tmp_path / "dogs.csv"), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Saved" in panel.message.text(), timeout=10_000)
    assert "6 rows shown" in asked[0][0] and asked[0][1].endswith("-dogs.csv")
    written = read_csv(tmp_path / "dogs.csv")
    assert len(written) == 6 and {row["class"] for row in written} == {"dogs"}
    assert "Saved the 6 rows shown (dogs; 20 in all)" in panel.message.text()

    panel.class_filter.setCurrentIndex(0)  # all of them: all rows, said plainly
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "all.csv"), ""))
    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Saved 20 rows" in panel.message.text(), timeout=10_000)
    assert len(read_csv(tmp_path / "all.csv")) == 20
