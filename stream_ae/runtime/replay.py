"""`stream-ae replay FILE`: publish a recorded file's points to the input topic.

Points go out in the JSON wire format (key = series id), as fast as the broker takes
them or at N x real time by their timestamps. Messages are sent in per-partition batches
(~450k/s measured) rather than awaited one by one (~30k/s), and the replay returns only
once the broker acknowledged every one of them.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from tqdm import tqdm

from stream_ae.connectors.files import DEFAULT_COLUMNS, Columns, LinePointReader, PointReader
from stream_ae.connectors.kafka_common import (
    client_options,
    ensure_topics,
    start_patiently,
)
from stream_ae.core.records import Point, Rejection
from stream_ae.errors import ConfigError, StreamAEError
from stream_ae.settings import KafkaSettings, Settings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
BATCH_BYTES = 256 * 1024
"""Most bytes per partition batch: ~2,500 points, well under the usual 1 MB request cap."""
MAX_IN_FLIGHT = 64
"""Batches sent but not yet acknowledged before the replay waits for the oldest."""
MIN_SLEEP_S = 0.001
"""Points due sooner than this go out at once; the schedule is absolute, so no drift."""
SHOWN_REJECTIONS = 5


class ReplayError(StreamAEError):
    """The broker refused or lost messages of a replay."""

    exit_status = 1


@dataclass
class ReplaySummary:
    """What a replay did; `text()` is what the command prints."""

    file: str
    topic: str
    bootstrap: str
    points_sent: int = 0
    rejected: int = 0
    first_rejections: list[Rejection] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def points_per_s(self) -> float:
        return self.points_sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def reject(self, rejection: Rejection) -> None:
        self.rejected += 1
        if len(self.first_rejections) < SHOWN_REJECTIONS:
            self.first_rejections.append(rejection)

    def text(self) -> str:
        lines = []
        if self.rejected:
            lines.append(f"rejected {self.rejected} row(s) of {self.file}, not sent; first:")
            lines += [f"  {r.source}: {r.reason.value}: {r.detail}" for r in self.first_rejections]
        lines.append(
            f"sent {self.points_sent} points to {self.topic} at {self.bootstrap} in "
            f"{self.elapsed_s:.2f} s ({self.points_per_s:,.0f} points/s)"
        )
        return "\n".join(lines)


class Pacer:
    """When each point is due at `speed` x real time, counted from the first point.

    >>> now = [100.0]
    >>> pacer = Pacer(speed=2.0, clock=lambda: now[0])
    >>> pacer.delay(1000.0), pacer.delay(1004.0)
    (0.0, 2.0)
    >>> now[0] = 103.0  # late: due at once, and the schedule keeps its origin
    >>> pacer.delay(1004.0), pacer.delay(1008.0)
    (0.0, 1.0)
    """

    def __init__(self, speed: float, clock: Clock) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be above 0 (x real time); got {speed}.")
        self.speed = speed
        self._clock = clock
        self._origin: tuple[float, float] | None = None

    def delay(self, ts: float) -> float:
        """Seconds to wait before sending a point with event time `ts` (0 when due)."""
        now = self._clock()
        if self._origin is None:
            self._origin = (ts, now)
        first_ts, started = self._origin
        return max(0.0, started + (ts - first_ts) / self.speed - now)


def encode_point(point: Point, channels: Sequence[str]) -> tuple[bytes, bytes]:
    """Key and value of a point in the wire format (format 1).

    >>> encode_point(Point("pump-7", 1732262400.25, (0.5,)), ("value",))
    (b'pump-7', b'{"series":"pump-7","ts":1732262400.25,"value":0.5}')
    """
    body: dict[str, Any] = {"series": point.series, "ts": point.ts}
    if len(point.values) == 1:
        body["value"] = point.values[0]
    else:
        body["values"] = dict(zip(channels, point.values, strict=True))
    return point.series.encode(), orjson.dumps(body)


class BatchPublisher:
    """Fills one batch per partition and sends it when full, as the Java client would
    place each key (murmur2), so a series stays on one partition, in order."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partitions: Sequence[int]) -> None:
        if not partitions:
            raise ValueError(f"Topic {topic} has no partitions to send to.")
        self._producer = producer
        self._topic = topic
        self._partitions = sorted(partitions)
        self._partition_of: dict[bytes, int] = {}
        self._open: dict[int, Any] = {}  # partition -> aiokafka BatchBuilder
        self._in_flight: deque[tuple[asyncio.Future[Any], int]] = deque()
        self.acked = 0
        """Messages the broker has acknowledged."""

    async def add(self, key: bytes, value: bytes) -> None:
        partition = self._partition_of.get(key)
        if partition is None:
            partition = DefaultPartitioner()(key, self._partitions, self._partitions)
            self._partition_of[key] = partition
        batch = self._open.get(partition)
        if batch is None:
            batch = self._open[partition] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:
            await self._send(partition)
            batch = self._open[partition] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ReplayError(
                    f"A point of {len(value)} bytes does not fit in one batch; it is not a "
                    "point of the wire format."
                )

    async def flush(self) -> None:
        """Hand every open batch to the producer (before a pause, so nothing lingers)."""
        for partition in list(self._open):
            await self._send(partition)

    async def drain(self) -> int:
        """Flush, then wait until every message sent is acknowledged; the count acked."""
        await self.flush()
        while self._in_flight:
            await self._settle_oldest()
        return self.acked

    async def _send(self, partition: int) -> None:
        batch = self._open.pop(partition)
        count = batch.record_count()
        batch.close()
        future = await self._producer.send_batch(batch, self._topic, partition=partition)
        self._in_flight.append((future, count))
        while len(self._in_flight) > MAX_IN_FLIGHT:
            await self._settle_oldest()

    async def _settle_oldest(self) -> None:
        future, count = self._in_flight.popleft()
        await future
        self.acked += count


