"""Exceptions whose message is a sentence the user can read (UI and CLI show ``str(err)``)."""


class CatdogError(Exception):
    """Base class: a problem the user can understand and usually fix."""


class DatasetError(CatdogError):
    """The dataset folder cannot be used as it is."""


class ModelFileError(CatdogError):
    """A model file cannot be loaded or saved."""


class CancelledError(CatdogError):
    """The user cancelled a long operation."""
