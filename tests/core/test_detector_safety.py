"""The detector never raises on data, never loses an accepted window in silence, and
cannot be steered by one point's far-future event time."""

import numpy as np
import pytest

from stream_ae.core.alerting import AlertPolicy
from stream_ae.core.detector import Detector, Lane
from stream_ae.core.normalize import Normalizer
from stream_ae.core.output import Output
from stream_ae.core.records import Point, RejectReason, ScoreBatch
from stream_ae.core.scoring import Scorer
from stream_ae.core.threshold import RollingThreshold
from stream_ae.core.windows import WindowStore

from .doubles import LastStepScorer

W = 4
YEAR = 365 * 86_400.0


class FiniteOnlyScorer(LastStepScorer):
    """Refuses non-finite windows the way the autoencoder scorer does."""

    def score(self, windows: np.ndarray) -> ScoreBatch:
        if not np.isfinite(windows).all():
            raise ValueError("window(s) contain NaN or infinite values")
        return super().score(windows)


class PoisonScorer(LastStepScorer):
    """Raises on any batch holding a window whose last raw step was `marker`."""

    def __init__(self, marker: float) -> None:
        super().__init__(W, 1)
        self.marker = marker

    def score(self, windows: np.ndarray) -> ScoreBatch:
        if np.isclose(windows[:, -1, 0], self.marker).any():
            raise RuntimeError("scorer bug triggered by the marker")
        return super().score(windows)


def make(scorer: Scorer | None = None, known: dict | None = None, **store_kw: float) -> Detector:
    lane = Lane(
        scorer or LastStepScorer(W, 1),
        Normalizer(1, known if known is not None else {}),
        RollingThreshold(history=50, quantile=0.9, warmup=5),
    )
    policy = AlertPolicy(open_k=1, open_n=1, resolve_after=3, cooldown=5)
    return Detector(WindowStore(W, 1, **store_kw), lane, policy, channel_names=["value"])


def scored_per_series(out: Output) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rows in out.scored:
        for name in rows.series:
            counts[name] = counts.get(name, 0) + 1
    return counts


def reasons(out: Output) -> dict[int, RejectReason]:
    return {i: r.reason for i, r in out.rejected}


def test_a_far_future_point_cannot_evict_live_series() -> None:
    # 7 live series fill a store of 8 slots; a point dated 10 years ahead, then a stream
    # of new series. Before the fix the outlier made every live series look idle: the new
    # series evicted them and their pending windows were dropped, with no trace.
    det = make(max_series=8, idle_evict_s=100.0)
    live = [f"live-{k}" for k in range(7)]
    points: list[Point] = []
    for t in range(60):
        points += [Point(name, 1000.0 + t, (float(t % 5),)) for name in live]
        if t == 20:
            points.append(Point("outlier", 1000.0 + 10 * YEAR, (1.0,)))
        if t >= 21:
            points.append(Point(f"new-{t}", 1000.0 + t, (1.0,)))
    out = det.process(points)
    scored = scored_per_series(out)
    assert {name: scored.get(name, 0) for name in live} == {name: 60 - (W - 1) for name in live}
    outlier = points.index(Point("outlier", 1000.0 + 10 * YEAR, (1.0,)))
    assert reasons(out)[outlier] is RejectReason.TOO_FAR_AHEAD
    assert "window.max_ahead_s" in dict(out.rejected)[outlier].detail


def test_wall_time_bounds_how_far_ahead_a_first_point_may_be() -> None:
    det = make(max_ahead_s=3600.0)
    out = det.process([Point("a", 1e9 + 7200.0, (1.0,)), Point("b", 1e9 + 60.0, (1.0,))], now=1e9)
    assert reasons(out) == {0: RejectReason.TOO_FAR_AHEAD}
    assert "a" not in det.store and "b" in det.store


