"""The edge of the input: series ids, value range, empty messages and channel sets are
checked by both decoders, and every message yields points or at least one refusal."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from stream_ae.connectors.fastwire import FastPointDecoder
from stream_ae.connectors.files import open_points
from stream_ae.connectors.kafka_sink import dead_letter_message
from stream_ae.connectors.kafka_source import (
    DeadLetter,
    Position,
    decode_message,
    message_decoder,
)
from stream_ae.connectors.wire import PointDecoder
from stream_ae.connectors.writers import RejectWriter
from stream_ae.core.records import Point, Rejection, RejectReason

DECODERS = [PointDecoder, FastPointDecoder]


def one(decoder: PointDecoder, text: str | bytes) -> Point | Rejection:
    (item,) = decoder.decode(text, "t/0@1")
    return item


def point(series: str, value: object = 1, ts: float = 1700000000) -> str:
    return json.dumps({"series": series, "ts": ts, "value": value})


@pytest.mark.parametrize("kind", DECODERS)
@pytest.mark.parametrize(
    "text",
    [
        '{"series":"\\ud800","ts":1700000000,"value":1}',  # a lone surrogate
        '{"series":"ok\\udfff","ts":1700000000,"value":1}',
        point("x" * 257),
        point("line\nbreak"),
        point("nul\x00"),
        point("tab\there"),
        point("del\x7f"),
        point("c1\x85"),
        b'[{"series": "a\\u0000", "ts": 1, "value": 1}]',
    ],
)
def test_invalid_series_ids_are_refused(kind: type[PointDecoder], text: str | bytes) -> None:
    item = one(kind("dflt"), text)
    assert isinstance(item, Rejection), text
    assert item.reason is RejectReason.INVALID_SERIES
    assert item.series is None  # the id is not one: it names no series downstream
    assert "256" in item.detail and "send" in item.detail
    item.detail.encode("utf-8")  # the sentence itself is printable anywhere


@pytest.mark.parametrize("kind", DECODERS)
@pytest.mark.parametrize("series", ["x" * 256, "ü-sensor", "plant-3/pump 7", "😀", "a.b:c#d"])
def test_valid_series_ids_pass(kind: type[PointDecoder], series: str) -> None:
    item = one(kind("dflt"), point(series))
    assert isinstance(item, Point) and item.series == series


@pytest.mark.parametrize(
    "key",
    [
        b"\xff\xfe",
        b"caf\xe9",
        b"k" * 257,
        b"a\nb",
        b"\x00",
        "\ud800".encode("utf-8", "surrogatepass"),
    ],
)
def test_an_invalid_message_key_is_refused_when_it_names_the_series(key: bytes) -> None:
    decoder = message_decoder()
    (item,) = decode_message(decoder, key, b'{"ts": 1700000000, "value": 1}', "t/0@1")
    assert isinstance(item, Rejection) and item.reason is RejectReason.INVALID_SERIES
    assert item.series is None and "key" in item.detail
    # A point that names its own series does not need the key.
    (named,) = decode_message(decoder, key, point("pump-7").encode(), "t/0@2")
    assert isinstance(named, Point) and named.series == "pump-7"


def test_message_key_names_the_series_and_keeps_its_own_channels() -> None:
    decoder = message_decoder()
    first = decode_message(decoder, b"a", b'{"ts": 1, "values": {"x": 1, "y": 2}}', "t/0@1")
    second = decode_message(decoder, b"b", b'{"ts": 1, "value": 3}', "t/0@2")
    keyless = decode_message(decoder, None, b'{"ts": 1, "value": 3}', "t/0@3")
    assert first == [Point("a", 1.0, (1.0, 2.0))]
    assert second == [Point("b", 1.0, (3.0,))]  # b is not held to a's channels
    (refused,) = keyless
    assert isinstance(refused, Rejection) and refused.reason is RejectReason.MALFORMED
    assert "no key" in refused.detail


@pytest.mark.parametrize("kind", DECODERS)
@pytest.mark.parametrize(
    "text",
    [
        point("p", 1e39),
        point("p", 1e300),
        point("p", -1e31),
        point("p", 1.7976931348623157e308),
        '{"series": "p", "ts": 1, "values": {"a": 1, "b": 1e35}}',
        '{"series": "p", "ts": 1, "value": 100000000000000000000000000000000}',  # 1e32, an int
    ],
)
def test_values_beyond_float32_scaling_are_out_of_range(
    kind: type[PointDecoder], text: str
) -> None:
    item = one(kind("dflt"), text)
    assert isinstance(item, Rejection) and item.reason is RejectReason.OUT_OF_RANGE, text
    assert "1e+30" in item.detail


@pytest.mark.parametrize("kind", DECODERS)
def test_values_at_the_bound_pass_and_non_finite_wins_over_range(kind: type[PointDecoder]) -> None:
    decoder = kind("dflt")
    assert isinstance(one(decoder, point("p", 1e30)), Point)
    assert isinstance(one(decoder, point("p", -1e30, ts=1700000001)), Point)
    both = '{"series": "m", "ts": 1, "values": {"a": NaN, "b": 1e35}}'
    item = one(decoder, both)
    assert isinstance(item, Rejection) and item.reason is RejectReason.NON_FINITE


def test_files_refuse_out_of_range_values(tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text("timestamp,value\n1700000000,1e39\n1700000060,1\n1700000120,-1e300\n")
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text(point("q", 1e39) + "\n" + point("q", 2) + "\n")
    for path in (csv, jsonl):
        items = list(open_points(path))
        reasons = [i.reason if isinstance(i, Rejection) else None for i in items]
        assert RejectReason.OUT_OF_RANGE in reasons and None in reasons, path
        assert all(r in (None, RejectReason.OUT_OF_RANGE) for r in reasons)


def test_csv_series_column_ids_are_validated(tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text(f"timestamp,series,value\n1700000000,{'s' * 300},1\n1700000060,ok,1\n")
    items = list(open_points(csv))
    assert isinstance(items[0], Rejection) and items[0].reason is RejectReason.INVALID_SERIES
    assert isinstance(items[1], Point)


@pytest.mark.parametrize("kind", DECODERS)
@pytest.mark.parametrize("text", ["[]", " [ ] ", b"[]"])
def test_an_empty_array_is_one_empty_refusal(kind: type[PointDecoder], text: str | bytes) -> None:
    items = kind("dflt").decode(text, "t/0@9")
    assert len(items) == 1
    assert isinstance(items[0], Rejection) and items[0].reason is RejectReason.EMPTY
    assert items[0].source == "t/0@9" and items[0].raw == (
        text.decode() if isinstance(text, bytes) else text
    )


def test_an_empty_array_message_is_one_dead_letter() -> None:
    items = decode_message(message_decoder(), b"k", b"[]", "t/0@1")
    assert [type(i) for i in items] == [Rejection]


# Channels known up front (the service: window.channels or the model's channel names).


def test_a_mislabelled_first_point_does_not_pin_the_series() -> None:
    decoder = message_decoder(channels=("value",))
    wrong = b'{"series": "s", "ts": 1, "values": {"temp": 20.5}}'
    (refused,) = decode_message(decoder, b"s", wrong, "t/0@1")
    assert isinstance(refused, Rejection) and refused.reason is RejectReason.WRONG_CHANNELS
    assert "window.channels" in refused.detail and "model" in refused.detail
    assert refused.raw == wrong.decode() and refused.series == "s"
    (accepted,) = decode_message(decoder, b"s", b'{"series": "s", "ts": 2, "value": 1}', "t/0@2")
    assert accepted == Point("s", 2.0, (1.0,))


@pytest.mark.parametrize("kind", DECODERS)
def test_expected_channels_are_checked_by_name_in_their_order(kind: type[PointDecoder]) -> None:
    decoder = kind("dflt", channels=("temp", "vib"))
    assert one(decoder, '{"ts": 1, "values": {"vib": 2, "temp": 1}}') == Point(
        "dflt", 1.0, (1.0, 2.0)
    )
    for text in (
        '{"ts": 2, "value": 1}',
        '{"ts": 2, "values": {"temp": 1}}',
        '{"ts": 2, "values": {"temp": 1, "vib": 2, "rpm": 3}}',
        '{"ts": 2, "values": {"temp": 1, "rpm": 3}}',
    ):
        item = one(decoder, text)
        assert isinstance(item, Rejection) and item.reason is RejectReason.WRONG_CHANNELS, text
        assert "['temp', 'vib']" in item.detail
    assert isinstance(one(decoder, '{"ts": 3, "values": {"temp": 1, "vib": 2}}'), Point)


@pytest.mark.parametrize("kind", DECODERS)
def test_value_is_the_one_channel_of_a_one_channel_detector(kind: type[PointDecoder]) -> None:
    decoder = kind("dflt", channels=("temp",))
    assert one(decoder, '{"ts": 1, "value": 3}') == Point("dflt", 1.0, (3.0,))
    assert one(decoder, '{"ts": 2, "values": {"temp": 4}}') == Point("dflt", 2.0, (4.0,))
    item = one(decoder, '{"ts": 3, "values": {"vib": 4}}')
    assert isinstance(item, Rejection) and item.reason is RejectReason.WRONG_CHANNELS


@pytest.mark.parametrize("kind", DECODERS)
def test_the_first_wrong_channel_refusal_of_a_series_is_logged_once(
    kind: type[PointDecoder], caplog: pytest.LogCaptureFixture
) -> None:
    decoder = kind("dflt", channels=("value",))
    with caplog.at_level(logging.WARNING, logger="stream_ae.connectors.wire"):
        for i in range(5):
            one(decoder, json.dumps({"series": "a", "ts": i, "values": {"temp": 1}}))
        one(decoder, json.dumps({"series": "b", "ts": 1, "values": {"temp": 1}}))
    lines = [r.getMessage() for r in caplog.records if "window.channels" in r.getMessage()]
    assert len(lines) == 2
    assert "'a'" in lines[0] and "'b'" in lines[1]


def test_refusal_lines_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    decoder = FastPointDecoder("dflt", channels=("value",))
    with caplog.at_level(logging.WARNING, logger="stream_ae.connectors.wire"):
        for i in range(100):
            one(decoder, json.dumps({"series": f"s{i}", "ts": 1, "values": {"temp": 1}}))
    assert len(caplog.records) == 10  # a minute's budget; the dead letters have them all


def test_the_already_logged_set_is_bounded() -> None:
    decoder = FastPointDecoder("dflt", channels=("value",), max_series=50)
    for i in range(1000):
        one(decoder, json.dumps({"series": f"s{i}", "ts": 1, "values": {"temp": 1}}))
    assert decoder.tracked() <= 50


# Channels not known up front (JSONL files): the first point pins, but not for ever.


@pytest.mark.parametrize("kind", DECODERS)
def test_a_pin_nothing_matches_is_dropped_after_consecutive_refusals(
    kind: type[PointDecoder],
) -> None:
    from stream_ae.connectors.point_rules import PIN_RELEASE_AFTER

    decoder = kind("dflt")
    assert isinstance(one(decoder, '{"ts": 0, "values": {"temp": 1}}'), Point)
    for i in range(1, PIN_RELEASE_AFTER + 1):
        item = one(decoder, json.dumps({"ts": i, "value": 1}))
        assert isinstance(item, Rejection) and item.reason is RejectReason.WRONG_CHANNELS
    assert "next point sets them again" in item.detail  # the pin is dropped now
    assert one(decoder, '{"ts": 999, "value": 2}') == Point("dflt", 999.0, (2.0,))
    assert decoder.channels_of("dflt") == ("value",)


@pytest.mark.parametrize("kind", DECODERS)
def test_an_accepted_point_restarts_the_refusal_count(kind: type[PointDecoder]) -> None:
    from stream_ae.connectors.point_rules import PIN_RELEASE_AFTER

    decoder = kind("dflt")
    one(decoder, '{"ts": 0, "value": 1}')
    for i in range(3 * PIN_RELEASE_AFTER):
        text = json.dumps({"ts": i + 1, "values": {"temp": 1}})
        if i % (PIN_RELEASE_AFTER - 1) == 0:
            text = json.dumps({"ts": i + 1, "value": 1})
        one(decoder, text)
    assert decoder.channels_of("dflt") == ("value",)


@pytest.mark.parametrize("kind", DECODERS)
def test_forget_drops_a_series_pin(kind: type[PointDecoder]) -> None:
    decoder = kind("dflt")
    one(decoder, '{"series": "s", "ts": 0, "values": {"temp": 1}}')
    decoder.forget("s")
    decoder.forget("never-seen")
    assert decoder.channels_of("s") is None
    assert isinstance(one(decoder, '{"series": "s", "ts": 1, "value": 1}'), Point)


def test_the_pin_map_is_bounded() -> None:
    decoder = FastPointDecoder("dflt", max_series=100)
    for i in range(10_000):
        one(decoder, json.dumps({"series": f"s{i}", "ts": 1, "value": 1}))
    assert decoder.tracked() <= 100
    assert decoder.channels_of("s9999") == ("value",)


# Dead letters: one record, one encoder, and it never raises.

NASTY = [
    Rejection(RejectReason.MALFORMED, "d", raw='{"series":"\ud800"}', source="t/0@1"),
    Rejection(RejectReason.MALFORMED, "bad \udcff detail", series="s\ud800", source="x\udc80"),
    Rejection(RejectReason.OUT_OF_ORDER, "d", series="s", ts=math.nan),
    Rejection(RejectReason.OUT_OF_ORDER, "d", series="s", ts=math.inf),
    Rejection(RejectReason.OUT_OF_ORDER, "d", series="s", ts=-math.inf),
    Rejection(RejectReason.EMPTY, "", raw="\x00\x01 nul and \U0010ffff"),
    Rejection(RejectReason.INVALID_SERIES, "d", raw="x" * 100_000),
]


@pytest.mark.parametrize("rejection", NASTY)
@pytest.mark.parametrize("key", [None, b"", b"\xff\xfe", b"\xed\xa0\x80", b"k"])
def test_a_dead_letter_always_encodes(rejection: Rejection, key: bytes | None) -> None:
    dead = DeadLetter(rejection, Position("points", 3, 17), key)
    topic, out_key, body, headers = dead_letter_message("dead", dead)
    assert topic == "dead" and out_key == key and dict(headers)["reason"]
    data = json.loads(body)
    assert data["format"] == 1 and data["reason"] == rejection.reason.value
    assert data["source"] == {"topic": "points", "partition": 3, "offset": 17}
    assert data["ts"] is None or math.isfinite(data["ts"])
    assert len(data["raw"]) <= 1000
    assert set(data) >= {"format", "reason", "detail", "source", "series", "ts", "raw"}


def test_a_dead_letter_file_takes_the_same_records(tmp_path: Path) -> None:
    path = tmp_path / "rejects.jsonl"
    with RejectWriter(path) as writer:
        for rejection in NASTY:
            writer.write(rejection)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(NASTY)
    assert all(line["format"] == 1 for line in lines)
    assert [line["reason"] for line in lines] == [r.reason.value for r in NASTY]
    assert lines[0]["source"] == "t/0@1"  # a file's source stays its "file:line" text
