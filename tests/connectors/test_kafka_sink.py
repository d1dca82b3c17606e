"""The sink's retry policy and ordering, with a stand-in producer for the failures and
the real broker for the happy path."""

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import NotLeaderForPartitionError, UnsupportedVersionError
from aiokafka.partitioner import DefaultPartitioner

from stream_ae.connectors.kafka_common import ensure_topics
from stream_ae.connectors.kafka_sink import KafkaSink, KeyPartitions, Message
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import KafkaSettings

ALERTS = "alerts"


class FlakyBatch:
    """A record batch of the stand-in producer: full once it holds `room` messages."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.messages: list[tuple[bytes | None, bytes]] = []

    def append(self, *, key: bytes | None, value: bytes, **kw: Any) -> object | None:
        if len(self.messages) == self.room:
            return None
        self.messages.append((key, value))
        return object()


class FlakyProducer:
    """Fails the batches that hold a message `fail(value)` picks, each such message up to
    `times` times, with `error` (a broker fails a partition's batch whole); acknowledges
    the rest, recording (topic, key, value) in acknowledgement order."""

    def __init__(self, fail: Any, error: Exception, times: int = 1, room: int = 1000) -> None:
        self.fail = fail
        self.error = error
        self.left: dict[bytes, int] = {}
        self.times = times
        self.room = room
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.batches: list[tuple[str, int, int]] = []
        """(topic, partition, messages) of every batch sent."""

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}

    def create_batch(self) -> FlakyBatch:
        return FlakyBatch(self.room)

    async def send_batch(
        self, batch: FlakyBatch, topic: str, *, partition: int
    ) -> asyncio.Future[None]:
        self.batches.append((topic, partition, len(batch.messages)))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failing = False
        for _, value in batch.messages:
            left = self.left.setdefault(value, self.times if self.fail(value) else 0)
            if left > 0:
                self.left[value] -= 1
                failing = True
        if failing:
            future.set_exception(self.error)
        else:
            self.sent += [(topic, key, value) for key, value in batch.messages]
            future.set_result(None)
        return future


def sink_with(producer: FlakyProducer) -> KafkaSink:
    sink = KafkaSink(KafkaSettings(alert_topic=ALERTS), attempts=4)
    sink._producer = producer  # type: ignore[assignment]
    return sink


def per_key(sent: list[tuple[str, bytes | None, bytes]], topic: str) -> dict[Any, list[bytes]]:
    out: dict[Any, list[bytes]] = {}
    for t, key, value in sent:
        if t == topic:
            out.setdefault(key, []).append(value)
    return out


def test_retriable_errors_are_retried_until_acknowledged() -> None:
    producer = FlakyProducer(lambda v: True, NotLeaderForPartitionError(), times=3)
    messages: list[Message] = [("scores", b"k", f"m{i}".encode(), []) for i in range(2)]
    asyncio.run(sink_with(producer).send(messages))
    assert [v for _, _, v in producer.sent] == [b"m0", b"m1"]


def test_an_alert_retried_still_reaches_the_topic_before_the_next_of_its_series() -> None:
    # The open of series a fails once; its resolved, and series b, go through at once.
    messages: list[Message] = [
        (ALERTS, b"a", b"a-open", []),
        (ALERTS, b"b", b"b-open", []),
        (ALERTS, b"a", b"a-resolved", []),
        (ALERTS, b"b", b"b-resolved", []),
        (ALERTS, b"a", b"a-open-2", []),
    ]
    producer = FlakyProducer(lambda v: v == b"a-open", NotLeaderForPartitionError())
    asyncio.run(sink_with(producer).send(messages))
    assert per_key(producer.sent, ALERTS) == {
        b"a": [b"a-open", b"a-resolved", b"a-open-2"],
        b"b": [b"b-open", b"b-resolved"],
    }


def test_after_a_failure_a_keys_later_messages_are_sent_again_after_it() -> None:
    # Scores go out at once; when one fails, its key's later messages follow it again,
    # so the newest message of each key is the last one on the topic.
    messages: list[Message] = [("scores", b"s", f"s{i}".encode(), []) for i in range(4)]
    messages += [("scores", b"t", f"t{i}".encode(), []) for i in range(3)]
    producer = FlakyProducer(lambda v: v in (b"s1", b"t2"), NotLeaderForPartitionError())
    asyncio.run(sink_with(producer).send(messages))
    got = per_key(producer.sent, "scores")
    for key, produced in ((b"s", [b"s0", b"s1", b"s2", b"s3"]), (b"t", [b"t0", b"t1", b"t2"])):
        last_seen = sorted(
            set(got[key]), key=lambda v: max(i for i, x in enumerate(got[key]) if x == v)
        )
        assert last_seen == produced
        assert got[key][-1] == produced[-1]


def test_gives_up_after_the_attempts_so_nothing_is_committed() -> None:
    producer = FlakyProducer(lambda v: True, NotLeaderForPartitionError(), times=100)
    with pytest.raises(NotLeaderForPartitionError):
        asyncio.run(sink_with(producer).send([("alerts", None, b"m", [])]))


def test_a_non_retriable_error_is_raised_at_once() -> None:
    producer = FlakyProducer(lambda v: True, UnsupportedVersionError())
    with pytest.raises(UnsupportedVersionError):
        asyncio.run(sink_with(producer).send([("alerts", None, b"m", [])]))
    assert producer.sent == []


def test_a_partitions_messages_past_a_batchs_room_go_in_further_batches_in_order() -> None:
    producer = FlakyProducer(lambda v: False, NotLeaderForPartitionError(), room=2)
    messages: list[Message] = [("scores", b"k", f"m{i}".encode(), []) for i in range(5)]
    asyncio.run(sink_with(producer).send(messages))
    assert [v for _, _, v in producer.sent] == [m[2] for m in messages]
    partition = producer.batches[0][1]
    assert producer.batches == [
        ("scores", partition, 2),
        ("scores", partition, 2),
        ("scores", partition, 1),
    ]


def test_a_keys_partition_is_the_default_partitioners_and_is_redone_when_the_topic_grows() -> None:
    pick, reference = KeyPartitions(most=3), DefaultPartitioner()
    keys = [f"series-{i}".encode() for i in range(10)]
    for partitions in ([0, 1, 2], [0, 1, 2, 3, 4, 5, 6]):
        pick.use(partitions)
        assert [pick(k) for k in keys * 2] == [
            reference(k, partitions, partitions) for k in keys * 2
        ]
    assert pick(None) in range(7)


def test_alerts_reach_the_real_topic_in_order_per_series_where_send_puts_them(
    broker: EmbeddedBroker,
) -> None:
    topic = f"t{uuid.uuid4().hex[:10]}.alerts"
    twin = topic + ".twin"  # the same keys, sent one by one by a plain producer
    kafka = KafkaSettings(bootstrap=broker.address, alert_topic=topic, partitions=3)
    series = [f"s{i}".encode() for i in range(5)]
    pad = b"x" * 1500  # a partition's messages overflow one record batch (16 KiB)
    messages: list[Message] = [
        (topic, key, key + b"-%d-" % step + pad, []) for step in range(12) for key in series
    ]

    async def roundtrip() -> list[tuple[str, int, bytes | None, bytes]]:
        await ensure_topics(kafka, [topic, twin])
        sink = KafkaSink(kafka)
        await sink.start()
        plain = AIOKafkaProducer(bootstrap_servers=broker.address)
        await plain.start()
        try:
            await sink.send(messages)
            for key in series:
                await (await plain.send(twin, b"twin", key=key))
        finally:
            await sink.stop()
            await plain.stop()
        consumer = AIOKafkaConsumer(
            topic, twin, bootstrap_servers=broker.address, auto_offset_reset="earliest"
        )
        await consumer.start()
        got: list[tuple[str, int, bytes | None, bytes]] = []
        try:
            while len(got) < len(messages) + len(series):  # a count, not an idle timer
                batches = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 60)
                got += [
                    (m.topic, m.partition, m.key, m.value) for ms in batches.values() for m in ms
                ]
        finally:
            await consumer.stop()
        return got

    got = asyncio.run(roundtrip())
    assert len(got) == len(messages) + len(series)
    where = {key: p for t, p, key, _ in got if t == twin}
    assert len(set(where.values())) > 1  # the keys spread over partitions
    for key in series:
        assert [v for t, _, k, v in got if t == topic and k == key] == [
            key + b"-%d-" % s + pad for s in range(12)
        ]
        assert {p for t, p, k, _ in got if t == topic and k == key} == {where[key]}
