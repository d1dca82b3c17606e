"""Kafka tests run against a real Kafka-protocol broker: the embedded Tansu binary.

Nothing here skips: without the binary the fixture errors and says how to install it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from stream_ae.connectors.kafka_common import ensure_topics
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import KafkaSettings

PARTITIONS = 4


@dataclass(frozen=True)
class Topics:
    """Topic names unique to one test, created on the session broker."""

    points: str
    alerts: str
    dead_letters: str
    partitions: int = PARTITIONS

    def all(self) -> dict[str, int]:
        return dict.fromkeys((self.points, self.alerts, self.dead_letters), self.partitions)


@pytest.fixture
def topics(broker: EmbeddedBroker) -> Topics:
    suffix = uuid.uuid4().hex[:12]
    made = Topics(f"points-{suffix}", f"alerts-{suffix}", f"dead-{suffix}")
    kafka = KafkaSettings(bootstrap=broker.address, partitions=PARTITIONS)
    asyncio.run(ensure_topics(kafka, list(made.all())))
    return made


ConsumeAll = Callable[[str, int], list[ConsumerRecord[bytes, bytes]]]


@pytest.fixture
def consume(broker: EmbeddedBroker) -> ConsumeAll:
    """`consume(topic, n)`: the first n messages of a topic, then checks nothing follows.

    The time limit only ends a hung test; it asserts no speed.
    """

    async def read(topic: str, count: int) -> list[ConsumerRecord[bytes, bytes]]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=broker.address, group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        got: list[ConsumerRecord[bytes, bytes]] = []
        try:
            deadline = time.monotonic() + 60
            while len(got) < count and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got += records
            for records in (await consumer.getmany(timeout_ms=500)).values():
                got += records  # anything beyond `count` is a duplicate or a stray
        finally:
            await consumer.stop()
        assert len(got) == count, f"expected {count} messages on {topic}, got {len(got)}"
        return got

    return lambda topic, count: asyncio.run(read(topic, count))
