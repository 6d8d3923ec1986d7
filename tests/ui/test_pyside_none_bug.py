"""A PySide6 6.12 bug releases None once per call of a method that returns nothing, and True once
per signal emitted; on Python 3.10-3.11 a long session would abort ("none_dealloc",
"bool_dealloc"). catdog_desktop.ui guards against it."""

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



def test_a_million_signals_emitted_do_not_crash_python():
    code = (
        "import catdog_desktop.ui\n"
        "from PySide6.QtCore import QObject, Signal\n"
        "class Sender(QObject):\n"
        "    sent = Signal(object)\n"
        "sender = Sender()\n"
        "sender.sent.connect(lambda value: None)\n"
        "for _ in range(1_000_000):\n"
        "    sender.sent.emit(1)\n"  # emit() returns True, and released it once more than it took
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-500:]
