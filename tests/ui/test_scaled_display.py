"""HiDPI: a training runs to its end and every chart draws at scale factors 1 and 1.5 (issue 28:
the app segfaulted at the end of every training when Qt scaled the window, because the confusion
chart stored an int in ``size`` and so hid ``QWidget.size()`` from matplotlib's Qt canvas)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget

SCRIPT = Path(__file__).with_name("scaled_window.py")


@pytest.mark.parametrize("scale", ["1.5"])  # scale 1: test_main_window's trainings run to their end in-process
def test_a_training_ends_and_the_charts_draw_on_a_scaled_display(scale, tmp_path):
    env = dict(os.environ, QT_SCALE_FACTOR=scale, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, "-X", "faulthandler", str(SCRIPT)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=480)
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stderr[-3000:]}"
    done = [line for line in run.stdout.splitlines() if line.startswith("DONE")]
    assert done == [f"DONE ratio={scale} result_shown=True epochs=2 matrix=2"], run.stdout[-2000:]
    assert "object is not callable" not in run.stderr


def test_no_widget_hides_a_qt_method_behind_a_plain_attribute(window):
    """Storing ``self.size = 0`` on a QWidget hides ``size()`` from Qt code that calls it (matplotlib's
    canvas does, on every resize at a scale factor that is not 1). Check every widget of the window,
    the charts included, for instance attributes that shadow a callable of their Qt class."""
    window.training_panel.install_charts()
    window.evaluation_panel.install_charts()
    clashes = []
    for widget in [window, *window.findChildren(QWidget)]:
        qt_bases = [cls for cls in type(widget).__mro__ if cls.__module__.startswith("PySide6")]
        for name, value in vars(widget).items():
            if not callable(value) and any(callable(getattr(cls, name, None)) for cls in qt_bases):
                clashes.append(f"{type(widget).__name__}.{name}")
    assert clashes == []
