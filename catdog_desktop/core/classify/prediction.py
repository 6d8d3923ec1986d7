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
    #: Why the answer means nothing whatever its probability (e.g. core.data.images.FLAT_PICTURE): then
    #: also "not sure", with this reason shown beside it.
    doubt: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def answer(self, none_of_these: str, not_sure: str) -> str:
        """The class, or the words given for "none of these" / "not sure" when so marked, followed by
        the reason to doubt any answer when there is one (the CLI and the app word them their way)."""
        if self.unfamiliar:
            answer = none_of_these
        elif self.uncertain:
            answer = not_sure
        else:
            return self.class_name
        return f"{answer}: {self.doubt}" if self.doubt else answer
