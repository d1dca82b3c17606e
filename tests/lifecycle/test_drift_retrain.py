"""Drift in a running detector starts the retrain job in its own process; the candidate
it promotes reaches the detector through the registry, with no point left unscored."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from stream_ae.core.records import Point
from stream_ae.metrics import ServiceMetrics
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.retrain_schedule import RetrainScheduler
from stream_ae.settings import Settings

from ..service.conftest import produce_points, sine_points, wait_for
from .test_hot_swap import feed, lifecycle_settings, serving_version_a


def shifted(points: list[Point], series: str, start_ts: float, by: float) -> list[Point]:
    return [
        dataclasses.replace(p, values=(p.values[0] + by,))
        if p.series == series and p.ts >= start_ts
        else p
        for p in points
    ]


def test_a_level_shift_drifts_and_the_retrained_model_takes_over(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stream_ae")
    settings = lifecycle_settings(
        broker, tmp_path, since_s=3600, drift_cooldown_s=0, max_error_ratio=100.0
    )
    points = sine_points(["pump-1", "pump-2"], 1000, spikes={})
    t_shift = points[2 * 400].ts
    points = shifted(points, "pump-1", t_shift, 3.0)
    with serving_version_a(settings, artifact) as run:
        feed(broker, run, points[: 2 * 600], 2 * 600)
        wait_for(lambda: run.service.metrics.drifts._value.get() >= 1, "a drift")
        wait_for(lambda: run.registry.current() != "A", "the retrained model promoted", 300)
        new = run.registry.current()

        def in_shadow() -> str | None:
            shadow = run.service.detector.in_shadow
            return None if shadow is None else shadow.version

        wait_for(lambda: in_shadow() == new, "the new model loaded in shadow")
        produce_points(broker.address, run.topic, points[2 * 600 :])
        wait_for(lambda: run.serving() == new, "the new model serving", 300)
        wait_for(lambda: run.service.stats.points == len(points), "every point scored")

        runs = run.service.metrics.retrain_runs
        wait_for(lambda: runs.labels(result="promoted")._value.get() == 1, "the job's end")
        assert runs.labels(result="failed")._value.get() == 0
        manifest = run.registry.get(str(new)).manifest
        assert manifest["training"]["parent"] == "A"
        messages = [r.getMessage() for r in caplog.records]
        assert any("pump-1 drifted; asking for a retrain" in m for m in messages)
        assert not any("pump-2 drifted" in m for m in messages)
        assert any(m.startswith("retrain job started") and "drift in pump-1" in m for m in messages)
        assert any(m.startswith(f"model {new} now serves (was A)") for m in messages)


def test_the_schedule_honours_interval_and_cooldown() -> None:
    now = [0.0]
    settings = (
        lifecycle_settings.__wrapped__ if hasattr(lifecycle_settings, "__wrapped__") else None
    )
    del settings

    def scheduler(**retrain: float) -> RetrainScheduler:
        s = Settings.model_validate({"retrain": retrain})
        return RetrainScheduler(s, ServiceMetrics(CollectorRegistry()), clock=lambda: now[0])

    every_hour = scheduler(interval_s=3600)
    now[0] = 3599
    assert every_hour.due() is None
    now[0] = 3600
    assert every_hour.due() == "every 3600 s"

    now[0] = 0
    on_drift = scheduler(interval_s=0, drift_cooldown_s=600)
    on_drift.request("drift in pump-1")
    assert on_drift.due() is None  # within the cooldown since the service started
    now[0] = 600
    assert on_drift.due() == "drift in pump-1"
