"""Making a model: the one entry point (``train``), what both trainings share (``fit``), the
pretrained path with cached features and fine-tuning (``pretrained``), time limits and pace
(``schedule``), the events a training reports (``events``), training in a child process that ends
with the app (``isolated``), the progress bar's stages and time left (``progress``) and plain
advice after a training (``advice``).

Rule: imports ``core.evaluate`` and below only.
"""
