"""How long the embedded broker holds a fetch: send -> read latency with idle processes.

Kafka answers a fetch as soon as `fetch.min.bytes` (1) have arrived; a broker that
holds every fetch until `fetch.max.wait.ms` is over adds up to that wait to every
point's latency. One message every 5 ms to one partition, read by a consumer with
each wait; nothing else runs, so the latency is the broker's and the client's own.

The second table reads the same way (fetch wait 20 ms) at the end of a partition that
already holds messages: the embedded broker's fetch slows with the record batches its
log holds, not with the messages, which is why `e2e_kafka.produce` sends unpaced
steps in large batches.

    python benchmarks/broker_fetch_hold.py
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream_ae.runtime.broker import EmbeddedBroker

MESSAGES = 400
GAP_S = 0.005
LOGS = [(0, 1), (1_000_000, 1000), (1_000_000, 100), (200_000, 20)]
"""(messages, messages a record batch) already in the partition read in the second table."""
PAD = b'{"series":"pad","ts":1600000000.0,"value":0.5}'


async def latencies(
    bootstrap: str, fetch_wait_ms: int, log: tuple[int, int] = (0, 1)
) -> np.ndarray:
    """Send -> read seconds of MESSAGES messages, after `log` (messages, a batch) were
    written to the partition."""
    topic = f"hold-{fetch_wait_ms}-{log[0]}-{log[1]}"
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=0, acks=1, max_batch_size=1 << 20
    )
    await producer.start()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        fetch_max_wait_ms=fetch_wait_ms,
    )
    try:
        await producer.send_and_wait(topic, b"0", partition=0)  # the topic exists
        await _fill(producer, topic, *log)
        await consumer.start()
        await asyncio.sleep(1.0)  # past the first fetch: "latest" is settled
        seen: list[float] = []

        async def read() -> None:
            while True:
                fetched = await consumer.getmany(timeout_ms=1000)
                now = time.perf_counter()
                # Not the log's messages: "latest" may place the reader before its last batch.
                stamps = (m.value for run in fetched.values() for m in run if m.value != PAD)
                seen.extend(now - float(stamp) for stamp in stamps)

        reader = asyncio.create_task(read())
        for _ in range(MESSAGES):
            await producer.send(topic, str(time.perf_counter()).encode(), partition=0)
            await asyncio.sleep(GAP_S)
        await asyncio.sleep(0.5)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader  # a failed read raises here
        if not seen:
            raise RuntimeError(f"no message came back with a fetch wait of {fetch_wait_ms} ms")
        return np.array(seen)
    finally:
        await consumer.stop()
        await producer.stop()


async def _fill(producer: AIOKafkaProducer, topic: str, messages: int, per_batch: int) -> None:
    """Write `messages` messages to partition 0, `per_batch` to a record batch."""
    sent, acked = 0, None
    while sent < messages:
        batch = producer.create_batch()
        for _ in range(min(per_batch, messages - sent)):
            batch.append(key=b"pad", value=PAD, timestamp=None)
        sent += batch.record_count()
        acked = await producer.send_batch(batch, topic, partition=0)
    if acked is not None:
        await acked  # batches to one partition are acknowledged in order


def _row(first: str, ms: np.ndarray) -> str:
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return f"| {first} | {len(ms)} | {p50:.1f} | {p90:.1f} | {p99:.1f} |"


def main() -> None:
    print("| fetch wait (ms) | messages read | p50 ms | p90 ms | p99 ms |")
    print("|---:|---:|---:|---:|---:|")
    with EmbeddedBroker() as broker:
        for wait_ms in (5, 20, 100):
            ms = asyncio.run(latencies(broker.address, wait_ms)) * 1000
            print(_row(str(wait_ms), ms), flush=True)
    print("\n| log before: messages / record batches | messages read | p50 ms | p90 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    with EmbeddedBroker() as broker:
        for messages, per_batch in LOGS:
            ms = asyncio.run(latencies(broker.address, 20, (messages, per_batch))) * 1000
            batches = -(-messages // per_batch)
            print(_row(f"{messages:,} / {batches:,}", ms), flush=True)


if __name__ == "__main__":
    main()
