"""Taking a model elsewhere: TFLite, ONNX and SavedModel exports checked for parity with the
model (``exporter``), opening such exports to classify with (``runtimes``), and the model card
written beside them (``model_card``); and the "fast" int8 version of a model for classifying
large folders, used only where it gives the same answers (``fast``).

Rule: imports ``core.training`` and below only.
"""
