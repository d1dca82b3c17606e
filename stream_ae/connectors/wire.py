"""The wire formats: points in (JSON), alerts and rejections out (JSON objects).

Point, format 1 (one JSON object per message or JSONL line, or a JSON array of them)::

    {"series": "plant-3/pump-7", "ts": 1732262400.25, "value": 0.731}
    {"series": "plant-3/pump-7", "ts": "2024-11-22T08:00:00Z", "values": {"temp": 21.3}}

`ts` is epoch seconds, epoch milliseconds or an RFC 3339 string. A series keeps the
channel set of its first point; later points may list the channels in any order.
Unknown keys are ignored so producers can add fields without breaking the detector.

Alert, format 1: every field of `stream_ae.core.records.Alert` plus `"format": 1`,
enums as their string values, contributors as a list of objects, and `null` for a
number that is not finite (JSON has no NaN).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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

POINT_FORMAT = 1
ALERT_FORMAT = 1
RAW_LIMIT = 500
"""Characters of raw input kept in a rejection."""

_EXAMPLE = '{"series": "pump-7", "ts": 1732262400.25, "value": 0.731}'


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
    """Turns JSON text into points and rejections, keeping each series' channel order.

    Stateful: the first accepted point of a series fixes its channels.

    >>> decoder = PointDecoder(default_series="pump-7")
    >>> decoder.decode('{"ts": 1732262400, "values": {"temp": 21.3, "vib": 0.7}}', "x:1")
    [Point(series='pump-7', ts=1732262400.0, values=(21.3, 0.7))]
    >>> decoder.decode('{"ts": 1732262401, "values": {"vib": 0.8, "temp": 21.4}}', "x:2")
    [Point(series='pump-7', ts=1732262401.0, values=(21.4, 0.8))]
    """

    def __init__(self, default_series: str) -> None:
        self.default_series = default_series
        self._channels: dict[str, tuple[str, ...]] = {}

    def channels_of(self, series: str) -> tuple[str, ...] | None:
        """The channel names of a series, in order, once a point of it was accepted."""
        return self._channels.get(series)

    def forget(self, series: str) -> None:
        """Drop a series' channel set (it left the detector): its next point fixes it anew."""
        self._channels.pop(series, None)

    def decode(self, text: str | bytes, source: str) -> list[Point | Rejection]:
        """All points of one message or line, in order; bad ones become rejections."""
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        try:
            parsed = json.loads(text)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            return [
                _malformed(
                    f"The input is not valid JSON ({exc}); send points like {_EXAMPLE}.",
                    source,
                    raw,
                )
            ]
        if isinstance(parsed, list):
            return [self._one(item, source, json.dumps(item)) for item in parsed]
        return [self._one(parsed, source, raw)]

    def _one(self, item: object, source: str, raw: str) -> Point | Rejection:
        if not isinstance(item, dict):
            return _malformed(
                f"A point must be a JSON object like {_EXAMPLE}, not a {type(item).__name__}.",
                source,
                raw,
            )
        try:
            point = PointIn.model_validate(item)
        except ValidationError as exc:
            return _malformed(_describe(exc), source, raw, _series_hint(item))
        series = point.series or self.default_series
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
        # One channel set per series, in the order of its first accepted point (so a
        # first bad point cannot fix it), and finite values only. Shared with the fast
        # decoder, so both refuse the same points for the same reasons.
        known = self._channels.get(series)
        if known is not None and known != names:
            if set(known) != set(names):
                return _reject_lazy(
                    RejectReason.WRONG_CHANNELS,
                    f"Series {series!r} has channels {list(known)} but this point has "
                    f"{list(names)}; a series keeps the channel set of its first point.",
                    source,
                    raw,
                    series,
                    ts,
                )
            by_name = dict(zip(names, found, strict=True))
            found = [by_name[name] for name in known]
            names = known
        bad = (
            []
            if all_finite(found)
            else [n for n, v in zip(names, found, strict=True) if v is None or not math.isfinite(v)]
        )
        if bad:
            return _reject_lazy(
                RejectReason.NON_FINITE,
                f"Channel(s) {bad} of series {series!r} are null, NaN or infinite; send "
                "finite numbers and leave a missing reading out.",
                source,
                raw,
                series,
                ts,
            )
        if known is None:
            self._channels[series] = names
        return Point(series, ts, tuple(found))  # type: ignore[arg-type]  # None ruled out


def _reject_lazy(
    reason: RejectReason,
    detail: str,
    source: str,
    raw: Callable[[], str],
    series: str | None = None,
    ts: float | None = None,
) -> Rejection:
    return Rejection(reason, detail, series=series, ts=ts, source=source, raw=raw()[:RAW_LIMIT])


def all_finite(values: list[float | None]) -> bool:
    # One sum instead of a check per value: None fails the sum, NaN and inf survive it.
    # A sum that overflows only sends finite values down the exact (slower) check.
    try:
        return math.isfinite(sum(values))  # type: ignore[arg-type]
    except TypeError:
        return False


def _reject(
    reason: RejectReason,
    detail: str,
    source: str,
    raw: str,
    series: str | None = None,
    ts: float | None = None,
) -> Rejection:
    return Rejection(reason, detail, series=series, ts=ts, source=source, raw=raw[:RAW_LIMIT])


def _malformed(detail: str, source: str, raw: str, series: str | None = None) -> Rejection:
    return _reject(RejectReason.MALFORMED, detail, source, raw, series)


def _series_hint(item: dict[Any, Any]) -> str | None:
    series = item.get("series")
    return series if isinstance(series, str) and series else None


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        problems.append(f"{where}: {message}" if where else message)
    return (
        f"The point does not match the wire format ({'; '.join(problems)}); "
        f"send points like {_EXAMPLE}."
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
        )
    except KeyError as exc:
        raise ValueError(f"The alert lacks the key {exc}; it is not a format 1 alert.") from None


def rejection_to_dict(rejection: Rejection) -> dict[str, Any]:
    """The dead-letter wire format: what was refused, why, and where it came from."""
    return {
        "source": rejection.source,
        "reason": rejection.reason.value,
        "detail": rejection.detail,
        "raw": rejection.raw,
        "series": rejection.series,
        "ts": rejection.ts,
    }
