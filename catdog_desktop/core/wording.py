"""Counts in words, so that no message says "1 cats" or "picture(s)"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "picture")`` -> "1 picture"; ``count(3_000, "picture")`` -> "3,000 pictures"."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def is_are(n: int) -> str:
    return "is" if n == 1 else "are"
