"""The point wire format, a fetch of messages at a time, straight into columns.

`FastPointDecoder` takes a message at a time and builds a `Point` per point: on the
Kafka hot path that per-item Python cost more than the model. `ColumnarDecoder` parses
each message with msgspec (typed structs, checked in C) and reads a fetch's series, times
and values into plain lists. It takes only what it can take exactly as the reference
would accept it: a message whose points are all ordinary (a named or keyed series, an
epoch time in range, the expected channels, finite values within range). Any other
message (bad JSON, a date string, a null, a refusal to come) is left to the reference
decoder, so both give the same points and the same refusals with the same wording.

>>> decoder = ColumnarDecoder(FastPointDecoder("", ["value"]))
>>> rows = decoder.decode([b"pump-7", None], [b'{"ts": 1732262400, "value": 0.5}', b'{"ts": "x"}'])
>>> rows.series, rows.ts, rows.values, rows.taken
(['pump-7'], [1732262400.0], [(0.5,)], [1, -1])
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
from msgspec import UNSET, UnsetType

from stream_ae.connectors.fastwire import FastPointDecoder
from stream_ae.connectors.point_rules import (
    EXACT_INTEGERS,
    MAX_POINTS_PER_MESSAGE,
    SERIES_MAX_CHARS,
    VALUE_LIMIT,
)
from stream_ae.connectors.timestamps import MAX_SECONDS, MIN_SECONDS, MS_THRESHOLD


class _WirePoint(msgspec.Struct):
    """A point as the format writes it; unknown keys are ignored, as the reference does."""

    ts: int | float | str
    series: str | None = None
    value: int | float | UnsetType | None = UNSET
    values: dict[str, int | float | None] | UnsetType = UNSET


_ONE_OR_MANY = _WirePoint | list[_WirePoint]
_MESSAGE = msgspec.json.Decoder(_ONE_OR_MANY)


@dataclass(slots=True)
class DecodedRows:
    """The points of the messages the fast path took, as columns, in message order."""

    series: list[str] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    """Epoch seconds."""
    values: list[tuple[float, ...]] = field(default_factory=list)
    """One tuple per point, the expected channels in order."""
    taken: list[int] = field(default_factory=list)
    """Per message: how many rows it gave, or -1 where the reference decoder must take
    it whole."""


class ColumnarDecoder:
    """Messages of the JSON point format into columns, with `reference` (whose channels
    must be known up front) for every message the fast path does not take whole."""

    def __init__(self, reference: FastPointDecoder) -> None:
        if reference.expected is None:
            raise ValueError("the columnar decoder needs the channels known up front")
        self.reference = reference
        expected = reference.expected
        # A one-channel model takes "value" as its channel, whatever the channel's name.
        self._single = ("value", expected[0]) if len(expected) == 1 else ()
        self._expected = expected
        self._good_series: set[str] = set()
        """Series ids already found valid (bounded by `_GOOD_SERIES_MAX`)."""

    def decode(
        self,
        keys: Sequence[bytes | None],
        values: Sequence[bytes],
        rows_wanted: int | None = None,
    ) -> DecodedRows:
        """The rows of every message the fast path takes; `taken` says which those are.
        With `rows_wanted`, messages after the one that reaches it are not parsed (-1):
        a batch that cannot hold them leaves them to the next one."""
        rows = DecodedRows()
        for key, value in zip(keys, values, strict=True):
            if rows_wanted is not None and len(rows.series) >= rows_wanted:
                rows.taken.append(-1)
                continue
            parsed = _parse(value)
            if parsed is None:
                rows.taken.append(-1)
                continue
            items = parsed if isinstance(parsed, list) else [parsed]
            before = len(rows.series)
            if 0 < len(items) <= MAX_POINTS_PER_MESSAGE and self._take(items, key, rows):
                rows.taken.append(len(rows.series) - before)
            else:
                del rows.series[before:], rows.ts[before:], rows.values[before:]
                rows.taken.append(-1)
        return rows

    def _take(self, items: list[_WirePoint], key: bytes | None, rows: DecodedRows) -> bool:
        """Append the rows of one message's points; False (rows half written) as soon as
        one point is not ordinary."""
        good, expected, single = self._good_series, self._expected, self._single
        for item in items:
            series = item.series
            if series is None:
                series = self._key_series(key)
                if series is None:
                    return False
            elif series not in good and not self._valid(series):
                return False
            ts = item.ts
            if isinstance(ts, str):
                return False
            try:
                seconds = ts / 1000.0 if ts >= MS_THRESHOLD else float(ts)
            except OverflowError:  # an integer no float holds: the reference refuses it
                return False
            if not MIN_SECONDS <= seconds <= MAX_SECONDS:
                return False
            value = item.value
            if value is not UNSET:
                if item.values is not UNSET or not single:
                    return False
                found: tuple[float, ...] = (_number(value),)
            else:
                by_name = item.values
                if by_name is UNSET:
                    return False
                names = tuple(by_name)
                if names != expected and not (len(names) == 1 and names[0] in single):
                    return False
                found = tuple(map(_number, by_name.values()))
            for number in found:
                if not -VALUE_LIMIT <= number <= VALUE_LIMIT:  # NaN fails too
                    return False
            rows.series.append(series)
            rows.ts.append(seconds)
            rows.values.append(found)
        return True

    def _valid(self, series: str) -> bool:
        if not series or len(series) > SERIES_MAX_CHARS or not series.isprintable():
            return False
        if len(self._good_series) >= _GOOD_SERIES_MAX:
            self._good_series.clear()
        self._good_series.add(series)
        return True

    def _key_series(self, key: bytes | None) -> str | None:
        if not key:
            return None
        try:
            series = key.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return series if series in self._good_series or self._valid(series) else None


_GOOD_SERIES_MAX = 200_000
"""Valid series ids remembered: a flood of new ids only costs their check again."""


def _parse(value: bytes) -> _WirePoint | list[_WirePoint] | None:
    """A message parsed, or None where the reference must read it. msgspec skips the
    fields the format ignores without reading them as the reference does, so what the
    reference would refuse there (text that is not UTF-8, an integer past Python's
    4,300 digits) goes to it; so does what msgspec itself refuses."""
    if not value.isascii():
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if len(value) > _INT_MAX_DIGITS and _LONG_DIGITS.search(value):
        return None
    try:
        return _MESSAGE.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None


_INT_MAX_DIGITS = sys.get_int_max_str_digits() or 4300
_LONG_DIGITS = re.compile(rb"\d{%d}" % (_INT_MAX_DIGITS + 1))


def _number(value: int | float | None) -> float:
    """The float a value stands for; NaN (refused by the range check) for a null or an
    integer the reference must decide."""
    if type(value) is float:
        return value
    if type(value) is int and -EXACT_INTEGERS <= value <= EXACT_INTEGERS:
        return float(value)
    return float("nan")
