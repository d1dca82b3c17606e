"""The sink's retry policy, with a stand-in producer (the happy path runs against the
real broker in tests/service)."""

import asyncio
from typing import Any

import pytest
from aiokafka.errors import NotLeaderForPartitionError, UnsupportedVersionError

from stream_ae.connectors.kafka_sink import KafkaSink
from stream_ae.settings import KafkaSettings


class FlakyProducer:
    """Fails the first `failures` sends with `error`, then acknowledges."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.sent: list[bytes] = []

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.failures > 0:
            self.failures -= 1
            future.set_exception(self.error)
        else:
            self.sent.append(value)
            future.set_result(None)
        return future


def sink_with(producer: FlakyProducer) -> KafkaSink:
    sink = KafkaSink(KafkaSettings(), attempts=4)
    sink._producer = producer  # type: ignore[assignment]
    return sink


def test_retriable_errors_are_retried_until_acknowledged() -> None:
    producer = FlakyProducer(failures=3, error=NotLeaderForPartitionError())
    messages = [("alerts", b"k", f"m{i}".encode(), []) for i in range(2)]
    asyncio.run(sink_with(producer).send(messages))
    assert sorted(producer.sent) == [b"m0", b"m1"]


def test_gives_up_after_the_attempts_so_nothing_is_committed() -> None:
    producer = FlakyProducer(failures=100, error=NotLeaderForPartitionError())
    with pytest.raises(NotLeaderForPartitionError):
        asyncio.run(sink_with(producer).send([("alerts", None, b"m", [])]))


def test_a_non_retriable_error_is_raised_at_once() -> None:
    producer = FlakyProducer(failures=1, error=UnsupportedVersionError())
    with pytest.raises(UnsupportedVersionError):
        asyncio.run(sink_with(producer).send([("alerts", None, b"m", [])]))
    assert producer.sent == []
