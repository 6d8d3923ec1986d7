"""A PySide6 6.12 bug releases None once per call of a method that returns nothing; on Python
3.10-3.11 a long session would abort ("none_dealloc"). catdog_desktop.ui guards against it."""

import subprocess
import sys


def test_a_million_qt_calls_do_not_crash_python():
    code = (
        "import catdog_desktop.ui\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "app = QApplication([])\n"
        "label = QLabel()\n"
        "for _ in range(1_000_000):\n"
        "    label.setVisible(False)\n"  # returns nothing: the call that used to release None
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-500:]
