"""DataFrames as people have them: extra columns, Decimal columns from a database,
flags, duplicate names, text where numbers belong."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from stream_ae.connectors.frames import read_frame
from stream_ae.errors import InputError


def test_named_channels_are_taken_by_name_and_other_columns_left_alone() -> None:
    frame = pd.DataFrame(
        {"host": ["a", "b"], "pressure": [1.0, 2.0], "rack": [7, 7], "flow": [3.0, 4.0]}
    )
    values, _, _, names = read_frame(frame, None, None, ["flow", "pressure"])
    assert names == ["flow", "pressure"]
    assert values.tolist() == [[3.0, 1.0], [4.0, 2.0]]


def test_decimal_columns_are_read_as_the_floats_they_hold() -> None:
    frame = pd.DataFrame({"flow": [Decimal("1.5"), Decimal("-2"), None], "note": ["x", "y", "z"]})
    values, _, _, names = read_frame(frame, None, None, None)
    assert names == ["flow"]  # the text column is not a channel
    assert values[:2, 0].tolist() == [1.5, -2.0] and np.isnan(values[2, 0])


def test_a_true_false_column_is_a_channel_only_when_named() -> None:
    frame = pd.DataFrame({"flow": [1.0, 2.0], "maintenance": [False, True]})
    with pytest.warns(UserWarning, match="'maintenance' is true/false"):
        assert read_frame(frame, None, None, None)[3] == ["flow"]
    values, _, _, names = read_frame(frame, None, None, ["flow", "maintenance"])
    assert names == ["flow", "maintenance"] and values[:, 1].tolist() == [0.0, 1.0]


def test_integer_column_names_match_channels_named_as_text() -> None:
    frame = pd.DataFrame(np.arange(6.0).reshape(3, 2))  # columns 0 and 1
    assert read_frame(frame, None, None, None)[3] == ["0", "1"]
    assert read_frame(frame, None, None, ["1"])[0][:, 0].tolist() == [1.0, 3.0, 5.0]


def test_numbers_mixed_with_text_are_left_out_with_a_warning_and_text_alone_quietly() -> None:
    frame = pd.DataFrame({"flow": [1.0, 2.0], "level": [Decimal(1), "N/A"], "host": ["a", "b"]})
    with pytest.warns(UserWarning, match="'level' holds 'N/A' \\(row 1\\)") as said:
        assert read_frame(frame, None, None, None)[3] == ["flow"]
    assert "host" not in str(said[0].message)


def test_missing_values_in_a_column_of_objects_read_as_nan() -> None:
    frame = pd.DataFrame({"flow": [Decimal("1.5"), pd.NA, None, float("nan")]}, dtype=object)
    for channels in (None, ["flow"]):
        values = read_frame(frame, None, None, channels)[0][:, 0]
        assert values[0] == 1.5 and np.isnan(values[1:]).all()


def test_a_time_column_of_decimal_seconds_is_read() -> None:
    frame = pd.DataFrame({"ts": [Decimal(1000), Decimal("1000.5")], "flow": [1.0, 2.0]})
    assert read_frame(frame, None, None, None)[1].tolist() == [1000.0, 1000.5]


def test_columns_of_one_name_matter_only_when_read() -> None:
    frame = pd.DataFrame([["a", 1.0, "b"]], columns=["host", "flow", "host"])
    assert read_frame(frame, None, None, ["flow"])[3] == ["flow"]
    assert read_frame(frame, None, None, None)[3] == ["flow"]  # both text: not channels


@pytest.mark.parametrize(
    ("frame", "channels", "said"),
    [
        (
            pd.DataFrame([[1.0, 2.0]], columns=["flow", "flow"]),
            None,
            "2 columns named 'flow'",
        ),
        (pd.DataFrame({"flow": [1.0, 2.0]}), ["flow", "pressure"], "no column 'pressure'"),
        (pd.DataFrame({"flow": ["1.5", "abc"]}), ["flow"], "column 'flow' holds '1.5' at row 0"),
        (pd.DataFrame({"flow": [1.0, True]}, dtype=object), ["flow"], "holds True at row 1"),
        (pd.DataFrame({"flow": [Decimal("1e400")]}), ["flow"], "beyond a float's range"),
        (pd.DataFrame({"flow": [1 + 2j]}), ["flow"], "complex numbers"),
        (
            pd.DataFrame({"host": ["a"], "ok": [True]}),
            None,
            "no channel column ('host' holds 'a' (row 0), not numbers; 'ok' is true/false",
        ),
        (pd.DataFrame({"ts": ["noon"], "flow": [1.0]}), None, "the time column 'ts' holds text"),
        (pd.DataFrame({"ts": [True], "flow": [1.0]}), None, "the time column 'ts' holds bool"),
        (pd.DataFrame({"flow": [1.0]}), [], "channels= names no column"),
    ],
)
def test_what_cannot_be_read_is_said(
    frame: pd.DataFrame, channels: list[str] | None, said: str
) -> None:
    with pytest.raises(InputError, match=re.escape(said)):
        read_frame(frame, None, None, channels)
