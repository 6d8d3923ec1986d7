"""Fixtures shared by core and UI tests. No Qt here: tests/core must run without PySide6
(tests/ui/conftest.py sets up Qt)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Features computed by tests go to a folder of their own, never the user's cache (children inherit it).
os.environ.setdefault("CATDOG_DESKTOP_CACHE_DIR", tempfile.mkdtemp(prefix="catdog-test-cache-"))
# Likewise the app's own data (the key that signs sort logs): never the user's.

# And what the app keeps (sort logs of undone sorts) to one of their own, never the user's data folder.
os.environ.setdefault("CATDOG_DESKTOP_DATA_DIR", tempfile.mkdtemp(prefix="catdog-test-data-"))

import pytest  # noqa: E402

from helpers import TINY  # noqa: E402
from synthetic import write_class_folders  # noqa: E402


@pytest.fixture(scope="session")
def pets_dir(tmp_path_factory) -> Path:
    """pets/{cats,dogs}: 50 generated pictures per class."""
    return write_class_folders(tmp_path_factory.mktemp("data") / "pets", ["cats", "dogs"], 50)


@pytest.fixture(scope="session")
def trained(pets_dir, tmp_path_factory):
    """One real training on the tiny dataset, shared by the tests that need a model."""
    from catdog_desktop.core.model import storage
    from catdog_desktop.core.training import train as training
    from catdog_desktop.core.config import TrainingConfig
    from catdog_desktop.core.data.dataset import scan_dataset

    scan = scan_dataset(pets_dir)
    result = training.train(TrainingConfig(**TINY), scan)
    path = storage.save_bundle(result.model, result.metadata(), tmp_path_factory.mktemp("models") / "pets.keras")
    return scan, result, path


@pytest.fixture
def deep_folder():
    """``deep_folder(parent)``: a picture 1,200 folders below ``parent`` (tests/hostile.py), removed
    afterwards without recursion (pytest's own clean-up would hit Python's recursion limit)."""
    from hostile import make_deep_folder, remove_deep_folder

    made = []

    def make(parent):
        made.append(parent)
        return make_deep_folder(parent)

    yield make
    for parent in made:
        remove_deep_folder(parent)
