"""Exceptions whose message is a sentence the user can read (UI and CLI show ``str(err)``)."""

import re


class CatdogError(Exception):
    """Base class: a problem the user can understand and usually fix."""


class DatasetError(CatdogError):
    """The dataset folder cannot be used as it is."""


class ModelFileError(CatdogError):
    """A model file cannot be loaded or saved."""


class CancelledError(CatdogError):
    """The user cancelled a long operation."""


class NothingToUndoError(CatdogError):
    """There is nothing (left) to undo there: the app can stop offering Undo."""


def describe(exc: BaseException) -> str:
    """A sentence for the user about an unexpected exception (one line, no traceback)."""
    if isinstance(exc, CatdogError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Not enough memory. Try a smaller image size or batch size."
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if (re.search(r"\bOOM\b", text) or "out of memory" in text.lower()
            or "resourceexhausted" in type(exc).__name__.lower()):
        return "Not enough memory for these settings. Try a smaller image size or batch size."
    return f"Something went wrong: {type(exc).__name__}: {text[:300]}" if text else f"Something went wrong ({type(exc).__name__})."


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (at most ``limit`` characters), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


class ExportError(CatdogError):
    """A model cannot be exported to the chosen format or place."""


class ClusterError(CatdogError):
    """A Dask cluster cannot be reached or used (core.cluster), said in one sentence."""
