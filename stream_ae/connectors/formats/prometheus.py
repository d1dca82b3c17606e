"""Prometheus samples as the common remote-write-to-Kafka adapter writes them: one JSON
object a message, value as text (Go's float formatting, "NaN" and "+Inf" included)::

    {"timestamp": "2024-11-22T08:00:00Z", "value": "0.731", "name": "node_load1",
     "labels": {"__name__": "node_load1", "instance": "a:9100", "job": "node"}}

The sample's name is `name`, its tags the labels but `__name__`, its field "value".
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from stream_ae.connectors.formats.samples import Sample, SampleDecoder
from stream_ae.connectors.timestamps import parse_ts

EXAMPLE = (
    '{"timestamp": "2024-11-22T08:00:00Z", "value": "0.731", "name": "node_load1", '
    '"labels": {"__name__": "node_load1", "job": "node"}}'
)


class _AdapterSample(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    timestamp: str
    value: str | float
    name: str
    labels: dict[str, str] = {}


class PrometheusAdapterDecoder(SampleDecoder):
    label = "a Prometheus remote-write adapter sample"

    def samples(self, data: bytes) -> Iterator[Sample]:
        try:
            parsed = _AdapterSample.model_validate(orjson.loads(data))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise ValueError(f"{_why(exc)}; send objects like {EXAMPLE}") from None
        try:
            ts = parse_ts(parsed.timestamp)
            value = float(parsed.value)
        except ValueError as exc:
            raise ValueError(f"{exc}; send objects like {EXAMPLE}") from None
        tags = {key: text for key, text in parsed.labels.items() if key != "__name__"}
        yield Sample(parsed.name, tags, "value", value, ts)


def _why(exc: Exception) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc)
    return "; ".join(
        f"{'.'.join(map(str, error['loc'])) or 'the message'}: {error['msg']}"
        for error in exc.errors()[:3]
    )
