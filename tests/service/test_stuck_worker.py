"""A scoring worker stuck on one batch fails /healthz, so Kubernetes restarts the pod;
the event loop alone running on is not enough to be alive."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np

from stream_ae.core.records import ScoreBatch
from stream_ae.core.scoring import Scorer
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.service import DetectorService

from .conftest import base_settings, prefix, produce_points, sine_points

STALL_S = 2.5
"""metrics.stall_s here: well above the event loop's one-second beat (`keep_beating`), so
a loop slowed by a busy machine does not fail the probe, only the worker can."""


class HangsUntilReleased:
    """Wraps the serving scorer; its first batch blocks until the test releases it
    (a deadlocked device call, say)."""

    def __init__(self, inner: Scorer) -> None:
        self.inner = inner
        self.name, self.version, self.device = inner.name, inner.version, inner.device
        self.window, self.channels = inner.window, inner.channels
        self.entered, self.release = threading.Event(), threading.Event()

    def score(self, windows: np.ndarray) -> ScoreBatch:
        self.entered.set()
        self.release.wait(60)
        return self.inner.score(windows)


def test_a_stuck_scoring_worker_fails_the_liveness_probe(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    p = prefix()
    settings = base_settings(tmp_path, broker.address, p)
    # Well above the event loop's one-second beat, so only the worker can fail the probe.
    metrics = settings.metrics.model_copy(update={"stall_s": STALL_S})
    settings = settings.model_copy(update={"metrics": metrics})
    verdicts: list[tuple[bool, str]] = []

    async def main() -> None:
        stop = asyncio.Event()
        service = DetectorService(settings, artifact=artifact)
        scorer = HangsUntilReleased(service.detector.lanes[0].scorer)
        service.detector.lanes[0].scorer = scorer
        task = asyncio.create_task(service.run(stop))
        await asyncio.to_thread(
            produce_points, broker.address, f"{p}.points", sine_points(["a"], 80, spikes={})
        )
        await asyncio.to_thread(scorer.entered.wait, 60)
        verdicts.append(service.health.live())  # just entered: still alive
        await asyncio.sleep(STALL_S + 1.0)
        verdicts.append(service.health.live())  # on one batch for longer than stall_s
        scorer.release.set()
        while service.stats.points == 0 and not task.done():
            await asyncio.sleep(0.1)
        verdicts.append(service.health.live())
        stop.set()
        await task

    asyncio.run(main())
    assert verdicts[0][0] is True
    assert verdicts[1][0] is False and "scoring worker" in verdicts[1][1]
    assert verdicts[2] == (True, "alive")


def test_a_first_fit_the_stream_waits_for_does_not_fail_the_liveness_probe(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    p = prefix()
    settings = base_settings(tmp_path, broker.address, p)
    settings = settings.model_copy(
        update={
            "metrics": settings.metrics.model_copy(update={"stall_s": STALL_S}),
            "cold_start": settings.cold_start.model_copy(update={"fit_mode": "wait"}),
        }
    )
    during: list[tuple[bool, str]] = []

    async def main() -> None:
        stop = asyncio.Event()
        service = DetectorService(settings, artifact=None)
        first_fit = service.first_fit
        assert first_fit is not None and first_fit.blocking
        fit = first_fit._fit

        def slow_fit(*args: object) -> object:
            time.sleep(STALL_S + 1.0)  # a fit takes minutes on a CPU; longer than stall_s
            during.append(service.health.live())
            return fit(*args)

        first_fit._fit = slow_fit
        task = asyncio.create_task(service.run(stop))
        points = sine_points(["a", "b"], 200, spikes={})
        await asyncio.to_thread(produce_points, broker.address, f"{p}.points", points)
        while first_fit.installed is None and first_fit.error is None and not task.done():
            await asyncio.sleep(0.1)
        stop.set()
        await task

    asyncio.run(main())
    assert during and during[0][0] is True  # alive: a long fit is not a stuck worker
