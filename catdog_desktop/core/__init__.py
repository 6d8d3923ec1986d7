"""The Qt-free engine: dataset scanning, decoding, model, training, evaluation, storage, inference.

Nothing in this package imports Qt. Modules that need TensorFlow (pipeline, model, training,
evaluation, storage, inference) import it at their top, so import them only where the cost
(several seconds) is acceptable: in a worker thread or a command-line run.
"""
