"""OpenTelemetry metrics, as the Collector's Kafka exporter writes them.

A message is one `ExportMetricsServiceRequest`, as protobuf (`otlp_proto`, the
exporter's default encoding) or as OTLP JSON (`otlp_json`, also what the Collector's file
exporter writes a line at a time). Each number data point of a gauge or a sum is a
sample: its metric's name; the resource's and the point's attributes as tags (the
point's win); field "value"; time `time_unix_nano`. `telemetry.*` attributes describe
the SDK and `service.instance.id` one run of the producer, not the source measured, so
they are left out of the tags. A point flagged "no recorded value" is skipped.
Histograms, exponential histograms and summaries are not scored: a message holding them
gets one refusal that names them, beside the points of its gauges and sums.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import DataPointFlags

from stream_ae.connectors.formats.samples import Problem, Sample, SampleDecoder

_NS = 1e9
_SCORED = ("gauge", "sum")
_NO_VALUE = DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK


class OtlpDecoder(SampleDecoder):
    """OTLP metrics in protobuf (`json=False`) or OTLP JSON (`json=True`)."""

    def __init__(self, *args: Any, json: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.json = json
        self.label = "OTLP JSON metrics" if json else "OTLP protobuf metrics"

    def raw(self, data: bytes) -> str:
        if self.json:
            return super().raw(data)
        # Protobuf is binary: the dead letter keeps its start as base64, to decode again.
        return "base64:" + base64.b64encode(data[:720]).decode("ascii")

    def samples(self, data: bytes) -> Iterator[Sample | Problem]:
        request = ExportMetricsServiceRequest()
        try:
            if self.json:
                json_format.Parse(data, request, ignore_unknown_fields=True)
            else:
                request.ParseFromString(data)
        except (json_format.ParseError, DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(str(exc) or type(exc).__name__) from None
        skipped: list[str] = []
        for resource in request.resource_metrics:
            kept = _tags(resource.resource.attributes)
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    if kind not in _SCORED:
                        skipped.append(f"{metric.name!r} ({kind or 'no data'})")
                        continue
                    for point in getattr(metric, kind).data_points:
                        if point.flags & _NO_VALUE:
                            continue
                        if not point.time_unix_nano:
                            yield Problem(
                                f"A data point of {metric.name!r} has no time_unix_nano; "
                                "send each point with the time it was measured.",
                                self.raw(data),
                            )
                            continue
                        yield _sample(metric.name, kept, point)
        if skipped:
            yield Problem(
                f"Only gauges and sums are scored; {', '.join(skipped[:10])}"
                f"{f' and {len(skipped) - 10} more' if len(skipped) > 10 else ''} were left "
                "out. Drop them before Kafka (the Collector's filter processor) to stop this.",
                self.raw(data),
            )


def _sample(name: str, resource: dict[str, str], point: Any) -> Sample:
    which = point.WhichOneof("value")
    value = None if which is None else float(getattr(point, which))
    tags = {**resource, **_tags(point.attributes)}
    return Sample(name, tags, "value", value, point.time_unix_nano / _NS)


def _tags(attributes: Any) -> dict[str, str]:
    return {
        kv.key: _text(kv.value)
        for kv in attributes
        if not kv.key.startswith("telemetry.") and kv.key != "service.instance.id"
    }


def _text(value: Any) -> str:
    which = value.WhichOneof("value")
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which in ("string_value", "int_value", "double_value"):
        return str(getattr(value, which))
    if which is None:
        return ""
    return json_format.MessageToJson(value, indent=None)
