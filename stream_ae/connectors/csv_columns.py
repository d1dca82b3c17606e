"""A chunk of CSV cells parsed a column at a time, as `CsvPointReader` parses a row.

Each function takes one column's cells for a chunk of rows and gives an array with the
value of every cell it can vouch for and NaN for every cell the reader's own per-row
parse must look at (to refuse it with a reason, or to read a form these do not). A
number is read by `float`, as the reader reads it (numpy calls it for every cell of a
list of strings); a time is a number or a plain date, where numpy's parse is
`parse_ts`'s to the second. `tests/connectors/test_csv_columns.py` holds both ways to
the same points and refusals.

>>> epoch_seconds(["1732262400", "1732262400250", "yesterday"]).tolist()
[1732262400.0, 1732262400.25, nan]
>>> dates = ["2013-12-02 21:15:00", "2013-12-02T22:15:01+01:00", "2013-12-02"]
>>> epoch_seconds(dates).tolist()
[1386018900.0, 1386018901.0, nan]
>>> numbers(["1.5", " 2", "inf", "1e31", "4,5"]).tolist()
[1.5, 2.0, nan, nan, nan]
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

from stream_ae.connectors.point_rules import VALUE_LIMIT
from stream_ae.connectors.timestamps import MAX_SECONDS, MIN_SECONDS, MS_THRESHOLD

_DATE = "0000-00-00 00:00:00"
"""The date form taken here, or with a 'T' between day and time, then nothing (UTC), a
'Z' or an offset such as +01:00: whole seconds, as `parse_ts` reads them. Fractions of a
second and other forms are left to the reader."""
_DIGITS = np.array([i for i, c in enumerate(_DATE) if c == "0"])
_MARKS = {i: ord(c) for i, c in enumerate(_DATE) if c in "-:"}


def numbers(cells: Sequence[str]) -> np.ndarray:
    """Each cell as a value the reader takes: finite and within ±`VALUE_LIMIT`."""
    values = _floats(cells, np.ones(len(cells), dtype=bool))
    values[~(np.abs(values) <= VALUE_LIMIT)] = np.nan  # also NaN and inf
    return values


def epoch_seconds(cells: Sequence[str]) -> np.ndarray:
    """Each cell as epoch seconds: a number of seconds or of milliseconds, or a plain
    date."""
    try:
        number = np.array(cells, dtype=np.float64)
        dates = np.full(len(cells), np.nan)
    except ValueError:  # not all numbers: plain dates, and numbers among the rest
        dates = _plain_dates(cells)
        rest = np.isnan(dates)
        number = _floats(cells, rest if _a_number(cells, rest) else np.zeros_like(rest))
    seconds = np.where(number >= MS_THRESHOLD, number / 1000.0, number)
    return _in_range(np.where(np.isnan(dates), seconds, dates))


def _floats(cells: Sequence[str], wanted: np.ndarray) -> np.ndarray:
    """`float` of each wanted cell, NaN where it fails or is not wanted."""
    try:
        if wanted.all():
            return np.array(cells, dtype=np.float64)
    except ValueError:  # an empty cell, a decimal comma, a word: cell by cell
        pass
    out = np.full(len(cells), np.nan)
    for i in np.flatnonzero(wanted).tolist():
        with contextlib.suppress(ValueError):
            out[i] = float(cells[i])
    return out


def _a_number(cells: Sequence[str], rest: np.ndarray) -> bool:
    """Whether the first of the rest is a number: if not, the rest are likely not
    numbers either (dates with a zone, say), and the reader reads them row by row
    without a failed `float` of each here first."""
    first = np.flatnonzero(rest)[:1].tolist()
    if not first:
        return False
    try:
        float(cells[first[0]])
    except ValueError:
        return False
    return True


def _plain_dates(cells: Sequence[str]) -> np.ndarray:
    """Epoch seconds of the cells that are plain dates, NaN elsewhere."""
    seconds = np.full(len(cells), np.nan)
    size = len(_DATE)
    length = np.fromiter(map(len, cells), dtype=np.intp, count=len(cells))
    text = np.array(cells, dtype=f"<U{size + len('+00:00')}")  # longer cells are cut
    code = text.view(np.uint32).reshape(len(text), -1)
    plain = _all_digits(code[:, _DIGITS]) & (code[:, :4] != ord("0")).any(axis=1)  # no year 0
    for at, mark in _MARKS.items():
        plain &= code[:, at] == mark
    plain &= (code[:, 10] == ord(" ")) | (code[:, 10] == ord("T"))
    end = code[:, size:]
    utc = (length == size) | (
        (length == size + 1) & ((end[:, 0] == ord("Z")) | (end[:, 0] == ord("z")))
    )
    offset = (length == size + 6) & ((end[:, 0] == ord("+")) | (end[:, 0] == ord("-")))
    offset &= _all_digits(end[:, [1, 2, 4, 5]]) & (end[:, 3] == ord(":"))
    hours = (end[:, 1] - ord("0")) * 10 + end[:, 2] - ord("0")
    minutes = (end[:, 4] - ord("0")) * 10 + end[:, 5] - ord("0")
    offset &= (hours < 24) & (minutes < 60)  # what a UTC offset may be
    plain &= utc | offset
    dates = text[plain].astype(f"<U{size}")  # cut to the date and time of day
    try:
        parsed = dates.astype("datetime64[s]")
    except ValueError:  # a day or an hour that does not exist: date by date
        parsed = np.array([_date_or_nat(d) for d in dates.tolist()], dtype="datetime64[s]")
    whole = parsed.astype(np.int64).astype(np.float64)
    whole[np.isnat(parsed)] = np.nan
    east = np.where(end[plain, 0] == ord("-"), -1, 1) * (hours[plain] * 3600 + minutes[plain] * 60)
    seconds[plain] = whole - np.where(offset[plain], east, 0)
    return seconds


def _all_digits(code: np.ndarray) -> np.ndarray:
    return np.asarray(((code >= ord("0")) & (code <= ord("9"))).all(axis=1))


def _date_or_nat(text: str) -> np.datetime64:
    try:
        return np.datetime64(text, "s")
    except ValueError:
        return np.datetime64("NaT", "s")


def _in_range(seconds: np.ndarray) -> np.ndarray:
    # Beyond these no datetime exists (numpy has a year 0; the reader refuses it).
    inside = (seconds >= MIN_SECONDS) & (seconds <= MAX_SECONDS)
    return np.where(inside, seconds, np.nan)
