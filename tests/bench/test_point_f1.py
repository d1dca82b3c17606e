"""Point F1 of the own alerts beside the best single threshold on the score, by hand."""

import math
from pathlib import Path

import numpy as np
import pytest

from stream_ae.bench.labelled import LabelledSeries, Output
from stream_ae.bench.point_f1 import PointF1, best_threshold, compare


def series(n: int, windows: list[tuple[int, int]], name: str = "s") -> LabelledSeries:
    return LabelledSeries(name, Path(f"{name}.csv"), np.arange(float(n)), np.zeros(n), windows)


def output(score: list[float], within: list[int]) -> Output:
    return Output(np.array(score), np.zeros(len(score)), np.array(within, dtype=np.int8))


def test_alerts_on_exactly_the_labelled_rows_keep_everything() -> None:
    s = series(6, [(2, 4)])  # under 7 rows there is no probation
    got = compare([(s, output([0, 0, 0.7, 0.8, 0.9, 0.1], [0, 0, 1, 1, 1, 0]))])
    assert (got.own.tp, got.own.fp, got.own.fn) == (3, 0, 0) and got.own.f1 == 1.0
    assert got.best.f1 == 1.0 and got.best.threshold == 0.7 and got.ratio == 1.0


def test_no_alert_at_all_scores_zero_and_no_label_leaves_it_undefined() -> None:
    s = series(6, [(2, 4)])
    silent = compare([(s, output([0, 0, 0.7, 0.8, 0.9, 0.1], [0] * 6))])
    assert silent.own.f1 == 0.0 and math.isnan(silent.own.precision)
    assert silent.ratio == 0.0  # the score separates perfectly; the decision keeps nothing
    unlabelled = compare([(series(6, []), output([0.5] * 6, [1] * 6))])
    assert unlabelled.own.f1 == 0.0 and math.isnan(unlabelled.best.f1)
    assert unlabelled.best.threshold == math.inf and math.isnan(unlabelled.ratio)
    nothing = compare([(series(6, []), output([0.5] * 6, [0] * 6))])
    assert math.isnan(nothing.own.f1)


def test_partial_alerts_and_a_noisy_score() -> None:
    s = series(6, [(1, 3)])
    got = compare([(s, output([0.2, 0.9, 0.3, 0.8, 0.6, 0.1], [0, 1, 1, 0, 0, 0]))])
    assert (got.own.tp, got.own.fp, got.own.fn) == (2, 0, 1)
    assert got.own.f1 == pytest.approx(0.8)
    # 0.8 takes rows 1 and 3 (f1 0.8); 0.6 adds row 4 (0.75); 0.3 adds row 2 (6/7).
    assert got.best == PointF1(3, 1, 0, threshold=0.3)
    assert got.ratio == pytest.approx(0.8 / (6 / 7))


def test_tied_scores_are_flagged_together() -> None:
    # Rows 0..3 tie at 0.5 (one labelled); a threshold cannot take only the labelled one.
    labelled = np.array([0, 0, 1, 0, 1], dtype=bool)
    got = best_threshold(np.array([0.5, 0.5, 0.5, 0.5, 0.9]), labelled)
    assert got == PointF1(1, 0, 1, threshold=0.9)  # 2/3, against 4/7 with the tie in
    tie_top = best_threshold(np.array([0.9, 0.9, 0.2]), np.array([1, 0, 0], dtype=bool))
    assert tie_top == PointF1(1, 1, 0, threshold=0.9)


def test_nan_scores_are_never_flagged() -> None:
    got = best_threshold(np.array([np.nan, 0.4, 0.9]), np.array([1, 0, 1], dtype=bool))
    assert got == PointF1(1, 0, 1, threshold=0.9)


def test_probation_rows_are_judged_by_neither() -> None:
    s = series(100, [(5, 9), (50, 59)])  # probation 15 rows: the first window is not judged
    score = np.zeros(100)
    score[5:10] = 1.0  # a perfect score on the probation window ...
    score[50:60] = 0.8
    within = np.zeros(100, dtype=np.int8)
    within[0:15] = 1  # ... and alerts all over probation: neither counts
    within[50:60] = 1
    got = compare([(s, Output(score, np.zeros(100), within))])
    assert got.own == PointF1(10, 0, 0) and got.best == PointF1(10, 0, 0, threshold=0.8)


def test_a_series_fitted_beforehand_is_judged_from_its_first_row() -> None:
    s = series(100, [(5, 9)])
    fitted = LabelledSeries(s.name, s.path, s.ts, s.values, s.windows, warmup=0)
    within = np.zeros(100, dtype=np.int8)
    within[5:10] = 1
    out = Output(within.astype(float), np.zeros(100), within)
    assert compare([(s, out)]).own == PointF1(0, 0, 0)  # the window lies in probation
    assert compare([(fitted, out)]).own == PointF1(5, 0, 0)


def test_one_threshold_for_the_whole_run_not_one_per_series() -> None:
    # Each series alone is separated perfectly, but at different levels of score:
    # a: labelled rows at 0.9, the rest 0.5; b: labelled at 0.4, the rest 0.1.
    a, b = series(4, [(0, 1)], "a"), series(4, [(0, 1)], "b")
    pairs = [
        (a, output([0.9, 0.9, 0.5, 0.5], [1, 1, 0, 0])),
        (b, output([0.4, 0.4, 0.1, 0.1], [1, 1, 0, 0])),
    ]
    alone = [compare([pair]).best for pair in pairs]
    assert [p.f1 for p in alone] == [1.0, 1.0] and [p.threshold for p in alone] == [0.9, 0.4]
    pooled = compare(pairs)
    # One bar: 0.9 misses b's (f1 2/3), 0.4 takes a's 0.5s (f1 0.8), 0.5 the same.
    assert pooled.best == PointF1(4, 2, 0, threshold=0.4)
    assert pooled.own.f1 == 1.0 and pooled.ratio == pytest.approx(1.25)


def test_the_sweep_agrees_with_a_brute_force_over_thresholds() -> None:
    rng = np.random.default_rng(0)
    score = np.round(rng.random(500), 2)  # many ties
    labelled = rng.random(500) < 0.2 + 0.5 * score
    got = best_threshold(score, labelled)
    brute = max(
        (2 * int((labelled & (score >= t)).sum()) / (int((score >= t).sum()) + labelled.sum()), -t)
        for t in np.unique(score)
    )
    assert got.f1 == pytest.approx(brute[0]) and got.threshold == -brute[1]


def test_a_separate_point_score_is_what_the_point_sweep_ranks() -> None:
    # The NAB score ranks only the page row high; the per-row level covers the window.
    s = series(6, [(2, 4)])
    paged = [0.0, 0.3, 0.9, 0.2, 0.2, 0.1]
    level = np.array([0.0, 0.1, 0.9, 0.8, 0.7, 0.1])
    got = compare([(s, Output(np.array(paged), np.zeros(6), np.zeros(6), point_score=level))])
    assert got.best.f1 == 1.0
    assert compare([(s, output(paged, [0] * 6))]).best.f1 < 1.0
