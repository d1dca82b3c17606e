"""parse_ts: every accepted timestamp form, and the refusals."""

from __future__ import annotations

import math

import pytest

from stream_ae.connectors.timestamps import format_ts, parse_ts

NAB_TIME = 1386018900.0  # 2013-12-02 21:15:00 UTC


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1386018900, NAB_TIME),
        (1386018900.25, NAB_TIME + 0.25),
        (1386018900000, NAB_TIME),  # milliseconds
        (1386018900250.0, NAB_TIME + 0.25),
        (0, 0.0),
        (99_999_999_999, 99_999_999_999.0),  # just below the milliseconds threshold
        (100_000_000_000, 100_000_000.0),  # at it: milliseconds
    ],
)
def test_numbers_are_seconds_or_milliseconds(raw: float, expected: float) -> None:
    assert parse_ts(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1386018900", NAB_TIME),
        (" 1386018900.5 ", NAB_TIME + 0.5),
        ("1386018900000", NAB_TIME),
        ("1.3860189e9", NAB_TIME),
    ],
)
def test_numeric_strings(raw: str, expected: float) -> None:
    assert parse_ts(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "2013-12-02T21:15:00Z",
        "2013-12-02t21:15:00z",
        "2013-12-02T21:15:00+00:00",
        "2013-12-02T22:15:00+01:00",
        "2013-12-02T16:15:00-05:00",
        "2013-12-02 21:15:00",  # NAB: naive means UTC
        "2013-12-02T21:15:00",
        "2013-12-02T21:15:00.000Z",
    ],
)
def test_rfc3339_and_naive_dates(raw: str) -> None:
    assert parse_ts(raw) == NAB_TIME


def test_fractional_seconds_survive() -> None:
    assert parse_ts("2013-12-02T21:15:00.25Z") == NAB_TIME + 0.25


@pytest.mark.parametrize(
    "raw",
    ["", "yesterday", "2013-13-02 21:15:00", "12/02/2013 21:15", "nan", "inf", "-inf", "1e400"],
)
def test_garbage_and_non_finite_strings_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        parse_ts(raw)


@pytest.mark.parametrize("raw", [math.nan, math.inf, -math.inf, 10**400, 1e30])
def test_non_finite_and_absurd_numbers_are_refused(raw: float) -> None:
    with pytest.raises(ValueError, match="finite time"):
        parse_ts(raw)


@pytest.mark.parametrize("raw", [True, False])
def test_bools_are_refused(raw: bool) -> None:
    with pytest.raises(ValueError, match="bool"):
        parse_ts(raw)


def test_other_types_are_refused() -> None:
    with pytest.raises(ValueError, match="NoneType"):
        parse_ts(None)  # type: ignore[arg-type]


def test_format_round_trips() -> None:
    assert format_ts(NAB_TIME) == "2013-12-02T21:15:00Z"
    assert parse_ts(format_ts(NAB_TIME + 0.5)) == NAB_TIME + 0.5
