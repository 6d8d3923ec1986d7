"""The versions of the libraries a model was made or a report written with (recorded with each
saved model, shown in the report), read from the installed packages' metadata: nothing is imported."""

from __future__ import annotations

import platform
from importlib import metadata

#: Shown name: the distributions that may provide it (TensorFlow and Qt come in several builds).
PACKAGES = {
    "catdog-desktop": ("catdog-desktop",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel", "tensorflow-macos"),
    "keras": ("keras",),
    "numpy": ("numpy",),
    "pillow": ("pillow",),
    "matplotlib": ("matplotlib",),
    "PySide6": ("PySide6", "PySide6-Essentials"),
}


def library_versions() -> dict[str, str]:
    """{name: version} of Python and the :data:`PACKAGES` that are installed."""
    found = {"python": platform.python_version()}
    for name, distributions in PACKAGES.items():
        for distribution in distributions:
            try:
                found[name] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return found
