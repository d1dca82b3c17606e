import numpy as np
import pytest

from stream_ae.core.alerting import AlertPolicy
from stream_ae.core.detector import Detector, Lane
from stream_ae.core.normalize import Normalizer
from stream_ae.core.records import Point
from stream_ae.core.threshold import RollingThreshold
from stream_ae.core.training import FitShare, TrainingCollector
from stream_ae.core.windows import WindowStore, hop_phase

from .doubles import LastStepScorer


def test_collector_keeps_the_first_windows_up_to_target() -> None:
    c = TrainingCollector(target=3)
    w = np.arange(5 * 2 * 1, dtype=np.float32).reshape(5, 2, 1)
    c.offer(tuple("ab"), w[:2])
    assert not c.ready
    c.offer(tuple("cde"), w[2:])
    assert c.ready and c.count == 3
    series, got = c.take()
    assert series == ("a", "b", "c")
    assert got[:, 0, 0].tolist() == [0.0, 2.0, 4.0]
    assert not c.ready
    c.offer(("z",), w[:1])
    assert c.count == 3


def share_detector(share: FitShare, hop: int = 1) -> Detector:
    lane = Lane(LastStepScorer(W, 1, "cold"), Normalizer(1), RollingThreshold(100, 0.99, 10))
    collector = TrainingCollector(1000, share)
    return Detector(
        WindowStore(W, 1, hop=hop), lane, AlertPolicy(), channel_names=["v"], collector=collector
    )


def interleaved(lengths: dict[str, int], t0: float = 100.0) -> list[Point]:
    """Series in step, one point a second; each point's value is its index in its series."""
    return [
        Point(name, t0 + t, (float(t),))
        for t in range(max(lengths.values()))
        for name, n in lengths.items()
        if t < n
    ]


W = 8


def taken_by_series(det: Detector) -> dict[str, list[float]]:
    """The last value (= point index) of every collected window, per series."""
    assert det.collector is not None
    series, windows = det.collector.take()
    out: dict[str, list[float]] = {}
    for name, w in zip(series, windows, strict=True):
        out.setdefault(name, []).append(float(w[-1, 0]))
    return out


def test_first_n_points_make_n_minus_window_plus_one_windows_per_series() -> None:
    det = share_detector(FitShare(points=30))
    assert det.collector is not None
    points = interleaved({"a": 60, "b": 45})
    det.process(points[:58])  # 29 points each: neither share is complete
    assert not det.collector.ready and det.collector.points_to_go() == 1
    det.process(points[58:60])  # the 30th point of each
    assert det.collector.ready
    taken = taken_by_series(det)
    assert taken["a"] == taken["b"] == [float(i) for i in range(W - 1, 30)]  # 23 windows


def test_a_point_share_waits_for_the_slowest_series_and_counts_windows_across_batches() -> None:
    det = share_detector(FitShare(points=20))
    assert det.collector is not None
    late = [Point("late", 500.0 + t, (float(t),)) for t in range(25)]
    det.process(interleaved({"a": 40}))
    det.process(late[:19])
    assert not det.collector.ready and det.collector.points_to_go() == 1
    det.process(late[19:])
    assert det.collector.ready and det.collector.points_to_go() is None
    assert {k: len(v) for k, v in taken_by_series(det).items()} == {"a": 13, "late": 13}


def test_a_time_span_takes_windows_ending_before_first_plus_span() -> None:
    det = share_detector(FitShare(span_s=20.0))
    det.process(interleaved({"a": 30}, t0=100.0))
    assert det.collector is not None and det.collector.ready
    # Points at 100..119 lie inside [100, 120): 20 points, 13 windows.
    assert taken_by_series(det)["a"] == [float(i) for i in range(W - 1, 20)]


def test_an_end_time_takes_every_series_windows_before_it() -> None:
    det = share_detector(FitShare(until=125.0))
    det.process(interleaved({"a": 30, "b": 30}, t0=100.0))
    taken = taken_by_series(det)
    assert taken["a"] == taken["b"] == [float(i) for i in range(W - 1, 25)]


def test_with_a_hop_only_the_windows_inside_are_taken() -> None:
    det = share_detector(FitShare(points=20), hop=4)
    det.process(interleaved({"a": 40}))
    first = W - 1 + hop_phase("a", 4)  # the series' first scored window
    assert taken_by_series(det)["a"] == [float(i) for i in range(first, 20, 4)]


def test_a_share_is_one_of_points_span_or_end() -> None:
    with pytest.raises(ValueError, match="one"):
        FitShare(points=10, span_s=5.0)
