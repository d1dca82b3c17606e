"""Score a detector's alerts against known incidents, per anomaly kind.

Pure Python and numpy, no I/O: alerts and truth go in, a `Report` comes out.

Rules. An incident is *detected* when an `open` alert of the same series has its
event time within `[start_ts, end_ts + grace_s]`: a detector sees a window of
points, so it may fire a little after the last anomalous one. The delay is the
first such alert's time minus `start_ts`. An `open` alert that falls in no
incident's span (same series, same rule) is a *false* alert. Resolve messages
are not counted: an incident is opened once and the resolve only ends it.

How long alerts stayed open (with `step_s`, the rows' spacing): a row of an incident
(start_ts + k * step_s up to end_ts) is *covered* when an alert incident of its series
was open there: opened at or before the row, not yet resolved (the resolving row is
no longer open, as in the scored CSV's alert_state). Point recall is covered rows /
rows over every incident of a kind; open/length is the median over its incidents of
one incident's covered rows / its rows (a missed one counts 0).

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stream_ae.core.records import Alert, AlertState
from stream_ae.plant.synthetic import FAULT_KINDS, KINDS

ALL = "all"
"""The kind name of the row that sums every kind."""


@dataclass(frozen=True, slots=True)
class Incident:
    """One known anomaly of one series: the truth a detector is scored against."""

    series: str
    kind: str
    """What happened: one of `stream_ae.plant.simulate.PLANT_KINDS` for simulated data."""
    start_ts: float
    """Event time of the first anomalous point, epoch seconds."""
    end_ts: float
    """Event time of the last anomalous point (inclusive), epoch seconds."""
    magnitude: float = 0.0
    """Signed size in the units of its first channel, at its largest (the end of a
    drift's ramp); 0 where it has none (flat, stuck)."""
    channels: tuple[str, ...] = ()
    """The channels it moved, the one `magnitude` is in first; () when not known."""


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
    point_recall: float | None = None
    """Covered rows / rows over these incidents; None without `step_s` or incidents."""
    median_open_share: float | None = None
    """Median over these incidents of covered rows / rows; None as `point_recall`."""


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
        header = (
            "kind",
            "incidents",
            "detected",
            "recall",
            "median delay s",
            "max delay s",
            "point recall",
            "open/length",
        )
        rows = [
            (
                s.kind,
                str(s.incidents),
                str(s.detected),
                _fmt(s.recall, ".2f"),
                _fmt(s.median_delay_s, ".0f"),
                _fmt(s.max_delay_s, ".0f"),
                _fmt(s.point_recall, ".2f"),
                _fmt(s.median_open_share, ".2f"),
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


def _stats(
    kind: str, incidents: int, delays: list[float], cover: list[tuple[int, int]] | None
) -> KindStats:
    """`cover`: (covered rows, rows) per incident, or None where rows are unknown."""
    rows = sum(n for _, n in cover) if cover else 0
    return KindStats(
        kind=kind,
        incidents=incidents,
        detected=len(delays),
        recall=len(delays) / incidents if incidents else None,
        median_delay_s=float(np.median(delays)) if delays else None,
        max_delay_s=max(delays) if delays else None,
        point_recall=sum(c for c, _ in cover) / rows if cover and rows else None,
        median_open_share=float(np.median([c / n for c, n in cover])) if cover else None,
    )


Span = tuple[float, float]
"""[opened_ts, resolved_ts) of one alert incident; resolved_ts is inf while it is open."""


def open_spans(alerts: Sequence[Alert]) -> dict[str, list[Span]]:
    """Per series, when each alert incident was open, from its open and resolve alerts
    (matched by incident id); one never resolved stays open to the end.

    >>> from stream_ae.core.records import AlertState, Severity
    >>> def a(state: AlertState, ts: float) -> Alert:
    ...     return Alert("a", "i1", "p", ts, 1.0, 0.5, Severity.WARNING, state, "v1", "x", ts)
    >>> open_spans([a(AlertState.OPEN, 60.0), a(AlertState.RESOLVED, 300.0)])
    {'p': [(60.0, 300.0)]}
    """
    opened: dict[str, Alert] = {}
    resolved: dict[str, float] = {}
    for alert in alerts:
        if alert.state == AlertState.OPEN:
            opened.setdefault(alert.incident_id, alert)
        else:
            resolved[alert.incident_id] = alert.ts
    spans: dict[str, list[Span]] = defaultdict(list)
    for incident_id, alert in opened.items():
        spans[alert.series].append((alert.ts, resolved.get(incident_id, math.inf)))
    return {series: sorted(found) for series, found in spans.items()}


def spans_of_rows(ts: np.ndarray, in_incident: np.ndarray) -> list[Span]:
    """The same spans from one series' scored rows (`ScoredSeries.in_incident`): each
    run of open rows, from its first row to the row after it (inf at the end).

    >>> spans_of_rows(np.array([0.0, 60, 120, 180, 240]), np.array([0, 1, 1, 0, 1], bool))
    [(60.0, 180.0), (240.0, inf)]
    """
    flags = np.asarray(in_incident, dtype=bool)
    edges = np.diff(np.r_[0, flags.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [
        (float(ts[a]), float(ts[b]) if b < len(ts) else math.inf)
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


def _covered(incident: Incident, spans: Sequence[Span], step_s: float) -> tuple[int, int]:
    rows = incident.start_ts + step_s * np.arange(
        round((incident.end_ts - incident.start_ts) / step_s) + 1
    )
    inside = np.zeros(len(rows), dtype=bool)
    for opened, resolved in spans:
        inside |= (rows >= opened) & (rows < resolved)
    return int(inside.sum()), len(rows)


def evaluate(
    alerts: Sequence[Alert],
    truth: Sequence[Incident],
    *,
    grace_s: float,
    sensor_days: float | None = None,
    step_s: float | None = None,
    spans: Mapping[str, Sequence[Span]] | None = None,
) -> Report:
    """Match open alerts to incidents (see the module notes) and sum up per kind.

    `sensor_days` (sensors x days observed, e.g. `Plant.sensor_days`) turns the
    false-alert count into a rate; without it the rate is None. `step_s` (the spacing
    of a series' rows) adds point recall and open/length, from `spans` (per series,
    e.g. `spans_of_rows` of scored rows) or else from the alerts' `open_spans`.
    """
    if not (math.isfinite(grace_s) and grace_s >= 0):
        raise ValueError(f"grace_s must be a finite number of seconds >= 0 (got {grace_s}).")
    if sensor_days is not None and not (math.isfinite(sensor_days) and sensor_days > 0):
        raise ValueError(
            f"sensor_days must be a positive number (got {sensor_days}); leave it None "
            "when the observed span is unknown."
        )
    if step_s is not None and not (math.isfinite(step_s) and step_s > 0):
        raise ValueError(
            f"step_s must be the rows' spacing in seconds, > 0 (got {step_s}); leave it "
            "None when rows are not evenly spaced."
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
    cover: dict[str, list[tuple[int, int]]] | None = None
    if step_s is not None:
        cover = defaultdict(list)
        open_at = open_spans(alerts) if spans is None else spans
    for i, incident in enumerate(truth):
        counts[incident.kind] += 1
        if i in first_alert:
            delays[incident.kind].append(first_alert[i] - incident.start_ts)
        if cover is not None and step_s is not None:
            cover[incident.kind].append(
                _covered(incident, open_at.get(incident.series, ()), step_s)
            )
    # The simulator's kinds in their usual order, any other kind after them by name.
    order: dict[str, int] = {k: n for n, k in enumerate((*KINDS, *FAULT_KINDS))}
    kinds = sorted(counts, key=lambda k: (order.get(k, len(order)), k))
    false_alerts = len(unmatched)
    return Report(
        kinds=tuple(
            _stats(k, counts[k], delays[k], None if cover is None else cover[k]) for k in kinds
        ),
        overall=_stats(
            ALL,
            len(truth),
            [d for k in kinds for d in delays[k]],
            None if cover is None else [c for k in kinds for c in cover[k]],
        ),
        alerts_opened=len(opened),
        true_alerts=len(opened) - false_alerts,
        false_alerts=false_alerts,
        precision=(len(opened) - false_alerts) / len(opened) if opened else None,
        false_per_sensor_day=None if sensor_days is None else false_alerts / sensor_days,
        missed=tuple(inc for i, inc in enumerate(truth) if i not in first_alert),
        unmatched=tuple(unmatched),
    )
