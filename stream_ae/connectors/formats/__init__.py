"""The input formats points arrive in, and the one place that picks a decoder.

`json` is stream-ae's own point format (`stream_ae.connectors.wire`); the others are
what monitoring pipelines already send: `influx` (Telegraf's line protocol),
`otlp_proto` and `otlp_json` (the OpenTelemetry Collector's Kafka exporter) and
`prometheus_json` (the Prometheus remote-write-to-Kafka adapter). For those a
`SeriesRule` says how metric names and tags become series and channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

from stream_ae.connectors.fastwire import FastPointDecoder
from stream_ae.connectors.formats.samples import SeriesRule
from stream_ae.connectors.wire import PointDecoder
from stream_ae.errors import InputError
from stream_ae.settings.kafka import (
    ChannelsFrom,
    InputFormatName,
    KafkaSettings,
    template_problem,
)

FORMAT_NAMES: tuple[str, ...] = get_args(InputFormatName)
LINE_FORMATS = frozenset({"json", "influx", "otlp_json", "prometheus_json"})
"""Formats a file can hold one message a line (protobuf has no line framing)."""


@dataclass(frozen=True, slots=True)
class InputFormat:
    """Which format input is in, and (for metrics formats) the series rule."""

    name: InputFormatName = "json"
    series_from: str = ""
    channels_from: ChannelsFrom = "field"

    def __post_init__(self) -> None:
        if self.name not in FORMAT_NAMES:
            raise InputError(
                f"Unknown input format {self.name!r}; use one of {', '.join(FORMAT_NAMES)}."
            )
        problem = template_problem(self.series_from)
        if problem is not None:
            raise InputError(f"The series rule {self.series_from!r} cannot be used: {problem}.")

    @classmethod
    def of(cls, kafka: KafkaSettings) -> InputFormat:
        """The input topic's format, as the [kafka] section says."""
        return cls(kafka.input_format, kafka.series_from, kafka.channels_from)

    def decoder(self, default_series: str, channels: Sequence[str] | None = None) -> PointDecoder:
        """A fresh decoder of this format; with `channels`, every point must carry them."""
        if self.name == "json":
            return FastPointDecoder(default_series, channels)
        rule = SeriesRule(self.series_from, self.channels_from)
        if self.name == "influx":
            from stream_ae.connectors.formats.influx import InfluxDecoder

            return InfluxDecoder(rule, default_series, channels)
        if self.name == "prometheus_json":
            from stream_ae.connectors.formats.prometheus import PrometheusAdapterDecoder

            return PrometheusAdapterDecoder(rule, default_series, channels)
        from stream_ae.connectors.formats.otlp import OtlpDecoder

        return OtlpDecoder(rule, default_series, channels, json=self.name == "otlp_json")

    @property
    def title(self) -> str:
        return _TITLES[self.name]


_TITLES: dict[str, str] = {
    "json": "JSON points",
    "influx": "Influx line protocol",
    "otlp_proto": "OTLP protobuf metrics",
    "otlp_json": "OTLP JSON metrics",
    "prometheus_json": "Prometheus adapter samples",
}

OWN_JSON = InputFormat()
