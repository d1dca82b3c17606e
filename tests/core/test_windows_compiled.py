"""The compiled loop (`WindowStore.take_run`) decides exactly as `WindowStore.push` does,
point by point: same windows, statistics, scores, alerts and refusals, whatever the mix
of ordinary and unusual points."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from stream_ae.core.alerting import AlertPolicy
from stream_ae.core.detector import Detector, Lane
from stream_ae.core.normalize import Normalizer
from stream_ae.core.output import Output
from stream_ae.core.records import Point, PointColumns
from stream_ae.core.threshold import RollingThreshold
from stream_ae.core.windows import WindowStore

from .doubles import LastStepScorer

W, C = 6, 2


def detector(compiled: bool, **store: Any) -> Detector:
    lane = Lane(
        LastStepScorer(W, C),
        Normalizer(C, online=True),
        RollingThreshold(history=50, quantile=0.9, warmup=10),
    )
    det = Detector(
        WindowStore(W, C, **store),
        lane,
        AlertPolicy(open_k=2, open_n=3, resolve_after=3, cooldown=2),
        channel_names=["a", "b"],
    )
    det.compiled = compiled
    return det


def hostile_stream(rng: np.random.Generator, n: int, names: int) -> list[Point]:
    """Mostly regular points of a few series, interleaved, with every unusual kind mixed
    in: new series, repeats, points back in time, gaps short and long, non-finite and
    huge values, times far ahead, the wrong channel count."""
    clock = dict.fromkeys((f"s{k}" for k in range(names)), 1000.0)
    points = []
    for _ in range(n):
        name = f"s{rng.integers(names)}"
        roll = rng.random()
        t = clock[name] + 1.0
        values: tuple[float, ...] = (float(rng.normal()), float(rng.normal()))
        if roll < 0.02:
            t = clock[name]  # a repeat of the last time
        elif roll < 0.04:
            t = clock[name] - 3.0
        elif roll < 0.06:
            t = clock[name] + float(rng.integers(3, 40))  # a gap, imputed or reset
        elif roll < 0.07:
            values = (math.nan, 1.0)
        elif roll < 0.08:
            values = (1e39, 0.0)
        elif roll < 0.09:
            t = clock[name] + 1e7
        elif roll < 0.10:
            values = (1.0,)
        elif roll < 0.11:
            name = f"new{rng.integers(1_000_000)}"
            t = 1000.0
        elif roll < 0.12:
            values = (float(rng.normal(40.0)), 0.0)  # something to alert on
        if name in clock and t > clock[name] and abs(t - clock[name]) < 1e6:
            clock[name] = t
        points.append(Point(name, t, values))
    return points


def summary(out: Output) -> tuple[list[str], ...]:
    """Everything the output says, as text: NaN thresholds of warming series compare."""
    scored = [
        (s.series[i], s.ts[i], s.values[i].tolist(), s.score[i], s.threshold[i], s.state[i])
        for s in out.scored
        for i in range(len(s))
    ]
    alerts = [(a.series, a.ts, a.state, a.score, a.contributors) for a in out.alerts]
    rejected = [(i, r.reason, r.detail) for i, r in out.rejected]
    return tuple([repr(row) for row in rows] for rows in (scored, alerts, rejected, [out.taken]))


STORES = [
    {},
    {"hop": 3, "slack": 4},
    {"gap_policy": "impute", "slack": 7},
    {"max_series": 5, "idle_evict_s": 20.0},
    {"max_series": 5, "idle_evict_s": 20.0, "slack": 4},  # windows gathered, then evicted
    {"out_of_order": "ignore_time", "duplicates": "replace"},
    {"duplicates": "replace", "irregular_after": 1, "hop": 2},
]


@pytest.mark.parametrize("store", STORES, ids=[str(s) for s in STORES])
@pytest.mark.parametrize("seed", range(4))
def test_compiled_runs_decide_as_point_by_point(store: dict[str, Any], seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference, compiled = detector(False, **store), detector(True, **store)
    for batch in range(6):
        points = hostile_stream(rng, int(rng.integers(1, 400)), names=int(rng.integers(1, 9)))
        now = None if batch % 2 else 1000.0 + 400.0 * (batch + 1)
        expected = summary(reference.process(points, now=now))
        assert summary(compiled.process(points, now=now)) == expected
        assert compiled.compiled, "the compiled loop fell back to point by point"
    assert reference.store.series_ids() == compiled.store.series_ids()


def test_columns_in_are_points_in() -> None:
    points = hostile_stream(np.random.default_rng(9), 500, names=4)
    by_points, by_columns = detector(True), detector(True)
    columns = PointColumns.of(points, C)
    expected = summary(by_points.process(points))
    # Columns cannot hold a point's wrong channel count: those read as NaN, refused.
    got = summary(by_columns.process(columns))
    assert got[0] == expected[0] and got[1] == expected[1]
    assert [r[0] for r in got[2]] == [r[0] for r in expected[2]]


def test_a_series_evicted_mid_batch_is_not_written_through_its_old_slot() -> None:
    # Two slots: "c" evicts the idle "a", and a later point of "a" must take a new slot
    # (evicting "b") rather than write into the slot "c" now owns.
    det = detector(True, max_series=2, idle_evict_s=5.0)
    det.process([Point("a", 0.0, (1.0, 1.0)), Point("b", 100.0, (2.0, 2.0))])
    det.process(
        [
            Point("b", 101.0, (2.0, 2.0)),
            Point("c", 102.0, (3.0, 3.0)),
            Point("a", 200.0, (9.0, 9.0)),
        ],
        now=300.0,
    )
    store = det.store
    assert set(store.series_ids()) == {"c", "a"}
    for name, value in (("c", 3.0), ("a", 9.0)):
        slot = store.slot(name)
        assert slot is not None
        assert store.latest(slot, 5).tolist() == [[value, value]]


def test_columns_of_other_dtypes_decide_as_float64() -> None:
    # A caller's float32 values and integer wall time reach the compiled loop as float64.
    points = [  # without what float32 cannot hold, nor what columns cannot (1 value of 2)
        p
        for p in hostile_stream(np.random.default_rng(3), 300, names=3)
        if len(p.values) == C and p.values != (1e39, 0.0)
    ]
    narrowed = [Point(p.series, p.ts, tuple(np.float32(p.values).tolist())) for p in points]
    columns = PointColumns.of(narrowed, C)
    narrow = PointColumns(columns.series, columns.ts, columns.values.astype(np.float32))
    as_float, as_narrow = detector(True), detector(True)
    expected = summary(as_float.process(narrowed, now=2000.0))
    assert summary(as_narrow.process(narrow, now=2000)) == expected
    assert as_narrow.compiled


def test_columns_of_another_width_are_refused_point_by_point() -> None:
    # The compiled loop trusts the columns' shape: a wider matrix would write past a
    # series' row of the ring.
    det = detector(True)
    det.process([Point(name, 1000.0, (1.0, 1.0)) for name in ("a", "b")])
    wide = PointColumns(["a", "b"], np.array([1001.0, 1001.0]), np.full((2, C + 1), 7.0))
    out = det.process(wide)
    assert [(i, r.reason.value) for i, r in out.rejected] == [
        (0, "wrong_channels"),
        (1, "wrong_channels"),
    ]
    for name in ("a", "b"):
        slot = det.store.slot(name)
        assert slot is not None and det.store.latest(slot, 5).tolist() == [[1.0, 1.0]]


def test_a_value_that_is_not_a_number_is_refused_alone() -> None:
    points = [Point("a", 1000.0 + t, (float(t), 1.0)) for t in range(12)]
    points[5] = Point("a", 1005.0, ("abc", 1.0))  # type: ignore[arg-type]  # hostile input
    points[7] = Point("a", 1007.0, ("1.5", 1.0))  # type: ignore[arg-type]
    compiled, reference = detector(True), detector(False)
    expected = summary(reference.process(points))
    got = summary(compiled.process(points))
    assert got == expected
    refused = detector(True).process(points).rejected
    assert [i for i, _ in refused] == [5, 7]  # the rest were taken and scored


@pytest.mark.parametrize(
    ("ts", "values", "given", "said"),
    [
        (np.array(["1000", "1001"], dtype=object), np.ones((2, C)), None, "times as numbers"),
        (
            np.array(["2026-01-01", "2026-01-02"], dtype="datetime64[s]"),
            np.ones((2, C)),
            None,
            "datetime64",
        ),
        (np.array([True, False]), np.ones((2, C)), None, "got bool"),
        (
            np.array([1000.0, 1001.0]),
            np.array([["1", "2"], ["3", "x"]], dtype=object),
            None,
            "values as numbers",
        ),
        (np.array([1000.0, 1001.0]), np.ones((2, C)), [(1.0, 1.0)], "2 points but 1 rows as given"),
    ],
)
def test_columns_hold_numbers_or_are_refused_when_built(
    ts: np.ndarray, values: np.ndarray, given: list[tuple[float, ...]] | None, said: str
) -> None:
    # Built by hand, such columns were taken where a point is refused (the text "1000"
    # as 1000.0, a bool time as 0 or 1), or raised from process (text like "noon").
    with pytest.raises(ValueError, match=said):
        PointColumns(["a", "b"], ts, values, given)
