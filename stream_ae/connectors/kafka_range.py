"""Reading a time range of a topic back, for the offline retraining job.

No consumer group: every partition is assigned directly, positioned with
`offsets_for_times` at the range's start, and read up to the high watermark seen
when reading began (later messages belong to the next run).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_ae.connectors.kafka_common import topic_reader
from stream_ae.settings import KafkaSettings


@dataclass(frozen=True, slots=True)
class Record:
    """One message of the range."""

    key: bytes | None
    value: bytes
    timestamp: float
    """Broker timestamp, epoch seconds."""


async def read_range(kafka: KafkaSettings, topic: str, start: float, end: float) -> list[Record]:
    """Messages of `topic` whose broker timestamp lies in [start, end), partition by partition."""
    consumer, tps = await topic_reader(kafka, topic)
    try:
        starts = await consumer.offsets_for_times({tp: int(start * 1000) for tp in tps})
        records: list[Record] = []
        for tp in tps:
            found = starts.get(tp)
            if found is None:  # nothing at or after `start` in this partition
                continue
            consumer.seek(tp, found.offset)
            records += await _read_partition(consumer, tp, end)
        return records
    finally:
        await consumer.stop()


async def _read_partition(
    consumer: AIOKafkaConsumer, tp: TopicPartition, end: float
) -> list[Record]:
    out: list[Record] = []
    idle = 0
    while True:
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=10_000)
        messages = batch.get(tp, [])
        highwater = consumer.highwater(tp)
        for m in messages:
            if m.timestamp / 1000 >= end:
                return out
            out.append(Record(m.key, m.value or b"", m.timestamp / 1000))
        position = await consumer.position(tp)
        if highwater is not None and position >= highwater:
            return out
        idle = 0 if messages else idle + 1
        if idle >= 6:  # the broker keeps answering with nothing: take what there is
            return out
