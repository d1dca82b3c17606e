"""One point dated years ahead must not make live series look idle and get evicted."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from pathlib import Path

import pytest

from stream_ae.connectors.kafka_common import ensure_topics
from stream_ae.core.records import Point
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.service import DetectorService

from .conftest import T0, WINDOW, base_settings, consume_all, encode, prefix, produce, sine_points


def test_a_far_future_point_is_refused_and_live_series_keep_every_window(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = prefix()
    # One partition: the service reads the points in the order they were sent.
    settings = base_settings(tmp_path, broker.address, p, partitions=1)
    window = settings.window.model_copy(update={"max_series": 4, "idle_evict_s": 600.0})
    settings = settings.model_copy(update={"window": window})
    live = ["pump-1", "pump-2", "fan-3"]
    points = sine_points(live, 200, spikes={})
    # After step 100: an outlier dated ten years ahead, then one new series per step
    # (one point each), competing for the store's one free slot.
    at = points.index(Point("pump-1", T0 + 60 * 100, points[300].values))
    late = [Point("clock-wrong", time.time() + 10 * 365 * 86_400, (0.5,))]
    late += [Point(f"new-{t}", T0 + 60 * t + 1, (0.5,)) for t in range(100, 200)]
    rest = points[at:]
    mixed = points[:at]
    for k, point in enumerate(rest):
        mixed.append(point)
        if k % len(live) == len(live) - 1 and late:
            mixed.append(late.pop(0))
    mixed += late

    asyncio.run(ensure_topics(settings.kafka, [settings.kafka.input_topic]))  # 1 partition
    asyncio.run(
        produce(broker.address, f"{p}.points", [(x.series.encode(), encode(x)) for x in mixed])
    )

    async def main() -> DetectorService:
        stop = asyncio.Event()
        service = DetectorService(settings, artifact=artifact)
        task = asyncio.create_task(service.run(stop))
        while service.stats.points < len(mixed) and not task.done():
            await asyncio.sleep(0.2)
        stop.set()
        await task
        return service

    with caplog.at_level(logging.WARNING, logger="stream_ae"):
        service = asyncio.run(main())

    dead = [json.loads(m.value) for m in asyncio.run(consume_all(broker.address, f"{p}.dead"))]
    reasons = Counter(d["reason"] for d in dead)
    assert [d["series"] for d in dead if d["reason"] == "too_far_ahead"] == ["clock-wrong"]
    assert "window.max_ahead_s" in next(d["detail"] for d in dead if d["series"] == "clock-wrong")
    scores = [json.loads(m.value) for m in asyncio.run(consume_all(broker.address, f"{p}.scores"))]
    per_series = Counter(s["series"] for s in scores)
    assert {name: per_series[name] for name in live} == {name: 200 - (WINDOW - 1) for name in live}
    evicted = service.metrics.registry.get_sample_value(
        "stream_ae_series_evicted_total", {"reason": "idle"}
    )
    assert evicted and evicted >= 5  # new series made room for each other, never live ones
    assert reasons["capacity"] + evicted + 1 >= 100  # every new series is accounted for
    lines = [r.getMessage() for r in caplog.records if "evicted (idle)" in r.getMessage()]
    assert lines and all("'new-" in line for line in lines)
    assert "window.max_series" in lines[0]
