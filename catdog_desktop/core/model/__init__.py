"""A model and its file: the small from-scratch CNN (``network``), the bundled pretrained
MobileNetV2 (``backbone``) and the features it computes, cached by content (``features``), what
"not sure" and "none of these" mean for a model (``calibration``), the .keras file with its
description, saved atomically and loaded safely (``storage``), and the check of that description
(``recorded``: whoever wrote the file wrote it).

Rule: imports ``core.data`` and the ground modules only.
"""
