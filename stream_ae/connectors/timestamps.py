"""Event-time parsing for every input: epoch seconds, epoch milliseconds, RFC 3339.

Called once per point, so the common case (a number) is tried first and costs one
`float()`; text dates fall back to `datetime.fromisoformat`, which is implemented in C.
"""

from __future__ import annotations

from datetime import UTC, datetime

MIN_SECONDS = datetime(1, 1, 1, tzinfo=UTC).timestamp()
MAX_SECONDS = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()

MS_THRESHOLD = 1e11
"""Epoch numbers at or above this are milliseconds: 1e11 s is the year 5138, while 1e11 ms
is March 1973, so real data of either unit falls clearly on its side."""


def parse_ts(raw: str | int | float) -> float:
    """Epoch seconds (UTC) from a number or a date string.

    Numbers and numeric strings below 1e11 are seconds, others milliseconds. Strings may
    be RFC 3339 / ISO 8601, with 'T' or a space, with or without zone; a naive time is UTC.

    >>> parse_ts(1732262400.25), parse_ts(1732262400250), parse_ts("1732262400")
    (1732262400.25, 1732262400.25, 1732262400.0)
    >>> parse_ts("2013-12-02 21:15:00"), parse_ts("2013-12-02T22:15:00+01:00")
    (1386018900.0, 1386018900.0)
    >>> parse_ts("yesterday")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: The timestamp 'yesterday' is neither epoch seconds, epoch milliseconds nor ...
    """
    # bool is an int subclass; True as a time is a bug upstream, not 1970-01-01T00:00:01.
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValueError(
            f"The timestamp {raw!r:.80} is a {type(raw).__name__}; give epoch seconds, "
            "epoch milliseconds or an RFC 3339 date string."
        )
    try:
        number = float(raw)
    except ValueError:
        return _parse_date(str(raw))  # only a str gets here
    except OverflowError:
        number = float("inf")
    return _in_range(number / 1000.0 if number >= MS_THRESHOLD else number, raw)


def _in_range(seconds: float, raw: str | int | float) -> float:
    # Also refuses NaN and inf. Beyond these bounds no datetime exists, so output files
    # could not print the time; a date of the year 1 or 9999 with a zone offset can
    # land beyond them too.
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(
            f"The timestamp {raw!r:.80} is not a finite time between the years 1 and 9999 "
            "(UTC); give epoch seconds, epoch milliseconds or an RFC 3339 date."
        )
    return seconds


def _parse_date(raw: str) -> float:
    text = raw.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        # RFC 3339 allows lower-case 't' and 'z', which fromisoformat refuses.
        try:
            parsed = datetime.fromisoformat(text.upper())
        except ValueError:
            raise ValueError(
                f"The timestamp {raw!r:.80} is neither epoch seconds, epoch milliseconds "
                "nor an RFC 3339 date such as 2024-11-22T08:00:00Z."
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _in_range(parsed.timestamp(), raw)


def format_ts(ts: float) -> str:
    """ISO 8601 UTC text for epoch seconds, with a 'Z' (the form written to output files).

    >>> format_ts(1386018900.0), format_ts(1386018900.25)
    ('2013-12-02T21:15:00Z', '2013-12-02T21:15:00.250000Z')
    """
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
