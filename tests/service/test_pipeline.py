"""The next batch is scored while the last one's alerts wait for their acknowledgements,
and offsets are still committed strictly in batch order, each after its own batch's
messages were acknowledged."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from stream_ae.connectors.kafka_source import Position, SourceBatch
from stream_ae.core.output import Output
from stream_ae.core.records import Point
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.service import DetectorService

from .conftest import base_settings, encode, prefix, produce, sine_points

HOLD_LIMIT_S = 60.0
"""Only ends a hung wait: without pipelining the second batch never scores while the
first send is held, and the test then fails on what it recorded, not on time."""


def test_the_next_batch_scores_while_the_last_ones_acks_are_awaited(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    p = prefix()
    settings = base_settings(tmp_path, broker.address, p, max_batch_points=60)
    points = sine_points(["pump-1", "pump-2"], 150, spikes={})
    asyncio.run(
        produce(broker.address, f"{p}.points", [(x.series.encode(), encode(x)) for x in points])
    )
    events: list[tuple[str, Any]] = []

    async def main() -> None:
        stop = asyncio.Event()
        service = DetectorService(settings, artifact=artifact)
        second_scored = asyncio.Event()
        score_batch, send, commit = service._score_batch, service.sink.send, service.source.commit

        async def scoring(batch: Any) -> Any:
            result = await score_batch(batch)
            events.append(("scored", len(batch)))
            if sum(kind == "scored" for kind, _ in events) >= 2:
                second_scored.set()
            return result

        async def sending(messages: Any) -> None:
            if not any(e[0] == "sent" for e in events):  # hold the first batch's send
                try:
                    await asyncio.wait_for(second_scored.wait(), HOLD_LIMIT_S)
                except TimeoutError:
                    events.append(("held send timed out", None))
            await send(messages)
            events.append(("sent", len(messages)))

        async def committing(offsets: dict[TopicPartition, int]) -> None:
            events.append(("committing", sum(offsets.values())))
            await commit(offsets)

        service._score_batch = scoring  # type: ignore[method-assign]
        service.sink.send = sending  # type: ignore[method-assign]
        service.source.commit = committing  # type: ignore[method-assign]
        task = asyncio.create_task(service.run(stop))
        while service.stats.points < len(points) and not task.done():
            await asyncio.sleep(0.1)
        stop.set()
        await task

    asyncio.run(main())
    kinds = [kind for kind, _ in events]
    assert "held send timed out" not in kinds
    # Batch 2 was scored before batch 1's send completed...
    assert kinds.index("scored") < kinds.index("sent")
    assert [k for k in kinds if k in ("scored", "sent")][:3] == ["scored", "scored", "sent"]
    # ...and every commit follows its own send, in order, never moving back.
    order = [k for k in kinds if k in ("sent", "committing")]
    assert order == ["sent", "committing"] * (len(order) // 2)
    totals = [v for k, v in events if k == "committing"]
    assert totals == sorted(totals) and totals[-1] == len(points)


def test_a_revocation_waits_for_the_delivery_in_flight_and_leaves_its_failure_to_the_processor(
    artifact: Path, tmp_path: Path
) -> None:
    # The revocation used to take the task over: a processor waiting meanwhile saw none
    # in flight and could start a second delivery beside it, and a failure raised inside
    # the rebalance callback, where aiokafka only logs it.
    settings = base_settings(tmp_path, "127.0.0.1:1", prefix())

    async def main(fails: bool) -> tuple[bool, str]:
        service = DetectorService(settings, artifact=artifact)
        release = asyncio.Event()

        async def held() -> None:
            await release.wait()
            if fails:
                raise RuntimeError("the broker refused the batch")

        service._delivering = asyncio.create_task(held())
        revoking = asyncio.create_task(service._on_revoke(set()))
        processing = asyncio.create_task(service._delivered())
        for _ in range(20):
            await asyncio.sleep(0)
        still_in_flight = service._delivering is not None and not revoking.done()
        release.set()
        await revoking  # never raises: the failure is the processor's
        try:
            await processing
            outcome = "delivered"
        except RuntimeError as exc:
            outcome = str(exc)
        return still_in_flight, outcome

    assert asyncio.run(main(fails=False)) == (True, "delivered")
    assert asyncio.run(main(fails=True)) == (True, "the broker refused the batch")


def test_a_batch_already_waiting_goes_to_the_worker_before_the_fetcher_reads_on(
    artifact: Path, tmp_path: Path
) -> None:
    # Under load every batch waits in the queue while the one before it is scored. The
    # processor used to wait on the queue even then, and the room its take made woke
    # the fetcher first: a fetch of messages already buffered decodes without yielding
    # the event loop, so the worker sat idle through one more fetch per batch (a
    # quarter of the time at the maximum rate in benchmarks/speed.py).
    settings = base_settings(tmp_path, "127.0.0.1:1", prefix())
    queue_room = settings.kafka.max_queued_batches
    batches = 8

    async def main() -> list[tuple[str, int]]:
        service = DetectorService(settings, artifact=artifact)
        events: list[tuple[str, int]] = []
        stop = asyncio.Event()

        async def next_batch() -> SourceBatch:  # buffered messages: it never suspends
            fetched = sum(kind == "fetched" for kind, _ in events)
            if fetched == batches:
                stop.set()
                return SourceBatch("points")
            events.append(("fetched", fetched + 1))
            return SourceBatch("points", messages=fetched + 1)  # messages: its number

        async def score_batch(batch: SourceBatch) -> SourceBatch:
            events.append(("scoring", batch.messages))
            await service._in_worker(time.sleep, 0.01)
            return batch

        async def deliver(scored: SourceBatch) -> None:
            pass

        service.source.next_batch = next_batch  # type: ignore[method-assign]
        service.source.pause = service.source.resume = lambda: None  # type: ignore[method-assign]
        service._score_batch = score_batch  # type: ignore[assignment,method-assign]
        service._deliver = deliver  # type: ignore[assignment,method-assign]
        fetcher = asyncio.create_task(service._fetch(stop))
        await service._process(fetcher)
        service._worker.shutdown()
        return events

    events = asyncio.run(main())
    assert [n for kind, n in events if kind == "scoring"] == list(range(1, batches + 1))
    for k in range(2, batches + 1):
        fetched = max(n for kind, n in events[: events.index(("scoring", k))] if kind == "fetched")
        # The batches waiting when k's turn came, and the one the fetcher holds until
        # there is room: no fetch more went ahead of k.
        assert fetched <= k + queue_room, (k, events)


def test_the_time_a_batch_waits_for_the_scorer_is_its_queue_stage(
    artifact: Path, tmp_path: Path
) -> None:
    # Below the maximum rate most of a point's latency is waiting: for the broker, then
    # for the scorer while the batches before it are scored. The second is its own
    # stage, so that a dashboard tells a busy scorer from a slow broker.
    settings = base_settings(tmp_path, "127.0.0.1:1", prefix(), max_queued_batches=2)
    scoring_s = 0.2

    async def main() -> tuple[float, float]:
        service = DetectorService(settings, artifact=artifact)

        def slow_score(points: object) -> Output:
            time.sleep(scoring_s)
            return Output()

        async def deliver(scored: object) -> None:
            pass

        service._score = slow_score  # type: ignore[method-assign]
        service._deliver = deliver  # type: ignore[method-assign]
        for n in range(2):  # both read at once: the second waits for the first's scoring
            batch = SourceBatch("points", messages=1)
            batch.add(Point("pump", float(n), (0.0,)), Position("points", 0, n), 0.0)
            service._queue.put_nowait(batch)
        fetcher = asyncio.create_task(asyncio.sleep(0))
        await fetcher
        await service._process(fetcher)
        service._worker.shutdown()
        read = service.metrics.registry.get_sample_value
        count = read("stream_ae_stage_seconds_count", {"stage": "queue"})
        total = read("stream_ae_stage_seconds_sum", {"stage": "queue"})
        return count or 0.0, total or 0.0

    count, total = asyncio.run(main())
    assert count == 2
    assert total >= scoring_s  # the second batch waited through the first one's scoring


def test_a_revocation_drops_the_series_last_read_from_the_revoked_partitions(
    artifact: Path, tmp_path: Path
) -> None:
    settings = base_settings(tmp_path, "127.0.0.1:1", prefix())
    topic = settings.kafka.input_topic

    def batch_of(partitions: dict[str, int], offset: int) -> SourceBatch:
        batch = SourceBatch(topic)
        for series, partition in partitions.items():
            batch.add(
                Point(series, 1_700_000_000.0 + offset, (1.0,)),
                Position(topic, partition, offset),
                0.0,
            )
        return batch

    async def main() -> set[str]:
        service = DetectorService(settings, artifact=artifact)
        detector = service.detector
        for offset, partitions in enumerate(
            [{"a": 0, "b": 0, "c": 1}, {"b": 1}]  # b's key moved to partition 1
        ):
            batch = batch_of(partitions, offset)
            detector.process(batch.columns(detector.store.channels))
            service._note_partitions(batch)
        await service._on_revoke({TopicPartition(topic, 0)})
        return {s for s in "abc" if s in detector.store}

    assert asyncio.run(main()) == {"b", "c"}


def rebuild_of(topic: str, partitions: dict[str, int]) -> SourceBatch:
    """A batch of one rebuild point per series, read from the partition given."""
    batch = SourceBatch(topic)
    for series, partition in partitions.items():
        batch.add_rebuild(Point(series, 1_700_000_000.0, (1.0,)), partition=partition)
    return batch


def test_a_revocation_drops_the_series_known_only_from_a_rebuild_too(
    artifact: Path, tmp_path: Path
) -> None:
    # Points re-read to rebuild state after an assignment carried no partition: a series
    # known only from them stayed live after its partition was revoked.
    settings = base_settings(tmp_path, "127.0.0.1:1", prefix())
    topic = settings.kafka.input_topic

    async def main() -> set[str]:
        service = DetectorService(settings, artifact=artifact)
        detector = service.detector
        batch = rebuild_of(topic, {"r": 0, "q": 1})
        detector.process(batch.rebuild)
        service._note_partitions(batch)
        await service._on_revoke({TopicPartition(topic, 0)})
        return {s for s in "rq" if s in detector.store}

    assert asyncio.run(main()) == {"q"}


def test_a_batch_keeps_only_the_rebuild_points_of_partitions_still_assigned() -> None:
    batch = SourceBatch("points")
    batch.add_rebuild(Point("r", 1.0, (1.0,)), partition=0)
    batch.add_rebuild(Point("q", 1.0, (1.0,)), partition=1)
    batch.add(Point("a", 2.0, (1.0,)), Position("points", 0, 5), 0.0)
    batch.keep_partitions({1})
    assert [p.series for p in batch.rebuild] == ["q"]
    assert batch.rebuild_partitions == [1]
    assert batch.series == []


def test_rebuild_points_of_a_partition_revoked_since_they_were_read_are_not_scored(
    artifact: Path, tmp_path: Path
) -> None:
    # A batch of rebuild points alone has no offsets to commit, so the check that cuts a
    # batch to the partitions still assigned looked only at offsets and let them through:
    # their series came alive after the revocation that should have dropped them.
    settings = base_settings(tmp_path, "127.0.0.1:1", prefix())
    topic = settings.kafka.input_topic

    async def main() -> set[str]:
        service = DetectorService(settings, artifact=artifact)
        service.source.assignment = lambda: {TopicPartition(topic, 0)}  # type: ignore[method-assign]
        service.source.lag = lambda: {}  # type: ignore[method-assign]
        batch = rebuild_of(topic, {"kept": 0, "gone": 1})
        await service._score_batch(batch)
        return {s for s in ("kept", "gone") if s in service.detector.store}

    assert asyncio.run(main()) == {"kept"}
