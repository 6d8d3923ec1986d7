"""Labelling an inbox with a model's help: which picture to label next and why (``choose``), the
session the app and the CLI hold (``inbox``), the moves into the dataset and their undo
(``moves``: the sort's journal), the classifier head retrained on cached features (``head``), and
the model in use saved with that head for the classes as they are now: one added, removed or
merged (``grow``).

Rule: imports ``core.evaluate`` and below only; ``core.app`` and the CLI use it.
"""
