import math

import numpy as np
import pytest

from stream_ae.core.records import RejectReason
from stream_ae.core.windows import WindowStore


def push_all(store: WindowStore, series: str, values: list[float], start: float = 0.0) -> None:
    for i, v in enumerate(values):
        assert store.push(series, start + i, (v,)) is None


def test_window_ready_only_when_full_and_in_order() -> None:
    store = WindowStore(window=4, channels=1)
    push_all(store, "a", [1, 2, 3])
    assert store.pending == 0
    push_all(store, "a", [4, 5], start=3)
    got = store.drain()
    assert got.batch.values[:, :, 0].tolist() == [[1, 2, 3, 4], [2, 3, 4, 5]]
    assert got.batch.end_ts.tolist() == [3.0, 4.0]
    assert got.batch.ts[0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert store.pending == 0


def test_gather_many_series_multichannel_in_one_array() -> None:
    store = WindowStore(window=3, channels=2)
    for t in range(3):
        for k, name in enumerate(["a", "b", "c"]):
            assert store.push(name, float(t), (10.0 * k + t, -t)) is None
    got = store.drain()
    assert got.batch.values.shape == (3, 3, 2)
    assert got.batch.series == ("a", "b", "c")
    assert got.batch.values[1, :, 0].tolist() == [10.0, 11.0, 12.0]
    assert got.batch.values[2, :, 1].tolist() == [0.0, -1.0, -2.0]
    assert len(set(got.slots.tolist())) == 3


def test_a_window_of_one_is_each_point_on_its_own() -> None:
    """Records: with window 1 every point is scored, alone, from the first one on."""
    store = WindowStore(window=1, channels=2, slack=4)
    seen = []
    for i in range(10):
        assert store.push("r", float(i), (float(i), -float(i))) is None
        if store.needs_drain:
            seen.extend(store.drain().batch.values.tolist())
    seen.extend(store.drain().batch.values.tolist())
    assert seen == [[[float(i), -float(i)]] for i in range(10)]


def test_hop_scores_every_kth_point() -> None:
    store = WindowStore(window=4, channels=1, hop=3, stagger=False)
    push_all(store, "a", [float(i) for i in range(13)])
    ends = store.drain().batch.end_ts.tolist()
    assert ends == [3.0, 6.0, 9.0, 12.0]


def test_ring_wraps_without_corrupting_windows() -> None:
    store = WindowStore(window=5, channels=1, slack=3)
    seen = []
    for i in range(40):
        assert store.push("a", float(i), (float(i),)) is None
        if store.needs_drain:
            seen.extend(store.drain().batch.values[:, :, 0].tolist())
    seen.extend(store.drain().batch.values[:, :, 0].tolist())
    assert seen == [[float(j) for j in range(e - 4, e + 1)] for e in range(4, 40)]


def test_windows_across_the_rings_end_keep_every_channel_and_time() -> None:
    store = WindowStore(window=3, channels=2, slack=2)  # a ring of 5 points
    seen = []
    for i in range(12):
        assert store.push("a", 100.0 + i, (float(i), -float(i))) is None
        if store.needs_drain:
            got = store.drain().batch
            seen.extend(zip(got.ts.tolist(), got.values.tolist(), strict=True))
    got = store.drain().batch
    seen.extend(zip(got.ts.tolist(), got.values.tolist(), strict=True))
    assert seen == [
        (
            [100.0 + j for j in range(e - 2, e + 1)],
            [[float(j), -float(j)] for j in range(e - 2, e + 1)],
        )
        for e in range(2, 12)
    ]


def test_needs_drain_after_slack_points() -> None:
    store = WindowStore(window=4, channels=1, slack=4)
    push_all(store, "a", [1.0, 2.0, 3.0])
    assert not store.needs_drain
    push_all(store, "a", [4.0], start=3)
    assert store.needs_drain
    store.drain()
    assert not store.needs_drain


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_rejected_with_reason(bad: float) -> None:
    store = WindowStore(window=3, channels=1)
    rejection = store.push("a", 0.0, (bad,))
    assert rejection is not None
    assert rejection.reason is RejectReason.NON_FINITE
    assert "finite" in rejection.detail
    assert "a" not in store


def test_wrong_channel_count_rejected() -> None:
    store = WindowStore(window=3, channels=2)
    rejection = store.push("a", 0.0, (1.0,))
    assert rejection is not None and rejection.reason is RejectReason.WRONG_CHANNELS


def test_out_of_order_rejected_and_window_unchanged() -> None:
    store = WindowStore(window=3, channels=1)
    push_all(store, "a", [1, 2, 3])
    rejection = store.push("a", 1.5, (99.0,))
    assert rejection is not None and rejection.reason is RejectReason.OUT_OF_ORDER
    assert "ignore_time" in rejection.detail
    assert store.drain().batch.values[:, :, 0].tolist() == [[1, 2, 3]]


def test_out_of_order_ignore_time_takes_arrival_order() -> None:
    store = WindowStore(window=3, channels=1, out_of_order="ignore_time")
    for ts, v in [(0.0, 1.0), (2.0, 2.0), (1.0, 3.0)]:
        assert store.push("a", ts, (v,)) is None
    assert store.drain().batch.values[0, :, 0].tolist() == [1.0, 2.0, 3.0]


def test_duplicate_timestamp_policies() -> None:
    reject = WindowStore(window=2, channels=1)
    push_all(reject, "a", [1, 2])
    rejection = reject.push("a", 1.0, (5.0,))
    assert rejection is not None and rejection.reason is RejectReason.DUPLICATE
    replace = WindowStore(window=2, channels=1, duplicates="replace")
    push_all(replace, "a", [1, 2])
    assert replace.push("a", 1.0, (5.0,)) is None
    assert replace.drain().batch.values[0, :, 0].tolist() == [1.0, 5.0]


def test_gap_reset_starts_window_afresh() -> None:
    store = WindowStore(window=3, channels=1, gap_policy="reset", gap_factor=3.0)
    push_all(store, "a", [1, 2, 3, 4])
    store.drain()
    for ts, v in [(100.0, 7.0), (101.0, 8.0)]:
        assert store.push("a", ts, (v,)) is None
    assert store.pending == 0  # only two points since the gap
    assert store.push("a", 102.0, (9.0,)) is None
    assert store.drain().batch.values[0, :, 0].tolist() == [7.0, 8.0, 9.0]


def test_a_series_whose_gaps_never_let_its_window_fill_stops_resetting() -> None:
    irregular: list[str] = []
    store = WindowStore(window=4, channels=1, gap_factor=3.0, on_irregular=irregular.append)
    # Steps of 1 and now and then 10: every long step comes before 4 points since the last.
    times = np.cumsum([1, 1, 1, 1, 10, 1, 1, 10, 1, 1, 10, 1, 1, 10, 1, 1, 1]).astype(float)
    ends = []
    for t in times:
        assert store.push("a", float(t), (t,)) is None
        ends += store.drain().batch.end_ts.tolist()
    # The first gap follows a full window: a reset. The next two follow 3 points each:
    # resets too. The third such gap marks the series irregular: its window spans it.
    assert irregular == ["a"]
    assert ends == [4.0] + [float(t) for t in times[13:]]


def test_a_series_with_outages_keeps_resetting_at_each() -> None:
    store = WindowStore(window=3, channels=1, gap_factor=3.0, irregular_after=1)
    for start in (0.0, 100.0, 200.0, 300.0):  # four outages, the window full before each
        got = []
        for t in range(5):
            assert store.push("a", start + t, (float(t),)) is None
            got += store.drain().batch.end_ts.tolist()
        assert got == [start + 2, start + 3, start + 4]  # the window starts afresh each time


def test_gap_impute_fills_linearly_and_scores_only_real_points() -> None:
    store = WindowStore(window=4, channels=1, gap_policy="impute", gap_factor=1.5)
    push_all(store, "a", [0.0, 1.0, 2.0, 3.0])
    store.drain()
    assert store.push("a", 6.0, (6.0,)) is None  # steps 4 and 5 missing
    got = store.drain()
    assert got.batch.end_ts.tolist() == [6.0]
    assert got.batch.values[0, :, 0].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert got.batch.ts[0].tolist() == [3.0, 4.0, 5.0, 6.0]


def test_capacity_bound_rejects_new_series_when_none_idle() -> None:
    store = WindowStore(window=2, channels=1, max_series=2, idle_evict_s=100.0)
    assert store.push("a", 0.0, (1.0,)) is None
    assert store.push("b", 0.0, (1.0,)) is None
    rejection = store.push("c", 1.0, (1.0,))
    assert rejection is not None and rejection.reason is RejectReason.CAPACITY
    assert "max_series" in rejection.detail
    assert len(store) == 2


def test_capacity_evicts_the_idlest_series() -> None:
    store = WindowStore(window=2, channels=1, max_series=2, idle_evict_s=100.0)
    assert store.push("old", 0.0, (1.0,)) is None
    assert store.push("busy", 500.0, (1.0,)) is None
    assert store.push("new", 501.0, (1.0,)) is None
    assert "old" not in store and "new" in store and len(store) == 2


@pytest.mark.parametrize("now", [None, 10_000.0], ids=["event time", "wall time"])
def test_may_evict_says_what_the_push_would_do(now: float | None) -> None:
    store = WindowStore(window=2, channels=1, max_series=2, idle_evict_s=100.0)
    store.push("old", 0.0, (1.0,), now=now)
    assert not store.may_evict("new", 500.0, (1.0,), now)  # a slot is free
    store.push("busy", 50.0, (1.0,), now=now)
    assert not store.may_evict("busy", 500.0, (1.0,), now)  # not new
    said = []
    # Without wall time, idleness is measured against the live series' clock ("busy"
    # moves it), never later than the newcomer's own time.
    for busy_ts, new_ts in ((60.0, 99.0), (70.0, 500.0), (99.0, 100.0), (150.0, 150.0)):
        store.push("busy", busy_ts, (1.0,), now=now)
        evicts = store.may_evict(f"new-{new_ts}", new_ts, (1.0,), now)
        assert (store.push(f"new-{new_ts}", new_ts, (1.0,), now=now) is None) == evicts
        assert ("old" in store) != evicts
        said.append(evicts)
        if evicts:
            break
    assert said == ([False, False, False, True] if now is None else [False, True])


def test_flood_of_series_ids_stays_bounded() -> None:
    store = WindowStore(window=2, channels=1, max_series=50, idle_evict_s=1e9)
    rejected = sum(store.push(f"s{i}", 0.0, (1.0,)) is not None for i in range(1000))
    assert len(store) == 50 and rejected == 950
    assert store.capacity == 50


def test_evict_idle_and_assign_callback() -> None:
    assigned: list[tuple[int, str]] = []
    store = WindowStore(window=2, channels=1, idle_evict_s=10.0)
    store.on_assign = lambda slot, series: assigned.append((slot, series))
    store.push("a", 0.0, (1.0,))
    store.push("b", 50.0, (1.0,))
    assert store.evict_idle() == ["a"]
    store.push("c", 51.0, (1.0,))
    assert [s for _, s in assigned] == ["a", "b", "c"]
    assert assigned[2][0] == assigned[0][0]  # the freed slot is reused


def test_evictions_are_reported_with_their_reason() -> None:
    evicted: list[tuple[str, str]] = []
    store = WindowStore(window=2, channels=1, max_series=2, idle_evict_s=10.0)
    store.on_evict = lambda series, reason: evicted.append((series, reason))
    store.push("a", 0.0, (1.0,))
    store.push("b", 50.0, (1.0,))
    store.push("c", 51.0, (1.0,))  # full: "a" is idle and makes room
    store.evict("b", reason="revoked")
    store.evict("nobody", reason="revoked")  # unknown: nothing to report
    assert evicted == [("a", "idle"), ("b", "revoked")]
    assert sorted(store.series_at(int(s)) or "" for s in store.live_slots()) == ["c"]


def test_evicting_drops_pending_windows() -> None:
    store = WindowStore(window=2, channels=1)
    push_all(store, "a", [1, 2])
    push_all(store, "b", [1, 2])
    store.evict("a")
    assert store.drain().batch.series == ("b",)


def test_grows_beyond_first_allocation() -> None:
    store = WindowStore(window=2, channels=1, max_series=5000)
    for i in range(3000):
        assert store.push(f"s{i}", 0.0, (float(i),)) is None
        assert store.push(f"s{i}", 1.0, (float(i),)) is None
    got = store.drain()
    assert len(got.batch) == 3000
    assert np.allclose(got.batch.values[:, 0, 0], np.arange(3000))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"window": 0}, "window"),
        ({"hop": 0}, "hop"),
        ({"gap_policy": "drop"}, "gap_policy"),
        ({"out_of_order": "sort"}, "out_of_order"),
        ({"duplicates": "keep"}, "duplicates"),
        ({"gap_factor": 1.0}, "gap_factor"),
        ({"irregular_after": -1}, "irregular_after"),
    ],
)
def test_bad_settings_refused_with_a_sentence(kwargs: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = {"window": 4, "channels": 1, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        WindowStore(**args)  # type: ignore[arg-type]
