"""Contract: FastPointDecoder gives what PointDecoder gives, over one corpus of input.

Points must be identical; a rejection must have the same reason, series, time, source
and raw text (only the wording of the detail may differ). The decoders are stateful
(a series' first point fixes its channels), so each runs over the corpus in order.
"""

from __future__ import annotations

import json
import random

import pytest

from stream_ae.connectors.fastwire import FastPointDecoder
from stream_ae.connectors.wire import PointDecoder
from stream_ae.core.records import Point, Rejection, RejectReason

GOOD = [
    '{"series": "pump-7", "ts": 1732262400.25, "value": 0.731}',
    '{"series": "pump-7", "ts": 1732262401, "value": -3}',
    '{"series": "pump-7", "ts": 1732262402500, "value": 1e-3}',  # epoch milliseconds
    '{"series": "pump-7", "ts": "2024-11-22T08:00:03Z", "value": 0.5}',
    '{"series": "pump-7", "ts": "2024-11-22T09:00:04+01:00", "value": 0.5}',
    '{"series": "pump-7", "ts": "2024-11-22 08:00:05", "value": 0.5}',
    '{"series": "pump-7", "ts": "2024-11-22t08:00:06z", "value": 0.5}',
    '{"series": "pump-7", "ts": "1732262407", "value": 0.5}',
    '{"ts": 1732262400, "value": 2.5}',  # default series
    '{"series": null, "ts": 1732262401, "value": 2.5}',
    '{"series": "pump-7", "ts": 1732262408, "value": 1, "unit": "bar", "tags": [1, {}]}',
    '{"series": "plant/m", "ts": 1, "values": {"temp": 21.3, "vib": 0.7}}',
    '{"series": "plant/m", "ts": 2, "values": {"vib": 0.8, "temp": 21.4}}',  # other order
    '{"series": "plant/m", "ts": 3, "values": {"temp": 21.5, "vib": 1}}',
    '[{"series": "a", "ts": 1, "value": 1}, {"series": "b", "ts": 1, "value": 2}]',
    '  {"series": "pump-7", "ts": 1732262409, "value": 0.25}\n',
    '{"series": "pump-7", "ts": 1732262410, "value": 9007199254740993}',  # > 2**53
    '{"series": "pump-7", "ts": 1732262411, "value": 100000000000000000000000000000}',
    '{"series": "pump-7", "ts": 1732262412, "value": -0.0}',
    '{"series": "dup", "ts": 1, "values": {"b": 1, "a": 2, "b": 3}}',  # duplicate key
    '{"series": "ü-sensor", "ts": 1, "value": 1}',
    '{"series": "esc\\u00e9\\ud83d\\ude00", "ts": 1, "value": 1}',
    '{"series": "pump-7", "ts": 1732262414, "value": 1e30}',  # the largest magnitude taken
    '{"series": "big", "ts": 1, "values": {"a": 6e29, "b": -6e29}}',  # |sum| over the bound
    json.dumps({"series": "s" * 256, "ts": 1, "value": 1}),  # the longest id taken
    '{"series": "nbsp\u00a0and\u200djoiner", "ts": 1, "value": 1}',
]

