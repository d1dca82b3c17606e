"""A fast decoder of the point wire format for the Kafka hot path.

`PointDecoder` validates every point with pydantic (~12 µs a point measured); at 100k
points/s that alone would take a core. `FastPointDecoder` parses with orjson and checks
the documented schema by hand: series a non-empty string, ts a number or a date string,
exactly one of value (a number or null) or values (an object of channel: number or null);
the checks after that (series id, channels, finite values, range) are the parent's own.
Input outside that (a number sent as a string, a huge integer, a wrong type) is handed to
`PointDecoder`'s own validation, so both decoders accept and refuse exactly the same input
and give the same points; only the wording of some rejection details differs.

>>> decoder = FastPointDecoder(default_series="pump-7")
>>> decoder.decode(b'[{"ts": 1732262400, "value": 0.5}, {"ts": "x", "value": 1}]', "t/0@7")[0]
Point(series='pump-7', ts=1732262400.0, values=(0.5,))
>>> decoder.decode(b'{"ts": 1732262401, "value": true}', "t/0@8")[0].reason.value
'malformed'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import orjson

from stream_ae.connectors.dead_letters import RAW_LIMIT, rejected
from stream_ae.connectors.point_rules import (
    EXACT_INTEGERS,
    MAX_POINTS_PER_MESSAGE,
    SERIES_MAX_CHARS,
    all_in_range,
    empty,
    invalid_series,
    series_problem,
    too_many,
)
from stream_ae.connectors.timestamps import MAX_SECONDS, MIN_SECONDS, MS_THRESHOLD, parse_ts
from stream_ae.connectors.wire import PointDecoder
from stream_ae.core.records import Point, Rejection, RejectReason


class FastPointDecoder(PointDecoder):
    """`PointDecoder` with the same results, built on orjson and hand validation.

    Stateful like its parent, with the same channel rules (see `PointDecoder`).
    """

    def decode(
        self, text: str | bytes, source: str, default: str | Rejection | None = None
    ) -> list[Point | Rejection]:
        """All points of one message or line, in order; bad ones become rejections, and
        a message with no point at all becomes one (see `PointDecoder.decode`)."""
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            # Rare: bad input, or JSON that orjson refuses and the stdlib reads (NaN,
            # integers beyond 64 bits, UTF-16). The parent decides, as the reference.
            return super().decode(text, source, default)
        fallback = self.default_series if default is None else default
        if type(parsed) is list:
            if not parsed:
                return [empty(source, _text_of(text))]
            if len(parsed) > MAX_POINTS_PER_MESSAGE:
                return [too_many(len(parsed), source, _text_of(text))]
            return [self._item(item, source, _dumps_of(item, text), fallback) for item in parsed]
        return [self._item(parsed, source, _text_of(text), fallback)]

    def _item(
        self, item: object, source: str, raw: Callable[[], str], default: str | Rejection
    ) -> Point | Rejection:
        if type(item) is not dict:
            return self._one(item, source, raw(), default)
        try:
            series, ts, names, found = self._fields(item)
        except _Slow:
            return self._one(item, source, raw(), default)
        if series is None:
            if isinstance(default, Rejection):
                return replace(default, source=source, raw=raw()[:RAW_LIMIT])
            series = default
        elif not (len(series) <= SERIES_MAX_CHARS and series.isprintable()):
            problem = series_problem(series)
            if problem is not None:
                return invalid_series(series, problem, source, raw)
        # Epoch numbers inline (parse_ts's own arithmetic); dates and errors via parse_ts.
        if isinstance(ts, str):
            seconds = MIN_SECONDS - 1.0  # out of range: parse_ts reads it
        else:
            seconds = ts / 1000.0 if ts >= MS_THRESHOLD else float(ts)
        if not MIN_SECONDS <= seconds <= MAX_SECONDS:
            try:
                seconds = parse_ts(ts)
            except ValueError as exc:
                return rejected(RejectReason.MALFORMED, str(exc), source, raw, series)
        expected = self.expected
        if expected is not None:
            if names == expected and all_in_range(found):
                return Point(series, seconds, tuple(found))  # type: ignore[arg-type]  # no None
        else:
            known = self._channels.get(series)
            if (known is None or known == names) and all_in_range(found):
                if known is None:
                    self._pin(series, names)
                if self._refused:
                    self._refused.pop(series, None)
                return Point(series, seconds, tuple(found))  # type: ignore[arg-type]  # no None
        return self._checked(series, seconds, names, found, source, raw)

    def _fields(
        self, item: dict[str, object]
    ) -> tuple[str | None, float | str, tuple[str, ...], list[float | None]]:
        """series (None: not named), raw ts, channel names and values; _Slow for anything
        unusual."""
        series = item.get("series")
        if series is not None and (type(series) is not str or not series):
            raise _Slow
        ts = item.get("ts")
        if type(ts) is not float and type(ts) is not int and type(ts) is not str:
            raise _Slow
        if "value" in item:
            if "values" in item:
                raise _Slow
            return series, ts, ("value",), [_number(item["value"])]
        values = item.get("values")
        if type(values) is not dict or not values:
            raise _Slow
        return series, ts, tuple(values), [_number(v) for v in values.values()]


class _Slow(Exception):
    """A field the hand checks do not cover: the item goes to pydantic, the reference."""


def _number(value: object) -> float | None:
    """The float a channel value stands for, or None for null."""
    if type(value) is float:
        return value
    if type(value) is int and -EXACT_INTEGERS <= value <= EXACT_INTEGERS:
        return float(value)
    if value is None:
        return None
    raise _Slow  # bool, str, list, dict, or an integer pydantic may refuse


# The raw text is only needed for a rejection, so it is made lazily: an accepted point
# never pays for decoding bytes or re-serialising an array item.
def _text_of(text: str | bytes) -> Callable[[], str]:
    if isinstance(text, bytes):
        return lambda: text.decode("utf-8", "replace")
    return lambda: text


def _dumps_of(item: object, text: str | bytes) -> Callable[[], str]:
    # json.dumps, as PointDecoder does, so a rejected array item carries the same raw text.
    def dumps() -> str:
        try:
            return json.dumps(item)
        except RecursionError:  # orjson reads deeper nesting than json.dumps writes
            return _text_of(text)()

    return dumps
