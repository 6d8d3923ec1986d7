"""The user's pictures: what a dataset folder's layout means (``dataset``: scanning, splits,
problems in plain words; ``layout``: the folder names that mean something; ``holdout``: which
pictures a model may be scored on), decoding one picture
the way training, evaluation and classification all do (``images``), feeding them to a model
(``pipeline``, tf.data) and changing a dataset by hand with undo (``edits``).

Rule: imports only the ground modules (``core.errors``, ``core.fileops``, ...); never a model.
"""
