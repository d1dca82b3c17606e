"""The metrics module on its own: bounded per-series gauges, and serving /metrics."""

from __future__ import annotations

import math
import socket

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from stream_ae.core.output import Scored
from stream_ae.errors import StreamAEError
from stream_ae.metrics import ServiceMetrics, WatchedSeries


def rows(*entries: tuple[str, float, float]) -> Scored:
    """Scored rows from (series, score, threshold); NaN threshold = warming up."""
    n = len(entries)
    return Scored(
        series=tuple(e[0] for e in entries),
        ts=np.arange(n, dtype=np.float64),
        values=np.zeros((n, 1)),
        score=np.array([e[1] for e in entries]),
        threshold=np.array([e[2] for e in entries]),
        level=np.full(n, np.nan),
        state=np.zeros(n, dtype=np.int8),
        scorer=("lstm-ae",) * n,
    )


def gauges(metrics: ServiceMetrics, name: str) -> dict[str, float]:
    text = generate_latest(metrics.registry).decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            label, value = line.split(" ")
            out[label.split('"')[1]] = float(value)
    return out


def test_top_k_follows_the_series_furthest_above_their_thresholds() -> None:
    metrics = ServiceMetrics(CollectorRegistry())
    watched = WatchedSeries(metrics, allow=[], top_k=2)
    watched.update(rows(("a", 1.0, 1.0), ("b", 3.0, 1.0), ("c", 2.0, 1.0), ("d", 9.0, math.nan)))
    assert watched.top == ["b", "c"]  # "d" warms up: it cannot rank
    assert gauges(metrics, "stream_ae_series_score") == {"b": 3.0, "c": 2.0}
    assert gauges(metrics, "stream_ae_series_threshold") == {"b": 1.0, "c": 1.0}

    # "b" calms down, "a" flares: the top K moves and "b" loses its gauges.
    watched.update(rows(("b", 0.5, 1.0), ("a", 0.1, 1.0), ("a", 5.0, 2.0)))
    assert watched.top == ["a", "c"]  # a series' last row in a batch is its latest
    assert gauges(metrics, "stream_ae_series_score") == {"a": 5.0, "c": 2.0}


def test_allow_listed_series_are_always_exported_and_never_removed() -> None:
    metrics = ServiceMetrics(CollectorRegistry())
    watched = WatchedSeries(metrics, allow=["pump-7"], top_k=1)
    watched.update(rows(("pump-7", 0.2, math.nan), ("x", 5.0, 1.0)))
    assert gauges(metrics, "stream_ae_series_score") == {"pump-7": 0.2, "x": 5.0}
    assert math.isnan(gauges(metrics, "stream_ae_series_threshold")["pump-7"])
    watched.update(rows(("pump-7", 8.0, 1.0)))
    watched.forget(["pump-7", "x"])  # e.g. their partition was revoked
    assert gauges(metrics, "stream_ae_series_score") == {"pump-7": 8.0}


def test_label_values_stay_bounded_over_many_series() -> None:
    metrics = ServiceMetrics(CollectorRegistry())
    watched = WatchedSeries(metrics, allow=["keep"], top_k=5)
    rng = np.random.default_rng(0)
    for batch in range(50):
        names = [f"s{batch}-{i}" for i in range(200)] + ["keep"]
        watched.update(rows(*[(n, float(rng.exponential()), 1.0) for n in names]))
        assert len(gauges(metrics, "stream_ae_series_score")) <= 6
    assert "keep" in gauges(metrics, "stream_ae_series_score")


def reference_top(top: dict[str, float], batch: Scored, k: int) -> dict[str, float]:
    """The top K as a row-by-row reading of the batch has it (series -> ratio)."""
    candidates = dict(top)
    latest = {series: i for i, series in enumerate(batch.series)}
    for series, i in latest.items():
        score, threshold = float(batch.score[i]), float(batch.threshold[i])
        if math.isfinite(threshold) and threshold > 0:
            candidates[series] = score / threshold
        else:
            candidates.pop(series, None)
    return dict(sorted(candidates.items(), key=lambda kv: -kv[1])[:k])


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_the_top_k_is_the_row_by_row_one_over_many_batches(ties: bool) -> None:
    metrics = ServiceMetrics(CollectorRegistry())
    watched = WatchedSeries(metrics, allow=["s3"], top_k=4)
    rng = np.random.default_rng(7)
    expected: dict[str, float] = {}
    for _ in range(300):
        n = int(rng.integers(1, 40))
        names = [f"s{i}" for i in rng.integers(0, 30, n)]  # repeats: the last row counts
        threshold = rng.choice([1.0, 0.5, 2.0, math.nan, 0.0], n, p=[0.4, 0.2, 0.2, 0.1, 0.1])
        # Whole scores tie often (a quiet series scores 0): equal ratios rank as before.
        scores = rng.integers(0, 3, n).astype(float) if ties else rng.exponential(1.0, n)
        batch = rows(*zip(names, scores.tolist(), threshold.tolist(), strict=True))
        expected = reference_top(expected, batch, 4)
        watched.update(batch)
        assert watched.top == list(expected)
        score = gauges(metrics, "stream_ae_series_score")
        shown = {
            s: score[s] / threshold
            for s, threshold in gauges(metrics, "stream_ae_series_threshold").items()
            if s in expected
        }
        assert shown == pytest.approx(expected, rel=1e-12)
        assert score.keys() - expected.keys() <= {"s3"}  # the allow-listed series stays


def test_top_k_zero_exports_only_the_allow_list() -> None:
    metrics = ServiceMetrics(CollectorRegistry())
    WatchedSeries(metrics, allow=[], top_k=0).update(rows(("a", 9.0, 1.0)))
    assert gauges(metrics, "stream_ae_series_score") == {}
    with pytest.raises(ValueError, match="top_k must be 0 or more"):
        WatchedSeries(metrics, allow=[], top_k=-1)


def test_serving_on_a_taken_port_says_which_setting_to_change() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StreamAEError, match=r"set metrics\.address to a free port"):
            ServiceMetrics(CollectorRegistry()).serve(f"127.0.0.1:{port}")
    where = ServiceMetrics(CollectorRegistry()).serve("127.0.0.1:0")
    assert where.startswith("127.0.0.1:") and not where.endswith(":0")
