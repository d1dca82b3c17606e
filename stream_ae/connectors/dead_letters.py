"""Refused input: one record (`DeadLetter`), one way to make a rejection, one encoder.

The dead-letter format (format 1) is the same on the dead-letter topic and in a
rejects file::

    {"format": 1, "reason": "invalid_series", "detail": "The series id ...",
     "source": {"topic": "points", "partition": 3, "offset": 17},
     "series": null, "ts": null, "raw": "{\"series\": ...}"}

`source` is `{"topic", "partition", "offset"}` for a Kafka message and the text
`"file:line"` for a line of a file. Encoding never raises, whatever a rejection holds:
text that UTF-8 cannot carry (a lone surrogate) is written as its escape (`\\ud800`, six
characters), a time that is not finite as null, `raw` keeps at most `RAW_LIMIT`
characters and every other text at most `DETAIL_LIMIT`, so a dead letter stays a few
kilobytes, far below any producer's request limit, whatever the input was.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from stream_ae.core.records import Point, Rejection, RejectReason

DEAD_LETTER_FORMAT = 1
RAW_LIMIT = 1000
"""Characters of raw input kept in a rejection (enough to see what was sent)."""
DETAIL_LIMIT = 1000
"""Characters kept of a rejection's detail (and of its series and source when encoded)."""
KEY_LIMIT = 1024
"""Bytes kept of a message key on its dead letter (a series id takes at most 1024)."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a message sits in Kafka."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Input that could not be scored, with its reason and origin (a Kafka position and
    key, or neither for a line of a file: its rejection's `source` names it)."""

    rejection: Rejection
    position: Position | None = None
    key: bytes | None = None


def rejected(
    reason: RejectReason,
    detail: str,
    source: str,
    raw: str | Callable[[], str],
    series: str | None = None,
    ts: float | None = None,
) -> Rejection:
    """A rejection whose raw text is cut to `RAW_LIMIT` and detail to `DETAIL_LIMIT`;
    `raw` may be a callable, so an accepted point never pays for making its text."""
    text = raw if isinstance(raw, str) else raw()
    return Rejection(
        reason, _cut(detail), series=series, ts=ts, source=source, raw=text[:RAW_LIMIT]
    )


def raw_text(value: bytes) -> str:
    """The start of a message's bytes as text, for a rejection (bad UTF-8 becomes U+FFFD)."""
    return value[: 4 * RAW_LIMIT].decode("utf-8", "replace")[:RAW_LIMIT]


def point_raw(point: Point, channels: Sequence[str] | None = None) -> str:
    """A point in the wire format, as the raw input of a rejection made after decoding
    (by the detector: out of order, duplicate, too far ahead...): `value` for one
    channel, else `values` by the names in `channels`.

    >>> point_raw(Point("pump-7", 1732262400.25, (0.5,)))
    '{"series": "pump-7", "ts": 1732262400.25, "value": 0.5}'
    >>> point_raw(Point("m", 1.0, (21.3, 0.7)), ("temp", "vib"))
    '{"series": "m", "ts": 1.0, "values": {"temp": 21.3, "vib": 0.7}}'
    """
    values = point.values
    if len(values) == 1:
        wire: dict[str, object] = {"series": point.series, "ts": point.ts, "value": values[0]}
    else:
        names = channels if channels is not None and len(channels) == len(values) else None
        keys = names if names is not None else [f"channel {i}" for i in range(len(values))]
        by_name = dict(zip(keys, values, strict=True))
        wire = {"series": point.series, "ts": point.ts, "values": by_name}
    # json, not orjson: it never raises on a lone surrogate (the encoder escapes it).
    return json.dumps(wire, ensure_ascii=False)[:RAW_LIMIT]


def dead_letter_to_dict(dead: DeadLetter) -> dict[str, Any]:
    """The dead-letter format as a JSON-ready dict whose text is all valid UTF-8."""
    r, at = dead.rejection, dead.position
    source: dict[str, Any] | str = (
        _text(r.source)
        if at is None
        else {"topic": _text(at.topic), "partition": at.partition, "offset": at.offset}
    )
    return {
        "format": DEAD_LETTER_FORMAT,
        "reason": r.reason.value,
        "detail": _text(_cut(r.detail)),
        "source": source,
        "series": None if r.series is None else _text(r.series),
        "ts": _finite(r.ts),
        "raw": _text(r.raw, RAW_LIMIT),
    }


def encode_dead_letter(dead: DeadLetter) -> bytes:
    """The dead letter as one JSON document (UTF-8)."""
    return orjson.dumps(dead_letter_to_dict(dead))


def _cut(text: str) -> str:
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 3] + "..."


def _text(text: str, limit: int = DETAIL_LIMIT) -> str:
    text = text[:limit]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep them visible, as escapes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")[:limit]
    return text


def _finite(ts: float | None) -> float | None:
    if isinstance(ts, int | float) and math.isfinite(ts):
        return float(ts)
    return None
