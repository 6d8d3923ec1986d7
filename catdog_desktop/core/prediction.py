"""One picture's answer, as plain data. Its own module so that what only carries answers (the
results table, CSV files) does not import NumPy and the model code: the window opens without them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Prediction:
    """One picture's result. ``error`` is set (and the rest empty) when it could not be read."""

    path: str | None
    class_name: str | None = None
    probability: float = 0.0
    probabilities: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    #: Top probability under the model's confidence threshold: shown as "not sure".
    uncertain: bool = False
    #: The picture looks like none of the training classes (far from their features).
    unfamiliar: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None
