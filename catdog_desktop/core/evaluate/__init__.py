"""How good a model is: scoring it on pictures it never trained on, the confusion matrix and
per-class scores (``evaluation``), and pictures likely to be in the wrong folder (``label_errors``).

Rule: imports ``core.heatmaps`` and below only.
"""
