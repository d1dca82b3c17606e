import asyncio
import json
import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from stream_ae.errors import StreamAEError
from stream_ae.metrics import ServiceMetrics
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.service import DetectorService
from stream_ae.settings import Settings

from .conftest import (
    T0,
    base_settings,
    consume_all,
    encode,
    prefix,
    produce,
    sine_points,
    wait_for,
)


def run_service(
    settings: Settings,
    artifact: Path | None,
    until_points: int,
    metrics: ServiceMetrics | None = None,
) -> DetectorService:
    """Run a detector in this process until it has scored `until_points`, then stop it."""

    async def main() -> DetectorService:
        stop = asyncio.Event()
        service = DetectorService(settings, artifact=artifact, metrics=metrics)
        task = asyncio.create_task(service.run(stop))
        while service.stats.points < until_points and not task.done():
            await asyncio.sleep(0.2)
        stop.set()
        await task
        return service

    return asyncio.run(main())


def test_points_in_alerts_out(broker: EmbeddedBroker, artifact: Path, tmp_path: Path) -> None:
    p = prefix()
    settings = base_settings(tmp_path, broker.address, p)
    watch = settings.metrics.model_copy(update={"series": ["fan-3"], "top_k": 1})
    settings = settings.model_copy(update={"metrics": watch})
    points = sine_points(["pump-1", "pump-2", "fan-3"], 500, spikes={"pump-2": 400})
    asyncio.run(
        produce(broker.address, f"{p}.points", [(x.series.encode(), encode(x)) for x in points])
    )
    metrics = ServiceMetrics(CollectorRegistry())
    endpoint = metrics.serve("127.0.0.1:0")
    service = run_service(settings, artifact, until_points=len(points), metrics=metrics)

    alerts = asyncio.run(consume_all(broker.address, f"{p}.alerts"))
    opened = [json.loads(m.value) for m in alerts if json.loads(m.value)["state"] == "open"]
    spike = [a for a in opened if a["series"] == "pump-2" and a["ts"] == T0 + 60 * 400]
    assert spike, f"no alert at the spike; opened: {[(a['series'], a['ts']) for a in opened]}"
    message = next(m for m in alerts if json.loads(m.value)["alert_id"] == spike[0]["alert_id"])
    assert message.key == b"pump-2"
    assert dict(message.headers)["alert_id"].decode() == spike[0]["alert_id"]
    assert spike[0]["scorer"] == "lstm-ae"
    assert spike[0]["contributors"][0]["actual"] == pytest.approx(6.0, abs=0.3)  # + noise
    assert service.stats.points == len(points)

    scraped = urllib.request.urlopen(f"http://{endpoint}/metrics").read().decode()
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in scraped.splitlines()
        if line and not line.startswith("#")
    }
    assert values["stream_ae_points_consumed_total"] == len(points)
    assert values["stream_ae_windows_scored_total"] == len(points) - 3 * (16 - 1)
    counted = sum(
        v
        for k, v in values.items()
        if k.startswith("stream_ae_alerts_total{") and 'state="open"' in k
    )
    assert counted == len(opened)  # every open alert on the topic, counted once
    for stage in ("fetch", "decode", "queue", "score", "send", "commit"):
        assert values[f'stream_ae_stage_seconds_count{{stage="{stage}"}}'] >= 1
    assert values["stream_ae_series_tracked"] == 3
    assert values["stream_ae_series_warming_up"] == 0
    assert values["stream_ae_dead_letters_total"] == 0
    info = next(k for k in values if k.startswith("stream_ae_model_info{"))
    assert 'device="cpu"' in info and 'scorer="lstm-ae"' in info
    # Series ids appear only on the watched gauges: the allow-list and the top 1.
    labelled = [k for k in values if "pump" in k or "fan" in k]
    assert all(
        k.startswith(("stream_ae_series_score{", "stream_ae_series_threshold{")) for k in labelled
    )
    watched = {k.split('"')[1] for k in labelled}
    assert len(service.watched.top) == 1
    assert watched == {"fan-3", *service.watched.top}


