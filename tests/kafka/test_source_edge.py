"""Poison input through the real broker: read by KafkaSource, dead-lettered by KafkaSink.

Each bad message must come out as a dead letter with its own reason, encoding a dead
letter must never raise, and the good points around them must still come through.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from stream_ae.connectors.columnar_wire import DecodedRows
from stream_ae.connectors.kafka_sink import KafkaSink, Message, dead_letter_message
from stream_ae.connectors.kafka_source import DeadLetter, KafkaSource, SourceBatch
from stream_ae.connectors.point_rules import MAX_POINTS_PER_MESSAGE
from stream_ae.core.records import Point
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import KafkaSettings

from .conftest import PARTITIONS, ConsumeAll, Topics

T0 = 1_700_000_000

POISON: list[tuple[bytes | None, bytes, str]] = [
    # (key, value, the reason of its one dead letter)
    (b"p", b'{"series":"\\ud800","ts":1700000000,"value":1}', "invalid_series"),
    (b"p", json.dumps({"series": "x" * 300, "ts": T0, "value": 1}).encode(), "invalid_series"),
    (b"p", json.dumps({"series": "a\nb", "ts": T0, "value": 1}).encode(), "invalid_series"),
    (b"\xff\xfe", json.dumps({"ts": T0, "value": 1}).encode(), "invalid_series"),
    (b"p", json.dumps({"series": "p", "ts": T0 + 1, "value": 1e39}).encode(), "out_of_range"),
    (b"p", json.dumps({"series": "p", "ts": T0 + 2, "value": 1e300}).encode(), "out_of_range"),
    (b"p", b"[]", "empty"),
    # A mislabelled first point of series m must not cost it the correct ones after it.
    (b"m", json.dumps({"series": "m", "ts": T0, "values": {"temp": 1}}).encode(), "wrong_channels"),
]
GOOD: list[tuple[bytes | None, bytes]] = [
    (b"m", json.dumps({"series": "m", "ts": T0 + 60 * i, "value": i}).encode()) for i in range(1, 4)
] + [(b"p", json.dumps({"series": "p", "ts": T0 + 60 * i, "value": i}).encode()) for i in range(3)]


def source_settings(broker: EmbeddedBroker, topics: Topics, **overrides: Any) -> KafkaSettings:
    options = {"session_timeout_ms": 6000, "max_wait_ms": 200, **overrides}
    return KafkaSettings(
        bootstrap=broker.address,
        input_topic=topics.points,
        dead_letter_topic=topics.dead_letters,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        partitions=PARTITIONS,
        **options,
    )


async def send(kafka: KafkaSettings, messages: list[Message]) -> None:
    sink = KafkaSink(kafka)
    await sink.start()
    try:
        await sink.send(messages)
    finally:
        await sink.stop()


def to_points(topics: Topics, messages: list[tuple[bytes | None, bytes]]) -> list[Message]:
    return [(topics.points, key, value, []) for key, value in messages]


async def nothing(_: object) -> None:
    return None


async def read_batches(
    kafka: KafkaSettings,
    messages: int,
    decode_budget_s: float | None = None,
    prepare: Callable[[KafkaSource], None] | None = None,
) -> list[SourceBatch]:
    """Batches from the input topic until `messages` messages were read."""
    source = KafkaSource(kafka, on_revoke=nothing, channels=("value",))
    if decode_budget_s is not None:
        source.decode_budget_s = decode_budget_s
    if prepare is not None:
        prepare(source)
    await source.start()
    batches: list[SourceBatch] = []
    try:
        deadline = time.monotonic() + 90  # only ends a hung test
        while sum(b.messages for b in batches) < messages and time.monotonic() < deadline:
            # Far longer than any batch takes: a source that holds one fails here.
            batches.append(await asyncio.wait_for(source.next_batch(), timeout=60))
    finally:
        await source.stop()
    return batches


def read_all(kafka: KafkaSettings, messages: int) -> tuple[list[Point], list[DeadLetter]]:
    batches = asyncio.run(read_batches(kafka, messages))
    return [p for b in batches for p in b.points], [d for b in batches for d in b.dead]


def test_poison_messages_become_dead_letters_and_good_points_pass(
    broker: EmbeddedBroker, topics: Topics, consume: ConsumeAll
) -> None:
    kafka = source_settings(broker, topics)
    sent = [(k, v) for k, v, _ in POISON] + GOOD
    asyncio.run(send(kafka, to_points(topics, sent)))
    points, dead = read_all(kafka, len(sent))

    assert sorted((p.series, p.ts) for p in points) == sorted(
        (json.loads(v)["series"], float(json.loads(v)["ts"])) for _, v in GOOD
    )
    assert sorted(d.rejection.reason.value for d in dead) == sorted(r for *_, r in POISON)
    wrong = next(d for d in dead if d.rejection.reason.value == "wrong_channels")
    assert "window.channels" in wrong.rejection.detail
    assert json.loads(wrong.rejection.raw) == {"series": "m", "ts": T0, "values": {"temp": 1}}

    asyncio.run(send(kafka, [dead_letter_message(topics.dead_letters, d) for d in dead]))
    letters = consume(topics.dead_letters, len(POISON))
    bodies = [json.loads(m.value) for m in letters]
    assert sorted(b["reason"] for b in bodies) == sorted(r for *_, r in POISON)
    assert all(b["format"] == 1 and b["source"]["topic"] == topics.points for b in bodies)
    assert all(
        dict(m.headers)["reason"].decode() == b["reason"]
        for m, b in zip(letters, bodies, strict=True)
    )
    surrogate = next(b for b in bodies if "ud800" in b["raw"])
    assert surrogate["series"] is None and surrogate["reason"] == "invalid_series"
    assert {m.key for m in letters} == {k for k, *_ in POISON}


def test_a_batch_stays_bounded_when_messages_fan_out_into_dead_letters(
    broker: EmbeddedBroker, topics: Topics
) -> None:
    # Each message is an array of 1000 items that are not points: 1000 dead letters. A
    # batch counts them, so one fetch of many such messages is decoded over several
    # batches instead of blocking the event loop for all of them at once.
    kafka = source_settings(broker, topics, max_batch_points=1500)
    fanout, count = 1000, 20
    sent = [b"[" + b",".join([b"{}"] * fanout) + b"]"] * count
    sent.append(b"[" + b",".join([b"{}"] * (MAX_POINTS_PER_MESSAGE + 1)) + b"]")

    asyncio.run(send(kafka, to_points(topics, [(b"p", value) for value in sent])))
    batches = asyncio.run(read_batches(kafka, len(sent)))
    dead = [d for b in batches for d in b.dead]
    assert len(dead) == count * fanout + 1
    assert all(len(b) == len(b.points) + len(b.rebuild) + len(b.dead) for b in batches)
    assert max(len(b) for b in batches) <= kafka.max_batch_points + fanout
    whole = dead[-1].rejection
    assert whole.reason.value == "malformed" and f"{MAX_POINTS_PER_MESSAGE:,}" in whole.detail


def test_decoding_stops_when_a_batch_has_used_its_time_and_resumes_in_the_next(
    broker: EmbeddedBroker, topics: Topics
) -> None:
    # Messages costly to decode (a wide object pydantic must check field by field) count
    # as one dead letter each, so only a time budget keeps a fetch of them from holding
    # the event loop. With a budget of zero each batch decodes one message, in order.
    kafka = source_settings(broker, topics)
    wide = {"series": "p", "ts": T0, "values": {f"c{i}": "x" for i in range(100)}}
    sent = [json.dumps({**wide, "ts": T0 + i}).encode() for i in range(12)]

    asyncio.run(send(kafka, to_points(topics, [(b"p", value) for value in sent])))
    batches = [b for b in asyncio.run(read_batches(kafka, len(sent), 0.0)) if b.messages]
    assert [b.messages for b in batches] == [1] * len(sent)
    assert [d.position.offset for b in batches for d in b.dead if d.position] == list(range(12))


def test_a_batch_goes_once_what_arrived_is_decoded_not_after_max_wait(
    broker: EmbeddedBroker, topics: Topics
) -> None:
    # max_wait_ms bounds the wait for a batch's first message only: once it holds
    # messages and no more have arrived, waiting longer only adds latency (under load,
    # messages pile up while the batch before is scored, and batches grow by themselves).
    # The old source held each batch for all of max_wait_ms, here ten minutes: far past
    # read_batches' minute for a batch.
    kafka = source_settings(broker, topics, max_wait_ms=600_000)
    asyncio.run(send(kafka, to_points(topics, GOOD)))
    batches = asyncio.run(read_batches(kafka, len(GOOD)))
    assert sorted(p.ts for b in batches for p in b.points) == sorted(
        float(json.loads(v)["ts"]) for _, v in GOOD
    )


def _large(messages: int, points: int) -> list[bytes]:
    return [
        json.dumps(
            [{"series": f"s{m}", "ts": T0 + 60 * i, "value": i} for i in range(points)]
        ).encode()
        for m in range(messages)
    ]


def test_large_messages_are_parsed_once_not_again_for_every_batch(
    broker: EmbeddedBroker, topics: Topics
) -> None:
    # Three 500-point messages fill a batch of 1500: the rest of a fetch waits for the
    # next batches unparsed, rather than being parsed by every batch and put back.
    kafka = source_settings(broker, topics, max_batch_points=1500)
    sent = _large(40, 500)
    asyncio.run(send(kafka, to_points(topics, [(b"p", value) for value in sent])))
    parsed: list[int] = []

    def count_rows(source: KafkaSource) -> None:
        assert source.columnar is not None
        decode = source.columnar.decode

        def counted(*args: Any) -> DecodedRows:
            rows = decode(*args)
            parsed.append(len(rows.series))
            return rows

        source.columnar.decode = counted  # type: ignore[method-assign]

    batches = asyncio.run(read_batches(kafka, len(sent), prepare=count_rows))
    assert sum(len(b.points) for b in batches) == 40 * 500
    assert sum(parsed) <= 40 * 500 + kafka.max_batch_points, parsed


def test_a_failing_columnar_decoder_leaves_every_message_to_the_reference(
    broker: EmbeddedBroker, topics: Topics
) -> None:
    kafka = source_settings(broker, topics)
    sent = _large(5, 20)
    asyncio.run(send(kafka, to_points(topics, [(b"p", value) for value in sent])))

    def broken(source: KafkaSource) -> None:
        def fails(*args: Any) -> DecodedRows:
            raise RuntimeError("a decoder bug")

        source.columnar.decode = fails  # type: ignore[method-assign,union-attr]

    batches = asyncio.run(read_batches(kafka, len(sent), prepare=broken))
    got = sorted((p.series, p.ts) for b in batches for p in b.points)
    assert got == sorted((f"s{m}", float(T0 + 60 * i)) for m in range(5) for i in range(20))
