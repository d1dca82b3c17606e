"""The service's Prometheus metrics, defined once, on an injected registry.

Labels stay bounded: reasons, states, severities, stages and partitions. A series id
is a label only on the per-series score and threshold gauges, and only for an
allow-list plus the current top K (`WatchedSeries`).
"""

from __future__ import annotations

import contextlib
import heapq
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib import metadata
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import numpy as np
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    make_wsgi_app,
)

from stream_ae.core.output import Scored
from stream_ae.core.records import Alert, RejectReason
from stream_ae.errors import StreamAEError

STAGES = ("fetch", "decode", "queue", "score", "send", "commit")
"""A batch's path: its messages awaited and decoded, the wait for the scorer, scoring,
its messages acknowledged, its offsets committed."""
EVICTION_REASONS = ("idle", "revoked", "internal_error")
RETRAIN_RESULTS = ("promoted", "kept", "failed")


def build_labels() -> dict[str, str]:
    """stream-ae's version and those of the libraries that decide its behaviour, read
    from the installed packages (torch is not imported: only `model` may)."""
    from stream_ae import __version__

    labels = {"version": __version__}
    for package in ("torch", "numpy", "river", "aiokafka"):
        try:
            labels[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            labels[package] = "absent"
    return labels


class ServiceMetrics:
    """What `stream-ae run` exposes; one instance per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # The process_* and python_info series every Prometheus client exports from its
        # default registry, which already has them; dashboards and alert rules expect
        # them on ours too.
        if registry is not REGISTRY:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
        self.build = Info(
            "stream_ae_build",
            "The running stream-ae: its version and its main libraries'.",
            registry=registry,
        )
        self.build.info(build_labels())
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
            "Points and refused inputs (dead letters) per micro-batch.",
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
        self.dead_letters = Counter(
            "stream_ae_dead_letters_total",
            "Messages written to the dead-letter topic and acknowledged.",
            registry=registry,
        )
        self.series_tracked = Gauge(
            "stream_ae_series_tracked", "Series with a live window.", registry=registry
        )
        self.series_evicted = Counter(
            "stream_ae_series_evicted_total",
            "Series whose state was dropped: idle when the store was full, their "
            "partition revoked, or their state hit an internal error.",
            ["reason"],
            registry=registry,
        )
        self.series_warming_up = Gauge(
            "stream_ae_series_warming_up",
            "Live series whose threshold is still warming up (scored, never alerted on).",
            registry=registry,
        )
        self.series_score = Gauge(
            "stream_ae_series_score",
            "Latest score of a watched series (allow-list or current top K).",
            ["series"],
            registry=registry,
        )
        self.series_threshold = Gauge(
            "stream_ae_series_threshold",
            "Threshold applied to the latest score of a watched series.",
            ["series"],
            registry=registry,
        )
        self.model = Info("stream_ae_model", "The model serving.", registry=registry)
        self.model_rollbacks = Counter(
            "stream_ae_model_rollbacks_total",
            "Automatic rollbacks: a swapped-in model opened too many alerts.",
            registry=registry,
        )
        self.drifts = Counter(
            "stream_ae_drift_detected_total",
            "Series whose scores drifted (each asks for a retrain).",
            registry=registry,
        )
        self.retrain_runs = Counter(
            "stream_ae_retrain_runs_total",
            "Retrain jobs the service ran, by how they ended: promoted, kept, failed.",
            ["result"],
            registry=registry,
        )
        self.reload_failures = Counter(
            "stream_ae_model_reload_failures_total",
            "Models that could not be fitted, loaded or validated; the serving one stayed (at "
            "start: the registry's current, passed over for an older version that loads).",
            ["reason"],
            registry=registry,
        )
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
            buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        for stage in STAGES:
            self.stage_seconds.labels(stage=stage)
        for reason in EVICTION_REASONS:
            self.series_evicted.labels(reason=reason)
        for result in RETRAIN_RESULTS:
            self.retrain_runs.labels(result=result)
        for rejected in RejectReason:  # a zero, not "no data", on a quiet day
            self.points_rejected.labels(reason=rejected.value)

    def alert(self, alert: Alert) -> None:
        self.alerts.labels(state=alert.state.value, severity=alert.severity.value).inc()

    def serve(self, address: str, probes: Mapping[str, Probe] | None = None) -> str:
        """Expose /metrics on `host:port` (port 0: a free one), and each probe on its
        path (200 with its reason when it passes, else 503); returns where it listens.
        `probes` is read at each request, so the caller may fill it in later."""
        host, _, port = address.rpartition(":")
        try:
            server = make_server(
                host or "0.0.0.0",
                int(port),
                _with_probes(make_wsgi_app(self.registry), {} if probes is None else probes),
                _ThreadingServer,
                handler_class=_QuietHandler,
            )
        except OSError as exc:
            raise StreamAEError(
                f"cannot serve metrics on {address} ({exc.strerror}); set metrics.address "
                "to a free port (port 0 picks one)"
            ) from None
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        return f"{host or '0.0.0.0'}:{server.server_port}"


class WatchedSeries:
    """Keeps the per-series score and threshold gauges for an allow-list and the top K.

    The top K are the series whose latest score is furthest above its threshold
    (score / threshold). A series that drops out of the top K loses its gauges, so at
    most `len(allow) + top_k` series carry them at any time.
    """

    def __init__(self, metrics: ServiceMetrics, allow: Sequence[str], top_k: int) -> None:
        if top_k < 0:
            raise ValueError(f"top_k must be 0 or more (got {top_k})")
        self._score = metrics.series_score
        self._threshold = metrics.series_threshold
        self.allow = frozenset(allow)
        self.top_k = top_k
        self._top: dict[str, tuple[float, float, float]] = {}
        """series -> (ratio, score, threshold) of the current top K."""

    @property
    def top(self) -> list[str]:
        """The current top K, furthest above its threshold first."""
        return sorted(self._top, key=lambda s: -self._top[s][0])

    def update(self, scored: Scored) -> None:
        """Take one batch of scored rows; a series' last row in the batch is its latest."""
        latest = dict(zip(scored.series, range(len(scored)), strict=True))  # the last row wins
        for series in self.allow.intersection(latest):
            i = latest[series]
            self._set(series, float(scored.score[i]), float(scored.threshold[i]))
        if self.top_k == 0:
            return
        # Arrays, not a tuple per row: the event loop reads every batch this way. A series
        # of the batch competes with its latest row alone (one warming up again cannot
        # rank, and leaves), and only the batch's own best K can enter the top K. Equal
        # ratios rank as a reading row by row ranks them: the series on top already
        # first, in their order, then the others in the order the batch first names them.
        names = list(latest)
        rows = np.fromiter(latest.values(), dtype=np.int64, count=len(names))
        score = np.asarray(scored.score, dtype=np.float64)[rows]
        threshold = np.asarray(scored.threshold, dtype=np.float64)[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = score / threshold
        able = np.flatnonzero(np.isfinite(threshold) & (threshold > 0) & ~np.isnan(ratio))
        if len(able) > self.top_k:
            kth = np.partition(ratio[able], len(able) - self.top_k)[len(able) - self.top_k]
            able = able[ratio[able] >= kth]  # the best K, and any that tie with the last
            on_top = {series: rank for rank, series in enumerate(self._top)}
            precedence = [on_top.get(names[j], self.top_k + j) for j in able.tolist()]
            able = np.sort(able[np.lexsort((precedence, -ratio[able]))[: self.top_k]])
        fresh = {
            names[j]: (float(ratio[j]), float(score[j]), float(threshold[j])) for j in able.tolist()
        }
        candidates = {s: kept for s, kept in self._top.items() if s not in latest or s in fresh}
        candidates.update(fresh)  # a series on top keeps its place, with its new values
        chosen = heapq.nlargest(self.top_k, candidates.items(), key=lambda kv: kv[1][0])
        top = dict(chosen)
        self.forget([s for s in self._top if s not in top])
        self._top = top
        for series, (_, score_now, threshold_now) in top.items():
            if series in latest:  # the others' gauges stand as they were
                self._set(series, score_now, threshold_now)

    def forget(self, series: Iterable[str]) -> None:
        """Drop the gauges of series that left the top K or this detector."""
        for name in list(series):
            self._top.pop(name, None)
            if name not in self.allow:
                for gauge in (self._score, self._threshold):
                    with contextlib.suppress(KeyError):  # it never had a value
                        gauge.remove(name)

    def _set(self, series: str, score: float, threshold: float) -> None:
        self._score.labels(series=series).set(score)
        self._threshold.labels(series=series).set(threshold)


Probe = Callable[[], tuple[bool, str]]
"""A health check: (passes, a sentence saying why)."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scrape never holds the process at exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes and scrapes every few seconds: not worth a log line each."""


def _with_probes(metrics_app: Any, probes: Mapping[str, Probe]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes] | Iterable[bytes]:
        probe = probes.get(environ.get("PATH_INFO", ""))
        if probe is None:
            return metrics_app(environ, start_response)
        passes, why = probe()
        status = "200 OK" if passes else "503 Service Unavailable"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [why.encode() + b"\n"]

    return app
