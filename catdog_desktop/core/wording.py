"""Counts in words, so that no message says "1 cats" or "picture(s)"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "picture")`` -> "1 picture"; ``count(3_000, "picture")`` -> "3,000 pictures"."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def is_are(n: int) -> str:
    return "is" if n == 1 else "are"


def size_text(count: float) -> str:
    """A number of bytes for the user: "1.2 GB", "34.0 MB", "0.4 MB"."""
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"
