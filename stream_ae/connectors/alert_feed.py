"""The alert topic read back, for people at a terminal (`stream-ae alerts`).

No consumer group and no commits: every partition is assigned directly and read from
its beginning, so watching alerts never moves anybody's offsets. Without `follow` the
read ends at the high watermarks seen when it began; with it, a topic no detector has
made yet is waited for, as `tail -F` waits for a file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_ae.connectors.kafka_common import TopicMissing, topic_reader
from stream_ae.settings import KafkaSettings

log = logging.getLogger(__name__)
TOPIC_POLL_S = 1.0
"""How often a follower looks again for an alert topic that does not exist yet."""


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One message of the alert topic, as it came."""

    value: bytes
    partition: int
    offset: int


async def alert_messages(
    kafka: KafkaSettings, topic: str, *, follow: bool = False
) -> AsyncIterator[AlertMessage]:
    """Every message of `topic` from the beginning, partition by partition in offset
    order; with `follow`, then every new one as it arrives, until cancelled."""
    consumer, tps = await _reader(kafka, topic, follow)
    try:
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while True:
            if not follow:
                positions = [await consumer.position(tp) for tp in tps]
                if all(at >= ends[tp] for tp, at in zip(tps, positions, strict=True)):
                    return
            batch = await consumer.getmany(*tps, timeout_ms=500, max_records=1000)
            for tp, messages in sorted(batch.items(), key=lambda item: item[0].partition):
                for m in messages:
                    if follow or m.offset < ends[tp]:
                        yield AlertMessage(m.value or b"", tp.partition, m.offset)
    finally:
        await consumer.stop()


async def _reader(
    kafka: KafkaSettings, topic: str, follow: bool
) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    missing = ": no detector has written alerts there yet, or kafka.alert_topic names another"
    waited = False
    while True:
        try:
            return await topic_reader(kafka, topic, missing)
        except TopicMissing:
            if not follow:
                raise
            if not waited:
                log.info("waiting for topic %s to appear on %s", topic, kafka.bootstrap)
                waited = True
            await asyncio.sleep(TOPIC_POLL_S)