BAD = [
    "",
    "   ",
    "not json",
    '{"series": "pump-7", "ts": 1, "value": 0.5',  # truncated
    '{"series": "pump-7", "ts": 1, "value": 0.5}}',
    '{"series": "pump-7", "ts": 1, "value": 0.5,}',
    "null",
    "true",
    "5",
    '"a string"',
    "[[1, 2], 3, null]",
    '[{"series": "a", "ts": 1, "value": 1}, "x", {"ts": "soon", "value": 1}]',
    '{"series": "pump-7", "value": 0.5}',  # no ts
    '{"series": "pump-7", "ts": 1}',  # neither value nor values
    '{"series": "pump-7", "ts": 1, "value": 1, "values": {"a": 1}}',  # both
    '{"series": "pump-7", "ts": 1, "value": null, "values": null}',
    '{"series": "pump-7", "ts": 1, "values": null}',
    '{"series": "pump-7", "ts": 1, "values": {}}',
    '{"series": "pump-7", "ts": 1, "values": [1, 2]}',
    '{"series": "pump-7", "ts": 1, "value": [1]}',
    '{"series": "pump-7", "ts": 1, "value": {"a": 1}}',
    '{"series": 7, "ts": 1, "value": 1}',
    '{"series": "", "ts": 1, "value": 1}',
    '{"series": ["a"], "ts": 1, "value": 1}',
    '{"series": "pump-7", "ts": null, "value": 1}',
    '{"series": "pump-7", "ts": true, "value": 1}',
    '{"series": "pump-7", "ts": [1], "value": 1}',
    '{"series": "pump-7", "ts": "yesterday", "value": 1}',
    '{"series": "pump-7", "ts": "", "value": 1}',
    '{"series": "pump-7", "ts": 1e30, "value": 1}',
    '{"series": "pump-7", "ts": -1e20, "value": 1}',
    '{"series": "pump-7", "ts": 999999999999999999999999999999, "value": 1}',
    '{"series": "pump-7", "ts": 1, "value": true}',
    '{"series": "pump-7", "ts": 1, "value": false}',
    '{"series": "m", "ts": 1, "values": {"a": true}}',
    '{"series": "pump-7", "ts": 1, "value": null}',
    '{"series": "pump-7", "ts": 1, "value": NaN}',
    '{"series": "pump-7", "ts": 1, "value": Infinity}',
    '{"series": "pump-7", "ts": 1, "value": -Infinity}',
    '{"series": "pump-7", "ts": 1, "value": 1e400}',
    '{"series": "pump-7", "ts": 1, "value": "NaN"}',  # NaN as a string
    '{"series": "pump-7", "ts": 1, "value": "inf"}',
    '{"series": "pump-7", "ts": 1, "value": "0.5"}',  # pydantic reads number strings
    '{"series": "pump-7", "ts": 1, "value": " 7 "}',
    '{"series": "pump-7", "ts": 1, "value": "1_000"}',
    '{"series": "pump-7", "ts": 1, "value": "abc"}',
    '{"series": "pump-7", "ts": 1, "value": ""}',
    '{"series": "pump-7", "ts": 1, "value": ' + "9" * 400 + "}",
    '{"series": "m2", "ts": 1, "values": {"a": "2", "b": 3}}',
    '{"series": "plant/m", "ts": 4, "values": {"temp": 1}}',  # channel missing
    '{"series": "plant/m", "ts": 5, "values": {"temp": 1, "vib": 2, "rpm": 3}}',
    '{"series": "plant/m", "ts": 6, "values": {"temp": null, "vib": 2}}',
    '{"series": "plant/m", "ts": 7, "values": {"temp": NaN, "vib": 2}}',
    '{"series": "plant/m", "ts": 8, "value": 1}',  # single value on a multichannel series
    '{"series": "pump-7", "ts": 9, "values": {"temp": 1, "vib": 2}}',  # and the reverse
    '{"series": "nested", "ts": {"a": {"b": [1, {"c": null}]}}, "value": {"x": [[[]]]}}',
    '{"series": "pump-7", "ts": 1, "value": 0.5, "series": 3}',  # duplicate, last wins
    '\ufeff{"series": "pump-7", "ts": 1, "value": 0.5}',
    '{"series": "lone \\ud800 surrogate", "ts": 1, "value": 1}',
    '{"series":"\\ud800","ts":1700000000,"value":1}',
    '{"series":"\\udfff","ts":"yesterday","value":true}',  # a bad id is named first
    json.dumps({"series": "s" * 257, "ts": 1, "value": 1}),
    json.dumps({"series": "s" * 257, "ts": [1], "value": 1}),
    '{"series": "line\\nbreak", "ts": 1, "value": 1}',
    '{"series": "nul\\u0000", "ts": 1, "value": 1}',
    '{"series": "c1\\u0085", "ts": 1, "value": 1}',
    '{"series": "pump-7", "ts": 1, "value": 1e39}',
    '{"series": "pump-7", "ts": 1, "value": -1e300}',
    '{"series": "pump-7", "ts": 1, "value": 1.7976931348623157e308}',
    '{"series": "pump-7", "ts": 1, "value": 100000000000000000000000000000000}',
    '{"series": "big", "ts": 1, "values": {"a": 1.7e308, "b": 1.7e308}}',  # sum overflows
    '{"series": "plant/m", "ts": 9, "values": {"temp": 1e31, "vib": NaN}}',  # NaN wins
    "[]",
    " [ ] ",
    '[{"series": "a", "ts": 1, "value": 1e39}, {"series": "a\\u0001", "ts": 1, "value": 1}]',
    "[" * 50 + "]" * 50,
    "[" + ",".join(["{}"] * 10_001) + "]",  # more items than a message may hold
    "[" + ",".join(['{"series": "a", "ts": 1, "value": 1}'] * 10_001) + "]",
]

BYTES = [
    b'{"series": "pump-7", "ts": 1732262414, "value": 0.5}',
    b'{"series": "caf\xc3\xa9", "ts": 1, "value": 0.5}',
    b'{"series": "caf\xe9", "ts": 1, "value": 0.5}',  # latin-1: not UTF-8
    b"\xff\xfe\x00\x01garbage",
    b'\xef\xbb\xbf{"series": "bom", "ts": 1, "value": 0.5}',  # UTF-8 byte-order mark
    '{"series": "utf16", "ts": 1, "value": 0.5}'.encode("utf-16"),
    b"",
    b"\x00",
    b'[{"series": "a", "ts": 2, "value": 1}, {"series": "a", "ts": 3, "values": {"x": 1}}]',
    b'{"series": "bad\\ud800", "ts": 1, "value": 1}',
    b"[]",
]

CORPUS: list[str | bytes] = [*GOOD, *BAD, *BYTES]


