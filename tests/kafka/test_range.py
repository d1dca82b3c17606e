"""Reading a time range of a topic back (the retrain job's reader), against the real broker."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from stream_ae.connectors.kafka_common import TopicMissing
from stream_ae.connectors.kafka_range import read_range
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import KafkaSettings

from .conftest import Topics


def test_a_missing_topic_is_a_sentence_not_an_attribute_error(broker: EmbeddedBroker) -> None:
    kafka = KafkaSettings(bootstrap=broker.address, connect_retry_s=10)
    topic = f"never-made-{uuid.uuid4().hex[:8]}"
    with pytest.raises(TopicMissing, match=topic):
        asyncio.run(read_range(kafka, topic, 0.0, 2e9))


def test_the_range_of_an_existing_topic_is_read(broker: EmbeddedBroker, topics: Topics) -> None:
    kafka = KafkaSettings(bootstrap=broker.address, connect_retry_s=10)
    topic = topics.points

    async def fill() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=broker.address)
        await producer.start()
        try:
            for i in range(5):
                await producer.send_and_wait(topic, b"x%d" % i, key=b"k")
        finally:
            await producer.stop()

    asyncio.run(fill())
    got = asyncio.run(read_range(kafka, topic, 0.0, 2e10))
    assert sorted(r.value for r in got) == [b"x0", b"x1", b"x2", b"x3", b"x4"]
