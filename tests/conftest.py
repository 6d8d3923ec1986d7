"""Shared fixtures. GUI tests run offscreen: set before anything imports Qt."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Features computed by tests go to a folder of their own, never the user's cache (children inherit it).
os.environ.setdefault("CATDOG_DESKTOP_CACHE_DIR", tempfile.mkdtemp(prefix="catdog-test-cache-"))
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

import catdog_desktop.ui  # noqa: E402,F401  - its PySide6 6.12 guard must be in place for every Qt test

from synthetic import write_class_folders  # noqa: E402

#: Small, fast settings that still separate the synthetic classes.
#: float32 so that a saved model (always float32) predicts exactly what the trained one did.
TINY = dict(backbone="none", image_size=32, stem_stride=1, blocks=3, base_filters=16, convs_per_block=1, epochs=4, batch_size=16, patience=10, learning_rate=3e-3,
            precision="float32")


@pytest.fixture(scope="session")
def pets_dir(tmp_path_factory) -> Path:
    """pets/{cats,dogs}: 50 generated pictures per class."""
    return write_class_folders(tmp_path_factory.mktemp("data") / "pets", ["cats", "dogs"], 50)


@pytest.fixture(scope="session")
def trained(pets_dir, tmp_path_factory):
    """One real training on the tiny dataset, shared by the tests that need a model."""
    from catdog_desktop.core import storage, training
    from catdog_desktop.core.config import TrainingConfig
    from catdog_desktop.core.dataset import scan_dataset

    scan = scan_dataset(pets_dir)
    result = training.train(TrainingConfig(**TINY), scan)
    path = storage.save_bundle(result.model, result.metadata(), tmp_path_factory.mktemp("models") / "pets.keras")
    return scan, result, path
