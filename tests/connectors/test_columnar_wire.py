"""Contract: the columnar decoder, with the reference for what it leaves, gives what the
reference decoder gives alone, message by message, over the fast decoder's corpus and a
random one; and it does take the ordinary messages itself."""

from __future__ import annotations

import itertools
import json
import random

import numpy as np
import pytest

from stream_ae.connectors.columnar_wire import ColumnarDecoder
from stream_ae.connectors.fastwire import FastPointDecoder
from stream_ae.connectors.kafka_source import decode_message
from stream_ae.core.records import Point
from tests.connectors.test_fastwire import CORPUS, _comparable

KEYS = [b"pump-7", None, b"\xffkey", b"a\nb", b"", b"k" * 300, b"plant/m"]
CHANNELS = [("value",), ("temp",), ("temp", "vib"), ("vib", "temp")]


def _through_columns(
    messages: list[bytes], keys: list[bytes | None], channels: tuple[str, ...]
) -> tuple[list[list[object]], list[int]]:
    reference = FastPointDecoder("", channels)
    rows = ColumnarDecoder(reference).decode(keys, messages)
    out, row = [], 0
    ts, values = rows.ts.tolist(), [tuple(v) for v in rows.values.tolist()]
    for i, (key, value) in enumerate(zip(keys, messages, strict=True)):
        taken = rows.taken[i]
        if taken < 0:
            out.append(_comparable(decode_message(reference, key, value, f"t/0@{i}")))
            continue
        points = [Point(rows.series[j], ts[j], values[j]) for j in range(row, row + taken)]
        out.append(_comparable(points))
        row += taken
    assert row == len(rows.series) == len(ts) == len(values)
    assert rows.values.shape == (row, len(channels)) and rows.values.dtype == np.float64
    return out, rows.taken


def _alone(
    messages: list[bytes], keys: list[bytes | None], channels: tuple[str, ...]
) -> list[list[object]]:
    reference = FastPointDecoder("", channels)
    return [
        _comparable(decode_message(reference, key, value, f"t/0@{i}"))
        for i, (key, value) in enumerate(zip(keys, messages, strict=True))
    ]


def _encoded(corpus: list[str | bytes]) -> list[bytes]:
    return [m.encode("utf-8", "surrogatepass") if isinstance(m, str) else m for m in corpus]


@pytest.mark.parametrize("channels", CHANNELS)
def test_same_results_as_the_reference_over_the_corpus(channels: tuple[str, ...]) -> None:
    messages = _encoded(CORPUS)
    for shift in range(len(KEYS)):  # every message with every kind of key
        keys = list(itertools.islice(itertools.cycle(KEYS[shift:] + KEYS[:shift]), len(messages)))
        got, _ = _through_columns(messages, keys, channels)
        assert got == _alone(messages, keys, channels)


def _random_message(rng: random.Random, names: tuple[str, ...]) -> bytes:
    def point() -> dict[str, object]:
        p: dict[str, object] = {}
        if rng.random() < 0.8:
            p["series"] = rng.choice(["s1", "s2", "", "x\ty", "\u00a0nbsp", 7, None])
        p["ts"] = rng.choice(
            [
                1_732_262_400 + rng.random(),
                1_732_262_400,
                1_732_262_400_000,
                "2024-11-22T08:00:03Z",
                -1e20,
                2**60,
                True,
            ]
        )
        number = rng.choice([0.5, -3, 2**53, 2**53 + 1, 1e30, 1e31, None, "1", False, -0.0])
        shape = rng.random()
        if shape < 0.5:
            p["value"] = number
        elif shape < 0.9:
            chosen = list(names) if rng.random() < 0.8 else [*names, "extra"][-len(names) :]
            if rng.random() < 0.3:
                chosen.reverse()
            p["values"] = {name: rng.choice([number, 1.25]) for name in chosen}
        else:
            p["value"], p["values"] = number, {names[0]: 1.0}
        return p

    if rng.random() < 0.2:
        return json.dumps([point() for _ in range(rng.randint(0, 4))]).encode()
    return json.dumps(point()).encode()


@pytest.mark.parametrize(("channels", "seed"), list(itertools.product(CHANNELS, range(3))))
def test_same_results_as_the_reference_over_random_messages(
    channels: tuple[str, ...], seed: int
) -> None:
    rng = random.Random(seed)
    messages = [_random_message(rng, channels) for _ in range(3000)]
    keys = [rng.choice(KEYS) for _ in messages]
    got, taken = _through_columns(messages, keys, channels)
    assert got == _alone(messages, keys, channels)
    assert 0 < sum(t >= 0 for t in taken) < len(messages)  # both paths were exercised


def _one_point(rng: random.Random, odd: bool) -> bytes:
    # Ordinary points at the edges of what is ordinary; `odd` adds one thing that is not.
    p: dict[str, object] = {
        "ts": rng.choice(
            [1_732_262_400.125, 1_732_262_400, 1e11 - 1, 1e11, 99_999_999_999, 1.5e14, -6e10]
        ),
        "value": rng.choice([0.731, -3, 0, -0.0, 2**53, -(2**53), 1e30, -1e30, 5e-324]),
    }
    if rng.random() < 0.7:
        p["series"] = rng.choice(["s1", "pump-7", "\u00e9t\u00e9", "x" * 256])
    if rng.random() < 0.2:
        p["unit"] = "C"
    if odd:
        key, bad = rng.choice(
            [
                ("value", 2**53 + 1),
                ("value", 10**400),
                ("value", 1.0000001e30),
                ("value", None),
                ("value", "1"),
                ("ts", "2024-11-22T08:00:03Z"),
                ("ts", -7e10),
                ("ts", 2.6e14),
                ("ts", 10**400),
                ("series", ""),
                ("series", "a\nb"),
                ("series", "x" * 257),
                ("values", {"value": 1.0}),
            ]
        )
        p[key] = bad
    return json.dumps(p).encode()


