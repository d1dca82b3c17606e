import math
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from stream_ae.core import detector as detector_module
from stream_ae.core.alerting import OPENED, AlertPolicy
from stream_ae.core.detector import Detector, Lane
from stream_ae.core.normalize import Normalizer
from stream_ae.core.output import Output
from stream_ae.core.records import Alert, AlertState, Point, Rejection, RejectReason, ScoreBatch
from stream_ae.core.scoring import Scorer
from stream_ae.core.stillness import StuckChannels, run_profile
from stream_ae.core.threshold import RollingThreshold
from stream_ae.core.training import TrainingCollector
from stream_ae.core.windows import WindowStore

from .doubles import LastStepScorer

W = 8


def make(
    scorer: Scorer | None = None,
    collector: TrainingCollector | None = None,
    policy: AlertPolicy | None = None,
    **store_kw: int,
) -> Detector:
    known = {f"s{i}": {"mean": [0.0], "std": [1.0]} for i in range(10)}
    lane = Lane(
        scorer or LastStepScorer(W, 1),
        Normalizer(1, known),
        RollingThreshold(history=200, quantile=0.99, warmup=50),
    )
    return Detector(
        WindowStore(W, 1, **store_kw),
        lane,
        policy or AlertPolicy(open_k=1, open_n=1, resolve_after=3, cooldown=5),
        channel_names=["value"],
        collector=collector,
    )


def series(name: str, n: int, spike_at: int | None = None, seed: int = 0) -> list[Point]:
    # Periodic, so every normal value was seen before: only the spike can exceed.
    values = np.sin(2 * np.pi * (np.arange(n) + seed) / 10)
    if spike_at is not None:
        values[spike_at] = 12.0
    return [Point(name, float(t), (float(v),)) for t, v in enumerate(values)]


def rows(out: Output) -> list[tuple[str, float, float, int]]:
    return [
        (s.series[i], float(s.ts[i]), float(s.score[i]), int(s.state[i]))
        for s in out.scored
        for i in range(len(s))
    ]


def test_spike_opens_then_resolves_with_explanation() -> None:
    det = make()
    out = det.process(series("s1", 400, spike_at=300))
    opened = [a for a in out.alerts if a.state is AlertState.OPEN]
    assert [a.ts for a in opened] == [300.0]
    alert = opened[0]
    assert alert.score > alert.threshold
    assert alert.scorer == "last-step" and alert.model_version == "v-test"
    top = alert.contributors[0]
    assert top.ts == 300.0 and top.channel == "value" and top.actual == 12.0
    assert top.expected == pytest.approx(0.0)
    resolved = [
        a
        for a in out.alerts
        if a.incident_id == alert.incident_id and a.state is AlertState.RESOLVED
    ]
    assert resolved and resolved[0].ts == 303.0
    assert out.points_scored == 400 - W + 1


def test_every_point_after_the_first_window_is_scored_once() -> None:
    det = make()
    out = det.process(series("s1", 100))
    ts = [r[1] for r in rows(out)]
    assert ts == [float(t) for t in range(W - 1, 100)]


@pytest.mark.parametrize("names", [("s1", "s2"), ("new-1", "new-2")], ids=["known", "adaptive"])
def test_chunking_does_not_change_results(names: tuple[str, str]) -> None:
    # Known series use the model's statistics; new ones their own running statistics.
    points = series(names[0], 600, spike_at=400) + series(names[1], 600, spike_at=500, seed=1)
    points.sort(key=lambda p: p.ts)
    whole = make().process(points)
    det = make()
    parts = [det.process(points[i : i + 37]) for i in range(0, len(points), 37)]
    assert sorted(rows(whole)) == sorted(r for p in parts for r in rows(p))
    assert [a.alert_id for a in whole.alerts] == [a.alert_id for p in parts for a in p.alerts]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "point by point"])
def test_a_series_in_bulk_is_scored_in_few_large_batches(
    compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its ring's slack fills every 32 points; the model costs more per window in small
    # batches, so the windows wait and go together, up to a memory bound.
    scorer = LastStepScorer(W, 1)
    det = make(scorer)
    det.compiled = compiled
    whole = det.process(series("s1", 1000))
    assert scorer.calls == 1 and whole.points_scored == 1000 - (W - 1)
    # A window of 8 steps of one channel takes 8 x 12 + 16 bytes: at most 100 wait.
    monkeypatch.setattr(detector_module, "GATHER_BYTES", 100 * (W * 12 + 16))
    det = make(LastStepScorer(W, 1))
    det.compiled = compiled
    out = det.process(series("s1", 1000))
    sizes = [len(rows) for rows in out.scored]
    assert sum(sizes) == 1000 - (W - 1) and len(sizes) > 1
    assert all(100 <= n < 100 + det.store.slack for n in sizes[:-1])
    assert rows(out) == rows(whole)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "point by point"])
