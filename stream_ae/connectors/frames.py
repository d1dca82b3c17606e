"""A pandas DataFrame read as points: its time, its series and its channel columns.

Channels are taken by name when they are known (a model's, or `channels=` given), so a
frame may carry other columns beside them; otherwise every column that holds numbers is
one, except the time, the series and label columns. A column of numbers stored as
objects (a database driver's Decimal) is read as the floats it holds. What cannot be
read is said, with the column and the first value at fault, rather than skipped: a
channel silently left out is a sensor nobody watches.
"""

from __future__ import annotations

import decimal
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from stream_ae.connectors.files import LABEL_COLUMNS
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
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise InputError(
            f"the DataFrame has more than one column named {', '.join(map(repr, twice))}; "
            "give each column its own name"
        )
    by_name = dict(zip(names, frame.columns, strict=True))
    lowered = {name.lower(): name for name in names}
    time_name = next((lowered[n] for n in TIME_COLUMNS if n in lowered), None)
    series_name = lowered.get(SERIES_COLUMN)
    if ts is None:
        if time_name is not None:
            ts = _epoch_seconds(pd, frame[by_name[time_name]], time_name)
        elif isinstance(frame.index, pd.DatetimeIndex):
            ts = _epoch_seconds(pd, frame.index.to_series(), "index")
    if series is None and series_name is not None:
        series = frame[by_name[series_name]].astype(str).tolist()
    if channels is not None:
        wanted = [str(c) for c in channels]
        missing = [name for name in wanted if name not in by_name]
        if missing:
            raise InputError(
                f"the DataFrame has no column {', '.join(map(repr, missing))} of the "
                f"channels {wanted}; its columns are {names}"
            )
        columns = [_numbers(pd, frame[by_name[name]], name) for name in wanted]
    else:
        labels = {name.lower() for name in LABEL_COLUMNS}
        skipped: list[str] = []
        wanted, columns = [], []
        for name in names:
            if name in (time_name, series_name) or name.lower() in labels:
                continue
            why = _not_a_channel(pd, frame[by_name[name]])
            if why is None:
                wanted.append(name)
                columns.append(_numbers(pd, frame[by_name[name]], name))
            else:
                skipped.append(f"{name!r} {why}")
        if not wanted:
            reasons = f" ({'; '.join(skipped)})" if skipped else ""
            raise InputError(
                f"the DataFrame has no channel column{reasons}; channels are columns of "
                f"numbers other than the time, the series and labels: {names}"
            )
    return np.column_stack(columns), ts, series, wanted


def _not_a_channel(pd: Any, column: Any) -> str | None:
    """Why a column is not taken as a channel unless named, or None."""
    if pd.api.types.is_bool_dtype(column):
        return "is true/false (name it in channels= to take it as 0/1)"
    if pd.api.types.is_numeric_dtype(column):
        return None
    if _boxed(pd, column):
        odd = _first_not_a_number(column)
        return None if odd is None else f"holds {odd[1]!r:.40} (row {odd[0]}), not numbers"
    return f"holds {column.dtype} values, not numbers"


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
    odd = _first_not_a_number(column)
    if odd is not None:
        raise InputError(f"column {name!r} holds {odd[1]!r:.40} at row {odd[0]}; give numbers")
    out = np.empty(len(column))
    for i, value in enumerate(column.tolist()):
        try:
            out[i] = np.nan if value is None else float(value)
        except OverflowError:  # an int or a Fraction
            out[i] = np.inf
        if np.isinf(out[i]) and _exact(value):
            raise InputError(
                f"column {name!r} holds {str(value)[:40]} at row {i}, beyond a float's range"
            )
    return out


def _exact(value: object) -> bool:
    """A finite number in its own type (an int, a Fraction, a finite Decimal)."""
    if isinstance(value, decimal.Decimal):
        return value.is_finite()
    return isinstance(value, numbers.Rational)


def _first_not_a_number(column: Any) -> tuple[int, object] | None:
    """(row, value) of the first value in an object column that is not a real number."""
    for i, value in enumerate(column.tolist()):
        if value is None:
            continue
        real = isinstance(value, numbers.Real | decimal.Decimal)
        if not real or isinstance(value, bool | np.bool_):
            return i, value
    return None


def _epoch_seconds(pd: Any, column: Any, name: str) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(column):
        stamps = pd.to_datetime(column, utc=True)
        return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        raise InputError(
            f"the time column {name!r} holds {column.dtype} values; give datetimes or "
            "seconds since the epoch"
        )
    seconds: np.ndarray = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return seconds


def pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise InputError(
            "DataFrames need pandas: pip install 'stream-ae[dataframe]' (or pandas)"
        ) from None
    return pandas