def _both(
    corpus: list[str | bytes],
    channels: tuple[str, ...] | None = None,
    default: str | Rejection | None = None,
) -> tuple[list[list[object]], list[list[object]]]:
    reference, fast = PointDecoder("dflt", channels), FastPointDecoder("dflt", channels)
    want = [_comparable(reference.decode(m, f"t/0@{i}", default)) for i, m in enumerate(corpus)]
    got = [_comparable(fast.decode(m, f"t/0@{i}", default)) for i, m in enumerate(corpus)]
    return want, got


def _comparable(items: list[Point | Rejection]) -> list[object]:
    out: list[object] = []
    for item in items:
        if isinstance(item, Point):
            # Identical means the same floats, not merely equal numbers (1 == 1.0).
            out.append((item, type(item.ts), tuple(type(v) for v in item.values)))
        else:
            out.append((item.reason, item.series, item.ts, item.source, item.raw))
    return out


@pytest.mark.parametrize("index", range(len(CORPUS)))
def test_same_result_for_each_message(index: int) -> None:
    # Everything before it too, so the channel state is the same as in a stream.
    want, got = _both(CORPUS[: index + 1])
    assert got[-1] == want[-1], CORPUS[index]


@pytest.mark.parametrize("channels", [("value",), ("temp", "vib"), ("vib",)])
def test_same_results_with_channels_known_up_front(channels: tuple[str, ...]) -> None:
    want, got = _both(CORPUS, channels)
    assert got == want


def test_same_results_when_unnamed_points_are_refused() -> None:
    # How a Kafka message without a usable key is read: points naming no series refused.
    no_key = Rejection(RejectReason.INVALID_SERIES, "the key cannot name a series")
    want, got = _both(CORPUS, None, no_key)
    assert got == want


def test_corpus_has_points_and_every_reason() -> None:
    reference = PointDecoder("dflt")
    items = [item for m in CORPUS for item in reference.decode(m, "x")]
    reasons = {item.reason for item in items if isinstance(item, Rejection)}
    assert any(isinstance(item, Point) for item in items)
    assert {
        RejectReason.MALFORMED,
        RejectReason.NON_FINITE,
        RejectReason.WRONG_CHANNELS,
        RejectReason.INVALID_SERIES,
        RejectReason.OUT_OF_RANGE,
        RejectReason.EMPTY,
    } <= reasons


@pytest.mark.parametrize("kind", [PointDecoder, FastPointDecoder])
def test_every_message_yields_a_point_or_a_refusal(kind: type[PointDecoder]) -> None:
    decoder = kind("dflt")
    assert all(decoder.decode(message, "x") for message in CORPUS)


def test_same_results_over_random_corruptions() -> None:
    # Seeded byte edits of good messages reach paths a hand-written corpus forgets.
    rng = random.Random(20241122)
    seeds = [m.encode() for m in GOOD if isinstance(m, str)]
    alphabet = b'{}[]":,.-+eE0123456789 tnruflsaNI\\\x00\xff'
    corpus: list[str | bytes] = []
    for _ in range(3000):
        message = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(message) + 1)
            action = rng.random()
            if action < 0.4 and message:
                del message[at : at + rng.randint(1, 3)]
            elif action < 0.7:
                message[at:at] = bytes([rng.choice(alphabet)])
            elif message:
                message[min(at, len(message) - 1)] = rng.choice(alphabet)
        corpus.append(bytes(message))
    want, got = _both(corpus)
    assert all(want) and all(got)  # every message accounted for
    mismatches = [
        (corpus[i], w, g) for i, (w, g) in enumerate(zip(want, got, strict=True)) if w != g
    ]
    assert not mismatches, mismatches[:3]


def test_channels_agree() -> None:
    reference, fast = PointDecoder("dflt"), FastPointDecoder("dflt")
    for i, message in enumerate(CORPUS):
        reference.decode(message, str(i))
        fast.decode(message, str(i))
    for series in ("pump-7", "plant/m", "dup", "dflt", "a", "m2", "nowhere"):
        assert fast.channels_of(series) == reference.channels_of(series)


def test_deep_nesting_is_a_rejection_not_a_crash() -> None:
    # The stdlib parser raises RecursionError here; neither decoder may pass it on.
    for depth in (1000, 1023, 1030, 100_000):
        text = "[" * depth + "]" * depth
        (item,) = FastPointDecoder("dflt").decode(text, "t/0@1")
        assert isinstance(item, Rejection) and item.reason is RejectReason.MALFORMED


def test_rejection_raw_is_the_item_of_an_array() -> None:
    message = '[{"series": "a", "ts": 1, "value": 1}, {"series": "a", "ts": 2, "value": true}]'
    point, rejection = FastPointDecoder("dflt").decode(message, "t/0@1")
    assert isinstance(point, Point) and isinstance(rejection, Rejection)
    assert json.loads(rejection.raw) == {"series": "a", "ts": 2, "value": True}
