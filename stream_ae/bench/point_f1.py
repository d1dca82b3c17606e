"""What the decision keeps of the score: point F1 of a detector's own alerts beside the
best point F1 its continuous score reaches at one threshold. Pure numpy.

Rows are pooled over every series of a run, after each series' probation (which no
figure judges, as NAB does). A row is labelled when it lies in a labelled window. A
row is alerted when it lies inside an incident the detector opened (`Output.in_incident`;
a baseline's raised rows). The best threshold is one for the whole run, not one per
series: a user sets one threshold, and per series the labels would choose it. It is
found over every distinct score from one sort: a threshold t flags the rows scoring
at or above t.

>>> from pathlib import Path
>>> s = LabelledSeries("s", Path("s.csv"), np.arange(4.0), np.zeros(4), [(1, 2)])
>>> out = Output(np.array([0.1, 0.9, 0.4, 0.6]), np.zeros(4), np.array([0, 1, 1, 1]))
>>> got = compare([(s, out)])
>>> round(got.own.f1, 3), got.best.f1, got.best.threshold, round(got.ratio, 3)
(0.8, 0.8, 0.4, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stream_ae.bench.labelled import LabelledSeries, Output


@dataclass(frozen=True, slots=True)
class PointF1:
    """Rows judged against their labels, at the own alerts or at one threshold."""

    tp: int
    fp: int
    fn: int
    threshold: float = float("nan")
    """The score at or above which a row counts as flagged (NaN for the own alerts)."""

    @property
    def precision(self) -> float:
        flagged = self.tp + self.fp
        return self.tp / flagged if flagged else float("nan")

    @property
    def recall(self) -> float:
        labelled = self.tp + self.fn
        return self.tp / labelled if labelled else float("nan")

    @property
    def f1(self) -> float:
        """2 tp / (flagged + labelled): 0 when nothing labelled was flagged, undefined
        (NaN) only with neither a flagged nor a labelled row."""
        whole = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / whole if whole else float("nan")


@dataclass(frozen=True, slots=True)
class ScoreVsDecision:
    """A detector's own alerts beside the best single threshold on its score."""

    own: PointF1
    best: PointF1

    @property
    def ratio(self) -> float:
        """own F1 / best F1: the share of the score's separation the decision keeps."""
        if not self.best.f1 > 0:  # no labelled row, or none scored above the rest
            return float("nan")
        return self.own.f1 / self.best.f1

    def summary(self) -> dict[str, float]:
        return {
            "point_f1_own": self.own.f1,
            "point_f1_best": self.best.f1,
            "point_f1_best_threshold": self.best.threshold,
            "point_f1_ratio": self.ratio,
        }


@dataclass(frozen=True, slots=True)
class JudgedRows:
    """Every judged row of a run, pooled: its score, own flag and label."""

    score: np.ndarray
    flagged: np.ndarray
    labelled: np.ndarray


def judged_rows(pairs: Sequence[tuple[LabelledSeries, Output]]) -> JudgedRows:
    """The rows past each series' probation, concatenated over the series."""
    parts = [
        (
            out.per_point[s.probation :],
            out.in_incident[s.probation :],
            s.labels()[s.probation :],
        )
        for s, out in pairs
    ]
    if not parts:
        return JudgedRows(np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
    score, flagged, labelled = (np.concatenate(p) for p in zip(*parts, strict=True))
    return JudgedRows(score.astype(np.float64), flagged.astype(bool), labelled.astype(bool))


def at_flags(flagged: np.ndarray, labelled: np.ndarray) -> PointF1:
    return PointF1(
        tp=int((flagged & labelled).sum()),
        fp=int((flagged & ~labelled).sum()),
        fn=int((~flagged & labelled).sum()),
    )


def best_threshold(score: np.ndarray, labelled: np.ndarray) -> PointF1:
    """The threshold among the distinct scores with the highest F1 (the highest such
    score on a tie); NaN scores are never flagged. Without a labelled row, or without a
    row, nothing is flagged and the threshold is +inf."""
    positives = int(labelled.sum())
    scored = ~np.isnan(score)
    order = np.argsort(-score[scored], kind="stable")
    ranked, hits = score[scored][order], labelled[scored][order]
    if not positives or not len(ranked):
        return PointF1(0, 0, positives, threshold=float("inf"))
    tp = np.cumsum(hits)
    # A threshold flags every row at or above it: judge at the last row of each score.
    last = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    f1 = 2 * tp[last] / (last + 1 + positives)
    k = int(last[int(np.argmax(f1))])
    hit = int(tp[k])
    return PointF1(hit, k + 1 - hit, positives - hit, threshold=float(ranked[k]))


def compare(pairs: Sequence[tuple[LabelledSeries, Output]]) -> ScoreVsDecision:
    rows = judged_rows(pairs)
    return ScoreVsDecision(
        own=at_flags(rows.flagged, rows.labelled),
        best=best_threshold(rows.score, rows.labelled),
    )
