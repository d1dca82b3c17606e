"""The wire formats: points in (JSON), alerts and rejections out (JSON objects).

Point, format 1 (one JSON object per message or JSONL line, or a JSON array of them)::

    {"series": "plant-3/pump-7", "ts": 1732262400.25, "value": 0.731}
    {"series": "plant-3/pump-7", "ts": "2024-11-22T08:00:00Z", "values": {"temp": 21.3}}

`ts` is epoch seconds, epoch milliseconds or an RFC 3339 string. `series` and the values
must meet `point_rules` (id length and characters, value magnitude). A point carries the
channels the reader expects (the service: the model's), or, where none are known up
front, those of its series' first accepted point; in any order. Unknown keys are ignored
so producers can add fields without breaking the detector. A message must hold at least
one point (an empty array is refused) and at most `MAX_POINTS_PER_MESSAGE` items (a
longer array is refused whole).

Alert, format 1: every field of `stream_ae.core.records.Alert` plus `"format": 1`,
enums as their string values, contributors as a list of objects, and `null` for a
number that is not finite (JSON has no NaN). `channel` (the channel that drove the
alert; `null` on a resolve) was added later: a reader takes an alert without it.
"""

from __future__ import annotations

import json
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stream_ae.connectors.dead_letters import RAW_LIMIT, rejected
from stream_ae.connectors.point_rules import (
    MAX_POINTS_PER_MESSAGE,
    MAX_TRACKED_SERIES,
    PIN_RELEASE_AFTER,
    POINT_EXAMPLE,
    VALUE_LIMIT,
    all_in_range,
    bounded_put,
    empty,
    invalid_series,
    series_problem,
    too_many,
)
from stream_ae.connectors.timestamps import parse_ts
from stream_ae.core.records import (
    Alert,
    AlertState,
    Contributor,
    Point,
    Rejection,
    RejectReason,
    Severity,
)
from stream_ae.ratelimit import RateLimitedLog

POINT_FORMAT = 1
ALERT_FORMAT = 1
_NAMES_SHOWN = 10
"""Channel names a refusal names at most (it says how many there were)."""
_PROBLEMS_SHOWN = 3
"""Validation problems a refusal names at most (it says how many more there were)."""
log = logging.getLogger(__name__)


class PointIn(BaseModel):
    """One point as it arrives on the wire; validated here, at the edge, not in the core.

    >>> PointIn.model_validate({"series": "pump-7", "ts": 1732262400, "value": 0.7}).value
    0.7
    """

    model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)
    series: str | None = Field(default=None, min_length=1)
    """Series id; when absent the reader's default (for a file, its stem) is used."""
    ts: float | int | str
    """Event time: epoch seconds, epoch milliseconds or an RFC 3339 string."""
    value: float | None = None
    """The value of a single-channel series (`null` is a missing reading)."""
    values: dict[str, float | None] | None = Field(default=None, min_length=1)
    """Channel name -> value, for a multichannel series."""

    @field_validator("ts", "value", mode="before")
    @classmethod
    def _no_bool(cls, raw: object) -> object:
        # pydantic would read true as 1; in sensor data that is a producer bug.
        if isinstance(raw, bool):
            raise ValueError("must be a number, not true/false")
        return raw

    @field_validator("values", mode="before")
    @classmethod
    def _no_bool_values(cls, raw: object) -> object:
        if isinstance(raw, dict) and any(isinstance(v, bool) for v in raw.values()):
            raise ValueError("channel values must be numbers, not true/false")
        return raw

    @model_validator(mode="after")
    def _one_of_value_values(self) -> PointIn:
        # Decided by which keys were sent, so {"value": null} is a missing reading,
        # not a malformed point.
        if ("value" in self.model_fields_set) == ("values" in self.model_fields_set):
            raise ValueError(
                "give exactly one of 'value' (one channel) or 'values' (an object of "
                "channel name: number)"
            )
        return self


