"""What a dataset's folder names mean, in one place for the scanner (``dataset``) and the hand
edits (``edits``): which folder holds training, validation or test pictures, and the folder that
pictures taken out of a dataset go to. Plain Python: cheap to import (the window uses it before
NumPy or Pillow are loaded).
"""

from __future__ import annotations

import re

#: Pictures taken out of a dataset go here, beside the class folders; the scanner skips it.
EXCLUDED_DIR = "_excluded"


def folder_role(name: str) -> str | None:
    """"train", "test" or "val" for a split folder's name, else None."""
    tokens = [t for t in re.split(r"[^a-z]+", name.lower()) if t]
    if any(t.startswith("train") for t in tokens):
        return "train"
    if any(t in ("test", "tests", "testing", "holdout", "eval") for t in tokens):
        return "test"
    if any(t in ("val", "valid", "validation", "dev") for t in tokens):
        return "val"
    return None