def test_newcomers_refused_for_capacity_do_not_break_up_the_batch(compiled: bool) -> None:
    # The store is full of live series: every newcomer is refused, nobody is evicted,
    # so nothing needs the gathered windows judged before it and they stay one batch.
    points = [Point("s2", 0.0, (0.0,)), *series("s1", 1000)]
    for k in range(1, 100):
        points.insert(10 * k, Point(f"new-{k}", float(k), (1.0,)))
    scorer = LastStepScorer(W, 1)
    det = make(scorer, max_series=2, idle_evict_s=10_000)
    det.compiled = compiled
    out = det.process(points)
    assert {r.reason for _, r in out.rejected} == {RejectReason.CAPACITY}
    assert len(out.rejected) == 99
    assert scorer.calls == 1 and out.points_scored == 1000 - (W - 1)
    assert rows(out) == rows(make().process(series("s1", 1000)))


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "point by point"])
def test_newcomers_refused_before_a_slot_do_not_break_up_the_batch(compiled: bool) -> None:
    # The store is full but "s2" is idle long enough to be evicted. Each newcomer is
    # refused for its own point (channels, values, time) before it could take a slot:
    # it evicts nobody, so the gathered windows need not be judged before it.
    bad: list[tuple[float, tuple[float, ...]]] = [
        (5.0, (1.0, 2.0)),
        (6.0, (math.nan,)),
        (7.0, (1e39,)),
        (math.nan, (1.0,)),
        (1e12, (1.0,)),
    ]
    points = [Point("s2", 0.0, (0.0,)), *series("s1", 1000)]
    for k in range(1, 100):
        ts, values = bad[k % len(bad)]
        points.insert(10 * k, Point(f"new-{k}", ts, values))
    scorer = LastStepScorer(W, 1)
    det = make(scorer, max_series=2, idle_evict_s=5)
    det.compiled = compiled
    out = det.process(points, now=2000.0)
    assert len(out.rejected) == 99
    assert RejectReason.CAPACITY not in {r.reason for _, r in out.rejected}
    assert "s2" in det.store
    assert scorer.calls == 1 and out.points_scored == 1000 - (W - 1)
    assert rows(out) == rows(make().process(series("s1", 1000), now=2000.0))


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "point by point"])
def test_a_newcomer_whose_values_are_not_numbers_is_refused_not_raised(compiled: bool) -> None:
    # The store is full and "s2" could be evicted: asking whether this point evicts
    # reads its values, which a library caller may have built from anything.
    points = [Point("s2", 0.0, (0.0,)), *series("s1", 100), Point("new", 50.0, ("abc",))]
    points += [Point("s1", float(t), (0.0,)) for t in range(100, 120)]
    det = make(max_series=2, idle_evict_s=5)
    det.compiled = compiled
    out = det.process(points, now=2000.0)  # type: ignore[arg-type]
    assert [i for i, _ in out.rejected] == [101]
    assert out.points_scored == 120 - (W - 1)