class PointDecoder:
    """Turns JSON text into points and rejections, checking each point's channels.

    With `channels` (the service: `window.channels`, or the served model's channel
    names) every point must carry exactly those, in any order; `"value"` stands for the
    one channel of a one-channel detector. Without them (a JSONL file) the first
    accepted point of a series pins its channels, until `PIN_RELEASE_AFTER` points in a
    row are refused for other channels with none accepted, or `forget` drops the series.
    Per-series state is kept for at most `max_series` series (the oldest goes first).

    >>> decoder = PointDecoder(default_series="pump-7")
    >>> decoder.decode('{"ts": 1732262400, "values": {"temp": 21.3, "vib": 0.7}}', "x:1")
    [Point(series='pump-7', ts=1732262400.0, values=(21.3, 0.7))]
    >>> decoder.decode('{"ts": 1732262401, "values": {"vib": 0.8, "temp": 21.4}}', "x:2")
    [Point(series='pump-7', ts=1732262401.0, values=(21.4, 0.8))]
    """

    def __init__(
        self,
        default_series: str,
        channels: Sequence[str] | None = None,
        *,
        max_series: int = MAX_TRACKED_SERIES,
    ) -> None:
        self.default_series = default_series
        self.expected = None if channels is None else tuple(channels)
        """The channels every point must carry, when known up front."""
        self.max_series = max_series
        self._channels: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        """Pinned channels per series (only when `expected` is None)."""
        self._refused: OrderedDict[str, int] = OrderedDict()
        """Wrong-channel refusals per series since its last accepted point."""
        self._logged: OrderedDict[str, None] = OrderedDict()
        """Series whose first wrong-channel refusal was logged."""
        # The first refusal of each series, at most 10 lines a minute across series.
        self._refusal_log = RateLimitedLog(log, interval_s=60.0, burst=10)

    def channels_of(self, series: str) -> tuple[str, ...] | None:
        """The channel names of a series, in order: the expected ones, or those its first
        accepted point pinned (None before it, or once dropped)."""
        return self.expected or self._channels.get(series)

    def forget(self, series: str) -> None:
        """Drop everything kept about `series` (its window was evicted, say). Each step
        is one dict operation, so another thread (the detector's worker) may call it."""
        self._channels.pop(series, None)
        self._refused.pop(series, None)
        self._logged.pop(series, None)

    def ignores(self, line: str) -> bool:
        """Whether a line of a file holds no message at all (a comment, in formats that
        have them): readers skip it rather than refuse it."""
        return False

    def tracked(self) -> int:
        """How many series the decoder keeps state for (at most `max_series` each map)."""
        return len(self._channels.keys() | self._refused.keys() | self._logged.keys())

    def decode(
        self, text: str | bytes, source: str, default: str | Rejection | None = None
    ) -> list[Point | Rejection]:
        """All points of one message or line, in order; bad ones become rejections, and
        a message with no point at all becomes one (reason `empty`). `default` names the
        series of points that name none (else `default_series`); a `Rejection` there
        refuses such points with its reason and detail."""
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        try:
            parsed = json.loads(text)
        except RecursionError:  # nesting deeper than the stdlib parser can follow
            return [
                _malformed(
                    f"The input nests JSON too deeply to be a point; send points like "
                    f"{POINT_EXAMPLE}.",
                    source,
                    raw,
                )
            ]
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            return [
                _malformed(
                    f"The input is not valid JSON ({exc}); send points like {POINT_EXAMPLE}.",
                    source,
                    raw,
                )
            ]
        fallback = self.default_series if default is None else default
        if isinstance(parsed, list):
            if not parsed:
                return [empty(source, raw)]
            if len(parsed) > MAX_POINTS_PER_MESSAGE:
                return [too_many(len(parsed), source, raw)]
            return [self._one(item, source, json.dumps(item), fallback) for item in parsed]
        return [self._one(parsed, source, raw, fallback)]

    def _one(
        self, item: object, source: str, raw: str, default: str | Rejection
    ) -> Point | Rejection:
        if not isinstance(item, dict):
            return _malformed(
                f"A point must be a JSON object like {POINT_EXAMPLE}, not a {type(item).__name__}.",
                source,
                raw,
            )
        named = item.get("series")
        # The id first, whatever else is wrong: a dead letter must never carry a bad one.
        if isinstance(named, str) and named:
            problem = series_problem(named)
            if problem is not None:
                return invalid_series(named, problem, source, raw)
        try:
            point = PointIn.model_validate(item)
        except ValidationError as exc:
            return _malformed(_describe(exc), source, raw, _series_hint(item))
        if point.series is None:
            if isinstance(default, Rejection):
                return replace(default, source=source, raw=raw[:RAW_LIMIT])
            series = default
        else:
            series = point.series
        try:
            ts = parse_ts(point.ts)
        except ValueError as exc:
            return _malformed(str(exc), source, raw, series)
        by_name = {"value": point.value} if point.values is None else point.values
        return self._checked(
            series, ts, tuple(by_name), list(by_name.values()), source, lambda: raw
        )

    def _checked(
        self,
        series: str,
        ts: float,
        names: tuple[str, ...],
        found: list[float | None],
        source: str,
        raw: Callable[[], str],
    ) -> Point | Rejection:
        # The channel set (expected, or pinned by the series' first accepted point, so a
        # first bad point cannot pin it), then finite values, then their range. Shared
        # with the fast decoder, so both refuse the same points for the same reasons.
        expected = self.expected
        known = expected if expected is not None else self._channels.get(series)
        if known is not None and known != names:
            if expected is not None and len(known) == 1 and names == ("value",):
                names = known  # "value" is the one channel, whatever its name
            elif set(known) != set(names):
                return self._wrong_channels(series, ts, names, known, source, raw)
            else:
                by_name = dict(zip(names, found, strict=True))
                found = [by_name[name] for name in known]
                names = known
        if not all_in_range(found):
            bad = [
                n for n, v in zip(names, found, strict=True) if v is None or not math.isfinite(v)
            ]
            if bad:
                return rejected(
                    RejectReason.NON_FINITE,
                    f"The {_listed(bad)} of series {series!r} are null, NaN or infinite; "
                    "send finite numbers and leave a missing reading out.",
                    source,
                    raw,
                    series,
                    ts,
                )
            huge = [n for n, v in zip(names, found, strict=True) if abs(v) > VALUE_LIMIT]  # type: ignore[arg-type]  # None ruled out
            if huge:
                return rejected(
                    RejectReason.OUT_OF_RANGE,
                    f"The {_listed(huge)} of series {series!r} are beyond "
                    f"±{VALUE_LIMIT:g}, more than float32 scaling can carry; send values within "
                    f"±{VALUE_LIMIT:g} (in a larger unit, say).",
                    source,
                    raw,
                    series,
                    ts,
                )
        if expected is None and known is None:
            self._pin(series, names)
        if self._refused:
            self._refused.pop(series, None)
        return Point(series, ts, tuple(found))  # type: ignore[arg-type]  # None ruled out

    def _pin(self, series: str, names: tuple[str, ...]) -> None:
        bounded_put(self._channels, series, names, self.max_series)

    def _wrong_channels(
        self,
        series: str,
        ts: float,
        names: tuple[str, ...],
        known: tuple[str, ...],
        source: str,
        raw: Callable[[], str],
    ) -> Rejection:
        if self.expected is not None:
            detail = (
                f"Series {series!r} sent {_listed(names)} but this detector scores "
                f"{_listed(known)} (set by window.channels, or by the served model's channel "
                "names when a model is loaded); send exactly those channels, or serve a "
                "model trained on these."
            )
        else:
            count = self._refused.get(series, 0) + 1
            if count >= PIN_RELEASE_AFTER:
                self.forget(series)
                detail = (
                    f"Series {series!r} has {_listed(known)} but this point has "
                    f"{_listed(names)}; after {count} such points in a row and none accepted, "
                    "the series' channels are dropped: its next point sets them again."
                )
            else:
                bounded_put(self._refused, series, count, self.max_series)
                detail = (
                    f"Series {series!r} has {_listed(known)} but this point has "
                    f"{_listed(names)}; a series keeps the channel set of its first accepted "
                    f"point (until {PIN_RELEASE_AFTER} points in a row are refused)."
                )
        rejection = rejected(RejectReason.WRONG_CHANNELS, detail, source, raw, series, ts)
        if series not in self._logged:
            bounded_put(self._logged, series, None, self.max_series)
            self._refusal_log.warning(  # the cut detail: a line as bounded as a dead letter
                "wrong channels",
                "%s (logged for the first refusal of a series; the dead letters have all)",
                rejection.detail,
            )
        return rejection


