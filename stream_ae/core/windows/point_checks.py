"""What a window can hold: checks of a point's series id, time and values that never
raise, for a library caller's points that may hold anything (str, None, Decimal, huge
integers)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from stream_ae.core.records import Rejection, RejectReason
from stream_ae.core.series_ids import SERIES_MAX_CHARS, series_problem

_F32_MAX = float(np.finfo(np.float32).max)
"""Windows are float32: a larger value would turn infinite in the ring."""


def value_refusal(v: object) -> tuple[RejectReason, str] | None:
    """Why a window cannot hold the value `v` (the reason, and the value as shown and
    what is wrong with it), or None when it can."""
    number = as_float(v)
    if number is None:
        return RejectReason.MALFORMED, f"{shown(v)} is not a number; send numbers"
    if -_F32_MAX <= number <= _F32_MAX:  # one test for the usual case; NaN fails it
        return None
    if not finite_itself(v, number):
        return RejectReason.NON_FINITE, f"{number} is not a finite number"
    return (
        RejectReason.OUT_OF_RANGE,
        f"{shown(v)} is beyond what float32 windows hold (about 3.4e38); send it in a smaller unit",
    )


def as_float(x: object, *, decimal: bool = True) -> float | None:
    """`x` as the float a window holds it in (an infinity past a float's range), or None
    when it is not a number. A Decimal (a database's NUMERIC) counts where `decimal`."""
    if type(x) is float:  # the usual case, first
        return x
    if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "biuf":
        return float(x)  # a 0-d array: what the columns read it as, too
    if not (isinstance(x, numbers.Real | np.bool_) or (decimal and isinstance(x, Decimal))):
        return None
    try:
        return float(x)
    except OverflowError:  # an integer or fraction no float holds
        return math.inf if x > 0 else -math.inf  # type: ignore[operator]
    except ValueError:  # a signalling Decimal NaN
        return math.nan


def finite_itself(x: object, number: float) -> bool:
    """Whether `x` is a finite number, though `number` (its float) may not be."""
    if isinstance(x, Decimal):
        return x.is_finite()
    if isinstance(x, np.floating):
        return bool(np.isfinite(x))  # a long double past a float's range
    return isinstance(x, numbers.Rational) or math.isfinite(number)


def hashable(x: object) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


def shown(x: object, most: int = 40) -> str:
    """`x` as a refusal shows it: its repr, cut short."""
    try:
        text = repr(x)
    except ValueError:  # an integer with more digits than Python will print
        return f"(an integer of {x.bit_length()} bits)"  # type: ignore[attr-defined]
    return text if len(text) <= most else text[: most - 3] + "..."


def point_refusal(
    series: str,
    ts: float,
    values: Sequence[float],
    channels: int,
    newest: float,
    now: float | None,
    max_ahead_s: float,
) -> Rejection | None:
    """Why a window store of `channels` refuses this point whatever its series' state,
    or None: an id that is not one, values that are not `channels` numbers a window
    holds, a time that is not a finite number, or one more than `max_ahead_s` ahead of
    `now` (wall time) or else of `newest` (the newest point taken; -inf: none yet)."""
    at = as_float(ts, decimal=False)  # the store does arithmetic with the time itself
    known = at if at is not None and math.isfinite(at) else None
    problem = series_problem(series) if isinstance(series, str) else "it is not a string"
    if problem is not None:
        return Rejection(
            RejectReason.INVALID_SERIES,
            f"the series id {shown(series)} cannot be used: {problem}; use 1 to "
            f"{SERIES_MAX_CHARS} printable characters",
            None,
            known,
        )
    try:
        count = len(values)
    except TypeError:
        count = -1
    if count != channels:
        got = "not a sequence of numbers" if count < 0 else f"{count}"
        return Rejection(
            RejectReason.WRONG_CHANNELS if count >= 0 else RejectReason.MALFORMED,
            f"expected {channels} value(s) per point, got {got}",
            series,
            known,
        )
    for v in values:
        refused = value_refusal(v)
        if refused is not None:
            return Rejection(refused[0], f"value {refused[1]}", series, known)
    if at is None:
        return Rejection(
            RejectReason.MALFORMED,
            f"timestamp {shown(ts)} is not a number (a float or an integer); send "
            "seconds since the epoch",
            series,
        )
    if known is None:
        return Rejection(
            RejectReason.NON_FINITE,
            f"timestamp {shown(ts)} is not a finite number of seconds",
            series,
        )
    # With a wall clock the limit is wall time alone: were it the newest point taken, a
    # chain of points each a little under max_ahead_s apart would walk it ahead.
    reference = newest if now is None else now
    if at > reference + max_ahead_s and reference != -math.inf:
        against = "the newest point taken" if now is None else "wall time"
        return Rejection(
            RejectReason.TOO_FAR_AHEAD,
            f"timestamp {at:.3f} is {at - reference:,.0f} s ahead of {against} "
            f"({reference:.3f}), more than window.max_ahead_s ({max_ahead_s:g} s); "
            "check the sender's clock, or raise window.max_ahead_s",
            series,
            at,
        )
    return None
