from collections.abc import Callable

import numpy as np
import pytest

from stream_ae.core.threshold import RollingThreshold


def feed(thr: RollingThreshold, slot: int, scores: list[float]) -> list[tuple[float, bool]]:
    """Judge each score, then learn it unless it exceeded (held back, when protecting)."""
    out = []
    slots = np.array([slot])
    for s in scores:
        d = thr.judge(slots, np.array([s]))
        thr.learn(slots, np.array([s]), hold=d.exceeded)
        out.append((float(d.threshold[0]), bool(d.exceeded[0])))
    return out


def test_no_verdict_during_warmup() -> None:
    thr = RollingThreshold(history=50, quantile=0.9, warmup=10)
    results = feed(thr, 0, [1.0] * 9 + [100.0])
    assert all(np.isnan(t) and not e for t, e in results)


def test_a_seeded_slot_is_judged_at_once_and_the_others_still_warm_up() -> None:
    thr = RollingThreshold(history=50, quantile=0.5, warmup=20)
    slots = np.array([0, 1])
    for s in (1.0, 2.0, 3.0):
        thr.learn(slots, np.array([s, s]))
    thr.warm(np.array([0]))
    d = thr.judge(slots, np.array([9.0, 9.0]))
    assert d.threshold[0] == 2.0 and d.exceeded[0]
    assert np.isnan(d.threshold[1]) and not d.exceeded[1]
    thr.reset(0)  # a new series in the slot warms up again
    assert np.isnan(thr.current(np.array([0])))[0]


def test_percentile_of_own_history_per_series() -> None:
    thr = RollingThreshold(history=100, quantile=0.95, warmup=100)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=100), 10 + 5 * rng.normal(size=100)
    for x, y in zip(a, b, strict=True):
        thr.learn(np.array([0, 1]), np.array([x, y]))
    got = thr.current(np.array([0, 1]))
    assert got[0] == pytest.approx(np.quantile(a, 0.95))  # linear interpolation
    assert got[1] == pytest.approx(np.quantile(b, 0.95))


def test_history_rolls_over() -> None:
    thr = RollingThreshold(history=10, quantile=0.5, warmup=5)
    feed(thr, 0, [100.0] * 10)
    feed(thr, 0, [1.0] * 10)  # below the threshold: learned, pushing the old scores out
    assert thr.current(np.array([0]))[0] == 1.0
    fresh = RollingThreshold(history=10, quantile=0.5, warmup=5, protect=False)
    feed(fresh, 0, [100.0] * 10 + [1.0] * 10)
    assert fresh.current(np.array([0]))[0] == 1.0


def test_protect_keeps_exceedances_out_of_history() -> None:
    thr = RollingThreshold(history=20, quantile=0.9, warmup=20, escape_after=1000)
    feed(thr, 0, [1.0 + 0.01 * i for i in range(20)])
    before = thr.current(np.array([0]))[0]
    results = feed(thr, 0, [50.0] * 30)
    assert all(e for _, e in results)
    assert thr.current(np.array([0]))[0] == before


def test_escape_lets_a_lasting_level_shift_become_normal() -> None:
    thr = RollingThreshold(history=20, quantile=0.9, warmup=20, escape_after=5)
    feed(thr, 0, [1.0] * 20)
    results = feed(thr, 0, [50.0] * 60)
    assert results[0][1] is True
    assert results[-1][1] is False  # the new level is learned


def test_floor_stops_flat_series_alerting_on_noise() -> None:
    thr = RollingThreshold(history=20, quantile=0.99, warmup=10, floor=1e-3)
    feed(thr, 0, [0.0] * 20)
    t, exceeded = feed(thr, 0, [1e-9])[0]
    assert t == 1e-3 and not exceeded


def test_nan_score_is_no_opinion() -> None:
    thr = RollingThreshold(history=10, quantile=0.5, warmup=2)
    results = feed(thr, 0, [np.nan] * 5 + [1.0, 1.0])
    assert thr.count(np.array([0]))[0] == 2
    assert all(np.isnan(t) for t, _ in results)


def test_reset_forgets() -> None:
    thr = RollingThreshold(history=10, quantile=0.5, warmup=2)
    feed(thr, 3, [1.0, 1.0, 1.0])
    thr.reset(3)
    assert np.isnan(thr.current(np.array([3]))[0])


@pytest.mark.parametrize(
    "kwargs", [{"quantile": 1.0}, {"quantile": 0.0}, {"history": 1}, {"warmup": 0}, {"floor": -1.0}]
)
def test_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RollingThreshold(**kwargs)  # type: ignore[arg-type]