async def replay(
    path: Path,
    settings: Settings,
    *,
    topic: str | None = None,
    bootstrap: str | None = None,
    speed: float = 0.0,
    columns: Columns = DEFAULT_COLUMNS,
    progress: bool | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> ReplaySummary:
    """Publish every point of `path`; `speed` 0 sends as fast as possible.

    `progress` None shows a bar only on a terminal. `clock` and `sleep` pace the replay
    (tests pass fakes). Raises KafkaUnavailable when the brokers do not answer within
    `settings.kafka.connect_retry_s`, ReplayError when they refuse the messages.
    """
    if speed < 0:
        raise ValueError(f"speed must be 0 (as fast as possible) or above; got {speed}.")
    kafka = settings.kafka
    if topic is None and kafka.input_format != "json":
        raise ConfigError(
            f"replay publishes stream-ae's JSON points, but the detector reads "
            f"kafka.input_format = {kafka.input_format!r} from {kafka.input_topic}; send them "
            "to a detector that reads json (--topic, or another config), or publish the "
            "recording in its own format with the tool that made it."
        )
    reader = columns.open(path)
    if bootstrap is not None:
        kafka = kafka.with_servers(bootstrap)
    topic = topic or kafka.input_topic
    summary = ReplaySummary(path.name, topic, kafka.bootstrap)
    producer = await connect(kafka, clock=clock, sleep=sleep)
    try:
        if kafka.create_topics:
            await ensure_topics(kafka, [topic])
        publisher = BatchPublisher(producer, topic, list(await producer.partitions_for(topic)))
        pacer = Pacer(speed, clock) if speed > 0 else None
        started = clock()
        await _send_all(reader, publisher, summary, pacer, sleep, progress)
        summary.elapsed_s = clock() - started
    except KafkaError as exc:
        raise ReplayError(
            f"Kafka at {kafka.bootstrap} refused points for topic {topic}: {exc}. Check "
            "that the topic exists (or set kafka.create_topics) and that this client may "
            "write to it."
        ) from None
    finally:
        await producer.stop()
    return summary


async def _send_all(
    reader: PointReader,
    publisher: BatchPublisher,
    summary: ReplaySummary,
    pacer: Pacer | None,
    sleep: Sleep,
    progress: bool | None,
) -> None:
    show = sys.stderr.isatty() if progress is None else progress
    total = _count_rows(reader) if show else None
    with tqdm(total=total, desc="replay", unit=" pt", disable=not show, mininterval=0.5) as bar:
        items, channels = _open_items(reader)
        for item in items:
            if isinstance(item, Rejection):
                summary.reject(item)
                continue
            if pacer is not None:
                wait = pacer.delay(item.ts)
                if wait >= MIN_SLEEP_S:
                    await publisher.flush()  # what is due goes out before the pause
                    await sleep(wait)
            await publisher.add(*encode_point(item, channels(item.series)))
            bar.update()
        summary.points_sent = await publisher.drain()


def run_replay(path: Path, settings: Settings, **options: Any) -> ReplaySummary:
    """`replay` on a fresh event loop: what the command line calls."""
    return asyncio.run(replay(path, settings, **options))


async def connect(
    kafka: KafkaSettings, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
) -> AIOKafkaProducer:
    """A started producer, retrying with backoff for `kafka.connect_retry_s`."""

    def make() -> AIOKafkaProducer:
        # Idempotence stays off: it needs InitProducerId, which the embedded broker refuses.
        return AIOKafkaProducer(
            **client_options(kafka),
            acks="all",
            **{"max_batch_size": BATCH_BYTES, "linger_ms": 0, **kafka.producer_options},
        )

    return await start_patiently(make, kafka, "producer", clock=clock, sleep=sleep)


def _open_items(
    reader: PointReader,
) -> tuple[Iterator[Point | Rejection], Callable[[str], Sequence[str]]]:
    """The reader's items, and how to name the channels of a series."""
    if isinstance(reader, LinePointReader):
        # Line-file series each have their own channels, known to the decoder that read them.
        decoder = reader.decoder()
        return reader._read(decoder), lambda series: decoder.channels_of(series) or ("value",)
    channels = reader.channels
    return iter(reader), lambda series: channels


def _count_rows(reader: PointReader) -> int | None:
    """Data lines of a plain file, for the progress bar's total; None for .gz (too slow)."""
    path = reader.path
    if path.name.lower().endswith(".gz"):
        return None
    lines = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(0, lines - (0 if isinstance(reader, LinePointReader) else 1))