def refused_alone(compiled: bool, bad: Point) -> Rejection:
    """`bad` in the middle of one series' points: the one refusal, with nothing raised,
    no internal error, and every other point scored."""
    det = make()
    det.compiled = compiled
    points = [*series("s1", 40), bad, *(Point("s1", float(t), (0.0,)) for t in range(41, 60))]
    out = det.process(points)
    [(index, rejection)] = out.rejected
    assert index == 40
    assert out.points_scored == 59 - (W - 1)
    assert not out.failures
    return rejection


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "point by point"])
@pytest.mark.parametrize(
    ("ts", "value", "reason", "named"),
    [
        (40.0, "abc", RejectReason.MALFORMED, "value 'abc' is not a number"),
        (40.0, None, RejectReason.MALFORMED, "value None is not a number"),
        ("noon", 1.0, RejectReason.MALFORMED, "timestamp 'noon' is not a number"),
        (None, 1.0, RejectReason.MALFORMED, "timestamp None is not a number"),
        (40.0, 10**400, RejectReason.OUT_OF_RANGE, "beyond what float32 windows hold"),
        (10**400, 1.0, RejectReason.NON_FINITE, "is not a finite number of seconds"),
        (40.0, Decimal("NaN"), RejectReason.NON_FINITE, "value nan is not a finite number"),
        (40.0, Decimal("sNaN"), RejectReason.NON_FINITE, "value nan is not a finite number"),
        (40.0, Decimal("1E+400"), RejectReason.OUT_OF_RANGE, "value Decimal('1E+400') is beyond"),
        (40.0, Fraction(10**400, 3), RejectReason.OUT_OF_RANGE, "is beyond what float32"),
        (Decimal("40"), 1.0, RejectReason.MALFORMED, "timestamp Decimal('40') is not a number"),
    ],
    ids=[
        "string value",
        "None value",
        "string time",
        "None time",
        "huge int value",
        "huge int time",
        "Decimal NaN value",
        "Decimal sNaN value",
        "huge Decimal value",
        "huge Fraction value",
        "Decimal time",
    ],
)
def test_a_point_a_library_caller_built_from_anything_is_refused_saying_why(
    compiled: bool, ts: object, value: object, reason: RejectReason, named: str
) -> None:
    # Points built in Python are not checked on the way in: a time or value that is
    # not a number used to raise out of process (compiled) or be refused as
    # internal_error with a traceback in the log (point by point).
    rejection = refused_alone(compiled, Point("s1", ts, (value,)))  # type: ignore[arg-type]
    assert rejection.reason == reason
    assert named in rejection.detail


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "point by point"])
@pytest.mark.parametrize(
    ("series_id", "values", "reason", "named"),
    [
        ("s1", None, RejectReason.MALFORMED, "got not a sequence of numbers"),
        ("s1", 0.5, RejectReason.MALFORMED, "got not a sequence of numbers"),
        ("s1", (v for v in [0.5]), RejectReason.MALFORMED, "got not a sequence of numbers"),
        (["s1"], (0.5,), RejectReason.INVALID_SERIES, "it is not a string"),
        (None, (0.5,), RejectReason.INVALID_SERIES, "it is not a string"),
        ("a\ud800", (0.5,), RejectReason.INVALID_SERIES, "lone UTF-16 surrogate"),
        ("a\x00", (0.5,), RejectReason.INVALID_SERIES, "control character"),
        ("x" * 300, (0.5,), RejectReason.INVALID_SERIES, "300 characters"),
    ],
    ids=[
        "None values",
        "a number",
        "a generator",
        "a list id",
        "None id",
        "surrogate",
        "NUL",
        "long",
    ],
)
def test_a_point_whose_id_or_values_are_not_what_a_point_holds_is_refused(
    compiled: bool, series_id: object, values: object, reason: RejectReason, named: str
) -> None:
    # Such a point used to raise out of process (compiled), or be refused as
    # internal_error (point by point), or be taken: a series whose id cannot be
    # encoded then lost its alerts, and point by point took its turn's others with it.
    rejection = refused_alone(compiled, Point(series_id, 40.0, values))  # type: ignore[arg-type]
    assert rejection.reason == reason
    assert named in rejection.detail


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "point by point"])
@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        ("noon", RejectReason.MALFORMED),
        (None, RejectReason.MALFORMED),
        (Decimal("50"), RejectReason.MALFORMED),
        (-(10**400), RejectReason.NON_FINITE),
    ],
    ids=["string", "None", "Decimal", "huge int"],
)
def test_a_newcomer_with_a_bad_time_in_a_full_store_is_refused_not_raised(
    compiled: bool, ts: object, reason: RejectReason
) -> None:
    # The store is full and "s2" could be evicted: asking whether the newcomer evicts
    # measured its time against the idle clock before checking it was a number.
    points = [Point("s2", 0.0, (0.0,)), *series("s1", 100), Point("new", ts, (0.0,))]  # type: ignore[arg-type]
    points += [Point("s1", float(t), (0.0,)) for t in range(100, 120)]
    det = make(max_series=2, idle_evict_s=5)
    det.compiled = compiled
    out = det.process(points, now=2000.0)
    assert [(i, r.reason) for i, r in out.rejected] == [(101, reason)]
    assert out.points_scored == 120 - (W - 1)
    assert "s2" in det.store  # nobody was evicted for it


