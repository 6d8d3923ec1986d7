"""The shareable HTML report about a model (``page``: collecting, figures, HTML, writing).

Rule: imports ``core.export`` and below only.
"""
