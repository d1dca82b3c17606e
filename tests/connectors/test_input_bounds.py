"""Input that is valid JSON but unbounded: deep nesting, dates out of range, huge
rejections, huge arrays. Each must become a bounded refusal, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_ae.connectors.fastwire import FastPointDecoder
from stream_ae.connectors.files import open_points
from stream_ae.connectors.timestamps import format_ts, parse_ts
from stream_ae.connectors.wire import PointDecoder
from stream_ae.core.records import Rejection, RejectReason

DECODERS = [PointDecoder, FastPointDecoder]


@pytest.mark.parametrize("kind", DECODERS)
@pytest.mark.parametrize("depth", [1030, 100_000])
def test_deep_nesting_is_malformed_in_both_decoders(kind: type[PointDecoder], depth: int) -> None:
    (item,) = kind("dflt").decode("[" * depth + "]" * depth, "t/0@1")
    assert isinstance(item, Rejection) and item.reason is RejectReason.MALFORMED
    assert "nests" in item.detail and len(item.raw) <= 1000


def test_a_jsonl_file_with_deep_nesting_gives_a_rejection(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text("[" * 100_000 + "\n" + '{"ts": 1700000000, "value": 1}\n')
    items = list(open_points(path))
    assert isinstance(items[0], Rejection) and items[0].reason is RejectReason.MALFORMED
    assert not isinstance(items[1], Rejection)


@pytest.mark.parametrize(
    "raw",
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T13:59:59+14:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T12:00:00-12:00",
    ],
)
def test_dates_beyond_the_years_1_to_9999_through_an_offset_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="between the years 1 and 9999"):
        parse_ts(raw)


@pytest.mark.parametrize("raw", ["0001-01-01T14:00:00+14:00", "9999-12-31T13:59:59-10:00"])
def test_dates_at_the_bounds_through_an_offset_pass_and_print(raw: str) -> None:
    assert format_ts(parse_ts(raw))


@pytest.mark.parametrize("kind", DECODERS)
def test_an_early_date_is_a_malformed_point(kind: type[PointDecoder]) -> None:
    text = '{"series": "s", "ts": "0001-01-01T00:00:00+14:00", "value": 1}'
    (item,) = kind("dflt").decode(text, "t/0@1")
    assert isinstance(item, Rejection) and item.reason is RejectReason.MALFORMED
