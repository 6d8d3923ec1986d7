"""What goes into the frozen app, and what is cut from it (shared by the spec and the tests).

No PyInstaller import here: the tests read these lists without it.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

#: Modules the app never imports that PyInstaller would follow from optional imports
#: (test runners, notebooks, Tk, other Qt bindings).
EXCLUDED_MODULES = [
    "tkinter", "_tkinter", "IPython", "ipykernel", "jupyter_client", "notebook", "pytest", "_pytest",
    "pytestqt", "xdist", "importlinter", "grimp", "PyQt5", "PyQt6", "PySide2", "sphinx", "docutils",
    "PySide6.QtQuick", "PySide6.QtQml", "PySide6.QtQuickWidgets", "PySide6.QtWebEngineCore",
    "PySide6.Qt3DCore", "PySide6.QtPdf", "PySide6.QtMultimedia", "PySide6.QtDesigner",
    # reachable from TensorFlow's and requests' optional paths, never imported by the app (checked:
    # not in sys.modules after a training, an export and a classification): 31 MB
    "grpc", "cryptography", "yaml",
    # the cluster extra (core.cluster): the downloadable app says to pip install it instead
    "dask", "distributed",
]

#: Files in the collected folder that the app never opens (relative paths, fnmatch patterns).
PRUNED = [
    "*/include/*",  # C/C++ headers (TensorFlow's and others')
    "*/tests/*", "*/test/*",
    # Qt's platforms for embedded devices without a desktop (framebuffer, EGLFS, VNC, evdev input)
    "/PySide6/Qt/plugins/platforms/libqeglfs.so", "/PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "/PySide6/Qt/plugins/platforms/libqvnc.so", "/PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so",
    "/PySide6/Qt/plugins/platforms/libqminimalegl.so", "/PySide6/Qt/plugins/egldeviceintegrations/*",
    "/PySide6/Qt/plugins/generic/*", "*/libQt6EglFSDeviceIntegration.so*", "*/libQt6EglFsKmsSupport.so*",
]


#: Libraries whose symbol tables nobody reads, stripped after the build: 205 MB of TensorFlow's
#: 788 MB library. Only these: stripping a library auditwheel patched (numpy's OpenBLAS) breaks it.
STRIPPED = ["tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"]


def package_data(repo: Path) -> list[tuple[str, str]]:
    """The package's data files as pyproject.toml declares them for pip, as (file, folder) pairs
    placed where the frozen ``catdog_desktop`` package looks for them (paths.RESOURCES)."""
    config = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    pairs = []
    for package, patterns in config["tool"]["setuptools"]["package-data"].items():
        root = repo / package.replace(".", "/")
        for pattern in patterns:
            for path in sorted(root.glob(pattern)):
                if path.is_file():
                    pairs.append((str(path), str(path.parent.relative_to(repo))))
    return pairs


def prune(toc):
    """The TOC without the entries matching :data:`PRUNED` (a PyInstaller TOC: (dest, source, kind))."""
    return [entry for entry in toc if not any(fnmatch.fnmatch("/" + entry[0], p) for p in PRUNED)]
