"""Using a model: a loaded model that classifies pictures with the same preprocessing as its
training (``classifier``), one picture's answer (``prediction``), the rows of a folder's results
and their CSV (``results``), sorting pictures into class folders with an undo that trusts nothing
it did not sign (``sorting``, ``signing``).

Rule: imports ``core.model``, ``core.data`` and the ground modules only.
"""
