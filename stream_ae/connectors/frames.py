"""A pandas DataFrame read as points: its time, its series and its channel columns.

Channels are taken by name when they are known (a model's, or `channels=` given), so a
frame may carry other columns beside them; otherwise every column that holds numbers is
one, except the time, the series and label columns. A column of numbers stored as
objects (a database driver's Decimal) is read as the floats it holds. A column named as
a channel that cannot be read is an error naming the first value at fault; a column
left out of the channels found that still holds numbers (a true/false flag, numbers
mixed with text) is named in a warning: a channel silently left out is a sensor nobody
watches.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from stream_ae.connectors.files import LABEL_COLUMNS
from stream_ae.core.windows.point_checks import as_float, finite_itself, shown
from stream_ae.errors import InputError

TIME_COLUMNS = ("timestamp", "ts", "time")
SERIES_COLUMN = "series"


def read_frame(
    frame: Any, ts: Any, series: Any, channels: Sequence[str] | None
) -> tuple[np.ndarray, Any, Any, list[str]]:
    """(values [rows, channels] float64, ts, series, channel names) of `frame`; `ts` and
    `series` as given, else read from the frame's time and series columns (or its
    DatetimeIndex)."""
    pd = pandas()
    names = [str(c) for c in frame.columns]
    at: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        at.setdefault(name, []).append(i)

    def column(name: str) -> Any:
        if len(at[name]) > 1:
            raise InputError(
                f"the DataFrame has {len(at[name])} columns named {name!r}; give each "
                "column it reads its own name"
            )
        return frame.iloc[:, at[name][0]]

    lowered: dict[str, str] = {}
    for name in at:
        lowered.setdefault(name.lower(), name)
    time_name = next((lowered[n] for n in TIME_COLUMNS if n in lowered), None)
    series_name = lowered.get(SERIES_COLUMN)
    if ts is None:
        if time_name is not None:
            ts = _epoch_seconds(pd, column(time_name), time_name)
        elif isinstance(frame.index, pd.DatetimeIndex):
            ts = _epoch_seconds(pd, frame.index.to_series(), "index")
    if series is None and series_name is not None:
        # pandas' own missing markers as None; the caller treats None and NaN as missing.
        series = [None if _missing(pd, s) else s for s in column(series_name).tolist()]
    if channels is not None:
        wanted = [str(c) for c in channels]
        if not wanted:
            raise InputError("channels= names no column; name at least one, like ['flow']")
        missing = [name for name in wanted if name not in at]
        if missing:
            raise InputError(
                f"the DataFrame has no column {', '.join(map(repr, missing))} of the "
                f"channels {wanted}; its columns are {names}"
            )
        return np.column_stack([_numbers(pd, column(n), n) for n in wanted]), ts, series, wanted
    labels = {name.lower() for name in LABEL_COLUMNS}
    wanted, values, skipped, surprising = [], [], [], []
    for name in at:
        if name in (time_name, series_name) or name.lower() in labels:
            continue
        reasons = [_not_a_channel(pd, frame.iloc[:, i]) for i in at[name]]
        if all(why is not None for why, _ in reasons):
            said = "; ".join(f"{name!r} {why}" for why, _ in reasons)
            skipped.append(said)
            if any(numbers_in for _, numbers_in in reasons):
                surprising.append(said)
            continue
        wanted.append(name)
        values.append(_numbers(pd, column(name), name))
    if not wanted:
        reasons_said = f" ({'; '.join(skipped)})" if skipped else ""
        raise InputError(
            f"the DataFrame has no channel column{reasons_said}; channels are columns of "
            f"numbers other than the time, the series and labels: {names}"
        )
    if surprising:
        warnings.warn(
            f"not taken as channels: {'; '.join(surprising)}; name the channels in "
            "channels= to choose them",
            UserWarning,
            stacklevel=4,  # the caller of fit_model / score
        )
    return np.column_stack(values), ts, series, wanted


def _not_a_channel(pd: Any, column: Any) -> tuple[str | None, bool]:
    """Why a column is not taken as a channel unless named (None: it is one), and
    whether it holds numbers all the same."""
    if pd.api.types.is_bool_dtype(column):
        return "is true/false (name it in channels= to take it as 0/1)", True
    if pd.api.types.is_numeric_dtype(column):
        return None, True
    if _boxed(pd, column):
        boxed = column.tolist()
        odd = _first_not_a_number(pd, boxed)
        if odd is None:
            return None, True
        some = any(_is_number(v) for v in boxed)
        return f"holds {odd[1]!r:.40} (row {odd[0]}), not numbers", some
    return f"holds {column.dtype} values, not numbers", False


def _boxed(pd: Any, column: Any) -> bool:
    """Values kept as Python objects or text: each must be looked at."""
    return bool(pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column))


def _numbers(pd: Any, column: Any, name: str) -> np.ndarray:
    """A column as float64 (missing values NaN, refused downstream as non-finite)."""
    if pd.api.types.is_complex_dtype(column):
        raise InputError(f"column {name!r} holds complex numbers; give real ones")
    if pd.api.types.is_numeric_dtype(column):  # bool too: named, it is taken as 0/1
        values: np.ndarray = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return values
    if not _boxed(pd, column):
        raise InputError(f"column {name!r} holds {column.dtype} values; give numbers")
    boxed = column.tolist()
    odd = _first_not_a_number(pd, boxed)
    if odd is not None:
        raise InputError(f"column {name!r} holds {odd[1]!r:.40} at row {odd[0]}; give numbers")
    out = np.full(len(boxed), np.nan)
    for i, value in enumerate(boxed):
        number = None if _missing(pd, value) else as_float(value)
        if number is None:
            continue
        if math.isinf(number) and finite_itself(value, number):
            raise InputError(
                f"column {name!r} holds {shown(value)} at row {i}, beyond a float's range"
            )
        out[i] = number
    return out


def _first_not_a_number(pd: Any, boxed: list[object]) -> tuple[int, object] | None:
    """(row, value) of the first value that is neither a real number nor missing."""
    for i, value in enumerate(boxed):
        if not _missing(pd, value) and not _is_number(value):
            return i, value
    return None


def _is_number(value: object) -> bool:
    """A number a window takes (`as_float`'s), but not true/false."""
    return not isinstance(value, bool | np.bool_) and as_float(value) is not None


def _missing(pd: Any, value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT


def _epoch_seconds(pd: Any, column: Any, name: str) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(column):
        stamps = pd.to_datetime(column, utc=True)
        return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    numeric = pd.api.types.is_numeric_dtype(column)
    if pd.api.types.is_bool_dtype(column) or not (numeric or _boxed(pd, column)):
        raise InputError(
            f"the time column {name!r} holds {column.dtype} values; give datetimes or "
            "seconds since the epoch"
        )
    if _boxed(pd, column) and _first_not_a_number(pd, column.tolist()) is not None:
        raise InputError(
            f"the time column {name!r} holds text; parse it first, e.g. "
            f"frame[{name!r}] = pd.to_datetime(frame[{name!r}], utc=True)"
        )
    return _numbers(pd, column, name)


def pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise InputError(
            "DataFrames need pandas: pip install 'stream-ae[dataframe]' (or pandas)"
        ) from None
    return pandas
