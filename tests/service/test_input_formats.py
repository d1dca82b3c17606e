"""Points in the formats pipelines already send, through the real broker to a detector
that reads `kafka.input_format`: scored like stream-ae's own JSON, and every malformed
message in the dead letters with its reason."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import orjson
import pytest
from google.protobuf import json_format
from prometheus_client import CollectorRegistry, Gauge

from stream_ae.core.records import Point
from stream_ae.runtime.broker import EmbeddedBroker

from .conftest import (
    WINDOW,
    ServiceProcess,
    base_settings,
    consume_all,
    prefix,
    produce,
    read_to_end,
    scored_by,
    sine_points,
)
from .reference_messages import adapter_messages, influx, otlp_gauge
from .test_failover import with_model
from .test_service import run_service

SERIES = ["pump-1", "pump-2"]
STEPS = 120
KEY = b"plant-3"


def steps() -> list[list[Point]]:
    """The points of each time step, the series side by side."""
    points = sine_points(SERIES, STEPS, spikes={"pump-2": 100})
    return [points[i : i + len(SERIES)] for i in range(0, len(points), len(SERIES))]


def in_format(name: str) -> list[bytes]:
    """Each time step as one message, written by the format's reference library."""
    out = []
    for step in steps():
        ns = int(step[0].ts * 1e9)
        if name == "influx":
            out.append(
                b"\n".join(
                    influx("pump", {"id": p.series}, {"value": p.values[0]}, ns) for p in step
                )
            )
        elif name == "prometheus_json":
            registry = CollectorRegistry()
            gauge = Gauge("pump", "pump reading", ["id"], registry=registry)
            for p in step:
                gauge.labels(p.series).set(p.values[0])
            out.extend(adapter_messages(registry, ns // 1_000_000))
        else:
            request = otlp_gauge("pump", {p.series: p.values[0] for p in step}, ns)
            if name == "otlp_proto":
                out.append(request.SerializeToString())
            else:
                out.append(json_format.MessageToJson(request, indent=None).encode())
    return out


MALFORMED = {
    "influx": [b"pump,id=pump-1 value=1.0 yesterday", b'pump,id=pump-1 state="ok" 1'],
    "otlp_proto": [b"\x0a\x05hello"],
    "otlp_json": [b'{"resourceMetrics": 3}', b"{not json"],
    "prometheus_json": [
        b'{"value": "1", "name": "pump"}',
        b'{"timestamp": "2024-01-01T00:00:00Z", "value": "x", "name": "pump"}',
    ],
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_each_format_is_scored_and_its_malformed_messages_dead_lettered(
    name: str, broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    p = prefix()
    settings = base_settings(tmp_path, broker.address, p, input_format=name, series_from="{id}")
    good = in_format(name)
    # One key keeps the steps in one partition, in order (Telegraf's routing_tag does it
    # per series).
    messages = [(KEY, m) for m in good[:50]] + [(KEY, m) for m in MALFORMED[name]]
    messages += [(KEY, m) for m in good[50:]]
    asyncio.run(produce(broker.address, f"{p}.points", messages))
    service = run_service(settings, artifact, until_points=STEPS * len(SERIES))

    scores = [json.loads(m.value) for m in asyncio.run(read_to_end(broker.address, f"{p}.scores"))]
    assert {s["series"] for s in scores} == set(SERIES)
    assert len(scores) == len(SERIES) * (STEPS - WINDOW + 1)
    dead = [orjson.loads(m.value) for m in asyncio.run(consume_all(broker.address, f"{p}.dead"))]
    assert len(dead) == len(MALFORMED[name]) == service.stats.dead_letters
    assert all(d["reason"] == "malformed" and d["detail"] and d["raw"] for d in dead)
    alerts = [json.loads(m.value) for m in asyncio.run(consume_all(broker.address, f"{p}.alerts"))]
    assert any(a["series"] == "pump-2" and a["state"] == "open" for a in alerts)


def test_stream_ae_run_reads_telegraf_lines_as_its_config_says(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    p = prefix()
    settings = with_model(
        base_settings(tmp_path, broker.address, p, input_format="influx", series_from="{id}"),
        artifact,
    )
    asyncio.run(produce(broker.address, f"{p}.points", [(KEY, m) for m in in_format("influx")]))
    proc = ServiceProcess(settings, tmp_path, "influx")
    expected = len(SERIES) * (STEPS - WINDOW + 1)
    scores = scored_by(proc, broker.address, f"{p}.scores", expected)
    assert {s["series"] for s in scores} == set(SERIES)
    assert len(scores) == expected
