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
    assert read_frame(frame, None, None, None)[3] == ["flow"]
    values, _, _, names = read_frame(frame, None, None, ["flow", "maintenance"])
    assert names == ["flow", "maintenance"] and values[:, 1].tolist() == [0.0, 1.0]


def test_integer_column_names_match_channels_named_as_text() -> None:
    frame = pd.DataFrame(np.arange(6.0).reshape(3, 2))  # columns 0 and 1
    assert read_frame(frame, None, None, None)[3] == ["0", "1"]
    assert read_frame(frame, None, None, ["1"])[0][:, 0].tolist() == [1.0, 3.0, 5.0]


@pytest.mark.parametrize(
    ("frame", "channels", "said"),
    [
        (
            pd.DataFrame([[1.0, 2.0]], columns=["flow", "flow"]),
            None,
            "more than one column named 'flow'",
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
        (pd.DataFrame({"ts": ["noon"], "flow": [1.0]}), None, "the time column 'ts' holds"),
    ],
)
def test_what_cannot_be_read_is_said(
    frame: pd.DataFrame, channels: list[str] | None, said: str
) -> None:
    with pytest.raises(InputError, match=re.escape(said)):
        read_frame(frame, None, None, channels)
