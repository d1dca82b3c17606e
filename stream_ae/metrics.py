"""The service's Prometheus metrics, defined once, on an injected registry.

Labels stay bounded: reasons, states, severities, stages and partitions, never a
series id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

from stream_ae.core.records import Alert
from stream_ae.errors import StreamAEError

STAGES = ("fetch", "score", "send", "commit")


class ServiceMetrics:
    """What `stream-ae run` exposes; one instance per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.points_consumed = Counter(
            "stream_ae_points_consumed_total",
            "Points decoded from the input topic.",
            registry=registry,
        )
        self.points_rejected = Counter(
            "stream_ae_points_rejected_total",
            "Input refused, by reason (sent to dead letters).",
            ["reason"],
            registry=registry,
        )
        self.windows_scored = Counter(
            "stream_ae_windows_scored_total", "Windows scored.", registry=registry
        )
        self.alerts = Counter(
            "stream_ae_alerts_total",
            "Alerts sent, by state and severity.",
            ["state", "severity"],
            registry=registry,
        )
        self.batch_points = Histogram(
            "stream_ae_batch_points",
            "Points per micro-batch.",
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "stream_ae_stage_seconds",
            "Time per batch in each stage.",
            ["stage"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "stream_ae_consumer_lag_messages",
            "Messages behind the high watermark.",
            ["partition"],
            registry=registry,
        )
        self.series_tracked = Gauge(
            "stream_ae_series_tracked", "Series with a live window.", registry=registry
        )
        self.model = Info("stream_ae_model", "The model serving.", registry=registry)
        self.model_age = Gauge(
            "stream_ae_model_age_seconds",
            "Age of the model serving (since it was fitted).",
            registry=registry,
        )
        self.event_to_alert = Histogram(
            "stream_ae_event_to_alert_seconds",
            "From a point's event time to its alert being acknowledged.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
            registry=registry,
        )
        self.append_to_alert = Histogram(
            "stream_ae_append_to_alert_seconds",
            "From the broker appending a point to its alert being acknowledged.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        for stage in STAGES:
            self.stage_seconds.labels(stage=stage)

    def alert(self, alert: Alert) -> None:
        self.alerts.labels(state=alert.state.value, severity=alert.severity.value).inc()

    def serve(self, address: str) -> str:
        """Expose /metrics on `host:port` (port 0: a free one); returns where it listens."""
        host, _, port = address.rpartition(":")
        try:
            server, _thread = start_http_server(
                int(port), addr=host or "0.0.0.0", registry=self.registry
            )
        except OSError as exc:
            raise StreamAEError(
                f"cannot serve metrics on {address} ({exc.strerror}); set metrics.address "
                "to a free port (port 0 picks one)"
            ) from None
        return f"{host or '0.0.0.0'}:{server.server_port}"