def test_both_paths_take_a_value_given_as_a_zero_dimensional_array() -> None:
    given = [Point(p.series, p.ts, (np.array(p.values[0]),)) for p in series("s1", 60)]
    results = []
    for compiled in (True, False):
        det = make()
        det.compiled = compiled
        results.append(rows(det.process(given)))  # type: ignore[arg-type]
    assert results[0] == results[1] == rows(make().process(series("s1", 60)))


@pytest.mark.parametrize("now", ["100", math.nan, -math.inf, 10**400, None])
def test_a_now_that_is_not_a_finite_number_is_the_callers_error(now: object) -> None:
    det = make()
    if now is None:
        assert det.process(series("s1", 40), now=now).points_scored == 40 - (W - 1)
        return
    with pytest.raises(ValueError, match="now must be a finite number of seconds"):
        det.process(series("s1", 40), now=now)  # type: ignore[arg-type]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "point by point"])
def test_decimal_and_fraction_values_are_taken_as_the_floats_they_hold(compiled: bool) -> None:
    # A database driver hands NUMERIC columns over as Decimal.
    exact = make()
    exact.compiled = compiled
    other = make()
    other.compiled = compiled
    points = series("s1", 60)
    given = [Point(p.series, p.ts, (Decimal(repr(p.values[0])),)) for p in points[:30]]
    given += [Point(p.series, p.ts, (Fraction(p.values[0]),)) for p in points[30:]]
    assert rows(other.process(given)) == rows(exact.process(points))  # type: ignore[arg-type]


def test_interleaved_series_match_series_alone() -> None:
    a, b = series("s1", 300, spike_at=200), series("s2", 300, spike_at=250, seed=2)
    mixed = [p for pair in zip(a, b, strict=True) for p in pair]
    together = rows(make().process(mixed))
    alone = rows(make().process(a)) + rows(make().process(b))
    assert sorted(together) == sorted(alone)


def test_bad_points_are_reported_by_index_and_the_rest_scored() -> None:
    det = make()
    points = series("s1", 20)
    points.insert(10, points[9])  # duplicate timestamp
    points.insert(5, type(points[0])("s1", 6.0, (math.nan,)))
    out = det.process(points)
    reasons = {i: r.reason for i, r in out.rejected}
    assert reasons == {5: RejectReason.NON_FINITE, 11: RejectReason.DUPLICATE}
    assert out.points_scored == 20 - W + 1


def test_alert_ids_repeat_on_replay() -> None:
    points = series("s1", 400, spike_at=300)
    first = [a.alert_id for a in make().process(points).alerts]
    assert first and first == [a.alert_id for a in make().process(points).alerts]


def test_shadow_lane_takes_over_once_warm() -> None:
    det = make()
    det.process(series("s1", 200))
    new = LastStepScorer(W, 1, version="v2")
    new.name = "candidate"
    det.install(
        Lane(
            new,
            Normalizer(1, {"s1": {"mean": [0.0], "std": [1.0]}}),
            RollingThreshold(200, 0.99, 50),
        )
    )
    assert det.in_shadow is new
    out = det.process(series("s1", 400, spike_at=380, seed=4)[200:])
    names = [n for s in out.scored for n in s.scorer]
    assert names[0] == "last-step" and names[-1] == "candidate"
    assert names.index("candidate") == 50  # the candidate's own warm-up
    assert det.serving is new and det.in_shadow is None
    assert any(a.model_version == "v2" and a.ts == 380.0 for a in out.alerts)


def test_warming_up_counts_live_series_the_threshold_cannot_judge_yet() -> None:
    det = make()
    assert det.warming_up() == 0
    det.process(series("s1", W - 1 + 50))  # 50 scores: exactly the warm-up
    det.process(series("s2", W - 1 + 49))
    assert det.warming_up() == 1
    det.process(series("s2", W - 1 + 50)[-1:])
    assert det.warming_up() == 0
    det.store.evict("s2")
    det.process(series("s3", 3))  # not a full window yet: still warming up
    assert det.warming_up() == 1