def test_seed_starts_a_slot_from_fit_scores_and_judges_at_once() -> None:
    thr = RollingThreshold(history=50, quantile=0.9, warmup=40)
    thr.seed(3, np.arange(10.0))
    d = thr.judge(np.array([3]), np.array([100.0]))
    assert d.exceeded.tolist() == [True]
    assert 8.0 <= d.threshold[0] <= 9.0


def test_a_long_protected_stretch_learns_its_normal_scores_but_not_its_anomalies() -> None:
    # Held scores after incidents, with rare anomalies among them: after escape_after
    # held in a row the normal ones are learned again, the isolated anomalies never.
    # Only held scores above the threshold in a row let a lasting new level in.
    thr = RollingThreshold(history=100, quantile=0.9, warmup=10, escape_after=5)
    slot = np.array([0])
    thr.seed(0, np.linspace(0.0, 1.0, 100))
    for i in range(300):
        bar = thr.current(slot)
        score = np.array([50.0 if i % 20 == 0 else 0.5])
        thr.learn(slot, score, hold=np.array([True]), clear=score > 1.5 * bar)
    assert float(thr.current(slot)[0]) == 0.5  # the history holds 0.5s and no 50
    for _ in range(4):  # held exceedances in a row: a lasting level, let in from the 5th
        thr.learn(slot, np.array([50.0]), hold=np.array([True]), clear=np.array([True]))
    assert float(thr.current(slot)[0]) == 0.5
    for _ in range(20):
        thr.learn(slot, np.array([50.0]), hold=np.array([True]), clear=np.array([True]))
    assert float(thr.current(slot)[0]) == 50.0


def test_a_slowly_growing_fault_cannot_lift_the_threshold_with_it() -> None:
    # Scores creeping up 2% a step, each only a little above the threshold: learned as
    # they are they carry a 99.5th percentile along; under a rise limit the threshold
    # lags far behind and the fault stays visible.
    def final_ratio(rise_limit: float | None) -> float:
        thr = RollingThreshold(history=2000, quantile=0.995, warmup=10, rise_limit=rise_limit)
        slot = np.array([0])
        thr.seed(0, np.random.default_rng(0).uniform(0.0, 1.0, 2000))
        score = 1.0
        for _ in range(100):
            bar = thr.current(slot)
            thr.learn(slot, np.array([score]), judged_at=bar)
            score *= 1.02
        return score / float(thr.current(slot)[0])

    assert final_ratio(None) < 1.3
    assert final_ratio(1.1) > 3.0


def test_a_fault_growing_over_hundreds_of_scores_lifts_the_threshold_only_by_its_span() -> None:
    # Each score 5% above the threshold it meets, for 600 scores: a per-score rise
    # limit lets every ten of them lift a 99.5th percentile by 5%, compounding; counted
    # from the threshold averaged over rise_span scores, the rise stays about
    # (rise_limit - 1) x 600 / rise_span.
    def final_rise(rise_span: int | None) -> float:
        thr = RollingThreshold(
            history=2000, quantile=0.995, warmup=10, rise_limit=1.1, rise_span=rise_span
        )
        slot = np.array([0])
        thr.seed(0, np.random.default_rng(0).uniform(0.0, 1.0, 2000))
        start = float(thr.current(slot)[0])
        for _ in range(600):
            bar = thr.current(slot)
            thr.learn(slot, 1.05 * bar, judged_at=bar)
        return float(thr.current(slot)[0]) / start

    assert final_rise(None) > 3.0
    assert final_rise(1000) < 1.2


def test_an_escaped_level_restarts_the_average_the_rise_counts_from() -> None:
    thr = RollingThreshold(
        history=100, quantile=0.9, warmup=10, escape_after=5, rise_limit=1.1, rise_span=1000
    )
    slot = np.array([0])
    thr.seed(0, np.random.default_rng(1).uniform(0.0, 1.0, 100))
    held, clear = np.array([True]), np.array([True])
    for _ in range(200):  # a lasting level far above: held, then let in as it is
        bar = thr.current(slot)
        thr.learn(slot, np.array([50.0]), hold=held, clear=clear, judged_at=bar)
    assert float(thr.current(slot)[0]) == 50.0
    for _ in range(50):  # its noise around the new level is learned from there
        bar = thr.current(slot)
        thr.learn(slot, 1.05 * bar, judged_at=bar)
    assert float(thr.current(slot)[0]) > 50.0


