"""Detection quality of a replay against its labels: per point, per event, delay,
alerts per day and the NAB score. Pure numpy.

Rows inside a series' probation are never judged. Per point, a row counts as
flagged while an incident is open; beside it, the best point F1 the continuous score
reaches at one threshold for the whole replay (`point_f1`). Per event, a labelled
window is caught when an incident is open at some row from its start to `tolerance`
rows after its end (a windowed detector pages a few rows after a one-row spike); the
delay is the time from the window's start to that row. An alert (a page) is true when
it opens inside that same stretch of some window, and false anywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from stream_ae.bench.labelled import LabelledSeries, Output
from stream_ae.bench.nab import scored_rows
from stream_ae.bench.nab_scoring import score_profiles
from stream_ae.bench.point_f1 import PointF1, ScoreVsDecision, compare

DAY_S = 86_400.0


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _f1(p: float, r: float) -> float:
    if p != p or r != r:  # NaN: no alert, or no event, to judge by
        return float("nan")
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


@dataclass
class Quality:
    rows: int = 0
    """Rows judged (after every series' probation)."""
    point_tp: int = 0
    point_fp: int = 0
    point_fn: int = 0
    point_best: PointF1 = field(default_factory=lambda: PointF1(0, 0, 0))
    """The continuous score at its best single threshold over every series."""
    events: int = 0
    caught: int = 0
    alerts: int = 0
    true_alerts: int = 0
    delays_s: list[float] = field(default_factory=list)
    series_days: float = 0.0
    event_best_f1: float = float("nan")
    """Event F1 of the continuous score at its best single threshold over every series."""
    event_best_threshold: float = float("inf")
    nab_alerts: dict[str, float] = field(default_factory=dict)
    """Normalised NAB score per profile of the detector's own pages."""
    nab_best: dict[str, float] = field(default_factory=dict)
    """Normalised NAB score per profile of the continuous score, threshold optimised."""

    @property
    def decision(self) -> ScoreVsDecision:
        return ScoreVsDecision(
            PointF1(self.point_tp, self.point_fp, self.point_fn), self.point_best
        )

    @property
    def point_precision(self) -> float:
        return self.decision.own.precision

    @property
    def point_recall(self) -> float:
        return self.decision.own.recall

    @property
    def point_f1(self) -> float:
        return self.decision.own.f1

    @property
    def event_precision(self) -> float:
        return _ratio(self.true_alerts, self.alerts)

    @property
    def event_recall(self) -> float:
        return _ratio(self.caught, self.events)

    @property
    def event_f1(self) -> float:
        return _f1(self.event_precision, self.event_recall)

    @property
    def alerts_per_day(self) -> float:
        """Pages per series-day."""
        return _ratio(self.alerts, self.series_days)

    @property
    def false_alerts_per_day(self) -> float:
        return _ratio(self.alerts - self.true_alerts, self.series_days)

    def score_vs_decision(self) -> dict[str, float]:
        """The own alerts beside the score's best single threshold, per point and event."""
        return {
            **self.decision.summary(),
            "event_f1_own": self.event_f1,
            "event_f1_best": self.event_best_f1,
            "event_f1_best_threshold": self.event_best_threshold,
            "event_f1_ratio": _ratio(self.event_f1, self.event_best_f1),
        }

    def delay_s(self, q: float) -> float:
        return float(np.percentile(self.delays_s, q)) if self.delays_s else float("nan")


@dataclass(frozen=True, slots=True)
class EventRows:
    """A replay's series laid end to end, for judging events from row flags alone."""

    ts: np.ndarray
    judged: np.ndarray
    """Rows past their series' probation."""
    first: np.ndarray
    """The first row of each series (a run of flags cannot carry over from the last)."""
    near: np.ndarray
    """Rows where a page is true: from a window's start to `tolerance` rows after it."""
    stretches: np.ndarray
    """[windows, 2]: each judged window's stretch as inclusive rows."""
    starts_ts: np.ndarray
    """Each judged window's labelled start time (delays count from it)."""


def event_rows(series: Sequence[LabelledSeries], tolerance: int) -> EventRows:
    n = sum(len(s.ts) for s in series)
    judged, first, near = (np.zeros(n, dtype=bool) for _ in range(3))
    stretches, starts_ts, offset = [], [], 0
    for s in series:
        rows, skip = len(s.ts), s.probation
        judged[offset + skip : offset + rows] = True
        if rows:
            first[offset] = True
        for lo, hi in s.windows:
            if hi < skip:
                continue
            start, end = offset + max(lo, skip), offset + min(hi + tolerance, rows - 1)
            near[start : end + 1] = True
            stretches.append((start, end))
            starts_ts.append(float(s.ts[lo]))
        offset += rows
    ts = np.concatenate([s.ts for s in series]) if series else np.zeros(0)
    return EventRows(
        ts.astype(np.float64),
        judged,
        first,
        near,
        np.array(stretches, dtype=np.int64).reshape(-1, 2),
        np.array(starts_ts),
    )


def count_events(rows: EventRows, raised: np.ndarray, pages: np.ndarray) -> tuple[int, int, int]:
    """(windows caught, pages, true pages) for rows raised (an incident open) and the
    rows where a page was sent."""
    upto = np.concatenate([[0], np.cumsum(raised)])
    lo, hi = rows.stretches[:, 0], rows.stretches[:, 1]
    caught = int((upto[hi + 1] - upto[lo] > 0).sum())
    sent = pages & rows.judged
    return caught, int(sent.sum()), int((sent & rows.near).sum())


def best_event_threshold(
    rows: EventRows, score: np.ndarray, levels: int = 500
) -> tuple[float, float]:
    """(best event F1, its threshold) of one threshold for every series: a threshold
    raises the rows scoring at or above it and pages at the first row of each run. The
    candidates are the distinct judged scores, or `levels` quantiles of them where there
    are more (event F1 does not come from one sort as point F1 does)."""
    events = len(rows.stretches)
    values = np.unique(score[rows.judged & ~np.isnan(score)])
    if len(values) > levels:
        values = np.unique(np.quantile(values, np.linspace(0.0, 1.0, levels)))
    best, at = float("nan"), float("inf")
    for t in values.tolist():
        raised = score >= t
        before = np.concatenate([[False], raised[:-1]]) & ~rows.first
        caught, sent, true = count_events(rows, raised, raised & ~before)
        f1 = _f1(_ratio(true, sent), _ratio(caught, events))
        if f1 == f1 and not f1 <= best:  # the first defined F1, then only a better one
            best, at = f1, t
    return best, at


def judge(
    pairs: Sequence[tuple[LabelledSeries, Output]], tolerance: int, nab: bool = True
) -> Quality:
    """The quality of a detector's outputs over every series of a replay (without the
    NAB profiles where `nab` is false: the NAB harness scores them itself)."""
    q = Quality()
    points = compare(pairs)
    q.point_tp, q.point_fp, q.point_fn = points.own.tp, points.own.fp, points.own.fn
    q.point_best = points.best
    for s, _ in pairs:
        q.rows += len(s.ts) - s.probation
        if len(s.ts) > s.probation:
            q.series_days += float(s.ts[-1] - s.ts[s.probation]) / DAY_S
    rows = event_rows([s for s, _ in pairs], tolerance)
    alert = np.concatenate([out.alert for _, out in pairs]).astype(bool)
    raised = np.concatenate([out.in_incident for _, out in pairs]).astype(bool) | alert
    q.events = len(rows.stretches)
    q.caught, q.alerts, q.true_alerts = count_events(rows, raised, alert)
    for (lo, hi), start_ts in zip(rows.stretches.tolist(), rows.starts_ts.tolist(), strict=True):
        hits = np.flatnonzero(raised[lo : hi + 1])
        if len(hits):
            q.delays_s.append(float(rows.ts[lo + hits[0]]) - start_ts)
    score = np.concatenate([out.anomaly_score for _, out in pairs]).astype(np.float64)
    q.event_best_f1, q.event_best_threshold = best_event_threshold(rows, score)
    continuous = [scored_rows(s, out) for s, out in pairs]
    own = [scored_rows(s, out, alerts=True) for s, out in pairs]
    if q.events and nab:  # without a labelled window there is nothing to normalise by
        for profile, got in score_profiles(continuous, own).items():
            q.nab_best[profile] = got.best.normalised
            q.nab_alerts[profile] = got.alerts
    return q
