"""`stream-ae run`: the detector as a Kafka consumer-group member, at least once.

Two tasks on the event loop: the fetcher fills a bounded queue with micro-batches
(pausing the input partitions while the queue is full), the processor scores each
batch on a worker thread (so heartbeats keep flowing). A delivery task sends each
scored batch's alerts and dead letters, waits for the acknowledgements, and only then
commits the batch's offsets, while the next batch is scored; deliveries go one at a
time, in batch order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from aiokafka import TopicPartition

from stream_ae import wiring
from stream_ae.connectors.dead_letters import point_raw
from stream_ae.connectors.kafka_common import ensure_topics
from stream_ae.connectors.kafka_sink import (
    Message,
    alert_message,
    dead_letter_message,
    score_messages,
)
from stream_ae.connectors.kafka_source import DeadLetter, SourceBatch
from stream_ae.core.detector import Detector
from stream_ae.core.output import Output
from stream_ae.core.records import Alert, Point, PointColumns
from stream_ae.metrics import ServiceMetrics
from stream_ae.ratelimit import RateLimitedLog
from stream_ae.runtime.guard import log_eviction, process_guarded
from stream_ae.runtime.health import keep_beating, watch_kafka
from stream_ae.runtime.stopping import unless_stopped
from stream_ae.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ServiceStats:
    """Running totals, for logs and tests (Prometheus metrics build on the same events)."""

    batches: int = 0
    points: int = 0
    rebuilt: int = 0
    alerts: int = 0
    dead_letters: int = 0
    pauses: int = 0


@dataclass(frozen=True, slots=True)
class _Scored:
    """A batch scored, waiting for its messages to be acknowledged and its offsets
    committed."""

    batch: SourceBatch
    points: int
    """Points of the batch scored (those of partitions still assigned)."""
    out: Output
    dead: list[DeadLetter]
    messages: list[Message]


class DetectorService:
    """One detector process: consume, score, alert, commit."""

    def __init__(
        self,
        settings: Settings,
        *,
        artifact: Path | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        """The service of `wiring.service_parts(settings, artifact, metrics)`.

        `on_alert` is called on the event loop with each alert once the broker has
        acknowledged it, while the next batch may be scoring on the worker: it must not
        touch the detector."""
        self.__init_parts(wiring.service_parts(settings, artifact, metrics), on_alert)

    def __init_parts(
        self, parts: wiring.ServiceParts, on_alert: Callable[[Alert], None] | None
    ) -> None:
        self.settings = parts.settings
        self.kafka = parts.settings.kafka
        self.registry = parts.registry
        self.detector: Detector = parts.detector
        self.first_fit = parts.first_fit
        self.metrics = parts.metrics
        self.watched = parts.watched
        self.watcher = parts.watcher
        self.retrains = parts.retrains
        self.oversight = parts.oversight
        self.source = parts.source
        self.sink = parts.sink
        self.health = parts.health
        self.on_alert = on_alert
        self.detector.store.on_evict = self._on_evict
        self._limited = RateLimitedLog(log)
        self._evicted: list[str] = []
        """Series evicted on the worker thread, forgotten on the loop (`_forget_gone`)."""
        self._gauges_at = 0.0  # monotonic time the slower gauges were last refreshed
        self._fit_failure_counted = False
        self.oversight.describe()  # before any data: dashboards show what will serve
        self.stats = ServiceStats()
        self.source.on_revoke = self._on_revoke
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="detector")
        self._queue: asyncio.Queue[SourceBatch] = asyncio.Queue(self.kafka.max_queued_batches)
        self._series_partition: dict[str, int] = {}
        """The input partition each live series was last read from."""
        self._delivering: asyncio.Task[None] | None = None
        """The last scored batch being sent and committed (see `_process`)."""
        self._reported = (0.0, 0)  # (monotonic time, points) of the last progress line

    async def _in_worker(self, fn: Callable[..., T], *args: object, watched: bool = True) -> T:
        # Every touch of the detector goes through the one worker thread, which the
        # liveness probe watches: a task that never ends fails /healthz. A task that may
        # rightly take minutes (a first fit the stream waits for) is not watched.
        def timed() -> T:
            self.health.working()
            try:
                return fn(*args)
            finally:
                self.health.idle()

        task = timed if watched else partial(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._worker, task)

    def _topics(self) -> list[str]:
        k = self.kafka
        return [k.input_topic, k.alert_topic, k.dead_letter_topic] + (
            [k.score_topic] if k.score_topic else []
        )

    async def _connect(self) -> None:
        await ensure_topics(self.kafka, self._topics())
        await self.sink.start()
        await self.source.start()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set; then finish the batches read, commit, and leave.

        A stop while the service still waits for Kafka (up to kafka.connect_retry_s)
        ends that wait at once: nothing was read, so nothing needs finishing.
        """
        k = self.kafka
        beat = asyncio.create_task(keep_beating(self.health, stop), name="heartbeat")
        try:
            if not await unless_stopped(stop, self._connect()):
                log.info("stopped before consuming: a stop was asked while connecting to Kafka")
                return
            self.health.consuming = True
            log.info(
                "detector consuming %s as group %s; alerts to %s, dead letters to %s",
                k.input_topic,
                k.group_id,
                k.alert_topic,
                k.dead_letter_topic,
            )
            fetcher = asyncio.create_task(self._fetch(stop), name="fetcher")
            processor = asyncio.create_task(self._process(fetcher), name="processor")
            watcher = asyncio.create_task(self._watch_registry(stop), name="registry")
            scheduler = asyncio.create_task(self._schedule_retrains(stop), name="retrain")
            topics = asyncio.create_task(
                watch_kafka(k, self._topics(), self.health, stop), name="topics"
            )
            try:
                await asyncio.wait([fetcher, processor], return_when=asyncio.FIRST_EXCEPTION)
                for task in (fetcher, processor):
                    if task.done() and task.exception():
                        raise task.exception()  # type: ignore[misc]
                await processor
            finally:
                watcher.cancel()
                scheduler.cancel()
                topics.cancel()
                await self.retrains.close()
        finally:
            beat.cancel()
            self.health.consuming = False
            await self.source.stop()  # leaves the group: partitions move on at once
            await self.sink.stop()
            if self.first_fit is not None:
                # A fit cannot be interrupted; waiting for it would hold a stop for minutes.
                self.first_fit.close(wait=not self.first_fit.fitting)
            self._worker.shutdown(wait=True)
        log.info("detector stopped: %s", self.stats)

    async def _watch_registry(self, stop: asyncio.Event) -> None:
        """Install newly promoted versions in shadow; loading runs off the scoring path."""
        every = self.settings.model.registry_poll_s
        while every > 0 and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
            shadow = self.detector.in_shadow
            lane = await asyncio.to_thread(
                self.watcher.poll,
                self.detector.serving.version,
                None if shadow is None else shadow.version,
            )
            if lane is not None:
                await self._in_worker(self.detector.install, lane)
                log.info(
                    "model %s scores in shadow until its thresholds warm up", lane.scorer.version
                )

    async def _schedule_retrains(self, stop: asyncio.Event) -> None:
        """Start the retrain job when it is due; it runs in its own process."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            # Read from the loop while the worker may be scoring: a stale flag only
            # delays the job by one tick.
            await self.retrains.tick(self.detector.with_open_incident)

    async def _fetch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await self.source.next_batch()
            if not batch.messages:
                continue
            if self._queue.full():
                # The scorer is behind: stop fetching until it catches up.
                self.source.pause()
                self.stats.pauses += 1
                log.debug("scorer behind: input partitions paused")
            await self._queue.put(batch)
            self.source.resume()

    async def _process(self, fetcher: asyncio.Task[None]) -> None:
        """Score batch after batch; each one's alerts are sent and its offsets committed
        by a delivery task while the next batch is scored, one delivery at a time, so
        commits stay in batch order and none covers a batch whose messages are not
        acknowledged."""
        try:
            while not (fetcher.done() and self._queue.empty()):
                try:
                    batch = await self._next_batch()
                except TimeoutError:
                    if self._delivering is not None and self._delivering.done():
                        await self._delivered()  # a failed delivery stops the service now
                    continue
                try:
                    scored = await self._score_batch(batch)
                    await self._delivered()
                    self._delivering = asyncio.create_task(self._deliver(scored), name="delivery")
                finally:
                    self._queue.task_done()
        finally:
            await self._delivered()

    async def _next_batch(self) -> SourceBatch:
        """The next queued batch: at once when one is waiting, so that the worker starts
        on it before the fetcher takes the event loop for its next fetch (waiting on the
        queue would let the fetcher, woken by the room made, decode first)."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        return await asyncio.wait_for(self._queue.get(), timeout=0.2)

    async def _delivered(self) -> None:
        """Wait for the delivery in flight, if any; its failure raises here. It stays
        the one in flight until it is done, so that a revocation waiting meanwhile
        waits for it too, and no second delivery starts beside it."""
        delivering = self._delivering
        if delivering is not None:
            await delivering
            if self._delivering is delivering:
                self._delivering = None

    async def _score_batch(self, batch: SourceBatch) -> _Scored:
        """Score one batch and do the bookkeeping that reads the detector (the worker is
        idle until the next batch); returns what its delivery needs."""
        mine = {tp.partition for tp in self.source.assignment() if tp.topic == batch.topic}
        read = {tp.partition for tp in batch.offsets}.union(batch.rebuild_partitions)
        if not mine.issuperset(read):
            # Points of partitions revoked since they were read belong to their new owner.
            batch.keep_partitions(mine)
        queued_s = time.monotonic() - batch.read_at
        started = time.perf_counter()
        points = batch.columns(self.detector.store.channels)
        if batch.rebuild:
            rebuilt = await self._in_worker(self._score, batch.rebuild)
            self._forget_gone([p.series for p in batch.rebuild], rebuilt)
        out = await self._in_worker(self._score, points)
        scored = time.perf_counter()
        dead = list(batch.dead)
        for index, rejection in out.rejected:
            position = batch.origin(index)
            point = points[index]
            raw = point_raw(point, self.detector.channel_names)
            dead.append(
                DeadLetter(
                    replace(rejection, source=str(position), raw=raw),
                    position,
                    point.series.encode(),
                )
            )
        messages: list[Message] = [alert_message(self.kafka.alert_topic, a) for a in out.alerts]
        messages += [dead_letter_message(self.kafka.dead_letter_topic, d) for d in dead]
        if self.kafka.score_topic:
            messages += score_messages(self.kafka.score_topic, out.scored)
        self._note_partitions(batch)
        if self.first_fit is not None:
            await self._in_worker(self.first_fit.poll, watched=not self.first_fit.blocking)
        self._account(batch, len(points), out, queued_s, scored - started)
        self._forget_gone(batch.series, out)
        return _Scored(batch, len(points), out, dead, messages)

    def _note_partitions(self, batch: SourceBatch) -> None:
        """Which partition each live series came from, for a revocation to drop it. Read
        while the worker is idle: nothing else evicts."""
        # One per series, the partition it was read from last: the detector takes the
        # rebuild's points first.
        rebuilt = (point.series for point in batch.rebuild)
        newest = dict(zip(rebuilt, batch.rebuild_partitions, strict=True))
        newest.update(zip(batch.series, batch.partitions, strict=True))
        live, known = self.detector.store, self._series_partition
        for series, partition in newest.items():
            if known.get(series) != partition and series in live:
                known[series] = partition

    async def _deliver(self, scored: _Scored) -> None:
        """Send a scored batch's messages, wait for their acknowledgements, then commit."""
        started = time.perf_counter()
        await self.sink.send(scored.messages)
        sent = time.perf_counter()
        await self.source.commit(scored.batch.offsets)
        m = self.metrics
        m.stage_seconds.labels(stage="send").observe(sent - started)
        m.stage_seconds.labels(stage="commit").observe(time.perf_counter() - sent)
        self._observe_latency(scored.batch, scored.out.alerts)
        self.stats.alerts += len(scored.out.alerts)
        self.stats.dead_letters += len(scored.dead)
        for d in scored.dead:
            m.points_rejected.labels(reason=d.rejection.reason.value).inc()
        m.dead_letters.inc(len(scored.dead))  # acknowledged by the broker before this point
        for alert in scored.out.alerts:
            m.alert(alert)
            if self.on_alert is not None:
                self.on_alert(alert)
        # Last: a batch counts as done once its alerts are out and its offsets committed.
        s = self.stats
        s.batches += 1
        s.points += scored.points
        s.rebuilt += len(scored.batch.rebuild)
        self._report_progress()

    def _score(self, points: Sequence[Point] | PointColumns) -> Output:
        return process_guarded(self.detector, points, self._limited)

    def _forget_gone(self, series: Sequence[str], out: Output) -> None:
        """Drop every per-series record outside the detector of series that are not
        live: evicted ones, and refused ones the decoder already noted (`series` names
        the batch's points, in order)."""
        evicted, self._evicted = self._evicted, []
        refused = [series[i] for i, _ in out.rejected]
        store = self.detector.store
        gone = [s for s in dict.fromkeys(evicted + refused) if s not in store]
        for series in gone:
            self._series_partition.pop(series, None)
            self.source.forget(series)
        if evicted:
            self.watched.forget(gone)
            if self.oversight.drift is not None:
                self.oversight.drift.forget(gone)

    def _observe_latency(self, batch: SourceBatch, alerts: list[Alert]) -> None:
        if not alerts:
            return
        now = time.time()
        # Only the rows of the alerts' series are looked at: a batch holds thousands.
        named, ts = {alert.series for alert in alerts}, batch.ts
        appended = {
            (series, ts[i]): batch.append_ts[i]
            for i, series in enumerate(batch.series)
            if series in named
        }
        for alert in alerts:
            self.metrics.event_to_alert.observe(max(0.0, now - alert.ts))
            append_ts = appended.get((alert.series, alert.ts))
            if append_ts is not None:
                self.metrics.append_to_alert.observe(max(0.0, now - append_ts))

    def _account(
        self, batch: SourceBatch, points: int, out: Output, queued_s: float, score_s: float
    ) -> None:
        """Metrics of one scored batch (those of its delivery, and the totals, come after)."""
        m = self.metrics
        m.stage_seconds.labels(stage="fetch").observe(batch.fetch_s)
        m.stage_seconds.labels(stage="decode").observe(batch.decode_s)
        m.stage_seconds.labels(stage="queue").observe(queued_s)
        m.stage_seconds.labels(stage="score").observe(score_s)
        m.points_consumed.inc(points)
        m.windows_scored.inc(out.points_scored)
        m.batch_points.observe(len(batch))
        for rows in out.scored:
            self.watched.update(rows)
        for tp, lag in self.source.lag().items():
            m.consumer_lag.labels(partition=str(tp.partition)).set(lag)
        self.oversight.observe(out)
        if self.first_fit is not None and self.first_fit.error and not self._fit_failure_counted:
            m.reload_failures.labels(reason="fit").inc()
            self._fit_failure_counted = True
        self._refresh_gauges()

    def _refresh_gauges(self, every_s: float = 1.0) -> None:
        # Counting warm series walks every live one: at most once a second.
        now = time.monotonic()
        if now - self._gauges_at < every_s:
            return
        self._gauges_at = now
        self.metrics.series_tracked.set(len(self.detector.store))
        self.metrics.series_warming_up.set(self.detector.warming_up())

    def _on_evict(self, series: str, reason: str) -> None:
        # Called on the worker thread: a counter's increment and a list append are
        # thread-safe; the maps keyed by series are cleared on the loop.
        self.metrics.series_evicted.labels(reason=reason).inc()
        self._evicted.append(series)
        log_eviction(self._limited, series, reason)

    def _report_progress(self, every_s: float = 30.0) -> None:
        """A log line now and then: throughput, lag, and the model serving."""
        now = time.monotonic()
        since, points = self._reported
        if now - since < every_s:
            return
        if since:
            lag = sum(self.source.lag().values())
            log.info(
                "%.0f points/s over the last %.0f s; lag %d messages; %d series; model %s",
                (self.stats.points - points) / (now - since),
                now - since,
                lag,
                len(self.detector.store),
                self.detector.serving.version,
            )
        self._reported = (now, self.stats.points)

    async def _on_revoke(self, revoked: set[TopicPartition]) -> None:
        """Finish and commit what was read, then forget the revoked partitions' series."""
        await self._queue.join()
        if self._delivering is not None:
            # Its failure is the processor's to raise (it awaits the same task); here it
            # only has to be over. Shielded: a cancelled callback must not cancel it.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._delivering)
        lost = {tp.partition for tp in revoked if tp.topic == self.kafka.input_topic}
        gone = [s for s, partition in self._series_partition.items() if partition in lost]
        # Each eviction reaches `_on_evict`, so `_forget_gone` drops the rest of their state.
        await self._in_worker(_evict, self.detector, gone)
        self._forget_gone([], Output())
        if gone:
            log.info("dropped the state of %d series of revoked partitions", len(gone))


def _evict(detector: Detector, series: list[str]) -> None:
    for name in series:
        detector.store.evict(name, reason="revoked")