def test_malformed_input_goes_to_dead_letters_and_scoring_goes_on(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    p = prefix()
    settings = base_settings(tmp_path, broker.address, p)
    good = sine_points(["pump-1"], 200, spikes={})
    bad: list[tuple[bytes | None, bytes]] = [
        (b"x", b"{not json"),
        (b"x", json.dumps({"series": "x", "ts": "yesterday", "value": 1.0}).encode()),
        (b"x", json.dumps({"series": "x", "ts": T0, "value": "high"}).encode()),
        (b"x", b'{"series": "x", "ts": 1700000000, "value": NaN}'),
        (b"x", json.dumps({"series": "x", "value": 1.0}).encode()),
        (b"x", b"\xff\xfe\x00garbage"),
        (b"x", b'{"series": "x", "ts": 1700000000, "value": "' + b"9" * 10_000_000 + b'"}'),
    ]
    messages = [(x.series.encode(), encode(x)) for x in good[:100]] + bad
    messages += [(x.series.encode(), encode(x)) for x in good[100:]]
    asyncio.run(produce(broker.address, f"{p}.points", messages))
    service = run_service(settings, artifact, until_points=len(good))

    dead = [orjson.loads(m.value) for m in asyncio.run(consume_all(broker.address, f"{p}.dead"))]
    assert len(dead) == len(bad) == service.stats.dead_letters
    dead_total = service.metrics.registry.get_sample_value("stream_ae_dead_letters_total")
    assert dead_total == len(bad)
    assert all(d["source"]["topic"] == f"{p}.points" and d["detail"] for d in dead)
    assert {d["reason"] for d in dead} == {"malformed", "non_finite"}
    assert any("kafka.max_message_bytes" in d["detail"] for d in dead)
    offsets = sorted(d["source"]["offset"] for d in dead)
    assert len(set(offsets)) == len(bad)
    scores = asyncio.run(consume_all(broker.address, f"{p}.scores"))
    assert len(scores) == len(good) - 16 + 1  # every good point after the first window


def test_a_failed_first_fit_keeps_the_cold_scorer_serving_and_is_counted(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    p = prefix()
    (tmp_path / "not-a-dir").write_text("")  # the models directory cannot be created
    settings = Settings.model_validate(
        base_settings(tmp_path, broker.address, p).model_dump()
        | {
            "model": {
                "artifact_dir": str(tmp_path / "not-a-dir" / "models"),
                "fit_after_windows": 100,
            },
            "cold_start": {"fit_mode": "wait"},
        }
    )
    points = sine_points(["pump-1"], 300, spikes={})
    asyncio.run(
        produce(broker.address, f"{p}.points", [(x.series.encode(), encode(x)) for x in points])
    )
    service = run_service(settings, None, until_points=len(points))

    assert service.stats.points == len(points)  # scoring went on after the failure
    assert service.detector.serving.name == "hst"
    failures = service.metrics.registry.get_sample_value(
        "stream_ae_model_reload_failures_total", {"reason": "fit"}
    )
    assert failures == 1


def test_broker_unreachable_at_start_is_waited_for(artifact: Path, tmp_path: Path) -> None:
    from .conftest import ServiceProcess

    with EmbeddedBroker() as probe:  # find a port that is free now, then leave it empty
        port = int(probe.address.rsplit(":", 1)[1])
    address = f"127.0.0.1:{port}"
    p = prefix()
    settings = base_settings(tmp_path, address, p)
    settings = settings.model_copy(
        update={"model": settings.model.model_copy(update={"artifact": artifact})}
    )
    service = ServiceProcess(settings, tmp_path, "late")
    try:
        wait_for(lambda: "waiting for Kafka at " + address in service.text(), "the retry message")
        with EmbeddedBroker(port=port) as late:
            points = sine_points(["pump-1"], 300, spikes={"pump-1": 250})
            asyncio.run(
                produce(
                    late.address, f"{p}.points", [(x.series.encode(), encode(x)) for x in points]
                )
            )

            def spike_alerted() -> bool:
                alerts = asyncio.run(consume_all(late.address, f"{p}.alerts", idle_s=0.5))
                return any(json.loads(m.value)["ts"] == T0 + 60 * 250 for m in alerts)

            wait_for(spike_alerted, "the spike's alert")
            assert service.terminate() == 0
    finally:
        service.close()
    assert "Traceback" not in service.text()


def test_a_metrics_port_in_use_is_a_sentence() -> None:
    first = ServiceMetrics(CollectorRegistry())
    where = first.serve("127.0.0.1:0")
    with pytest.raises(StreamAEError, match=r"metrics\.address"):
        ServiceMetrics(CollectorRegistry()).serve(where)


def test_the_first_fit_takes_each_series_first_points_and_judges_at_once(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    p = prefix()
    base = base_settings(tmp_path, broker.address, p).model_dump()
    settings = Settings.model_validate(
        base
        | {
            "model": base["model"] | {"fit_points": 100},
            "cold_start": {"fit_mode": "wait", "hst_window": 20},
        }
    )
    points = sine_points(["pump-1", "pump-2", "fan-3"], 300, spikes={"pump-2": 250})
    messages = [(x.series.encode(), encode(x)) for x in points]

    async def main() -> DetectorService:
        # The rest of the stream comes once the model is in, as it would from a plant.
        stop = asyncio.Event()
        service = DetectorService(settings, artifact=None)
        task = asyncio.create_task(service.run(stop))
        await produce(broker.address, f"{p}.points", messages[: 3 * 110])
        while service.first_fit is None or service.first_fit.installed is None:
            assert not task.done()
            await asyncio.sleep(0.2)
        await produce(broker.address, f"{p}.points", messages[3 * 110 :])
        while service.stats.points < len(points) and not task.done():
            await asyncio.sleep(0.2)
        stop.set()
        await task
        return service

    service = asyncio.run(main())
    assert service.first_fit is not None and service.first_fit.installed is not None
    version = service.first_fit.installed.scorer.version
    manifest = json.loads((tmp_path / "models" / version / "manifest.json").read_text())
    assert manifest["training"]["windows"] == 3 * (100 - 16 + 1)  # each series' first 100
    assert {k: len(v) for k, v in manifest["fit_scores"].items()} == {
        "pump-1": 85,
        "pump-2": 85,
        "fan-3": 85,
    }
    scores = [
        orjson.loads(m.value) for m in asyncio.run(consume_all(broker.address, f"{p}.scores"))
    ]
    by_model = [s for s in scores if s["scorer"] == "lstm-ae"]
    assert by_model and all(s["threshold"] is not None for s in by_model)  # no warm-up
    first = min(s["ts"] for s in by_model)
    assert first >= T0 + 60 * 100  # nothing inside the share is judged by the model
    alerts = [
        orjson.loads(m.value) for m in asyncio.run(consume_all(broker.address, f"{p}.alerts"))
    ]
    spike = [a for a in alerts if a["series"] == "pump-2" and a["ts"] == T0 + 60 * 250]
    assert spike and spike[0]["scorer"] == "lstm-ae"
