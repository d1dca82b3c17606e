"""What a window can hold: checks of a point's time and values that never raise, for a
library caller's points that may hold anything (str, None, Decimal, huge integers)."""

from __future__ import annotations

import math
import numbers
from decimal import Decimal

import numpy as np

from stream_ae.core.records import RejectReason

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
