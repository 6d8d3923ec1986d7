"""The export formats the app offers and what an export reports back: plain data shared by the
exporter, the model card written beside an export, the CLI and the export dialog; and the fast
(int8) model's decision (core.export.fast), which the Classify tab receives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

#: A float export agreeing on fewer pictures than this (top class) is reported as failed.
FLOAT_AGREEMENT = 0.995
#: ... and so is one whose probabilities differ by more than this anywhere: a model that answers one
#: class for every picture agrees on the top class even when the export's preprocessing is wrong.
#: (Float exports differ by about 1e-6; see README, Exporting a model.)
FLOAT_MAX_DIFFERENCE = 0.01


@dataclass(frozen=True)
class ExportFormat:
    key: str
    title: str
    explanation: str
    suffix: str          # "" for a folder
    quantised: bool
    runtime: str


FORMATS: dict[str, ExportFormat] = {f.key: f for f in [
    ExportFormat("tflite", "TensorFlow Lite (float32)",
                 "For phones and small devices; computes exactly as the app does.", ".tflite", False,
                 "TensorFlow Lite interpreter"),
    ExportFormat("tflite-float16", "TensorFlow Lite, float16 weights",
                 "Half the size; nearly the same answers (computed in float32 on CPUs).", ".tflite", True,
                 "TensorFlow Lite interpreter"),
    ExportFormat("tflite-int8-dynamic", "TensorFlow Lite, int8 weights (dynamic range)",
                 "A quarter of the size; the answers can differ slightly.", ".tflite", True,
                 "TensorFlow Lite interpreter"),
    ExportFormat("tflite-int8", "TensorFlow Lite, full integer (int8)",
                 "Smallest and fastest on phones and accelerators; calibrated on training pictures.",
                 ".tflite", True, "TensorFlow Lite interpreter"),
    ExportFormat("savedmodel", "TensorFlow SavedModel (folder)",
                 "For TensorFlow Serving and Python programs that use TensorFlow.", "", False,
                 "tf.saved_model.load"),
    ExportFormat("onnx", "ONNX",
                 "For ONNX Runtime: C#, C++, Java, JavaScript and other languages.", ".onnx", False,
                 "ONNX Runtime"),
]}


@dataclass
class ExportResult:
    """What an export wrote and how well it agrees with the app's model. Plain data."""

    format: str
    path: str
    files: list[str]
    size_bytes: int
    parity_source: str
    pictures: int
    agreement: float
    max_difference: float
    accuracy: float | None
    app_accuracy: float | None
    required_agreement: float | None
    passed: bool
    runtime: str
    seconds: float
    notes: list[str] = field(default_factory=list)
    #: The existing export left in place because this one failed its check ("" when none was).
    kept: str = ""

    def verdict(self) -> str:
        """One sentence: passed or failed, with the figures."""
        agreement = (f"The exported model gives the same answer as the app on {self.agreement:.1%} of "
                     f"{self.pictures} pictures (largest probability difference {self.max_difference:.2g})")
        if self.accuracy is not None:
            agreement += f"; accuracy {self.accuracy:.1%} (the app's model: {self.app_accuracy:.1%})"
        if self.required_agreement is None:
            return agreement + ". This is a quantised export: check that its accuracy is good enough for you."
        if self.passed:
            return f"Passed. {agreement}."
        text = (f"FAILED: a float export must give the same answer on at least {self.required_agreement:.1%} "
                f"of the pictures, with probabilities within {FLOAT_MAX_DIFFERENCE}. {agreement}. Do not use this file.")
        return text + (f" {self.kept_note()}" if self.kept else "")

    def kept_note(self) -> str:
        """What happened to the export this one would have replaced ("" when none)."""
        if not self.kept:
            return ""
        return (f"The previous export {Path(self.kept).name} was left as it was; "
                f"this one was saved beside it as {Path(self.path).name}.")

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict()}


@dataclass
class FastDecision:
    """Which model classifies, and why: plain data (it crosses threads, and goes into --json)."""

    fast: bool
    #: One sentence without its full stop: "agrees with the full model on 99.4 % of 400 held-out pictures".
    reason: str
    #: Share of the held-out pictures on which both gave the same answer (None: not measured).
    agreement: float | None = None
    pictures: int = 0
    #: Which pictures were checked (core.export.exporter.ParityPictures.source).
    checked_on: str = ""
    #: Whether the int8 model answers "none of these" (False also for a model without a novelty summary).
    none_of_these: bool = False
    #: Share of the held-out pictures on which both said "none of these" alike (None: no novelty summary).
    none_of_these_agreement: float | None = None
    #: True when the decision (and the int8 file) came from the cache.
    cached: bool = False

    def sentence(self) -> str:
        """"fast int8 model in use: …" or "full model in use: …"."""
        return f"{'fast int8' if self.fast else 'full'} model in use: {self.reason}"

    def to_dict(self) -> dict:
        return {**asdict(self), "model": "int8" if self.fast else "full", "message": self.sentence()}
