"""Where the files that ship with the app are (package data under catdog_desktop/resources)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
RESOURCES = PACKAGE / "resources"


def inside_package(path: str | Path) -> bool:
    """True for a path inside the installed app (its built-in model, its code): never a place to save
    the user's files, which an update or uninstall would delete (and the built-in model would be lost)."""
    try:
        return Path(path).expanduser().resolve().is_relative_to(PACKAGE)
    except (OSError, ValueError):
        return False


def icon_path(kind: str = "png") -> Path:
    return RESOURCES / ("catdog-desktop.svg" if kind == "svg" else "catdog-desktop-256.png")


def default_model_path() -> Path | None:
    """The bundled cats-vs-dogs model, if this installation has it."""
    path = RESOURCES / "default-model.keras"
    return path if path.exists() else None


def sample_dataset_dir() -> Path | None:
    """The small bundled sample dataset (sample/cats, sample/dogs), if present."""
    path = RESOURCES / "sample"
    return path if path.is_dir() else None
