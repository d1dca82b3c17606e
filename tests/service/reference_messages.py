"""Messages as the formats' own reference libraries write them: Influx line protocol
(influxdb-client), OTLP (the OpenTelemetry SDK and its OTLP encoder), and the Prometheus
remote-write adapter's JSON (samples of a prometheus_client registry, in the adapter's
shape: it is a Go program with no Python library)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from influxdb_client import Point as InfluxPoint
from influxdb_client import WritePrecision
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.metrics import Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry


def influx(measurement: str, tags: dict[str, str], fields: dict[str, object], ns: int) -> bytes:
    point = InfluxPoint(measurement)
    for key, value in tags.items():
        point = point.tag(key, value)
    for key, value in fields.items():
        point = point.field(key, value)
    return point.time(ns, WritePrecision.NS).to_line_protocol().encode()


def otlp_request(gauge: float = 21.5, counter: int = 3) -> ExportMetricsServiceRequest:
    """What the Collector's Kafka exporter sends: an ExportMetricsServiceRequest, made
    here by the OpenTelemetry SDK and its own OTLP encoder."""
    reader = InMemoryMetricReader()
    resource = Resource.create({"service.name": "plant", "host.name": "h1"})
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("test")
    meter.create_observable_gauge(
        "pump.temp", callbacks=[lambda _options: [Observation(gauge, {"pump": "7"})]]
    )
    meter.create_counter("pump.starts").add(counter, {"pump": "7"})
    meter.create_histogram("pump.latency").record(0.3, {"pump": "7"})
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return encode_metrics(data)


def adapter_messages(registry: CollectorRegistry, ms: int) -> list[bytes]:
    """The adapter's JSON for every sample of `registry`: name, labels with __name__,
    the value as Go's text of a float and the time as RFC 3339."""
    stamp = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for family in registry.collect():
        for sample in family.samples:
            value = sample.value
            text = "NaN" if math.isnan(value) else repr(float(value))
            labels = {"__name__": sample.name, **sample.labels}
            body = {"timestamp": stamp, "value": text, "name": sample.name, "labels": labels}
            out.append(json.dumps(body).encode())
    return out


def otlp_gauge(name: str, values: dict[str, float], ns: int) -> ExportMetricsServiceRequest:
    """One collection of the observable gauge `name`, a data point per `id` attribute,
    its points stamped `ns` (the SDK stamps the wall clock at collection)."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=Resource.create({"host.name": "h1"}), metric_readers=[reader])
    provider.get_meter("test").create_observable_gauge(
        name,
        callbacks=[lambda _o: [Observation(v, {"id": key}) for key, v in values.items()]],
    )
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    request = encode_metrics(data)
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.gauge.data_points:
                    point.time_unix_nano = ns
    return request