def test_collector_receives_every_window_in_order() -> None:
    collector = TrainingCollector(target=10_000)
    det = make(collector=collector)
    det.process(series("s1", 400, spike_at=300))
    _, windows = collector.take()
    assert len(windows) == 400 - W + 1
    assert windows[0, :, 0].tolist() == pytest.approx([p.values[0] for p in series("s1", W)])


def test_periodic_high_scores_do_not_sink_the_threshold() -> None:
    # Every 25th value is large (and a little larger each time) but isolated, so it
    # never opens an incident. Holding back every exceedance would keep these out
    # of the history: the threshold would sink to the small values.
    values = [2.0 + t / 1e4 if t % 25 == 0 else 0.5 * math.sin(t) for t in range(1500)]
    det = make(policy=AlertPolicy(open_k=3, open_n=5, resolve_after=3, cooldown=5))
    out = det.process([Point("s1", float(t), (v,)) for t, v in enumerate(values)])
    assert out.alerts == []
    assert out.scored[-1].threshold[-1] >= 4.0


def test_scorer_must_match_window_shape() -> None:
    with pytest.raises(ValueError, match="8 x 1"):
        make(scorer=LastStepScorer(16, 1))


def test_state_codes_mark_the_opening_point() -> None:
    out = make().process(series("s1", 400, spike_at=300))
    opened_ts = [t for (_, t, _, state) in rows(out) if state == OPENED]
    assert 300.0 in opened_ts


class SquareOfLast:
    name, version, window, channels = "square", "v", 2, 1

    def score(self, windows: np.ndarray) -> ScoreBatch:
        return ScoreBatch(scores=windows[:, -1, 0].astype(np.float64) ** 2)


@pytest.mark.parametrize(("k", "n", "resolve"), [(1, 1, 1), (1, 1, 10), (3, 5, 10)])
def test_threshold_stays_calibrated_under_every_policy(k: int, n: int, resolve: int) -> None:
    # Independent scores: about 1 - q of them should exceed, whatever the policy.
    # Holding back every incident-opening score made 11% exceed under 1-of-1.
    x = np.random.default_rng(0).normal(size=20_000)
    det = Detector(
        WindowStore(2, 1),
        Lane(
            SquareOfLast(),
            Normalizer(1, {"s": {"mean": [0.0], "std": [1.0]}}),
            RollingThreshold(history=1000, quantile=0.995, warmup=300),
        ),
        AlertPolicy(open_k=k, open_n=n, resolve_after=resolve, cooldown=0),
        channel_names=["v"],
    )
    out = det.process([Point("s", float(t), (float(v),)) for t, v in enumerate(x)])
    score = np.concatenate([s.score for s in out.scored])[5000:]
    threshold = np.concatenate([s.threshold for s in out.scored])[5000:]
    assert np.mean(score > threshold) < 0.01


def test_a_short_burst_opens_k_of_n_before_its_scores_lift_the_threshold() -> None:
    # At q=0.995 over 200 scores the second-highest sets the threshold: had the
    # first two burst scores been learned, the third would no longer exceed.
    points = series("s1", 400)
    for t, v in ((300, 12.0), (301, 11.0), (302, 10.0)):
        points[t] = Point("s1", float(t), (v,))
    det = Detector(
        WindowStore(W, 1),
        Lane(
            LastStepScorer(W, 1),
            Normalizer(1, {"s1": {"mean": [0.0], "std": [1.0]}}),
            RollingThreshold(history=200, quantile=0.995, warmup=50),
        ),
        AlertPolicy(open_k=3, open_n=5, resolve_after=3, cooldown=5),
        channel_names=["value"],
    )
    opened = [a for a in det.process(points).alerts if a.state is AlertState.OPEN]
    assert [a.ts for a in opened] == [302.0]


def test_with_open_incident_names_live_series_whose_incident_is_open() -> None:
    det = make()
    points = series("s1", 400, spike_at=300) + series("s2", 400)
    det.process(points[:302])  # s1 up to just after its spike
    det.process(points[400:])
    assert det.with_open_incident(["s1", "s2", "never-seen"]) == ["s1"]
    det.process(points[302:400])  # s1 resolves 3 quiet windows after the spike
    assert det.with_open_incident(["s1", "s2"]) == []


