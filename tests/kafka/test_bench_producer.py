"""The speed benchmark's producer (`benchmarks/e2e_kafka.produce`) against the broker.

It sends the messages it is given and encodes none itself, so that its caller can
encode them before it reads the CPU counters (`speed.py` counts this process's CPU
over the sending as the producer's, and the encoding is slower than the sending).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pytest
from aiokafka import AIOKafkaProducer

from stream_ae.runtime.broker import EmbeddedBroker

from ..benchmark_modules import benchmark_module
from .conftest import ConsumeAll, Topics


@pytest.fixture(scope="module")
def e2e() -> Iterator[ModuleType]:
    with benchmark_module("e2e_kafka") as module:
        yield module


@pytest.mark.parametrize("rate", [None, 2_000.0])
def test_produce_sends_the_messages_it_is_given_and_encodes_none(
    e2e: ModuleType,
    broker: EmbeddedBroker,
    topics: Topics,
    consume: ConsumeAll,
    monkeypatch: pytest.MonkeyPatch,
    rate: float | None,
) -> None:
    steps, series = 12, 5
    stream = e2e.Stream(np.arange(steps * series, dtype=float).reshape(steps, series), [])
    first, last = 3, 9
    messages = stream.encoded(first, last)

    def encoded(*_: object) -> list[tuple[bytes, bytes]]:
        raise AssertionError("produce encoded messages inside the time it is measured over")

    monkeypatch.setattr(stream, "encoded", encoded)

    async def send() -> float:
        producer = AIOKafkaProducer(bootstrap_servers=broker.address, acks="all")
        await producer.start()
        try:
            started: float = await e2e.produce(
                producer, topics.points, stream, first, messages, rate
            )
            return started
        finally:
            await producer.stop()

    started = asyncio.run(send())
    got = consume(topics.points, len(messages))
    assert sorted((r.key, r.value) for r in got) == sorted(messages)
    stamped = stream.sent[first:last]
    assert not np.isnan(stamped).any() and (stamped >= started).all()
    assert np.isnan(stream.sent[:first]).all() and np.isnan(stream.sent[last:]).all()


def test_produce_refuses_messages_that_are_not_whole_steps(e2e: ModuleType) -> None:
    stream = e2e.Stream(np.zeros((4, 3)), [])
    messages = stream.encoded(1, 3)[:-1]  # a step short of a point: its send times would shift
    with pytest.raises(ValueError, match="not whole steps"):
        asyncio.run(e2e.produce(None, "points", stream, 1, messages, None))