@pytest.mark.parametrize("seed", range(4))
def test_fetches_of_one_point_messages_are_checked_a_column_at_a_time_alike(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each fetch is wholly ordinary or holds one odd message; either way, the reference's
    # answer for every message.
    rng = random.Random(seed)
    calls: list[int] = []
    one_by_one = ColumnarDecoder._one_by_one

    def counted(self: ColumnarDecoder, *args: object, **kw: object) -> object:
        calls.append(1)
        return one_by_one(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ColumnarDecoder, "_one_by_one", counted)
    fetches = 0
    for _ in range(300):
        size = rng.randint(1, 12)
        odd = rng.randrange(size) if rng.random() < 0.5 else -1
        messages = [_one_point(rng, i == odd) for i in range(size)]
        keys = [rng.choice([b"pump-7", None, b"k" * 10]) for _ in messages]
        got, _ = _through_columns(messages, keys, ("value",))
        assert got == _alone(messages, keys, ("value",))
        fetches += 1
    assert 0 < len(calls) < fetches  # both ways were taken


_POINT = b'{"series": "s", "ts": 1732262400, "value": 1'
HOSTILE = [
    # Fields the point format ignores are still read by the reference: what it refuses
    # there, the columnar path must leave to it rather than skip.
    _POINT + b', "x": ' + b"[" * 1000 + b"]" * 1000 + b"}",  # deep, but the reference reads it
    _POINT + b', "x": ' + b"[" * 1100 + b"]" * 1100 + b"}",  # too deep for the reference
    _POINT + b', "x": ' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}",
    _POINT + b', "\xff": 1}',  # invalid UTF-8 in a key
    _POINT + b', "x": "\xc0\x80"}',
    _POINT + b', "x": "\xf4\x90\x80\x80"}',
    _POINT + b', "x": ' + b"9" * 4301 + b"}",  # past Python's digits for an int
    _POINT + b', "x": [1, {"y": ' + b"9" * 5000 + b"}]}",
    b'{"series": "s", "ts": ' + b"9" * 310 + b', "value": 1}',  # a time no float holds
    b'{"series": "s", "ts": -' + b"9" * 400 + b', "value": 1}',
]


@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_hostile_fields_get_the_references_answer_and_never_raise(index: int) -> None:
    messages = [HOSTILE[index], _POINT + b"}"]
    got, taken = _through_columns(messages, [b"k", b"k"], ("value",))
    assert got == _alone(messages, [b"k", b"k"], ("value",))
    assert taken[1] == 1  # the ordinary message beside it still goes the columnar way


def test_decoding_stops_once_a_batch_has_its_rows() -> None:
    # Messages of many points: what a batch cannot hold is not parsed (the source hands
    # it to the next batch), so a fetch of large messages is not decoded many times over.
    ten = b"[" + b",".join([b'{"series": "s", "ts": %d, "value": 1}' % t for t in range(10)]) + b"]"
    rows = ColumnarDecoder(FastPointDecoder("", ("value",))).decode([None] * 4, [ten] * 4, 15)
    assert rows.taken == [10, 10, -1, -1] and len(rows.series) == 20


def test_ordinary_messages_are_taken_by_the_columnar_path() -> None:
    messages = [
        b'{"series": "pump-7", "ts": 1732262400.25, "value": 0.731}',
        b'{"ts": 1732262402500, "value": -3}',  # keyed series, epoch milliseconds
        b'[{"series": "a", "ts": 1, "value": 1}, {"series": "b", "ts": 1, "value": 2}]',
        b'{"series": "m", "ts": 1, "values": {"temp": 21.5}, "unit": "C"}',  # named channel
    ]
    rows = ColumnarDecoder(FastPointDecoder("", ("temp",))).decode([b"k"] * 4, messages)
    assert rows.taken == [1, 1, 2, 1]
    assert rows.series == ["pump-7", "k", "a", "b", "m"]
    assert rows.ts.tolist() == [1732262400.25, 1732262402.5, 1.0, 1.0, 1.0]
    assert rows.values.tolist() == [[0.731], [-3.0], [1.0], [2.0], [21.5]]


def test_needs_the_channels_up_front() -> None:
    with pytest.raises(ValueError, match="channels known up front"):
        ColumnarDecoder(FastPointDecoder(""))


@pytest.mark.parametrize("remember", [0, -1, True, 2.5])
def test_remembers_a_positive_number_of_series_ids(remember: object) -> None:
    with pytest.raises(ValueError, match=r"window\.max_series"):
        ColumnarDecoder(FastPointDecoder("", ("value",)), remember=remember)  # type: ignore[arg-type]


def test_a_key_for_every_message_or_nothing_is_decoded() -> None:
    # Keyed points take their series from the key beside them: a missing key would
    # shift every series after it.
    message = b'{"ts": 1732262400, "value": 0.5}'
    with pytest.raises(ValueError, match="1 keys for 2 values"):
        ColumnarDecoder(FastPointDecoder("", ("value",))).decode([b"k"], [message, message])