def escaped(return_after: int | None, fault: int) -> RollingThreshold:
    """A 98th percentile that let `fault` scores of 50 in (held and clear, escape after
    5: the 5th and later are learned)."""
    thr = RollingThreshold(
        history=100, quantile=0.98, warmup=10, escape_after=5, return_after=return_after
    )
    thr.seed(0, np.random.default_rng(1).uniform(0.0, 1.0, 100))
    held = np.array([True])
    for _ in range(fault):
        thr.learn(np.array([0]), np.array([50.0]), hold=held, clear=held)
    return thr


def calm(thr: RollingThreshold, n: int) -> float:
    for _ in range(n):
        thr.learn(np.array([0]), np.array([0.5]))
    return float(thr.current(np.array([0]))[0])


def test_a_level_let_in_that_ends_gives_the_threshold_of_before_back() -> None:
    # A fault outlasting escape_after is learned as a new level; once it ends, its
    # scores would hold the threshold at 50 for a whole history.
    before = float(escaped(None, 0).current(np.array([0]))[0])
    assert calm(escaped(None, 8), 10) == 50.0
    thr = escaped(10, 8)
    assert float(thr.current(np.array([0]))[0]) == 50.0  # learned while it lasts
    assert calm(thr, 9) == 50.0
    assert calm(thr, 1) == before  # the 10th calm score in a row restores it


def test_a_level_that_stays_as_long_again_is_the_new_normal() -> None:
    thr = escaped(10, 9)  # let in at the 5th, then 5 above since: it lasted
    assert calm(thr, 10) == 50.0


def test_a_busy_return_is_not_the_normal_of_before() -> None:
    # Back under the old threshold but often above its 95th percentile: a busier
    # normal than before, which the history that learned the level fits better.
    thr = escaped(10, 8)
    for _ in range(3):
        for score in (0.955, 0.955, 0.5, 0.5, 0.5):
            thr.learn(np.array([0]), np.array([score]))
    assert float(thr.current(np.array([0]))[0]) == 50.0


def test_a_return_after_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="return_after must be at least 1"):
        RollingThreshold(return_after=0)


@pytest.mark.parametrize("span", [0, -3])
def test_a_rise_span_below_one_is_refused(span: int) -> None:
    with pytest.raises(ValueError, match="rise_span must be at least 1"):
        RollingThreshold(rise_limit=1.1, rise_span=span)


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, n: rng.normal(10.0, 0.5, n),
        lambda rng, n: rng.exponential(1.0, n),
        lambda rng, n: rng.chisquare(4, n),
    ],
    ids=["narrow normal", "exponential", "chi-square 4"],
)
def test_the_tail_exponent_means_one_rarity_whatever_the_tail(
    draw: Callable[[np.random.Generator, int], np.ndarray],
) -> None:
    # x >= 1.5 should be about (1 - q)^1.5 = 0.00035 of independent scores on every
    # series; 1.2x the raw threshold is never reached by the narrow one and is five
    # times rarer than that on the exponential one.
    thr = RollingThreshold(history=2000, quantile=0.995, warmup=300)
    slot = np.array([0])
    scores = draw(np.random.default_rng(0), 60_000)
    x = np.empty(len(scores))
    for i, score in enumerate(scores.tolist()):
        x[i] = thr.exponent(slot, np.array([score]))[0]
        thr.learn(slot, np.array([score]))
    share = np.mean(x[2000:] >= 1.5)
    assert 0.005**1.5 / 3 < share < 0.005**1.5 * 3


def test_histories_are_kept_only_for_slots_a_series_took() -> None:
    # Each rolling window preallocates its whole history: the slots allocated ahead of
    # the live series (up to twice as many) must not hold one.
    thr = RollingThreshold(history=2000, quantile=0.99, warmup=5)
    thr.reset(3000)
    thr.learn(np.array([7]), np.array([1.0]))  # a slot used without a reset gets one too
    assert thr.slots_kept == 2
    assert thr.count(np.array([3000, 7, 8])).tolist() == [0, 1, 0]
    assert thr.slots_kept == 3


def test_a_seeded_history_is_the_one_learned_score_by_score() -> None:
    scores = np.random.default_rng(3).gamma(2.0, size=300)
    scores[[5, 77]] = np.nan  # no opinion: neither path learns it
    seeded = RollingThreshold(history=100, quantile=0.99, warmup=50, return_after=20)
    seeded.seed(4, scores)
    learned = RollingThreshold(history=100, quantile=0.99, warmup=50, return_after=20)
    learned.reset(4)
    slot = np.array([4])
    for score in scores:
        learned.learn(slot, np.array([score]))
    learned.warm(slot)
    assert seeded.histories.values(4).tolist() == learned.histories.values(4).tolist()
    assert seeded.count(slot).tolist() == learned.count(slot).tolist() == [298]
    assert seeded.current(slot).tolist() == learned.current(slot).tolist()