def test_a_series_the_lane_was_fitted_on_is_judged_from_its_first_window() -> None:
    det = make()
    det.lanes[0].fit_scores = {"s1": np.linspace(0.0, 1.0, 20)}
    spiked = series("s1", W + 3, spike_at=W)  # the second window holds the spike
    out = det.process(spiked)
    assert not math.isnan(out.scored[0].threshold[0])
    assert [a.state for a in out.alerts] == [AlertState.OPEN]
    assert det.warming_up() == 0
    det.process(series("s2", W))
    assert det.warming_up() == 1  # a series it has no scores of warms up as before


def test_a_lasting_new_level_is_learned_on_purpose_and_its_incident_resolves() -> None:
    # Scores jump to a new level and stay: the incident holds them out of the history
    # until escape_after clear ones came in a row; then the threshold takes the new
    # level in, the incident follows it, and resolves once the level is learned.
    lane = Lane(
        SquareOfLast(),
        Normalizer(1, {"s": {"mean": [0.0], "std": [1.0]}}),
        RollingThreshold(history=200, quantile=0.99, warmup=50, escape_after=30),
    )
    det = Detector(
        WindowStore(2, 1),
        lane,
        AlertPolicy(open_k=1, open_n=1, resolve_after=3, cooldown=0),
        channel_names=["v"],
    )
    x = np.random.default_rng(1).normal(size=1000) * 0.1
    x[500:] += 5.0
    out = det.process([Point("s", float(t), (float(v),)) for t, v in enumerate(x)])
    states = [a.state for a in out.alerts if a.ts >= 500]
    assert states[:2] == [AlertState.OPEN, AlertState.RESOLVED]
    resolved = next(a.ts for a in out.alerts if a.state is AlertState.RESOLVED and a.ts >= 500)
    assert 530 <= resolved < 800
    assert not det.with_open_incident(["s"])


class LastValue:
    name, version, window, channels = "last", "v", 2, 1

    def score(self, windows: np.ndarray) -> ScoreBatch:
        return ScoreBatch(scores=windows[:, -1, 0].astype(np.float64))


@pytest.mark.parametrize(("judged_on", "opened"), [("tail", True), ("score", False)])
def test_a_shift_of_a_narrow_series_opens_when_judged_on_its_tail(
    judged_on: str, opened: bool
) -> None:
    # Scores of 10 +- 0.5 then 100 of 12.5 (five standard deviations): 1.1x the
    # threshold, under any useful ratio of the raw score, yet far rarer than 1 in
    # (1 - q)^-1.5 of its history.
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(10.0, 0.5, 3000), np.full(100, 12.5)])
    det = Detector(
        WindowStore(2, 1),
        Lane(
            LastValue(),
            Normalizer(1, {"s": {"mean": [0.0], "std": [1.0]}}),
            RollingThreshold(history=2000, quantile=0.995, warmup=300),
        ),
        AlertPolicy(open_ratio=1.5 if judged_on == "tail" else 1.2, hold_ratio=2.0),
        channel_names=["v"],
        judged_on=judged_on,
    )
    out = det.process([Point("s", float(t), (float(v),)) for t, v in enumerate(values)])
    opens = [a.ts for a in out.alerts if a.state is AlertState.OPEN]
    assert (opens != [] and min(opens) >= 3000.0) if opened else opens == []


def test_judged_on_must_be_known() -> None:
    with pytest.raises(ValueError, match="judged_on"):
        Detector(
            WindowStore(2, 1),
            Lane(LastValue(), Normalizer(1, {}), RollingThreshold()),
            AlertPolicy(),
            channel_names=["v"],
            judged_on="ratio",
        )


class Blind:
    """Scores every window alike (random draws): a model that reconstructs anything."""

    name, version, window, channels = "blind", "v", W, 3

    def __init__(self) -> None:
        self.rng = np.random.default_rng(7)

    def score(self, windows: np.ndarray) -> ScoreBatch:
        return ScoreBatch(scores=self.rng.exponential(size=len(windows)))


def three_channels_judged_for_stuck(
    values: np.ndarray, stuck: StuckChannels | None, **lane: Mapping[str, np.ndarray]
) -> list[Alert]:
    """The opened alerts of series "s" (three channels, a blind scorer) over `values`."""
    det = Detector(
        WindowStore(W, 3),
        Lane(
            Blind(),
            Normalizer(3, {"s": {"mean": [0.0] * 3, "std": [1.0] * 3}}),
            RollingThreshold(history=2000, quantile=0.995, warmup=300),
            **lane,
        ),
        AlertPolicy(open_ratio=1.5, hold_ratio=3.0),
        channel_names=["a", "b", "c"],
        stuck=stuck,
    )
    out = det.process([Point("s", float(t), tuple(v)) for t, v in enumerate(values.tolist())])
    return [a for a in out.alerts if a.state is AlertState.OPEN]


