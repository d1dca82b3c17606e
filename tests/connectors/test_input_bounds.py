"""Input that is valid JSON but unbounded: deep nesting, dates out of range, huge
rejections, huge arrays. Each must become a bounded refusal, never a traceback."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import orjson
import pytest

from stream_ae.connectors.dead_letters import (
    DETAIL_LIMIT,
    DeadLetter,
    Position,
    point_raw,
    rejected,
)
from stream_ae.connectors.fastwire import FastPointDecoder
from stream_ae.connectors.files import open_points
from stream_ae.connectors.kafka_sink import dead_letter_message
from stream_ae.connectors.kafka_source import decode_message, message_decoder
from stream_ae.connectors.timestamps import format_ts, parse_ts
from stream_ae.connectors.wire import PointDecoder
from stream_ae.core.records import Point, Rejection, RejectReason

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


# Dead letters stay far below the producer's request limit, whatever they hold.

DEAD_LETTER_BOUND = 64 * 1024
"""Bytes a dead-letter message may take at most: far below the 1 MiB request limit."""


def _message_size(dead: DeadLetter) -> int:
    _, key, body, headers = dead_letter_message("dead", dead)
    return len(body) + len(key or b"") + sum(len(k) + len(v) for k, v in headers)


def test_rejected_cuts_the_detail() -> None:
    rejection = rejected(RejectReason.MALFORMED, "d" * 100_000, "t/0@1", "r")
    assert len(rejection.detail) <= DETAIL_LIMIT


@pytest.mark.parametrize("char", ["x", "\ue000", "\ud800", "\x00", "\U0010ffff"])
def test_a_dead_letter_is_bounded_whatever_the_rejection_holds(char: str) -> None:
    huge = char * 1_000_000
    rejection = Rejection(
        RejectReason.OUT_OF_ORDER, huge, series=huge, ts=1.0, source=huge, raw=huge
    )
    for position in (Position(huge, 1, 2), None):
        dead = DeadLetter(rejection, position, key=b"k" * 1_000_000)
        assert _message_size(dead) < DEAD_LETTER_BOUND
        data = json.loads(dead_letter_message("dead", dead)[2])
        shown = char.encode("utf-8", "backslashreplace").decode("utf-8")  # \ud800 escaped
        assert data["reason"] == "out_of_order" and data["detail"].startswith(shown * 10)


def _many_long_channels() -> bytes:
    values = {"\ue000" * 8 + str(n): 1 for n in range(36_000)}
    return orjson.dumps({"series": "s", "ts": 1700000000, "values": values})


@pytest.mark.parametrize("channels", [("value",), None])
def test_a_message_with_many_long_channel_names_gives_a_small_dead_letter(
    channels: tuple[str, ...] | None, caplog: pytest.LogCaptureFixture
) -> None:
    decoder = message_decoder(channels)
    decode_message(decoder, b"s", b'{"series": "s", "ts": 1699999999, "value": 1}', "p/0@0")
    message = _many_long_channels()
    assert len(message) > 900_000
    with caplog.at_level(logging.WARNING):
        (rejection,) = decode_message(decoder, b"s", message, "p/0@1")
    assert isinstance(rejection, Rejection)
    assert rejection.reason is RejectReason.WRONG_CHANNELS
    assert "36,000 channels" in rejection.detail
    assert ("window.channels" in rejection.detail) == (channels is not None)
    assert _message_size(DeadLetter(rejection, Position("p", 0, 1), b"s")) < DEAD_LETTER_BOUND
    assert caplog.records and all(len(r.getMessage()) < DETAIL_LIMIT + 200 for r in caplog.records)


@pytest.mark.parametrize("kind", DECODERS)
def test_many_invalid_fields_give_a_short_detail(kind: type[PointDecoder]) -> None:
    values = {"\ue000" * 200 + str(n): "not a number" for n in range(5000)}
    text = json.dumps({"series": "s", "ts": 1700000000, "values": values})
    (rejection,) = kind("dflt").decode(text, "t/0@1")
    assert isinstance(rejection, Rejection) and rejection.reason is RejectReason.MALFORMED
    assert len(rejection.detail) <= DETAIL_LIMIT


@pytest.mark.parametrize("kind", DECODERS)
def test_an_array_of_more_points_than_a_message_may_hold_is_refused_whole(
    kind: type[PointDecoder],
) -> None:
    item = '{"series": "a", "ts": 1700000000, "value": 1}'
    (refusal,) = kind("dflt").decode("[" + ",".join([item] * 10_001) + "]", "t/0@1")
    assert isinstance(refusal, Rejection) and refusal.reason is RejectReason.MALFORMED
    assert "10,001" in refusal.detail and "10,000" in refusal.detail
    assert len(refusal.raw) == 1000
    items = kind("dflt").decode("[" + ",".join(["{}"] * 10_000) + "]", "t/0@2")
    assert len(items) == 10_000  # at the limit, each item is its own point or refusal


def test_point_raw_is_the_point_in_the_wire_format() -> None:
    one = Point("pump-7", 1732262400.25, (0.5,))
    assert json.loads(point_raw(one)) == {"series": "pump-7", "ts": 1732262400.25, "value": 0.5}
    two = Point("m", 1.0, (21.3, 0.7))
    assert json.loads(point_raw(two, ("temp", "vib"))) == {
        "series": "m",
        "ts": 1.0,
        "values": {"temp": 21.3, "vib": 0.7},
    }
    (back,) = PointDecoder("dflt", ("temp", "vib")).decode(point_raw(two, ("temp", "vib")), "x")
    assert back == two
    assert len(point_raw(Point("s", 1.0, tuple([1.0] * 1000)))) <= 1000 * 30


def test_the_refusal_log_line_is_cut_like_the_dead_letter(caplog: pytest.LogCaptureFixture) -> None:
    # Ten long names of characters repr() escapes (six characters each) would make a
    # detail over 2,000 characters before it is cut.
    values = {"\ue000" * 1000 + str(n): 1 for n in range(20)}
    text = json.dumps({"series": "s", "ts": 1700000000, "values": values})
    with caplog.at_level(logging.WARNING):
        (rejection,) = PointDecoder("dflt", ("value",)).decode(text, "t/0@1")
    assert isinstance(rejection, Rejection) and len(rejection.detail) <= DETAIL_LIMIT
    assert caplog.records and all(len(r.getMessage()) < DETAIL_LIMIT + 200 for r in caplog.records)
