"""Score a detector's alerts against known incidents, per anomaly kind.

Pure Python and numpy, no I/O: alerts and truth go in, a `Report` comes out.

Rules. An incident is *detected* when an `open` alert of the same series has its
event time within `[start_ts, end_ts + grace_s]`: a detector sees a window of
points, so it may fire a little after the last anomalous one. The delay is the
first such alert's time minus `start_ts`. An `open` alert that falls in no
incident's span (same series, same rule) is a *false* alert. Resolve messages
are not counted: an incident is opened once and the resolve only ends it.

>>> from stream_ae.core.records import Alert, AlertState, Severity
>>> def opened(series: str, ts: float) -> Alert:
...     return Alert("a", "i", series, ts, 1.0, 0.5, Severity.WARNING, AlertState.OPEN,
...                  "v1", "lstm-ae", ts)
>>> truth = [Incident("pump-1", "spike", 100.0, 160.0)]
>>> report = evaluate([opened("pump-1", 130.0), opened("pump-2", 10.0)], truth, grace_s=60)
>>> report.overall.detected, report.overall.median_delay_s, report.false_alerts
(1, 30.0, 1)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stream_ae.core.records import Alert, AlertState
from stream_ae.synthetic import KINDS

ALL = "all"
"""The kind name of the row that sums every kind."""


@dataclass(frozen=True, slots=True)
class Incident:
    """One known anomaly of one series: the truth a detector is scored against."""

    series: str
    kind: str
    """What happened: one of `stream_ae.synthetic.KINDS` for simulated data."""
    start_ts: float
    """Event time of the first anomalous point, epoch seconds."""
    end_ts: float
    """Event time of the last anomalous point (inclusive), epoch seconds."""
    magnitude: float = 0.0
    """Size in the series' units (the end of a drift's ramp); 0 where it has none (flat)."""


@dataclass(frozen=True, slots=True)
class KindStats:
    """How the incidents of one kind (or of all kinds) were caught."""

    kind: str
    incidents: int
    detected: int
    recall: float | None
    """detected / incidents; None without incidents."""
    median_delay_s: float | None
    """Median of first-alert time minus start, over detected incidents; None if none."""
    max_delay_s: float | None


@dataclass(frozen=True, slots=True)
class Report:
    """Per-kind detection figures and the alert-side figures of one run."""

    kinds: tuple[KindStats, ...]
    """One row per kind present in the truth, simulator kinds first."""
    overall: KindStats
    """Every incident together (kind 'all')."""
    alerts_opened: int
    true_alerts: int
    """Open alerts inside some incident's span (plus grace)."""
    false_alerts: int
    precision: float | None
    """true_alerts / alerts_opened; None when no alert opened."""
    false_per_sensor_day: float | None
    """False alerts per sensor-day observed; None unless `sensor_days` was given."""
    missed: tuple[Incident, ...]
    """The incidents no alert caught, for a closer look."""
    unmatched: tuple[Alert, ...]
    """The false alerts themselves."""

    @property
    def recall(self) -> float | None:
        """Detected / incidents over every kind."""
        return self.overall.recall

    def table(self) -> str:
        """An aligned text table: one row per kind, then 'all', then the alert figures."""
        header = ("kind", "incidents", "detected", "recall", "median delay s", "max delay s")
        rows = [
            (
                s.kind,
                str(s.incidents),
                str(s.detected),
                _fmt(s.recall, ".2f"),
                _fmt(s.median_delay_s, ".0f"),
                _fmt(s.max_delay_s, ".0f"),
            )
            for s in (*self.kinds, self.overall)
        ]
        widths = [max(len(r[c]) for r in (header, *rows)) for c in range(len(header))]

        def line(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = (cell.rjust(w) for cell, w in zip(cells[1:], widths[1:], strict=True))
            return "  ".join((first, *rest))

        rule = "-" * len(line(header))
        summary = (
            f"alerts opened {self.alerts_opened}, true {self.true_alerts}, "
            f"false {self.false_alerts}, precision {_fmt(self.precision, '.2f')}, "
            f"false alerts per sensor-day {_fmt(self.false_per_sensor_day, '.3f')}"
        )
        body = [line(r) for r in rows]
        return "\n".join([line(header), rule, *body[:-1], rule, body[-1], "", summary])


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _stats(kind: str, incidents: int, delays: list[float]) -> KindStats:
    return KindStats(
        kind=kind,
        incidents=incidents,
        detected=len(delays),
        recall=len(delays) / incidents if incidents else None,
        median_delay_s=float(np.median(delays)) if delays else None,
        max_delay_s=max(delays) if delays else None,
    )


def evaluate(
    alerts: Sequence[Alert],
    truth: Sequence[Incident],
    *,
    grace_s: float,
    sensor_days: float | None = None,
) -> Report:
    """Match open alerts to incidents (see the module notes) and sum up per kind.

    `sensor_days` (sensors x days observed, e.g. `Plant.sensor_days`) turns the
    false-alert count into a rate; without it the rate is None.
    """
    if not (math.isfinite(grace_s) and grace_s >= 0):
        raise ValueError(f"grace_s must be a finite number of seconds >= 0 (got {grace_s}).")
    if sensor_days is not None and not (math.isfinite(sensor_days) and sensor_days > 0):
        raise ValueError(
            f"sensor_days must be a positive number (got {sensor_days}); leave it None "
            "when the observed span is unknown."
        )
    by_series: dict[str, list[int]] = defaultdict(list)
    for index, incident in enumerate(truth):
        by_series[incident.series].append(index)

    first_alert: dict[int, float] = {}
    opened = [a for a in alerts if a.state == AlertState.OPEN]
    unmatched: list[Alert] = []
    for alert in opened:
        hits = [
            i
            for i in by_series.get(alert.series, ())
            if truth[i].start_ts <= alert.ts <= truth[i].end_ts + grace_s
        ]
        if not hits:
            unmatched.append(alert)
        for i in hits:
            # Alerts may come in any order: keep the earliest per incident.
            first_alert[i] = min(first_alert.get(i, math.inf), alert.ts)

    delays: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for i, incident in enumerate(truth):
        counts[incident.kind] += 1
        if i in first_alert:
            delays[incident.kind].append(first_alert[i] - incident.start_ts)
    # The simulator's kinds in their usual order, any other kind after them by name.
    order: dict[str, int] = {k: n for n, k in enumerate(KINDS)}
    kinds = sorted(counts, key=lambda k: (order.get(k, len(order)), k))
    false_alerts = len(unmatched)
    return Report(
        kinds=tuple(_stats(k, counts[k], delays[k]) for k in kinds),
        overall=_stats(ALL, len(truth), [d for k in kinds for d in delays[k]]),
        alerts_opened=len(opened),
        true_alerts=len(opened) - false_alerts,
        false_alerts=false_alerts,
        precision=(len(opened) - false_alerts) / len(opened) if opened else None,
        false_per_sensor_day=None if sensor_days is None else false_alerts / sensor_days,
        missed=tuple(inc for i, inc in enumerate(truth) if i not in first_alert),
        unmatched=tuple(unmatched),
    )
