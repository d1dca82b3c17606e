"""The source's offsets after a restart: the rebuild read, over several batches, never
commits below what was committed, and its points are never handed out for scoring."""

import asyncio
import json
import time

from aiokafka import AIOKafkaProducer, TopicPartition

from stream_ae.connectors.kafka_source import KafkaSource
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import KafkaSettings

from .conftest import Topics

COMMITTED = 60
REBUILD = 40
BATCH = 7  # the rebuild read spans several batches, and one batch spans its end


async def _no_revoke(_: set[TopicPartition]) -> None:
    return None


def test_a_restart_rebuilds_over_several_batches_and_commits_only_forward(
    broker: EmbeddedBroker, topics: Topics
) -> None:
    kafka = KafkaSettings(
        bootstrap=broker.address,
        input_topic=topics.points,
        group_id=f"g-{topics.points}",
        partitions=topics.partitions,
        rebuild_messages=REBUILD,
        max_batch_points=BATCH,
        max_wait_ms=200,
    )
    tp = TopicPartition(topics.points, 0)

    async def scenario() -> tuple[
        list[dict[TopicPartition, int]], list[int], list[int], list[bool], int
    ]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.address)
        await producer.start()
        try:
            for i in range(100):
                body = json.dumps({"series": "s", "ts": 1_700_000_000 + i, "value": 1.0})
                await producer.send_and_wait(topics.points, body.encode(), partition=0)
        finally:
            await producer.stop()
        first = KafkaSource(kafka, on_revoke=_no_revoke)
        await first.start()
        while not first.assignment():
            await first.next_batch()
        await first.commit({tp: COMMITTED})
        await first.stop()

        source = KafkaSource(kafka, on_revoke=_no_revoke)  # the restart
        await source.start()
        offsets: list[dict[TopicPartition, int]] = []
        rebuilt: list[int] = []
        scored: list[int] = []
        stamped: list[bool] = []
        try:
            while len(scored) < 100 - COMMITTED:  # a count: every message after the commit
                asked = time.monotonic()
                batch = await asyncio.wait_for(source.next_batch(), 60)
                # Complete when it came back: its wait for the scorer starts there.
                stamped.append(asked <= batch.read_at <= time.monotonic())
                offsets.append(dict(batch.offsets))
                rebuilt += [int(p.ts) - 1_700_000_000 for p in batch.rebuild]
                scored += [o.offset for o in batch.origins]
                # A batch of the rebuild read alone has nothing to commit; this is
                # also what the service commits after each batch.
                await source.commit(batch.offsets)
            group = await source._consumer.committed(tp)
        finally:
            await source.stop()
        return offsets, rebuilt, scored, stamped, group or 0

    offsets, rebuilt, scored, stamped, committed = asyncio.run(scenario())
    assert stamped and all(stamped)
    assert rebuilt == list(range(COMMITTED - REBUILD, COMMITTED))
    assert scored == list(range(COMMITTED, 100))
    assert len([o for o in offsets if not o]) >= 2, "the rebuild should span several batches"
    assert all(o[tp] > COMMITTED for o in offsets if tp in o), offsets
    assert committed == 100
