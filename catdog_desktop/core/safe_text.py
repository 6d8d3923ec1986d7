"""Names from the user's disk, made safe for the programs that read what we write.

A file or folder name is any sequence of bytes on Linux; Python hands the bytes that are not UTF-8
over as lone surrogates (``b"cat\\xff.jpg"`` -> ``"cat\\udcff.jpg"``), which no UTF-8 text (CSV,
HTML, a terminal) can hold. They are shown as backslash escapes, ``cat\\xff.jpg``, as Python's own
``repr`` of the bytes would. Spreadsheets run a cell that starts with ``= + - @`` (or a tab or a
carriage return) as a formula: such a cell gets a leading apostrophe, which they display as text.
matplotlib reads text between dollars as maths (and fails on some): names are drawn literally.
"""

from __future__ import annotations

import codecs

#: The codec error handler that writes a name's undecodable bytes as ``\\xNN`` (and any other
#: character the encoding lacks as ``\\uNNNN``): ``text.encode("utf-8", ESCAPE_ERRORS)``.
ESCAPE_ERRORS = "catdog.backslash"

#: What a spreadsheet cell must not start with to stay text (OWASP's "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _escape_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    chunk = error.object[error.start:error.end]
    # A surrogate U+DC80..U+DCFF stands for the byte 0x80..0xFF it could not decode (PEP 383).
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF
                   else c.encode("ascii", "backslashreplace").decode("ascii") for c in chunk), error.end


codecs.register_error(ESCAPE_ERRORS, _escape_undecodable)


def shown(text: str) -> str:
    """``text`` as valid Unicode: the bytes of a name that were not UTF-8 as ``\\xNN``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", ESCAPE_ERRORS).decode("utf-8")


def csv_cell(value):
    """A value as a CSV cell: text shown as valid Unicode and never read as a formula; numbers as they are."""
    if not isinstance(value, str):
        return value
    value = shown(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def plain_label(text: str) -> str:
    """``text`` for a matplotlib label, drawn as it is: its dollars are not maths."""
    return shown(str(text)).replace("$", r"\$")
