"""QApplication set-up and main() for the catdog-desktop launcher.

Nothing heavy is imported here: TensorFlow and matplotlib load in the background once the
window is on screen.
"""

from __future__ import annotations

import argparse
import ctypes.util
import logging
import multiprocessing
import os
import sys
from pathlib import Path

from . import __version__

log = logging.getLogger("catdog_desktop")

#: Libraries Qt's xcb platform plugin needs on Linux that minimal desktops may lack.
XCB_LIBRARIES = {"xcb-cursor": "libxcb-cursor0", "xkbcommon-x11": "libxkbcommon-x11-0", "xcb-icccm": "libxcb-icccm4",
                 "xcb-keysyms": "libxcb-keysyms1"}


def _found(lib: str) -> bool:
    """The library is on the system, or inside this self-contained build (PyInstaller's folder)."""
    bundled = getattr(sys, "_MEIPASS", None) if getattr(sys, "frozen", False) else None
    if bundled and any(Path(bundled).glob(f"lib{lib}.so*")):
        return True
    return ctypes.util.find_library(lib) is not None


def missing_linux_libraries() -> list[str]:
    """Debian package names of the Qt xcb dependencies that cannot be found (Linux/X11 only)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return []
    if not os.environ.get("DISPLAY"):
        return []
    if "QT_QPA_PLATFORM" not in os.environ and (os.environ.get("WAYLAND_DISPLAY")
                                                or os.environ.get("XDG_SESSION_TYPE") == "wayland"):
        return []  # Qt will use its Wayland plugin, which needs none of these
    return [pkg for lib, pkg in XCB_LIBRARIES.items() if not _found(lib)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="catdog-desktop", description="Train and use image classifiers.")
    parser.add_argument("--version", action="version", version=f"catdog-desktop {__version__}")
    parser.add_argument("--debug", action="store_true", help="log debug messages to the terminal")
    parser.add_argument("--install-desktop-entry", action="store_true",
                        help="add catdog-desktop to your applications menu (Linux desktops) and exit")
    parser.add_argument("paths", nargs="*", help="a dataset folder, a .keras model or pictures to open")
    args, _qt_args = parser.parse_known_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    # Frozen (PyInstaller), a training's child process starts this same executable: run the child
    # and exit here, before the arguments are read. Outside a frozen app it does nothing.
    multiprocessing.freeze_support()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr if sys.stderr is not None else None)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # On a GPU, the app (classifying) and each training's child process share the card: without
    # this, TensorFlow in the app would reserve nearly all GPU memory and the training would fail.
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    if args.install_desktop_entry:
        from .desktop_entry import install

        entry = install()
        print(f"Installed {entry}: catdog-desktop is now in your applications menu.")
        return 0
    missing = missing_linux_libraries()
    if missing:
        message = ("catdog-desktop cannot open a window: Qt needs system libraries that are missing.\n"
                   f"Install them with:  sudo apt install {' '.join(missing)}")
        if sys.stderr is not None:
            print(message, file=sys.stderr)
        return 1

    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from .paths import icon_path
    from .ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("catdog-desktop")
    app.setApplicationName("catdog-desktop")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("catdog-desktop")  # Wayland taskbars find the icon through it
    app.setWindowIcon(QIcon(str(icon_path())))
    window = MainWindow()
    window.show()
    if args.paths:
        window.open_paths(args.paths)
    return app.exec()
