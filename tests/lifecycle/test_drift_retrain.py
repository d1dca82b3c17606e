"""Drift in a running detector starts the retrain job in its own process; the candidate
it promotes reaches the detector through the registry, with no point left unscored."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from stream_ae import wiring
from stream_ae.core.records import Alert, AlertState, Point
from stream_ae.lifecycle.dataset import cut_windows
from stream_ae.lifecycle.schedule import RetrainScheduler
from stream_ae.metrics import ServiceMetrics
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import Settings

from ..service.conftest import T0, WINDOW, base_settings, produce_points, sine_points, wait_for
from .conftest import counted
from .test_hot_swap import Running, feed, lifecycle_settings, serving_version_a


def shifted(points: list[Point], series: str, start_ts: float, by: float) -> list[Point]:
    return [
        dataclasses.replace(p, values=(p.values[0] + by,))
        if p.series == series and p.ts >= start_ts
        else p
        for p in points
    ]


@pytest.fixture(scope="module")
def two_pumps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version A knows pump-1 and pump-2 at their old level: each has its fixed scale."""
    root = tmp_path_factory.mktemp("two-pumps")
    settings = base_settings(root, "unused:1", "unused")
    points = sine_points(["pump-1", "pump-2"], 600, spikes={})
    windows = cut_windows(points, wiring.window_store(settings, 1))
    return wiring.publish_fit(
        settings, windows.series, windows.values, ("value",), root, {}, progress=False
    )


def in_shadow(run: Running) -> str | None:
    shadow = run.service.detector.in_shadow
    return None if shadow is None else shadow.version


def steps(alerts: list[Alert], series: str, a: bool) -> list[int]:
    """The time steps (see sine_points) at which version A (or, with `a` False, any
    retrained version) opened incidents on `series`."""
    return [
        round((alert.ts - T0) / 60)
        for alert in alerts
        if alert.series == series
        and (alert.model_version == "A") == a
        and alert.state is AlertState.OPEN
    ]


def test_a_level_shift_becomes_normal_through_drift_and_retrain_and_a_spike_still_alerts(
    broker: EmbeddedBroker, two_pumps: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stream_ae")
    settings = lifecycle_settings(broker, tmp_path, since_s=3600, drift_cooldown_s=0)
    points = sine_points(["pump-1", "pump-2"], 1500, spikes={"pump-1": 1300})
    points = shifted(points, "pump-1", points[2 * 600].ts, 3.0)
    with serving_version_a(settings, two_pumps) as run:
        # Under A the +3 shift opens an incident and drifts. The retrain waits for the
        # incident to resolve: the job leaves incidents out, so it would learn the old level.
        feed(broker, run, points[: 2 * 700], 2 * 700)
        wait_for(
            lambda: counted(run.service.metrics, "stream_ae_drift_detected_total") >= 1, "a drift"
        )
        assert run.service.detector.with_open_incident(["pump-1", "pump-2"]) == ["pump-1"]

        def waiting() -> bool:
            return any(
                "waits until the open incident of pump-1" in r.getMessage() for r in caplog.records
            )

        wait_for(waiting, "the scheduler to hold the retrain")  # it looks once a second
        assert not run.service.retrains.running
        # The threshold escapes to the new level (about step 820) and resolves it.
        feed(broker, run, points[2 * 700 : 2 * 1100], 2 * 1100)
        wait_for(lambda: run.registry.current() != "A", "the retrained model promoted", 300)
        new = str(run.registry.current())
        # A's scores may drift again and retrain once more: any version but A will do.
        wait_for(lambda: in_shadow(run) not in (None, "A"), "the new model loaded in shadow")
        # The rest carries a spike at step 1300, after the new model has warmed up.
        produce_points(broker.address, run.topic, points[2 * 1100 :])
        wait_for(lambda: run.service.stats.points == len(points), "every point scored")
        lanes = run.service.detector.lanes
        assert run.serving() != "A", [(lane.scorer.version, lane.shadow_windows) for lane in lanes]

        messages = [r.getMessage() for r in caplog.records]
        assert any("pump-1 drifted; asking for a retrain" in m for m in messages)
        assert not any("pump-2 drifted" in m for m in messages)
        assert [t for t in steps(run.alerts, "pump-1", a=True) if 600 <= t < 616]
        assert steps(run.alerts, "pump-2", a=False) == []
        caught = steps(run.alerts, "pump-1", a=False)
        assert caught and all(1300 <= t < 1300 + WINDOW for t in caught), caught

        holdout = run.registry.get(new).manifest["validation"]["holdout"]
        assert (
            holdout["candidate"]["p99"]
            <= settings.retrain.max_error_ratio * (holdout["serving"]["p99"])
        )
        assert run.registry.get(new).manifest["training"]["parent"] == "A"
        assert counted(run.service.metrics, "stream_ae_retrain_runs_total", result="failed") == 0


def test_the_schedule_honours_interval_and_cooldown() -> None:
    now = [0.0]

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


def test_a_drift_retrain_waits_while_a_drifted_series_has_an_incident_open() -> None:
    s = Settings.model_validate({"retrain": {"drift_cooldown_s": 0}})
    scheduler = RetrainScheduler(s, ServiceMetrics(CollectorRegistry()), clock=lambda: 0.0)
    scheduler.request("drift in pump-1", ["pump-1"])
    asked: list[list[str]] = []

    def pump_1_open(series: Sequence[str]) -> list[str]:
        asked.append(list(series))
        return [name for name in series if name == "pump-1"]

    assert scheduler.due(pump_1_open) is None
    assert asked == [["pump-1"]]
    assert scheduler.due(lambda series: []) == "drift in pump-1"


def test_a_series_that_keeps_drifting_is_logged_once_while_its_retrain_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A spike that recurs makes a series drift again after every reset of its watch;
    # within the cooldown each drift used to log the same line again.
    s = Settings.model_validate({"retrain": {"interval_s": 0, "drift_cooldown_s": 3600}})
    scheduler = RetrainScheduler(s, ServiceMetrics(CollectorRegistry()), clock=lambda: 0.0)
    caplog.set_level(logging.WARNING, logger="stream_ae")
    for drifted in (["pump-1"], ["pump-1"], ["pump-1", "pump-2"], ["pump-2", "pump-1"]):
        scheduler.ask_for_drift(drifted)
    assert [r.getMessage() for r in caplog.records] == [
        "the scores of pump-1 drifted; asking for a retrain",
        "the scores of pump-2 drifted; asking for a retrain",
    ]
    assert scheduler.due() is None  # still within the cooldown: asked, not started


def test_a_drift_retrain_names_every_series_waiting_for_it() -> None:
    s = Settings.model_validate({"retrain": {"interval_s": 0, "drift_cooldown_s": 0}})
    scheduler = RetrainScheduler(s, ServiceMetrics(CollectorRegistry()), clock=lambda: 0.0)
    scheduler.ask_for_drift(["pump-2"])
    scheduler.ask_for_drift(["pump-1"])
    assert scheduler.due() == "drift in pump-1, pump-2"


def test_a_drift_ask_names_at_most_five_series() -> None:
    s = Settings.model_validate({"retrain": {"interval_s": 0, "drift_cooldown_s": 0}})
    scheduler = RetrainScheduler(s, ServiceMetrics(CollectorRegistry()), clock=lambda: 0.0)
    scheduler.ask_for_drift([f"s{i}" for i in range(7)])
    assert scheduler.due() == "drift in s0, s1, s2, s3, s4 and 2 more"
