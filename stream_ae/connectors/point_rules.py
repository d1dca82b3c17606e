"""The rules a point must meet at the edge, shared by every reader of points.

A series id is what `core.series_ids` says (the window store checks the same); a
value's magnitude is at most `VALUE_LIMIT`. The decoders (`wire`, `fastwire`), the
Kafka key fallback and the file readers all check them here, so each refuses the same
input for the same reason.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from stream_ae.connectors.dead_letters import rejected
from stream_ae.core.records import Rejection, RejectReason
from stream_ae.core.series_ids import SERIES_MAX_CHARS as SERIES_MAX_CHARS  # the readers'
from stream_ae.core.series_ids import series_problem as series_problem  # rules: the core's

POINT_EXAMPLE = '{"series": "pump-7", "ts": 1732262400.25, "value": 0.731}'
VALUE_LIMIT = 1e30
"""Largest magnitude of a value. Windows are float32 (max ~3.4e38) and the scaler divides
the distance from the mean (itself within this bound) by a standard deviation floored at
1e-6: 2e30 / 1e-6 = 2e36 still fits, with room for the model's own arithmetic."""
PIN_RELEASE_AFTER = 100
"""Wrong-channel refusals in a row, none accepted, after which a pinned series' channels
are dropped (when channels are not known up front)."""
EXACT_INTEGERS = 2**53
"""Integers beyond this magnitude are not all floats: pydantic converts them, so the
fast decoders leave them to the reference."""
MAX_POINTS_PER_MESSAGE = 10_000
"""Items a message (or JSONL line) may hold in its array; more are refused whole, as one
`malformed` refusal, so one message can never fan out into an unbounded number of
dead letters (or points) that stall decoding."""
MAX_TRACKED_SERIES = 100_000
"""Series a decoder keeps per-series state for, at most; the oldest goes first."""


def invalid_series(
    series: str, problem: str, source: str, raw: str | Callable[[], str]
) -> Rejection:
    shown = repr(series[:40]) + ("..." if len(series) > 40 else "")
    return rejected(
        RejectReason.INVALID_SERIES,
        f"The series id {shown} cannot be used: {problem}; send a series id of 1 to "
        f"{SERIES_MAX_CHARS} printable characters of valid UTF-8.",
        source,
        raw,
    )


def empty(source: str, raw: str | Callable[[], str]) -> Rejection:
    return rejected(
        RejectReason.EMPTY,
        f"The message holds no point (an empty array); send at least one, like {POINT_EXAMPLE}.",
        source,
        raw,
    )


def too_many(count: int, source: str, raw: str | Callable[[], str]) -> Rejection:
    return rejected(
        RejectReason.MALFORMED,
        f"The message holds {count:,} items, more than the {MAX_POINTS_PER_MESSAGE:,} one "
        "message may hold; split it into smaller messages.",
        source,
        raw,
    )


def all_in_range(values: list[float | None]) -> bool:
    """True when every value is a number within ±VALUE_LIMIT (None and NaN fail)."""
    # A plain loop beats sum/min/max for the one or two values a point mostly has.
    try:
        for value in values:
            if not -VALUE_LIMIT <= value <= VALUE_LIMIT:  # type: ignore[operator]
                return False
    except TypeError:  # None: a missing reading
        return False
    return True


def bounded_put(table: OrderedDict[str, Any], key: str, value: Any, limit: int) -> None:
    if key not in table and len(table) >= limit:
        table.popitem(last=False)
    table[key] = value
