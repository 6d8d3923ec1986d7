"""The Evaluate gallery fills its width: its columns widen to share what is left over, instead of
leaving a strip as wide as two thirds of a picture empty at the right."""

import pytest

from catdog_desktop.ui.gallery import ITEM_SIZE, Gallery, GalleryItem
from catdog_desktop.ui.workers import JobRunner, WorkerThreads


@pytest.fixture
def gallery(qtbot, tmp_path):
    threads = WorkerThreads()
    made = Gallery(JobRunner(threads))
    qtbot.addWidget(made)
    made.show_items([GalleryItem(str(tmp_path / f"{i}.jpg"), f"cats → dogs {i}%", "", i / 30, "cats", "dogs")
                     for i in range(30)], "made up", ["cats", "dogs"])
    yield made
    threads.shutdown()


@pytest.mark.parametrize("width", [352, 450, 620, 905])
def test_gallery_columns_fill_the_width(qtbot, gallery, width):
    gallery.resize(width, 500)
    gallery.show()
    qtbot.waitExposed(gallery)
    view = gallery.view
    view.doItemsLayout()  # now, not at the next turn of the event loop
    free, cell = view.viewport().width(), view.gridSize().width()
    columns = free // cell
    assert columns >= 1 and cell >= ITEM_SIZE.width() + 8  # never narrower than a picture and its caption
    tops = [view.visualRect(gallery.model.index(i)).top() for i in range(columns + 1)]
    assert len(set(tops[:columns])) == 1 and tops[columns] > tops[0]  # the columns counted are the real ones
    assert free - columns * cell <= columns  # what is left over is a pixel a column at most
