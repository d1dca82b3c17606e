"""`stream-ae demo`: the whole service on one machine, scored against a known truth.

It starts the embedded broker, simulates a plant of units with four coupled
channels each (with injected anomalies and lasting faults whose truth is kept),
fits a model on the plant's clean first day as an operator would on history, runs
the detector service against the broker, publishes the plant's stream, prints
alerts as they happen, and ends with a table per kind (detected, delay, point
recall inside the fault, how long the alert stayed open against the fault's
length), precision and false alerts per sensor-day, and a picture.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from stream_ae import wiring
from stream_ae.core.records import Alert, Point
from stream_ae.metrics import ServiceMetrics
from stream_ae.plant.evaluate import Report, evaluate
from stream_ae.plant.simulate import CHANNELS, DEMO_SENSORS, DEMO_STEPS, Plant
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.service import DetectorService
from stream_ae.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoResult:
    report: Report
    points: int
    alerts: list[Alert]
    seconds: float
    picture: Path | None


def demo_settings(bootstrap: str, out: Path, watch: Sequence[str] = ()) -> Settings:
    """Defaults everywhere, except where the demo's broker and files live, the plant's
    channels, and which sensors' scores are exported as gauges besides the top K."""
    return Settings.model_validate(
        {
            "model": {"artifact_dir": str(out / "models"), "max_train_windows": 6000},
            "window": {"channels": list(CHANNELS)},
            "metrics": {"series": list(watch)},
            # The default topics, so `stream-ae alerts --bootstrap ...` reads the demo's.
            "kafka": {"bootstrap": bootstrap, "group_id": "demo"},
        }
    )


def pretrain(settings: Settings, clean: list[list[Point]]) -> Path:
    """Fit on the clean history: every unit's sliding windows of all its channels."""
    from stream_ae.model.publish import train_and_publish

    window = settings.window.length
    values = np.array([[p.values for p in step] for step in clean], dtype=np.float32)
    names = [p.series for p in clean[0]]
    # [windows, channels, window] per unit -> [windows, window, channels]
    windows = [
        np.lib.stride_tricks.sliding_window_view(values[:, k], window, axis=0).swapaxes(1, 2)
        for k in range(len(names))
    ]
    series = [name for name, w in zip(names, windows, strict=True) for _ in range(len(w))]
    stacked = np.concatenate(windows)
    log.info("fitting a model on %d windows of %d sensors' clean history", len(stacked), len(names))
    return train_and_publish(
        series,
        stacked,
        channel_names=CHANNELS,
        config=wiring.train_config(settings),
        root=settings.model.artifact_dir,
        lineage={"source": "simulated plant, clean history"},
    )


async def _publish(bootstrap: str, topic: str, steps: list[list[Point]], speed: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        started, first_ts = time.monotonic(), steps[0][0].ts
        for step in steps:
            if speed > 0:
                due = started + (step[0].ts - first_ts) / speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            for p in step:
                values = dict(zip(CHANNELS, p.values, strict=True))
                body = orjson.dumps({"series": p.series, "ts": p.ts, "values": values})
                await producer.send(topic, body, key=p.series.encode())
        await producer.flush()
    finally:
        await producer.stop()


def run_demo(
    out: Path,
    *,
    sensors: int = DEMO_SENSORS,
    steps: int = DEMO_STEPS,
    seed: int = 0,
    speed: float = 0.0,
    echo: bool = True,
    picture: bool = True,
    metrics_address: str = "127.0.0.1:0",
    watch: Sequence[str] = (),
) -> DemoResult:
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    plant = Plant(sensors, seed)
    stream = list(plant.points(steps))
    total = sum(len(step) for step in stream)
    alerts: list[Alert] = []

    def on_alert(alert: Alert) -> None:
        alerts.append(alert)
        if echo:
            from stream_ae.runtime.console import describe

            print(describe(alert), flush=True)

    with EmbeddedBroker() as broker:
        print(f"broker listening on {broker.address}", flush=True)
        settings = demo_settings(broker.address, out, watch)
        artifact = pretrain(settings, stream[: plant.clean_steps])
        print(
            f"model {artifact.name} fitted on the first {plant.clean_steps} clean steps; "
            f"streaming {total:,} points of {sensors} units ({', '.join(CHANNELS)})",
            flush=True,
        )

        metrics = ServiceMetrics(CollectorRegistry())
        where = metrics.serve(metrics_address)
        print(f"detector metrics on http://{where}/metrics", flush=True)
        print(
            f"follow its alerts: stream-ae alerts --follow --bootstrap {broker.address}", flush=True
        )

        async def main() -> None:
            stop = asyncio.Event()
            service = DetectorService(
                settings, artifact=artifact, on_alert=on_alert, metrics=metrics
            )
            task = asyncio.create_task(service.run(stop))
            await _publish(broker.address, settings.kafka.input_topic, stream, speed)
            while service.stats.points < total and not task.done():
                await asyncio.sleep(0.2)
            stop.set()
            await task

        asyncio.run(main())
    window_s = settings.window.length * plant.interval_s
    report = evaluate(
        alerts,
        plant.truth,
        grace_s=window_s,
        sensor_days=plant.sensor_days,
        step_s=plant.interval_s,
    )
    drawn = None
    if picture:
        from stream_ae.pictures.plant import plot_sensors, series_arrays

        points = (p for step in stream for p in step)
        drawn = plot_sensors(
            series_arrays(points), alerts, plant.truth, out / "demo.png", channels=CHANNELS
        )
    return DemoResult(report, total, alerts, time.monotonic() - started, drawn)