def test_evicting_a_series_scores_its_pending_windows_first() -> None:
    # b has two windows pending when c's first point evicts it (the store is full and b
    # is the idlest): they are scored, not dropped.
    det = make(max_series=2, idle_evict_s=1.0)
    points = [Point("b", float(t), (1.0,)) for t in range(W + 1)]
    points += [Point("a", 10.0 + t, (1.0,)) for t in range(W)]
    points.append(Point("c", 20.0, (1.0,)))
    out = det.process(points)
    assert "b" not in det.store
    assert scored_per_series(out) == {"b": 2, "a": 1}
    assert out.rejected == []


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "point by point"])
def test_a_series_evicted_with_windows_gathered_is_judged_by_its_own_state(
    compiled: bool,
) -> None:
    # b's 8 points fill its ring's slack: its 5 windows are copied out to be scored with
    # the rest of the call, none left pending. c's first point then evicts b (the
    # idlest); c takes b's slot, and must not inherit b's threshold and alert state.
    points = [Point("b", float(t), (float(t % 3),)) for t in range(8)]
    points += [Point("a", 100.0 + t, (1.0,)) for t in range(W)]
    first_of_c = len(points)
    points += [Point("c", 200.0 + t, (5.0 * (t % 2),)) for t in range(2 * W)]
    whole = make(max_series=2, idle_evict_s=1.0, slack=8)
    split = make(max_series=2, idle_evict_s=1.0, slack=8)
    whole.compiled = split.compiled = compiled
    got = whole.process(points)
    want = [split.process(points[:first_of_c]), split.process(points[first_of_c:])]

    def judged(outs: list[Output]) -> list[tuple[str, float, float, str, int]]:
        # repr: a threshold still warming up is NaN, which equals nothing.
        return [
            (s.series[i], float(s.ts[i]), float(s.score[i]), repr(s.threshold[i]), int(s.state[i]))
            for out in outs
            for s in out.scored
            for i in range(len(s))
        ]

    assert scored_per_series(got) == {"b": 8 - (W - 1), "a": 1, "c": W + 1}
    assert judged([got]) == judged(want)
    assert [(a.series, a.state) for a in got.alerts] == [
        (a.series, a.state) for out in want for a in out.alerts
    ]


def test_values_beyond_float32_are_refused_not_raised() -> None:
    det = make(FiniteOnlyScorer(W, 1))
    points = [Point("a", float(t), (1.0 + t % 3,)) for t in range(10)]
    points[6] = Point("a", 6.0, (1e39,))
    out = det.process(points)
    assert reasons(out) == {6: RejectReason.OUT_OF_RANGE}
    assert scored_per_series(out) == {"a": 10 - 1 - (W - 1)}


def test_a_window_that_turns_non_finite_after_scaling_is_refused_by_its_last_point() -> None:
    # The model's statistics scale this series by a tiny deviation: 1e38 is a finite
    # float32, but not once scaled. Every window holding it is refused, each reported
    # as the point that completed it; the other windows are scored. (Small, not flat:
    # a flat channel is scaled by one unit, see normalize.FLAT_RULE.)
    known = {"a": {"mean": [0.0], "std": [1e-5]}}
    det = make(FiniteOnlyScorer(W, 1), known=known)
    points = [Point("a", float(t), (0.0,)) for t in range(12)]
    points[5] = Point("a", 5.0, (1e38,))
    out = det.process(points)
    assert reasons(out) == {i: RejectReason.OUT_OF_RANGE for i in range(5, 5 + W)}
    assert scored_per_series(out) == {"a": 12 - (W - 1) - W}
    assert "not finite once scaled" in dict(out.rejected)[5].detail


UNIT = {"mean": [0.0], "std": [1.0]}
"""Scales nothing: the poison scorer sees the raw values."""


def test_a_scorer_failure_rejects_only_the_points_whose_windows_fail() -> None:
    det = make(PoisonScorer(marker=77.0), known={f"s{k}": UNIT for k in range(3)})
    points = [Point(f"s{k}", float(t), (float(t % 4),)) for t in range(40) for k in range(3)]
    poison = points.index(Point("s1", 30.0, (2.0,)))
    points[poison] = Point("s1", 30.0, (77.0,))
    out = det.process(points)
    assert reasons(out) == {poison: RejectReason.INTERNAL_ERROR}
    rejection = dict(out.rejected)[poison]
    assert len(out.failures) == 1
    failure = out.failures[0]
    assert failure.error_id in rejection.detail and "RuntimeError" in rejection.detail
    assert isinstance(failure.error, RuntimeError)
    assert scored_per_series(out) == {"s0": 37, "s1": 36, "s2": 37}


def test_a_failure_while_taking_a_point_rejects_that_point_and_goes_on() -> None:
    det = make()
    original = det.store.on_assign

    def fragile(slot: int, series: str) -> None:
        if series == "bad":
            raise KeyError(series)
        assert original is not None
        original(slot, series)

    det.store.on_assign = fragile
    points = [Point(name, float(t), (1.0,)) for t in range(6) for name in ("ok", "bad")]
    out = det.process(points)
    assert set(reasons(out).values()) == {RejectReason.INTERNAL_ERROR}
    assert sorted(reasons(out)) == [i for i, p in enumerate(points) if p.series == "bad"]
    assert scored_per_series(out) == {"ok": 6 - (W - 1)}
    assert len({f.error_id for f in out.failures}) == 1


