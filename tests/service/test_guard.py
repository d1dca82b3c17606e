"""No message can stop `stream-ae run`: an error while scoring is isolated to the points
it hits, which go to the dead letters with an id the log's traceback carries."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_ae.core.records import Point, ScoreBatch
from stream_ae.core.scoring import Scorer
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.service import DetectorService
from stream_ae.settings import Settings

from .conftest import T0, WINDOW, base_settings, consume_all, encode, prefix, produce, sine_points

POISON = 1000.0
"""A raw value no sine point comes near: the failing scorer recognises its window."""


class FailsOnPoison:
    """Wraps the serving scorer; raises on any batch holding a window that ends in a
    point far outside the series' range (a bug triggered by one input)."""

    def __init__(self, inner: Scorer) -> None:
        self.inner = inner
        self.name, self.version, self.device = inner.name, inner.version, inner.device
        self.window, self.channels = inner.window, inner.channels
        self.raised = 0

    def score(self, windows: np.ndarray) -> ScoreBatch:
        if (windows[:, -1, 0] > 8.0).any():  # only POISON, even scaled by its own spread
            self.raised += 1
            raise RuntimeError("scorer bug triggered by one window")
        return self.inner.score(windows)


def serve_until(settings: Settings, artifact: Path, points: int) -> DetectorService:
    async def main() -> DetectorService:
        stop = asyncio.Event()
        service = DetectorService(settings, artifact=artifact)
        service.detector.lanes[0].scorer = FailsOnPoison(service.detector.lanes[0].scorer)
        task = asyncio.create_task(service.run(stop))
        while service.stats.points < points and not task.done():
            await asyncio.sleep(0.2)
        stop.set()
        await task
        return service

    return asyncio.run(main())


async def committed(settings: Settings) -> dict[int, int]:
    k = settings.kafka
    consumer = AIOKafkaConsumer(bootstrap_servers=k.bootstrap, group_id=k.group_id)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(k.input_topic) or set()
        if not parts:
            await consumer.topics()
            parts = consumer.partitions_for_topic(k.input_topic) or set()
        out = {}
        for p in parts:
            out[p] = await consumer.committed(TopicPartition(k.input_topic, p)) or 0
        return out
    finally:
        await consumer.stop()


def test_a_point_that_breaks_the_scorer_is_dead_lettered_and_the_rest_scored(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = prefix()
    settings = base_settings(tmp_path, broker.address, p)
    names = ["pump-1", "pump-2", "fan-3"]
    points = sine_points(names, 200, spikes={})
    poison_at = points.index(
        next(x for x in points if x.series == "pump-2" and x.ts == T0 + 60 * 150)
    )
    points[poison_at] = Point("pump-2", T0 + 60 * 150, (POISON,))
    messages = [(x.series.encode(), encode(x)) for x in points]
    asyncio.run(produce(broker.address, f"{p}.points", messages))

    with caplog.at_level(logging.ERROR, logger="stream_ae"):
        service = serve_until(settings, artifact, len(points))

    dead = [json.loads(m.value) for m in asyncio.run(consume_all(broker.address, f"{p}.dead"))]
    assert [(d["reason"], d["series"], d["ts"]) for d in dead] == [
        ("internal_error", "pump-2", T0 + 60 * 150)
    ]
    error_id = re.search(r"error ([0-9a-f]{12})", dead[0]["detail"])
    assert error_id, dead[0]["detail"]
    logged = [r for r in caplog.records if error_id.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info and logged[0].exc_info[0] is RuntimeError
    scores = [json.loads(m.value) for m in asyncio.run(consume_all(broker.address, f"{p}.scores"))]
    assert len(scores) == len(points) - len(names) * (WINDOW - 1) - 1
    assert (T0 + 60 * 150) not in {s["ts"] for s in scores if s["series"] == "pump-2"}
    offsets = asyncio.run(committed(settings))
    assert sum(offsets.values()) == len(points)  # committed past the poison point
    rejected = service.metrics.registry.get_sample_value(
        "stream_ae_points_rejected_total", {"reason": "internal_error"}
    )
    assert rejected == 1

    # A restart re-reads the poison point to rebuild its windows: it fails again there,
    # is logged, and the service goes on with new points.
    later = sine_points(names, 230, spikes={})[len(points) :]
    asyncio.run(
        produce(broker.address, f"{p}.points", [(x.series.encode(), encode(x)) for x in later])
    )
    again = serve_until(settings, artifact, len(later))
    assert again.stats.points == len(later)
    assert again.stats.dead_letters == 0  # the rebuild's refusal was sent the first time
    assert isinstance(again.detector.lanes[0].scorer, FailsOnPoison)
    assert again.detector.lanes[0].scorer.raised >= 1
    assert sum(asyncio.run(committed(settings)).values()) == len(points) + len(later)
