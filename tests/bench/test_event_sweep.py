"""Event F1 of the score at its best single threshold: the replay judge's own rule."""

import math
from pathlib import Path

import numpy as np
import pytest

from stream_ae.bench.labelled import LabelledSeries, Output, flagged
from stream_ae.bench.quality import best_event_threshold, event_rows, judge


def series(name: str, n: int, windows: list[tuple[int, int]]) -> LabelledSeries:
    return LabelledSeries(name, Path(f"{name}.csv"), np.arange(n) * 60.0, np.zeros(n), windows)


def test_the_sweep_finds_what_judging_every_threshold_finds() -> None:
    rng = np.random.default_rng(1)
    pairs = []
    for name, windows in (("a", [(100, 119), (300, 304)]), ("b", [(250, 279)]), ("c", [])):
        s = series(name, 400, windows)  # probation 60 rows
        score = np.round(rng.random(400) * 0.7, 2)
        for lo, hi in windows:
            score[lo : hi + 1] += rng.random(hi - lo + 1) * 0.5
        pairs.append((s, Output(score, np.zeros(400), np.zeros(400))))
    rows = event_rows([s for s, _ in pairs], tolerance=3)
    score = np.concatenate([out.anomaly_score for _, out in pairs])
    got, at = best_event_threshold(rows, score, levels=10_000)
    brute = []
    for t in np.unique(score[np.concatenate([np.arange(400) >= 60] * 3)]):
        q = judge([(s, flagged(o.anomaly_score, o.anomaly_score >= t)) for s, o in pairs], 3)
        brute.append((-1.0 if math.isnan(q.event_f1) else q.event_f1, -t))
    best = max(brute)
    assert got == pytest.approx(best[0]) and at == -best[1]
    # And the replay's judge reports it beside the own alerts.
    assert judge(pairs, tolerance=3).event_best_f1 == pytest.approx(got)


def test_a_run_of_flags_does_not_carry_over_from_one_series_to_the_next() -> None:
    # a ends high, and b (6 rows: no probation) starts high inside its window: b's run
    # pages on its own, at its first row.
    a, b = series("a", 100, []), series("b", 6, [(0, 2)])
    score_a, score_b = np.zeros(100), np.zeros(6)
    score_a[90:] = 1.0
    score_b[:3] = 1.0
    rows = event_rows([a, b], tolerance=0)
    f1, at = best_event_threshold(rows, np.concatenate([score_a, score_b]))
    # At 0 every row is raised: a's one run opens in its probation (no page judged) and
    # b's opens at its first row, inside its window: one true page, the window caught.
    # Carried over from a, b's run would send no page (F1 undefined at 0, and 0 at 1.0).
    assert at == 0.0 and f1 == 1.0
    assert np.flatnonzero(rows.first).tolist() == [0, 100]


def test_without_windows_there_is_no_event_f1() -> None:
    rows = event_rows([series("a", 50, [])], tolerance=0)
    f1, at = best_event_threshold(rows, np.linspace(0, 1, 50))
    assert math.isnan(f1) and at == math.inf