@pytest.mark.parametrize("sizes", [(1,), (3, 4, 5), (12,)])
def test_the_same_failure_gets_the_same_id_however_the_points_are_batched(
    sizes: tuple[int, ...],
) -> None:
    ids = set()
    for chunk in sizes:
        det = make(PoisonScorer(marker=9.0), known={"a": UNIT})
        points = [Point("a", float(t), (9.0 if t == 7 else 0.0,)) for t in range(12)]
        for start in range(0, len(points), chunk):
            out = det.process(points[start : start + chunk])
            ids.update(f.error_id for f in out.failures)
    assert len(ids) == 1


DAY = 86_400.0


def walk_ahead(future_new_ids: bool) -> tuple[list[Point], list[str]]:
    """7 live series in a store of 8; at t=20 one series walks 9 years ahead in steps of
    0.9 day (each under window.max_ahead_s), then new series arrive each second: at the
    live series' time, or (future_new_ids) at the walker's."""
    live = [f"live-{k}" for k in range(7)]
    points: list[Point] = []
    for t in range(60):
        points += [Point(name, 1e9 + t, (float(t % 5),)) for name in live]
        if t == 20:
            points += [Point("walker", 1e9 + 0.9 * DAY * k, (1.0,)) for k in range(1, 3651)]
        if t >= 21:
            ts = 1e9 + 0.9 * DAY * 3650 + t if future_new_ids else 1e9 + t
            points.append(Point(f"new-{t}", ts, (1.0,)))
    return points, live


@pytest.mark.parametrize("future_new_ids", [False, True])
@pytest.mark.parametrize("now", [None, 1e9 + 60])
def test_a_series_walking_ahead_in_small_steps_cannot_evict_live_series(
    now: float | None, future_new_ids: bool
) -> None:
    # Before the fix each accepted step moved the store's clock: after 3650 steps it was
    # 9 years ahead, every live series looked idle, and new series evicted them again
    # and again (live-0 scored 19 times of 57), with no dead letter.
    det = make(max_series=8, idle_evict_s=100.0, max_ahead_s=DAY)
    points, live = walk_ahead(future_new_ids)
    out = det.process(points, now=now)
    scored = scored_per_series(out)
    assert {name: scored.get(name, 0) for name in live} == {name: 60 - (W - 1) for name in live}
    refused = reasons(out)
    for i, point in enumerate(points):
        if point.series.startswith("new-"):  # no slot for them: refused, not lost
            assert refused.get(i) in (RejectReason.CAPACITY, RejectReason.TOO_FAR_AHEAD)
    if now is not None:  # wall time bounds the walk itself
        walked = [i for i, p in enumerate(points) if p.series == "walker" and p.ts > now + DAY]
        assert walked and all(refused[i] is RejectReason.TOO_FAR_AHEAD for i in walked)


class OfferFailsOnce:
    """A training collector whose third offer raises."""

    watching = False
    """It counts windows, not each series' first points."""

    def __init__(self) -> None:
        self.calls = 0

    def offer(self, series: object, values: object, end_ts: object = None) -> None:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("collector bug")


def spiked() -> list[Point]:
    return [Point("a", 1000.0 + t, (50.0 if t == 40 else 0.0,)) for t in range(60)]


@pytest.mark.parametrize("where", ["promote", "collector"])
def test_an_error_after_windows_were_judged_keeps_their_scores_and_alerts(where: str) -> None:
    # Before the fix the training collector and the lane promotion ran outside the
    # guarded path: their error escaped process() after 57 windows had been scored and
    # learned, and the caller threw away the scores and the open alert.
    clean = make()
    clean.store.slack = clean.gather_up_to = 1  # one batch per window: the error hits a middle one
    expected = clean.process(spiked())
    det = make()
    det.store.slack = det.gather_up_to = 1
    if where == "collector":
        det.collector = OfferFailsOnce()  # type: ignore[assignment]
    else:
        calls = iter(range(100))
        promote = det._maybe_promote

        def fragile() -> None:
            if next(calls) == 2:
                raise RuntimeError("promotion bug")
            promote()

        det._maybe_promote = fragile  # type: ignore[method-assign]
    out = det.process(spiked())
    assert out.points_scored == expected.points_scored == 60 - (W - 1)
    assert [a.alert_id for a in out.alerts] == [a.alert_id for a in expected.alerts]
    assert any(a.state.value == "open" for a in out.alerts)
    assert out.rejected == [] and len(out.failures) == 1 and out.failures[0].points == 0