@pytest.mark.parametrize("judge_stuck", [True, False])
def test_a_stuck_channel_opens_an_incident_that_names_it(judge_stuck: bool) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3000, 3))
    values[2600:2800, 1] = values[2599, 1]
    stuck = StuckChannels(3, 0.995, W, warmup=300) if judge_stuck else None
    opened = [a for a in three_channels_judged_for_stuck(values, stuck) if 2600 <= a.ts < 2800]
    if judge_stuck:
        assert [a.ts for a in opened] == [2602.0]  # 3 of 5 windows past 1.5
        assert opened[0].channel == "b" and opened[0].contributors[0].channel == "b"
    else:
        assert opened == []


def test_stuck_channels_are_judged_on_the_tail_of_the_store_channels() -> None:
    lane = Lane(LastValue(), Normalizer(1, {}), RollingThreshold())
    with pytest.raises(ValueError, match="judged_on must be 'tail'"):
        Detector(
            WindowStore(2, 1),
            lane,
            AlertPolicy(),
            channel_names=["v"],
            judged_on="score",
            stuck=StuckChannels(1, 0.995, 2),
        )
    with pytest.raises(ValueError, match="channels"):
        Detector(
            WindowStore(2, 1),
            lane,
            AlertPolicy(),
            channel_names=["v"],
            stuck=StuckChannels(2, 0.995, 2),
        )


@pytest.mark.parametrize("seeded", [True, False])
def test_a_series_with_fit_runs_has_its_stuck_channels_judged_from_its_first_window(
    seeded: bool,
) -> None:
    rng = np.random.default_rng(1)
    fit = rng.normal(size=(1000, W, 3))
    values = rng.normal(size=(200, 3))
    values[40:120, 2] = values[39, 2]
    opened = three_channels_judged_for_stuck(
        values,
        StuckChannels(3, 0.995, W, warmup=300),
        fit_scores={"s": rng.exponential(size=1000)},
        fit_runs={"s": run_profile(fit)} if seeded else {},
    )
    # 1000 steps without a repeat: the 2nd, 3rd and 4th repeats are past 1.5
    got = [(a.ts, a.channel) for a in opened]
    assert (got[:1] == [(43.0, "c")]) if seeded else (got == []), got


@pytest.mark.parametrize("judge_stuck", [True, False])
def test_contributors_keep_their_order_unless_a_stuck_channel_drove_the_alert(
    judge_stuck: bool,
) -> None:
    # Two channels, three contributors: the driving channel's worst step, the other's,
    # then the driving channel's next worst. A judge of runs that did not fire changes
    # nothing of that.
    rng = np.random.default_rng(2)
    values = rng.normal(scale=0.3, size=(400, 2))
    values[300, 0] = 12.0
    det = Detector(
        WindowStore(W, 2),
        Lane(
            LastStepScorer(W, 2),
            Normalizer(2, {"s": {"mean": [0.0, 0.0], "std": [1.0, 1.0]}}),
            RollingThreshold(history=200, quantile=0.99, warmup=50),
        ),
        AlertPolicy(open_k=1, open_n=1, resolve_after=3, cooldown=5),
        channel_names=["a", "b"],
        stuck=StuckChannels(2, 0.99, W, warmup=50) if judge_stuck else None,
    )
    out = det.process([Point("s", float(t), tuple(v)) for t, v in enumerate(values.tolist())])
    opened = [a for a in out.alerts if a.state is AlertState.OPEN and a.ts == 300.0]
    assert [c.channel for c in opened[0].contributors] == ["a", "b", "a"]


@pytest.mark.parametrize(("window", "hop"), [(W, 1), (4, 2)])
def test_a_stuck_judge_for_other_windows_is_refused(window: int, hop: int) -> None:
    with pytest.raises(ValueError, match="window"):
        Detector(
            WindowStore(4, 1, hop=2),
            Lane(LastStepScorer(4, 1), Normalizer(1, {}), RollingThreshold()),
            AlertPolicy(),
            channel_names=["v"],
            stuck=StuckChannels(1, 0.995, window, hop=hop if window == W else 1),
        )
