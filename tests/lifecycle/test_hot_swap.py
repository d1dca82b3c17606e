"""A running detector follows the registry: promote, refuse, roll back, with no gap."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from stream_ae.cli.main import main
from stream_ae.core.records import Alert, AlertState, Point
from stream_ae.lifecycle.registry import ModelRegistry
from stream_ae.metrics import ServiceMetrics
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.service import DetectorService
from stream_ae.settings import Settings

from ..service.conftest import base_settings, prefix, produce_points, sine_points, wait_for
from .conftest import counted

SERIES = ["pump-1", "pump-2", "fan-3"]


def copy_version(
    artifact: Path, root: Path, name: str, fit_scores: dict[str, list[float]] | None = None
) -> Path:
    """The same weights published under another version name; `fit_scores`, if given,
    replace the manifest's (the scores each series' threshold starts from)."""
    target = root / name
    shutil.copytree(artifact, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["model_version"] = name
    if fit_scores is not None:
        manifest["fit_scores"] = fit_scores
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


@dataclass
class Running:
    service: DetectorService
    alerts: list[Alert]
    registry: ModelRegistry
    topic: str

    def serving(self) -> str:
        return self.service.detector.serving.version


def lifecycle_settings(broker: EmbeddedBroker, tmp_path: Path, **retrain: object) -> Settings:
    """Small model, a registry polled every 0.2 s, 3-of-5 alerts; rollback off."""
    base = base_settings(tmp_path, broker.address, prefix()).model_dump()
    base["model"] |= {"registry_poll_s": 0.2, "rollback_alert_rate": 0.0}
    base["alerts"] = {"open_k": 3, "open_n": 5, "resolve_after": 3, "cooldown": 5}
    base["retrain"] = {"min_windows": 100, **retrain}
    return Settings.model_validate(base)


@contextmanager
def serving_version_a(settings: Settings, artifact: Path) -> Iterator[Running]:
    """A detector on a thread, serving version A of a fresh registry."""
    registry = ModelRegistry(settings.model.artifact_dir)
    copy_version(artifact, registry.root, "A")
    registry.promote("A")
    alerts: list[Alert] = []
    service = DetectorService(
        settings, on_alert=alerts.append, metrics=ServiceMetrics(CollectorRegistry())
    )
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(service.run(stop),))
    thread.start()
    try:
        yield Running(service, alerts, registry, settings.kafka.input_topic)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)


@pytest.fixture
def running(broker: EmbeddedBroker, artifact: Path, tmp_path: Path) -> Iterator[Running]:
    with serving_version_a(lifecycle_settings(broker, tmp_path), artifact) as run:
        yield run


def feed(broker: EmbeddedBroker, run: Running, points: list[Point], upto: int) -> None:
    produce_points(broker.address, run.topic, points)
    wait_for(lambda: run.service.stats.points >= upto, f"{upto} points scored")


def test_promote_then_rollback_swaps_without_a_gap_or_a_storm(
    broker: EmbeddedBroker, artifact: Path, running: Running
) -> None:
    points = sine_points(SERIES, 900, spikes={})
    steps = [points[i : i + 300 * len(SERIES)] for i in range(0, len(points), 300 * len(SERIES))]
    assert running.serving() == "A"
    feed(broker, running, steps[0], len(steps[0]))

    copy_version(artifact, running.registry.root, "B")
    assert main(["model", "promote", "B", "--force", "--registry", str(running.registry.root)]) == 0
    wait_for(lambda: running.service.detector.in_shadow is not None, "B loaded in shadow")
    feed(broker, running, steps[1], len(steps[0]) + len(steps[1]))
    assert running.serving() == "B"  # warm on every series within 300 points

    assert main(["model", "rollback", "--registry", str(running.registry.root)]) == 0
    wait_for(
        lambda: (
            (shadow := running.service.detector.in_shadow) is not None and shadow.version == "A"
        ),
        "A back in shadow",
    )
    feed(broker, running, steps[2], len(points))
    assert running.serving() == "A"

    assert running.service.stats.points == len(points)  # every point scored, no gap
    scored = counted(running.service.metrics, "stream_ae_windows_scored_total")
    assert scored == len(points) - len(SERIES) * (16 - 1)
    opened = [a for a in running.alerts if a.state is AlertState.OPEN]
    assert len(opened) <= 1, opened  # clean data: no storm at either swap


def test_a_corrupt_promotion_leaves_the_old_model_serving(
    broker: EmbeddedBroker, artifact: Path, running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="stream_ae.lifecycle.watch")
    bad = copy_version(artifact, running.registry.root, "broken")
    (bad / "model.pt").write_bytes((bad / "model.pt").read_bytes()[:100])  # truncated
    running.registry.promote("broken")
    wait_for(
        lambda: (
            counted(
                running.service.metrics, "stream_ae_model_reload_failures_total", reason="corrupt"
            )
            == 1
        ),
        "the refusal counted",
    )

    points = sine_points(SERIES, 200, spikes={"pump-2": 150})
    feed(broker, running, points, len(points))
    assert running.serving() == "A" and running.service.detector.in_shadow is None
    assert any(a.series == "pump-2" and a.model_version == "A" for a in running.alerts)
    (record,) = [r for r in caplog.records if "refused" in r.getMessage()]
    assert "model broken refused, A keeps serving" in record.getMessage()
    assert "sha256 mismatch" in record.getMessage()


def test_a_swap_followed_by_an_alert_storm_rolls_back_by_itself(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="stream_ae.lifecycle.watch")
    raw = lifecycle_settings(broker, tmp_path, drift="off").model_dump()
    raw["model"] |= {"rollback_alert_rate": 0.01, "rollback_check_windows": 450}
    # Batches of at most 60 points: B is judged on 450 to 509 windows, however the
    # broker's fetches happen to cut the stream.
    raw["kafka"]["max_batch_points"] = 60
    settings = Settings.model_validate(raw)
    points = sine_points(SERIES, 900, spikes={})  # calm data: any storm is the model's
    steps = [points[i : i + 300 * len(SERIES)] for i in range(0, len(points), 300 * len(SERIES))]
    # B's manifest starts every series' threshold from 0.6 x the model's scores on
    # its training windows, so it judges at once (no shadow warm-up) and pages on
    # ordinary windows: a model whose fit scores do not describe live data.
    fitted = json.loads((artifact / "manifest.json").read_text())["fit_scores"]
    low = [0.6 * s for s in next(iter(fitted.values()))]
    with serving_version_a(settings, artifact) as run:
        feed(broker, run, steps[0], len(steps[0]))
        copy_version(artifact, run.registry.root, "B", fit_scores=dict.fromkeys(SERIES, low))
        run.registry.promote("B")
        wait_for(lambda: run.service.detector.in_shadow is not None, "B loaded in shadow")
        feed(broker, run, steps[1], 2 * len(steps[0]))
        assert run.serving() == "B"

        wait_for(lambda: run.registry.current() == "A", "the registry rolled back to A")
        assert counted(run.service.metrics, "stream_ae_model_rollbacks_total") == 1
        pointer = json.loads((run.registry.root / "current").read_text())
        assert pointer["reason"].startswith("B opened"), pointer
        wait_for(lambda: run.service.detector.in_shadow is not None, "A loaded in shadow")
        feed(broker, run, steps[2], len(points))
        assert run.serving() == "A"
        assert run.service.stats.points == len(points)  # every point scored through both swaps
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith("model B opened") and "rolled the registry back to A" in m for m in messages
    )
