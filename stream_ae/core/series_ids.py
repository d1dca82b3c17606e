"""What a series id may be: 1 to `SERIES_MAX_CHARS` printable characters of valid UTF-8
(no control character, no lone surrogate). It keys windows, alerts and messages, so every
reader of points and the window store itself check it here, the same way."""

from __future__ import annotations

import unicodedata

SERIES_MAX_CHARS = 256
"""Longest series id accepted, in characters (it keys windows, alerts and messages)."""


def series_problem(series: str) -> str | None:
    """Why `series` cannot be a series id, or None when it can.

    >>> series_problem("plant-3/pump 7") is None
    True
    >>> series_problem("a\\nb")
    'it holds a control character (a line break, tab or NUL, say)'
    """
    if len(series) > SERIES_MAX_CHARS:
        return f"it has {len(series):,} characters, more than {SERIES_MAX_CHARS}"
    if series.isprintable():  # the common case: no control character, no surrogate
        return None
    if any(0xD800 <= ord(c) <= 0xDFFF for c in series):
        return "it holds a lone UTF-16 surrogate, which is not valid UTF-8"
    if any(unicodedata.category(c) == "Cc" for c in series):
        return "it holds a control character (a line break, tab or NUL, say)"
    return None  # other unprintable characters (a no-break space, a joiner) are fine
