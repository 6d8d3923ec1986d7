"""Qt widgets. Thin: each panel (view, *_panel.py) shows data and emits what the user asked for;
its flow (scanning, training, classifying, evaluating) runs the work through catdog_desktop.core in
worker threads and feeds results back; the main window assembles them."""

import sys


def _keep_none_alive() -> None:
    """Work around a PySide6 6.12 bug that would crash long sessions on Python 3.10-3.11.

    Every PySide6 6.12.0 method that returns nothing (``setText``, ``setValue``,
    ``processEvents``...) drops one reference to ``None`` too many (measured: 2,000 calls of
    ``QLabel.setText`` lower ``sys.getrefcount(None)`` by 2,000). When the count reaches zero
    Python aborts with "Fatal Python error: none_dealloc"; a 45-minute training through the
    app's worker did. Python 3.12 made ``None`` immortal, so there the extra releases are
    harmless; this gives older Pythons the same by adding a count no session can use up.

    ``Signal.emit()`` has the same bug with the ``True`` it returns (measured: 100 emits lower
    ``sys.getrefcount(True)`` by 100; a gallery of a few hundred thumbnails aborted with
    "bool_dealloc"), so ``True`` and ``False`` get the same count.
    """
    if sys.version_info >= (3, 12):
        return
    import ctypes

    for constant in (None, True, False):
        ctypes.c_ssize_t.from_address(id(constant)).value += sys.maxsize >> 2


_keep_none_alive()
