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

    def delay_s(self, q: float) -> float:
        return float(np.percentile(self.delays_s, q)) if self.delays_s else float("nan")


def judge(pairs: Sequence[tuple[LabelledSeries, Output]], tolerance: int) -> Quality:
    """The quality of a detector's outputs over every series of a replay."""
    q = Quality()
    continuous, own = [], []
    points = compare(pairs)
    q.point_tp, q.point_fp, q.point_fn = points.own.tp, points.own.fp, points.own.fn
    q.point_best = points.best
    for s, out in pairs:
        n, first = len(s.ts), s.probation
        q.rows += n - first
        if n > first:
            q.series_days += float(s.ts[-1] - s.ts[first]) / DAY_S
        raised = out.in_incident.astype(bool) | out.alert.astype(bool)
        near = np.zeros(n, dtype=bool)
        for lo, hi in s.windows:
            if hi < first:
                continue
            start, end = max(lo, first), min(hi + tolerance, n - 1)
            near[start : end + 1] = True
            q.events += 1
            hits = np.flatnonzero(raised[start : end + 1])
            if len(hits):
                q.caught += 1
                q.delays_s.append(float(s.ts[start + hits[0]] - s.ts[lo]))
        pages = np.flatnonzero(out.alert[first:]) + first
        q.alerts += len(pages)
        q.true_alerts += int(near[pages].sum())
        continuous.append(scored_rows(s, out))
        own.append(scored_rows(s, out, alerts=True))
    if q.events:  # without a labelled window there is nothing to normalise by
        for profile, got in score_profiles(continuous, own).items():
            q.nab_best[profile] = got.best.normalised
            q.nab_alerts[profile] = got.alerts
    return q
