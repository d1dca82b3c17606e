"""Points from a Kafka topic, in micro-batches, as one member of a consumer group."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord

from stream_ae.connectors.columnar_wire import ColumnarDecoder, DecodedRows
from stream_ae.connectors.dead_letters import DeadLetter, Position, raw_text, rejected
from stream_ae.connectors.fastwire import FastPointDecoder
from stream_ae.connectors.formats import OWN_JSON, InputFormat
from stream_ae.connectors.kafka_common import client_options, start_patiently
from stream_ae.connectors.point_rules import SERIES_MAX_CHARS, series_problem
from stream_ae.connectors.source_batch import SourceBatch
from stream_ae.connectors.wire import PointDecoder
from stream_ae.core.records import Point, Rejection, RejectReason
from stream_ae.ratelimit import RateLimitedLog
from stream_ae.settings import KafkaSettings
from stream_ae.settings.sections import MAX_SERIES

__all__ = [
    "DeadLetter",  # defined with the dead-letter encoder; callers import it from here too
    "KafkaSource",
    "Position",
    "SourceBatch",
    "decode_message",
    "message_decoder",
]

log = logging.getLogger(__name__)
_limited = RateLimitedLog(log)

CHUNK = 512
"""Messages decoded at once: a batch that fills up part way through a chunk leaves the
rest to the next one, decoded again."""
DECODE_BUDGET_S = 1.0
"""Seconds a batch may spend decoding (on the event loop) before it ends and leaves the
rest of its fetch to the next batch: a message's points may be few but slow to check
(a wide object refused field by field), and the loop must keep the group's heartbeats
going (`kafka.session_timeout_ms`)."""

_NO_KEY = Rejection(
    RejectReason.MALFORMED,
    'The point names no series and its message has no key; add "series" to the point, '
    "or send it with the series id as its key.",
)


RevokeHook = Callable[[set[TopicPartition]], Awaitable[None]]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, source: KafkaSource) -> None:
        self._source = source

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._source._revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._source._assigned(set(assigned))


class KafkaSource:
    """The input topic as micro-batches of points, bounded by count and by wait.

    Offsets are committed only when the caller says a batch is done
    (`commit`). On revocation the caller's hook runs first, so it can finish
    the batches in flight and commit; on assignment each partition is re-read
    from up to `rebuild_messages` before its committed offset, so windows and
    thresholds come back as they were. Committed offsets only move forward: a
    batch of the rebuild read covers offsets already committed, so it commits
    nothing, and `commit` drops any offset below what this member committed or
    found committed. `channels`, when known (the served model's channel names),
    are the channels every point must carry; `max_series` is the most series the
    detector holds live (`window.max_series`), the series ids worth remembering.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        on_revoke: RevokeHook | None = None,
        channels: Sequence[str] | None = None,
        max_series: int = MAX_SERIES,
    ) -> None:
        self.kafka = kafka
        self.on_revoke = on_revoke
        """Awaited with the partitions being revoked, before they go (their owner
        finishes and commits what it read)."""
        self.decoder = message_decoder(channels, InputFormat.of(kafka))
        """Call its `forget(series)` when the detector drops a series."""
        self.columnar = (
            ColumnarDecoder(self.decoder, remember=max_series)
            if type(self.decoder) is FastPointDecoder and self.decoder.expected is not None
            else None
        )
        """Takes the ordinary messages of a fetch at once, when channels are known."""
        self._rebuild_until: dict[TopicPartition, int] = {}
        self._consumed: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        """Per assigned partition, the highest offset committed (or found committed)."""
        self._started: AIOKafkaConsumer | None = None
        self.paused = False
        self.decode_budget_s = DECODE_BUDGET_S
        self._fetched: deque[tuple[TopicPartition, list[ConsumerRecord], int]] = deque()
        """Messages fetched but not yet decoded, as runs of one partition's messages in
        order, each from the index it is decoded up to: a full batch leaves the rest of a
        fetch here for the next one, so no batch decodes more than it may hold."""

    @property
    def _consumer(self) -> AIOKafkaConsumer:
        if self._started is None:
            raise RuntimeError("KafkaSource.start() must run before the source is used")
        return self._started

    def _make_consumer(self) -> AIOKafkaConsumer:
        kafka = self.kafka
        return AIOKafkaConsumer(
            **client_options(kafka),
            group_id=kafka.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=max(kafka.session_timeout_ms // 5, 500),
            fetch_max_wait_ms=min(kafka.fetch_wait_ms, kafka.max_wait_ms),
            # Oversized messages must still be fetched, to be sent to the dead letters.
            max_partition_fetch_bytes=max(1_048_576, 2 * kafka.max_message_bytes),
            **kafka.consumer_options,
        )

    async def start(self) -> None:
        self._started = await start_patiently(self._make_consumer, self.kafka, "consumer")
        self._consumer.subscribe([self.kafka.input_topic], listener=_Listener(self))

    async def stop(self) -> None:
        if self._started is not None:  # a stop during start-up: nothing to leave
            await self._started.stop()

    def forget(self, series: str) -> None:
        """Drop what decoding keeps about a series that left the detector."""
        self.decoder.forget(series)

    def assignment(self) -> set[TopicPartition]:
        return set(self._started.assignment()) if self._started is not None else set()

    async def _revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("partitions revoked: %s", _names(revoked))
        if self.on_revoke is not None:
            await self.on_revoke(revoked)
        if self._fetched:  # their new owner reads them from the committed offset
            kept = [held for held in self._fetched if held[0] not in revoked]
            self._fetched.clear()  # in place: a next_batch awaiting a fetch holds it
            self._fetched.extend(kept)
        for tp in revoked:
            self._rebuild_until.pop(tp, None)
            self._consumed.pop(tp, None)
            self._committed.pop(tp, None)

    async def _assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned: %s", _names(assigned))
        for tp in assigned:
            committed = await self._consumer.committed(tp)
            self._committed[tp] = committed or 0
            if committed and self.kafka.rebuild_messages > 0:
                start = max(0, committed - self.kafka.rebuild_messages)
                self._consumer.seek(tp, start)
                self._rebuild_until[tp] = committed
                log.info(
                    "%s: re-reading offsets %d..%d to rebuild its series' state",
                    _names({tp}),
                    start,
                    committed - 1,
                )

    async def next_batch(self) -> SourceBatch:
        """Up to `max_batch_points` points and dead letters (the last message may add
        up to `MAX_POINTS_PER_MESSAGE` more), decoding for at most about
        `decode_budget_s` (one message more at most). It waits up to `max_wait_ms` for
        its first message, and goes as soon as the messages that have arrived are
        decoded: waiting for more would only add latency when the input is quiet, and
        under load messages pile up while the batch before is scored, so batches grow
        with the rate by themselves."""
        batch = SourceBatch(self.kafka.input_topic)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.kafka.max_wait_ms / 1000
        limit = self.kafka.max_batch_points
        while True:
            spent = self._decode(batch, limit)
            remaining = deadline - loop.time()
            if len(batch) >= limit or remaining <= 0 or spent:
                break
            wait_ms = 0 if batch.messages else max(1, int(remaining * 1000))
            records = await self._consumer.getmany(
                timeout_ms=wait_ms, max_records=limit - len(batch)
            )
            if not records and batch.messages:
                break
            self._hold(records)
        batch.fetch_s = loop.time() - started - batch.decode_s
        batch.read_at = time.monotonic()
        return batch

    def _hold(self, records: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Keep a fetch's messages, a run per partition, until batches decode them."""
        self._fetched.extend((tp, run, 0) for tp, run in records.items() if run)

    def _decode(self, batch: SourceBatch, limit: int) -> bool:
        """Decode fetched messages into `batch` until it holds `limit` items; True when
        the decoding budget ran out first (what is left stays fetched, in order)."""
        started = time.perf_counter()
        budget = self.decode_budget_s - batch.decode_s  # waits for a fetch are free
        fetched, size = self._fetched, len(batch)
        try:
            while fetched and size < limit:
                tp, run, start = fetched.popleft()
                chunk = run[start : start + min(limit - size, CHUNK)]
                rows = self._fast_rows(tp, chunk, limit - size)
                taken, row, j, spent = rows.taken, 0, 0, False
                while j < len(chunk):
                    if taken[j] < 0:
                        size += self._take(batch, tp, chunk[j])
                        j += 1
                    else:  # a run of messages the columnar decoder took, added at once
                        end, count = j, 0
                        while end < len(chunk) and taken[end] >= 0 and size + count < limit:
                            count += taken[end]
                            end += 1
                        self._take_rows(batch, tp, chunk[j:end], rows, row, taken[j:end])
                        row += count
                        size += count
                        j = end
                    spent = time.perf_counter() - started >= budget
                    if spent or size >= limit:
                        break
                if start + j < len(run):  # the rest waits, not copied
                    fetched.appendleft((tp, run, start + j))
                if spent or size >= limit:
                    return spent
            return False
        finally:
            batch.decode_s += time.perf_counter() - started

    def _fast_rows(
        self, tp: TopicPartition, chunk: list[ConsumerRecord], rows_wanted: int
    ) -> DecodedRows:
        """The columnar decoder's rows of the chunk's ordinary messages, up to about
        `rows_wanted`; every other message (re-read to rebuild, oversized, not in the
        point format, or past what the batch can hold) is marked for `_take`, the
        reference path, or for the next batch."""
        unread = DecodedRows(taken=[-1] * len(chunk))
        if self.columnar is None:
            return unread
        most, rebuild_until = self.kafka.max_message_bytes, self._rebuild_until.get(tp, -1)
        values = [
            m.value
            if m.value is not None and len(m.value) <= most and m.offset >= rebuild_until
            else b""
            for m in chunk
        ]
        try:
            return self.columnar.decode([m.key for m in chunk], values, rows_wanted)
        except Exception as exc:  # a bug, or input nobody foresaw: the reference reads it
            _limited.error(
                "columnar",
                "the columnar decoder failed on a fetch; its messages go the per-message way",
                exc_info=exc,
            )
            return unread

    def _take_rows(
        self,
        batch: SourceBatch,
        tp: TopicPartition,
        run: list[ConsumerRecord],
        rows: DecodedRows,
        first: int,
        counts: list[int],
    ) -> None:
        """Add the rows of a run of messages the columnar decoder took, from `first` on."""
        batch.add_rows(rows, first, tp.partition, run, counts)
        self._consumed[tp] = batch.offsets[tp] = run[-1].offset + 1

    def _take(self, batch: SourceBatch, tp: TopicPartition, message: ConsumerRecord) -> int:
        """Decode one message into the batch with the reference decoder; returns how many
        items it added."""
        batch.messages += 1
        self._consumed[tp] = message.offset + 1
        position = Position(tp.topic, tp.partition, message.offset)
        rebuilding = message.offset < self._rebuild_until.get(tp, -1)
        if not rebuilding:
            batch.offsets[tp] = message.offset + 1
        value: bytes = message.value or b""
        if len(value) > self.kafka.max_message_bytes:
            if not rebuilding:
                batch.dead.append(
                    _dead(
                        f"the value has {len(value):,} bytes, more than kafka.max_message_bytes "
                        f"({self.kafka.max_message_bytes:,}); split it into smaller messages",
                        position,
                        message.key,
                        value,
                    )
                )
                return 1
            return 0
        # The position is written out only into refusals: most messages have none.
        added = 0
        for item in decode_message(self.decoder, message.key, value, ""):
            if isinstance(item, Rejection):
                if rebuilding:  # refused and dead-lettered when it was first read
                    continue
                item = replace(item, source=str(position))
                batch.dead.append(DeadLetter(item, position, message.key))
            elif rebuilding:
                batch.add_rebuild(item, tp.partition)
            else:
                batch.add(item, position, message.timestamp / 1000)
            added += 1
        return added

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit what a finished batch covered (only partitions still assigned)."""
        mine = self.assignment()
        owned = {
            tp: offset
            for tp, offset in offsets.items()
            if tp in mine and offset > self._committed.get(tp, 0)
        }
        if not owned:
            return
        try:
            await self._consumer.commit(owned)
            for tp, offset in owned.items():
                self._committed[tp] = offset
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took the partitions: their new owner re-reads from the last
            # commit, so the batch is scored again there (at least once), not lost.
            log.warning("commit skipped, partitions moved (%s)", exc)

    def pause(self) -> None:
        if not self.paused:
            self._consumer.pause(*self.assignment())
            self.paused = True

    def resume(self) -> None:
        if self.paused:
            self._consumer.resume(*self.assignment())
            self.paused = False

    def lag(self) -> dict[TopicPartition, int]:
        """Messages behind the high watermark, per assigned partition."""
        lags = {}
        for tp in self.assignment():
            high = self._consumer.highwater(tp)
            if high is not None and tp in self._consumed:
                lags[tp] = max(0, high - self._consumed[tp])
        return lags


def message_decoder(
    channels: Sequence[str] | None = None, input_format: InputFormat = OWN_JSON
) -> PointDecoder:
    """A decoder for `decode_message`; with `channels`, every point must carry them."""
    return input_format.decoder("", channels)


def decode_message(
    decoder: PointDecoder, key: bytes | None, value: bytes, source: str
) -> list[Point | Rejection]:
    """The points of one message (or at least one rejection); a point that names no
    series (one whose series rule gives none, for a metrics format) takes the message
    key, and without a usable key it is refused."""
    return decoder.decode(value, source, _key_series(key))


def _key_series(key: bytes | None) -> str | Rejection:
    if not key:
        return _NO_KEY
    try:
        name = key.decode("utf-8")
    except UnicodeDecodeError:
        problem: str | None = "it is not valid UTF-8"
    else:
        problem = series_problem(name)
        if problem is None:
            return name
    return Rejection(
        RejectReason.INVALID_SERIES,
        f"The point names no series and its message key {key[:40]!r} cannot be one: "
        f'{problem}; add "series" to the point, or send a key of 1 to {SERIES_MAX_CHARS} '
        "printable characters of valid UTF-8.",
    )


def _dead(detail: str, position: Position, key: bytes | None, value: bytes) -> DeadLetter:
    rejection = rejected(RejectReason.MALFORMED, detail, str(position), raw_text(value))
    return DeadLetter(rejection, position, key)


def _names(tps: set[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(tps)) or "none"