def _malformed(detail: str, source: str, raw: str, series: str | None = None) -> Rejection:
    return rejected(RejectReason.MALFORMED, detail, source, raw, series)


def _series_hint(item: dict[Any, Any]) -> str | None:
    series = item.get("series")
    return series if isinstance(series, str) and series else None


def _listed(names: Sequence[str]) -> str:
    """Channel names for a detail or a log line: at most `_NAMES_SHOWN`, each cut short,
    so a message with a million long names still gives a short sentence."""
    shown = [_short(name) for name in names[:_NAMES_SHOWN]]
    if len(names) <= _NAMES_SHOWN:
        return f"channel(s) {shown}"
    return f"{len(names):,} channels, the first {_NAMES_SHOWN} {shown}"


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."


def _describe(exc: ValidationError) -> str:
    problems = []
    errors = exc.errors()
    for err in errors[:_PROBLEMS_SHOWN]:
        where = _short(".".join(str(part) for part in err["loc"]), 80)
        message = _short(err["msg"].removeprefix("Value error, "), 200)
        message = message[:1].lower() + message[1:]
        problems.append(f"{where}: {message}" if where else message)
    if len(errors) > _PROBLEMS_SHOWN:
        problems.append(f"and {len(errors) - _PROBLEMS_SHOWN:,} more")
    return (
        f"The point does not match the wire format ({'; '.join(problems)}); "
        f"send points like {POINT_EXAMPLE}."
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    """The alert wire format (format 1) as a JSON-ready dict."""
    return {
        "format": ALERT_FORMAT,
        "alert_id": alert.alert_id,
        "incident_id": alert.incident_id,
        "series": alert.series,
        "ts": _finite(alert.ts),
        "score": _finite(alert.score),
        "threshold": _finite(alert.threshold),
        "severity": alert.severity.value,
        "state": alert.state.value,
        "model_version": alert.model_version,
        "scorer": alert.scorer,
        "opened_ts": _finite(alert.opened_ts),
        "contributors": [
            {
                "ts": _finite(c.ts),
                "channel": c.channel,
                "expected": _finite(c.expected),
                "actual": _finite(c.actual),
                "error": _finite(c.error),
            }
            for c in alert.contributors
        ],
        "channel": alert.channel,
    }


def alert_from_dict(data: dict[str, Any]) -> Alert:
    """Read back an alert written by `alert_to_dict` (null numbers come back as NaN)."""
    if data.get("format") != ALERT_FORMAT:
        raise ValueError(
            f"The alert has format {data.get('format')!r}; this version reads format "
            f"{ALERT_FORMAT} only."
        )

    def num(value: float | None) -> float:
        return math.nan if value is None else float(value)

    try:
        return Alert(
            alert_id=data["alert_id"],
            incident_id=data["incident_id"],
            series=data["series"],
            ts=num(data["ts"]),
            score=num(data["score"]),
            threshold=num(data["threshold"]),
            severity=Severity(data["severity"]),
            state=AlertState(data["state"]),
            model_version=data["model_version"],
            scorer=data["scorer"],
            opened_ts=num(data["opened_ts"]),
            contributors=tuple(
                Contributor(
                    num(c["ts"]),
                    c["channel"],
                    num(c["expected"]),
                    num(c["actual"]),
                    num(c["error"]),
                )
                for c in data.get("contributors", ())
            ),
            channel=data.get("channel"),
        )
    except KeyError as exc:
        raise ValueError(f"The alert lacks the key {exc}; it is not a format 1 alert.") from None
