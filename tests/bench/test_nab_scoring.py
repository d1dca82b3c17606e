"""The NAB rules on hand-made files (SCORING.md), one rule per test."""

import math

import numpy as np
import pytest

from stream_ae.bench.nab_scoring import (
    LOW_FN,
    LOW_FP,
    STANDARD,
    FileRows,
    optimise,
    probation,
    raw_score,
    scaled_sigmoid,
)


def file_with(
    n: int, detections: list[int], windows: list[tuple[int, int]], p: int = 0
) -> FileRows:
    scores = np.zeros(n)
    scores[detections] = 1.0
    return FileRows(scores=scores, windows=windows, probation=p)


def test_probation_is_fifteen_percent_capped_at_750() -> None:
    assert probation(1000) == 150 and probation(4033) == 604 and probation(22695) == 750


def test_the_sigmoid_is_one_at_minus_infinity_zero_at_zero_and_minus_one_past_three() -> None:
    s = scaled_sigmoid(np.array([-50.0, 0.0, 2.99, 3.01]))
    assert s[0] == pytest.approx(1.0) and s[1] == 0.0 and -1 < s[2] < -0.99 and s[3] == -1.0


def test_a_detection_at_a_windows_left_edge_is_worth_tp() -> None:
    assert raw_score([file_with(40, [10], [(10, 19)])], STANDARD, 0.5) == pytest.approx(1.0)


def test_a_later_detection_in_the_window_is_worth_less_and_only_the_best_counts() -> None:
    late = raw_score([file_with(40, [19], [(10, 19)])], STANDARD, 0.5)
    expected = float(scaled_sigmoid(np.array(-1 / 10)) / scaled_sigmoid(np.array(-1.0)))
    assert late == pytest.approx(expected) and 0 < late < 0.3
    both = raw_score([file_with(40, [12, 19, 15], [(10, 19)])], STANDARD, 0.5)
    early = float(scaled_sigmoid(np.array(-8 / 10)) / scaled_sigmoid(np.array(-1.0)))
    assert both == pytest.approx(early)


def test_a_missed_window_costs_fn_weight() -> None:
    f = file_with(40, [], [(10, 19)])
    assert raw_score([f], STANDARD, 0.5) == -1.0
    assert raw_score([f], LOW_FN, 0.5) == -2.0


def test_a_detection_before_any_window_costs_the_full_fp_weight() -> None:
    f = file_with(40, [2, 10], [(10, 19)])
    assert raw_score([f], STANDARD, 0.5) == pytest.approx(1.0 - 0.11)
    assert raw_score([f], LOW_FP, 0.5) == pytest.approx(1.0 - 0.22)


def test_a_detection_just_after_a_window_costs_little_and_far_after_it_nearly_fp() -> None:
    right_after = raw_score([file_with(200, [10, 20], [(10, 19)])], STANDARD, 0.5) - 1.0
    assert right_after == pytest.approx(0.11 * float(scaled_sigmoid(np.array(1 / 9))))
    assert -0.11 < right_after < -0.01
    far = raw_score([file_with(200, [10, 150], [(10, 19)])], STANDARD, 0.5) - 1.0
    assert far == pytest.approx(-0.11)


def test_an_alert_raised_for_twenty_rows_is_charged_twenty_times() -> None:
    f = file_with(100, list(range(40, 60)), [])
    assert raw_score([f], STANDARD, 0.5) == pytest.approx(-20 * 0.11)


def test_probation_rows_are_left_out_of_everything() -> None:
    # A detection in probation costs nothing; a window wholly inside it is not counted.
    f = file_with(100, [3, 30], [(0, 5), (30, 39)], p=15)
    assert raw_score([f], STANDARD, 0.5) == pytest.approx(1.0)
    assert optimise([f], STANDARD).perfect == 1.0


def test_the_threshold_is_chosen_over_the_whole_corpus() -> None:
    # Scores 0.9 in windows, 0.5 on twelve rows outside them: 0.9 alone is best.
    a = np.zeros(100)
    a[[10, 60]] = 0.9
    a[80:92] = 0.5
    files = [FileRows(a, [(10, 19), (60, 69)], 0), FileRows(np.zeros(50), [(5, 9)], 0)]
    best = optimise(files, STANDARD)
    assert best.threshold == 0.9
    assert best.raw == pytest.approx(2.0 - 1.0) and best.null == -3.0 and best.perfect == 3.0
    assert best.normalised == pytest.approx(100 * 4 / 6)
    after_window = 0.11 * scaled_sigmoid((np.arange(80, 92) - 69) / 9).sum()  # near -0.11 each
    assert raw_score(files, STANDARD, 0.5) == pytest.approx(1.0 + after_window)


def test_a_perfect_detector_scores_100_and_one_that_never_fires_0() -> None:
    windows = [(20, 29), (60, 79)]
    perfect = np.zeros(120)
    perfect[[20, 60]] = 1.0
    assert optimise([FileRows(perfect, windows, 10)], STANDARD).normalised == pytest.approx(100)
    silent = optimise([FileRows(np.zeros(120), windows, 10)], STANDARD)
    assert silent.normalised == 0.0 and math.isinf(silent.threshold)
