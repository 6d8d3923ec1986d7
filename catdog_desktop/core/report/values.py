"""Values read from a model's file, as the report may use them. Whoever wrote the file wrote its
metadata, so a recorded value reaches the page only as escaped text or as a number checked to be
one; anything else is "not recorded". Used by ``collect``, ``figures`` and ``html``.
"""


from __future__ import annotations

import html
import logging
import math

import numpy as np


log = logging.getLogger(__name__)

NOT_RECORDED = "not recorded"


# ----- recorded values ----------------------------------------------------------------------------
# A model's metadata holds whatever its file's writer put there: each value reaches the page through
# these, as escaped text or as a number checked to be one (a string that reads as a number is not one).
def _text(value) -> str:
    """Any value as escaped text."""
    return html.escape(str(value))


def _real(value, default=None):
    """``value`` as a float when it is a finite number (not a bool, not a string), else ``default``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return default
    value = float(value)
    return value if math.isfinite(value) else default


def _whole(value) -> int | None:
    """``value`` when it is a count (a whole number, 0 or more), else None."""
    number = _real(value)
    return int(number) if number is not None and number >= 0 and number == int(number) else None


def _count(value) -> str:
    """A recorded count for the page ("1,234"), or "not recorded"."""
    number = _whole(value)
    return f"{number:,}" if number is not None else _missing()


def _formatted(value, spec: str) -> str:
    """A recorded number formatted with ``spec`` (".1%", ".3f"), or "not recorded"."""
    number = _real(value)
    return format(number, spec) if number is not None else _missing()


def _sum(counts: list) -> int | None:
    """The sum of recorded counts (None for one not recorded), or None when one is not a count."""
    whole = [0 if c is None else _whole(c) for c in counts]
    return None if None in whole else sum(whole)


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _listed(value) -> list:
    return value if isinstance(value, list) else []


def _recorded_evaluation(recorded):
    """The evaluation a model recorded (core.evaluate.evaluation.EvaluationResult), or None when there is none
    or it is not in the shape this app writes. Its values are checked again where they are shown."""
    from ..evaluate.evaluation import EvaluationResult

    if not isinstance(recorded, dict) or not recorded.get("confusion"):
        return None
    try:
        evaluation = EvaluationResult.from_dict(recorded)
    except (TypeError, ValueError, AttributeError) as exc:
        log.info("the recorded evaluation is not readable: %s", exc)
        return None
    lists = (evaluation.class_names, evaluation.confusion, evaluation.per_class)
    return evaluation if all(isinstance(items, list) for items in lists) else None




def _missing(what: str = NOT_RECORDED) -> str:
    return f'<span class="missing">{html.escape(what)}</span>'
