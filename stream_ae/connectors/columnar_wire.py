"""The point wire format, a fetch of messages at a time, straight into columns.

`FastPointDecoder` takes a message at a time and builds a `Point` per point: on the
Kafka hot path that per-item Python cost more than the model. `ColumnarDecoder` parses
each message with msgspec (typed structs, checked in C) and reads a fetch's series, times
and values into plain lists; a fetch of one-point messages (the usual one) is checked a
column at a time with numpy, any other message by message. It takes only what it can
take exactly as the reference would accept it: a message whose points are all ordinary
(a named or keyed series, an epoch time in range, the expected channels, finite values
within range). Any other message (bad JSON, a date string, a null, a refusal to come) is
left to the reference decoder, so both give the same points and the same refusals with
the same wording.

>>> decoder = ColumnarDecoder(FastPointDecoder("", ["value"]))
>>> rows = decoder.decode([b"pump-7", None], [b'{"ts": 1732262400, "value": 0.5}', b'{"ts": "x"}'])
>>> rows.series, rows.ts.tolist(), rows.values.tolist(), rows.taken
(['pump-7'], [1732262400.0], [[0.5]], [1, -1])
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import numpy as np
from msgspec import UNSET, UnsetType

from stream_ae.connectors.fastwire import FastPointDecoder
from stream_ae.connectors.point_rules import (
    EXACT_INTEGERS,
    MAX_POINTS_PER_MESSAGE,
    SERIES_MAX_CHARS,
    VALUE_LIMIT,
)
from stream_ae.connectors.timestamps import MAX_SECONDS, MIN_SECONDS, MS_THRESHOLD
from stream_ae.settings.sections import MAX_SERIES


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
    ts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """[rows] float64 epoch seconds."""
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 1)))
    """[rows, channels] float64, the expected channels in order."""
    taken: list[int] = field(default_factory=list)
    """Per message: how many rows it gave, or -1 where the reference decoder must take
    it whole."""


@dataclass(slots=True)
class _RowLists:
    """Rows gathered a point at a time (message by message), made columns at the end."""

    series: list[str] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    values: list[tuple[float, ...]] = field(default_factory=list)


class ColumnarDecoder:
    """Messages of the JSON point format into columns, with `reference` (whose channels
    must be known up front) for every message the fast path does not take whole.
    `remember`: the series ids it keeps as checked, as many as the detector holds live
    (`window.max_series`)."""

    def __init__(self, reference: FastPointDecoder, remember: int = MAX_SERIES) -> None:
        if reference.expected is None:
            raise ValueError("the columnar decoder needs the channels known up front")
        if isinstance(remember, bool) or not isinstance(remember, int) or remember < 1:
            raise ValueError(
                f"remember must be a positive number of series ids, got {remember!r}; "
                "pass window.max_series"
            )
        self.reference = reference
        expected = reference.expected
        # A one-channel model takes "value" as its channel, whatever the channel's name.
        self._single = ("value", expected[0]) if len(expected) == 1 else ()
        self._expected = expected
        self._good_series: set[str] = set()
        """Series ids already found valid, up to `remember`: as many as the detector
        holds live (a flood of new ids then only costs their check again)."""
        self._remember = remember

    def decode(
        self,
        keys: Sequence[bytes | None],
        values: Sequence[bytes],
        rows_wanted: int | None = None,
    ) -> DecodedRows:
        """The rows of every message the fast path takes; `taken` says which those are.
        With `rows_wanted`, messages after the one that reaches it are not parsed (-1):
        a batch that cannot hold them leaves them to the next one."""
        if len(keys) != len(values):
            raise ValueError(f"{len(keys)} keys for {len(values)} values: give one per message")
        head = len(values) if rows_wanted is None else max(0, min(len(values), rows_wanted))
        # Parsed until the first message that is not one point: one-point messages give a
        # row each, so `head` of them fill the batch exactly; a message of many points
        # sends the rest the per-message way, which parses no further than it needs.
        parsed: list[_WirePoint | list[_WirePoint] | None] = []
        for value in values[:head]:
            item = _parse(value)
            parsed.append(item)
            if type(item) is not _WirePoint:
                break
        plain = len(parsed) == head and (not parsed or type(parsed[-1]) is _WirePoint)
        rows = self._plain(parsed, keys) if plain else None
        if rows is None:
            rows = self._one_by_one(keys, values, rows_wanted, parsed)
        rows.taken += [-1] * (len(values) - len(rows.taken))
        return rows

    def _plain(
        self, parsed: list[_WirePoint | list[_WirePoint] | None], keys: Sequence[bytes | None]
    ) -> DecodedRows | None:
        """The rows of messages of one point each, all ordinary, checked a column at a
        time: the usual fetch. None when a message is anything else (a channel by name,
        a date, a null, an unusual series id...): `_one_by_one` then decides each."""
        if not self._single:
            return None
        points: list[_WirePoint] = parsed  # type: ignore[assignment]  # decode checked
        # The cheapest checks first: a fetch that goes message by message wastes least.
        ts = [p.ts for p in points]
        found = [p.value for p in points]
        if not _NUMBERS.issuperset(map(type, ts)) or not _NUMBERS.issuperset(map(type, found)):
            return None  # a date, a null, a value missing (or given by name)
        if any(p.values is not UNSET for p in points):
            return None
        series: list[str | None] = [p.series for p in points]
        if None in series:
            # keys cover the whole fetch (as many as its values), points only the head
            keyed = zip(series, keys, strict=False)
            series = [s if s is not None else self._key_series(k) for s, k in keyed]
            if None in series:
                return None
        good = self._good_series
        if not good.issuperset(series) and not all(
            self._valid(s)  # type: ignore[arg-type]  # None is not in series
            for s in set(series).difference(good)
        ):
            return None
        if _inexact(found):  # type: ignore[arg-type]  # numbers only, checked above
            return None
        try:
            times = np.array(ts, dtype=np.float64)
        except OverflowError:  # an integer no float holds: the reference refuses it
            return None
        # The reference's own arithmetic, a column at a time: the same floats.
        seconds = np.where(times >= MS_THRESHOLD, times / 1000.0, times)
        numbers = np.array(found, dtype=np.float64)
        if not (
            ((seconds >= MIN_SECONDS) & (seconds <= MAX_SECONDS)).all()
            and (np.abs(numbers) <= VALUE_LIMIT).all()
        ):
            return None
        return DecodedRows(
            series=series,  # type: ignore[arg-type]  # None is not in series
            ts=seconds,
            values=numbers.reshape(-1, 1),
            taken=[1] * len(points),
        )

    def _one_by_one(
        self,
        keys: Sequence[bytes | None],
        values: Sequence[bytes],
        rows_wanted: int | None,
        parsed: list[_WirePoint | list[_WirePoint] | None],
    ) -> DecodedRows:
        """Message by message (`parsed` holds the first ones already parsed): the rows of
        each message whose points are all ordinary."""
        rows, taken = _RowLists(), []
        for i, (key, value) in enumerate(zip(keys, values, strict=True)):
            if rows_wanted is not None and len(rows.series) >= rows_wanted:
                break
            message = parsed[i] if i < len(parsed) else _parse(value)
            if message is None:
                taken.append(-1)
                continue
            items = message if isinstance(message, list) else [message]
            before = len(rows.series)
            if 0 < len(items) <= MAX_POINTS_PER_MESSAGE and self._take(items, key, rows):
                taken.append(len(rows.series) - before)
            else:
                del rows.series[before:], rows.ts[before:], rows.values[before:]
                taken.append(-1)
        # Every row holds the expected channels (`_take` checks): the values are a matrix.
        return DecodedRows(
            series=rows.series,
            ts=np.array(rows.ts, dtype=np.float64),
            values=np.array(rows.values, dtype=np.float64).reshape(-1, len(self._expected)),
            taken=taken,
        )

    def _take(self, items: list[_WirePoint], key: bytes | None, rows: _RowLists) -> bool:
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
        if len(self._good_series) >= self._remember:
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


_NUMBERS = {int, float}


def _inexact(numbers: list[int | float]) -> bool:
    """True when an integer among `numbers` is past what a float holds exactly (the
    reference decides those)."""
    ints = [n for n in numbers if type(n) is int]
    return bool(ints) and (max(ints) > EXACT_INTEGERS or min(ints) < -EXACT_INTEGERS)


def _number(value: int | float | None) -> float:
    """The float a value stands for; NaN (refused by the range check) for a null or an
    integer the reference must decide."""
    if type(value) is float:
        return value
    if type(value) is int and -EXACT_INTEGERS <= value <= EXACT_INTEGERS:
        return float(value)
    return float("nan")
