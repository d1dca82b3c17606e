"""How long the embedded broker holds a fetch: send -> read latency with idle processes.

Kafka answers a fetch as soon as `fetch.min.bytes` (1) have arrived; a broker that
holds every fetch until `fetch.max.wait.ms` is over adds up to that wait to every
point's latency. One message every 5 ms to one partition, read by a consumer with
each wait; nothing else runs, so the latency is the broker's and the client's own.

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


async def latencies(bootstrap: str, fetch_wait_ms: int) -> np.ndarray:
    topic = f"hold-{fetch_wait_ms}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
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
        await consumer.start()
        await asyncio.sleep(1.0)  # past the first fetch: "latest" is settled
        seen: list[float] = []

        async def read() -> None:
            while True:
                fetched = await consumer.getmany(timeout_ms=1000)
                now = time.perf_counter()
                seen.extend(now - float(m.value) for run in fetched.values() for m in run)

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


def main() -> None:
    print("| fetch wait (ms) | messages read | p50 ms | p90 ms | p99 ms |")
    print("|---:|---:|---:|---:|---:|")
    with EmbeddedBroker() as broker:
        for wait_ms in (5, 20, 100):
            ms = asyncio.run(latencies(broker.address, wait_ms)) * 1000
            p50, p90, p99 = np.percentile(ms, [50, 90, 99])
            print(f"| {wait_ms} | {len(ms)} | {p50:.1f} | {p90:.1f} | {p99:.1f} |", flush=True)


if __name__ == "__main__":
    main()
